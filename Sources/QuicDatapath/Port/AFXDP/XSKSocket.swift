import CLibXDP
import CQuicShim
import Glibc

/// An AF_XDP socket with its UMEM registered and its four rings mapped, set up with the socket
/// options of Documentation/networking/af_xdp.rst rather than libxdp's `xsk_umem__create` and
/// `xsk_socket__create`: libxdp 1.3 cannot register TX metadata (`tx_metadata_len`, Linux 6.8),
/// which the checksum offload needs. The ring structs are libxdp's, at fixed heap addresses, so
/// its inline ring helpers (`xsk_ring_prod__reserve` and the rest) work on them unchanged.
///
/// A plain value: `AFXDPPort` owns it and calls `release()` exactly once, before it unmaps the
/// UMEM.
struct XSKSocket {
    let fd: Int32
    let fill: UnsafeMutablePointer<xsk_ring_prod>
    let completion: UnsafeMutablePointer<xsk_ring_cons>
    let rx: UnsafeMutablePointer<xsk_ring_cons>
    let tx: UnsafeMutablePointer<xsk_ring_prod>
    let zeroCopy: Bool
    /// Bytes of `struct xsk_tx_metadata` reserved before each TX packet (0: no metadata).
    let txMetadataLength: Int
    private let mappings: [(UnsafeMutableRawPointer, Int)]

    struct Options {
        var fillSize: UInt32
        var completionSize: UInt32
        var ringSize: UInt32
        var frameSize: Int
        var needWakeup: Bool
        var tryZeroCopy: Bool
        /// Register TX metadata so descriptors can ask for a checksum.
        var txMetadata: Bool
        /// Have the kernel compute requested checksums itself (copy mode; XDP_UMEM_TX_SW_CSUM).
        var checksumInKernel: Bool
    }

    static let metadataLength = MemoryLayout<quic_xsk_tx_metadata>.size

    init(interface: String, interfaceIndex: UInt32, queue: UInt32, umem base: UnsafeMutableRawPointer, umemLength: Int,
         options: Options) throws(DatapathError) {
        let fd = socket(AF_XDP, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            throw DatapathError(.afxdpFailed, "cannot create an AF_XDP socket; the kernel needs CONFIG_XDP_SOCKETS and root", errno: .current)
        }
        var mappings: [(UnsafeMutableRawPointer, Int)] = []
        let fill = UnsafeMutablePointer<xsk_ring_prod>.allocate(capacity: 1)
        let completion = UnsafeMutablePointer<xsk_ring_cons>.allocate(capacity: 1)
        let rx = UnsafeMutablePointer<xsk_ring_cons>.allocate(capacity: 1)
        let tx = UnsafeMutablePointer<xsk_ring_prod>.allocate(capacity: 1)
        func cleanUp() {
            for (address, length) in mappings { munmap(address, length) }
            close(fd)
            fill.deallocate(); completion.deallocate(); rx.deallocate(); tx.deallocate()
        }

        // The UMEM, with TX metadata when asked for; a kernel before 6.8 refuses the flag, and
        // then the port computes checksums itself.
        var metadataLength = 0
        var registered = false
        if options.txMetadata {
            var flags = UInt32(QUIC_XDP_UMEM_TX_METADATA_LEN)
            if options.checksumInKernel { flags |= UInt32(QUIC_XDP_UMEM_TX_SW_CSUM) }
            var registration = quic_xdp_umem_reg(
                addr: UInt64(UInt(bitPattern: base)), len: UInt64(umemLength), chunk_size: UInt32(options.frameSize),
                headroom: 0, flags: flags, tx_metadata_len: UInt32(Self.metadataLength))
            if setsockopt(fd, SOL_XDP, XDP_UMEM_REG, &registration, socklen_t(MemoryLayout<quic_xdp_umem_reg>.size)) == 0 {
                registered = true
                metadataLength = Self.metadataLength
            }
        }
        if !registered {
            var registration = quic_xdp_umem_reg(
                addr: UInt64(UInt(bitPattern: base)), len: UInt64(umemLength), chunk_size: UInt32(options.frameSize),
                headroom: 0, flags: 0, tx_metadata_len: 0)
            if setsockopt(fd, SOL_XDP, XDP_UMEM_REG, &registration, socklen_t(MemoryLayout<quic_xdp_umem_reg>.size)) != 0 {
                let cause = Errno.current
                cleanUp()
                throw DatapathError(.afxdpFailed, "cannot register the AF_XDP UMEM; run as root and check `ulimit -l`", errno: cause)
            }
        }

        for (option, size) in [(XDP_UMEM_FILL_RING, options.fillSize), (XDP_UMEM_COMPLETION_RING, options.completionSize),
                               (XDP_RX_RING, options.ringSize), (XDP_TX_RING, options.ringSize)] {
            var value = size
            if setsockopt(fd, SOL_XDP, Int32(option), &value, 4) != 0 {
                let cause = Errno.current
                cleanUp()
                throw DatapathError(.afxdpFailed, "cannot size the AF_XDP rings (\(size) entries)", errno: cause)
            }
        }
        var offsets = xdp_mmap_offsets()
        var offsetsLength = socklen_t(MemoryLayout<xdp_mmap_offsets>.size)
        guard getsockopt(fd, SOL_XDP, XDP_MMAP_OFFSETS, &offsets, &offsetsLength) == 0 else {
            let cause = Errno.current
            cleanUp()
            throw DatapathError(.afxdpFailed, "cannot read the AF_XDP ring offsets", errno: cause)
        }

        /// Maps one ring; `entry` is the size of a descriptor (u64 addresses or struct xdp_desc).
        func map(_ offset: xdp_ring_offset, entries: UInt32, entry: Int, page: UInt64) -> UnsafeMutableRawPointer? {
            let length = Int(offset.desc) + Int(entries) * entry
            let address = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, off_t(Int64(bitPattern: page)))
            guard let address, address != MAP_FAILED else { return nil }
            mappings.append((address, length))
            return address
        }
        let descriptor = MemoryLayout<xdp_desc>.size
        guard let fillMap = map(offsets.fr, entries: options.fillSize, entry: 8, page: XDP_UMEM_PGOFF_FILL_RING),
              let completionMap = map(offsets.cr, entries: options.completionSize, entry: 8, page: XDP_UMEM_PGOFF_COMPLETION_RING),
              let rxMap = map(offsets.rx, entries: options.ringSize, entry: descriptor, page: UInt64(XDP_PGOFF_RX_RING)),
              let txMap = map(offsets.tx, entries: options.ringSize, entry: descriptor, page: UInt64(XDP_PGOFF_TX_RING))
        else {
            let cause = Errno.current
            cleanUp()
            throw DatapathError(.afxdpFailed, "cannot map the AF_XDP rings", errno: cause)
        }
        // Producer rings start with every entry free; consumer rings with none to read.
        fill.initialize(to: Self.ring(fillMap, offsets.fr, size: options.fillSize, producer: true))
        tx.initialize(to: Self.ring(txMap, offsets.tx, size: options.ringSize, producer: true))
        completion.initialize(to: Self.ring(completionMap, offsets.cr, size: options.completionSize, producer: false))
        rx.initialize(to: Self.ring(rxMap, offsets.rx, size: options.ringSize, producer: false))

        var zeroCopy = false
        var lastError = Errno(0)
        var bound = false
        let modes: [(UInt16, Bool)] = options.tryZeroCopy
            ? [(UInt16(XDP_ZEROCOPY), true), (UInt16(XDP_COPY), false)] : [(UInt16(XDP_COPY), false)]
        binding: for (modeFlag, isZeroCopy) in modes {
            // The kernel computes requested checksums itself only in copy mode.
            if isZeroCopy && options.checksumInKernel && metadataLength > 0 { continue }
            var address = sockaddr_xdp()
            address.sxdp_family = UInt16(AF_XDP)
            address.sxdp_flags = modeFlag | (options.needWakeup ? UInt16(XDP_USE_NEED_WAKEUP) : 0)
            address.sxdp_ifindex = interfaceIndex
            address.sxdp_queue_id = queue
            // EBUSY right after a previous socket on this queue closed (DESIGN.md): retry briefly.
            for _ in 0..<50 {
                let status = withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_xdp>.size)) }
                }
                if status == 0 {
                    zeroCopy = isZeroCopy
                    bound = true
                    break binding
                }
                lastError = Errno.current
                if lastError != .busy { break }
                usleep(20_000)
            }
        }
        guard bound else {
            cleanUp()
            if lastError == .busy {
                throw DatapathError(.afxdpFailed, "cannot bind an AF_XDP socket to \(interface) queue \(queue): another socket holds it; stop the other engine", errno: lastError)
            }
            throw DatapathError(.afxdpFailed, "cannot bind an AF_XDP socket to \(interface) queue \(queue); check that the queue exists (`ethtool -l \(interface)`) and that quicxdp is loaded", errno: lastError)
        }
        self.fd = fd
        self.fill = fill
        self.completion = completion
        self.rx = rx
        self.tx = tx
        self.zeroCopy = zeroCopy
        self.txMetadataLength = metadataLength
        self.mappings = mappings
    }

    /// libxdp's ring struct over a mapped ring (what `xsk_umem__create` fills in).
    private static func ring<Ring: XSKRing>(_ map: UnsafeMutableRawPointer, _ offset: xdp_ring_offset, size: UInt32,
                                            producer: Bool) -> Ring {
        let producerIndex = (map + Int(offset.producer)).assumingMemoryBound(to: UInt32.self)
        let consumerIndex = (map + Int(offset.consumer)).assumingMemoryBound(to: UInt32.self)
        var ring = Ring()
        ring.mask = size - 1
        ring.size = size
        ring.producer = producerIndex
        ring.consumer = consumerIndex
        ring.ring = map + Int(offset.desc)
        ring.flags = (map + Int(offset.flags)).assumingMemoryBound(to: UInt32.self)
        ring.cached_prod = producerIndex.pointee
        ring.cached_cons = producer ? consumerIndex.pointee &+ size : consumerIndex.pointee
        return ring
    }

    /// Unmaps the rings and closes the socket (the kernel then unpins the UMEM).
    func release() {
        for (address, length) in mappings { munmap(address, length) }
        close(fd)
        fill.deallocate(); completion.deallocate(); rx.deallocate(); tx.deallocate()
    }
}

/// libxdp's two ring structs have the same fields; this lets one helper fill either.
protocol XSKRing {
    init()
    var cached_prod: UInt32 { get set }
    var cached_cons: UInt32 { get set }
    var mask: UInt32 { get set }
    var size: UInt32 { get set }
    var producer: UnsafeMutablePointer<UInt32>! { get set }
    var consumer: UnsafeMutablePointer<UInt32>! { get set }
    var ring: UnsafeMutableRawPointer! { get set }
    var flags: UnsafeMutablePointer<UInt32>! { get set }
}

extension xsk_ring_prod: XSKRing {}
extension xsk_ring_cons: XSKRing {}
