import CLibXDP
import CQuicShim
import Glibc

/// A datapath port on one NIC queue through an AF_XDP socket (Documentation/networking/af_xdp.rst):
/// the UMEM and its fill/completion rings, the socket and its rx/tx rings, the free TX frames,
/// and the socket's entry in the program's `xsks` map. One value owns all of it and releases
/// it in `deinit` on every exit path (the socket's map entry also goes away by itself when the
/// process dies, so QUIC traffic falls back to the kernel).
///
/// Frames `0..<frameCount/2` circulate through fill → rx → handler → fill; the rest are
/// transmit frames: free stack → handler writes in place → tx → completion → free stack.
///
/// libxdp keeps pointers to the four ring structs, so they live at fixed heap addresses that
/// this value allocated and frees last.
public struct AFXDPPort: ~Copyable {
    public let interface: InterfaceInfo
    public let queue: UInt32
    public let configuration: AFXDPConfiguration
    /// True when the kernel accepted XDP_ZEROCOPY.
    public let zeroCopy: Bool

    /// How TX UDP checksums are made (chosen from the offload table, see `AFXDPConfiguration`).
    public let transmitChecksum: TransmitChecksumPath

    @usableFromInline let fill: UnsafeMutablePointer<xsk_ring_prod>
    @usableFromInline let completion: UnsafeMutablePointer<xsk_ring_cons>
    @usableFromInline let rx: UnsafeMutablePointer<xsk_ring_cons>
    @usableFromInline let tx: UnsafeMutablePointer<xsk_ring_prod>
    let xsk: XSKSocket
    let socketFD: Int32
    let maps: XDPMaps
    let region: UMEMRegion
    /// Heap cells at fixed addresses so the transmit queue lent to the handler can point at them.
    let freeTransmitFrames: UnsafeMutablePointer<FrameStack>
    let neighbours: UnsafeMutablePointer<NeighbourCache>
    /// Received frames waiting to go back into the fill ring.
    let pendingFill: UnsafeMutablePointer<FrameStack>
    /// UDP source port when a handler commits without a source address.
    public let defaultSourcePort: UInt16
    let receiveSlots: UnsafeMutableBufferPointer<ReceivedDatagram>
    let receiveAddresses: UnsafeMutablePointer<UInt64>
    /// The largest UDP payload: IPv4 (`payloadLimit`) and IPv6 within the interface MTU.
    let payloadLimit: Int
    public let ipv6PayloadLimit: Int
    var outstandingTransmits = 0
    /// Frames the port could not parse (not UDP/IP), dropped and recycled.
    public private(set) var malformedFrames: UInt64 = 0

    /// Opens an AF_XDP socket on `queue` of `interface` and binds it in the `xsks` map pinned by
    /// `quicxdp load`. Must run in the interface's network namespace.
    public init(interface name: String, queue: UInt32 = 0, defaultSourcePort: UInt16 = 0,
                configuration: AFXDPConfiguration = AFXDPConfiguration()) throws(DatapathError) {
        let info = try InterfaceInfo.query(name)
        let maps = try XDPMaps(pinnedFor: name)
        guard info.mac != nil else {
            throw DatapathError(.afxdpFailed, "\(name) has no Ethernet address; AF_XDP needs an Ethernet device")
        }
        let region = try UMEMRegion(frameSize: configuration.frameSize, frameCount: configuration.frameCount)

        // TX checksums: through AF_XDP TX metadata where the device says it computes them
        // (netdev xsk-features tx-checksum) or where asked to, in software otherwise.
        let wantsMetadata: Bool
        switch configuration.transmitChecksum {
        case .software: wantsMetadata = false
        case .metadata: wantsMetadata = true
        case .auto: wantsMetadata = (try? OffloadTable.discover(interface: name))?.provider(.afxdpTxChecksum) == .hardware
        }

        // The fill ring is twice the receive frame set: in copy mode the kernel publishes its
        // fill-ring consumer index lazily, so frames it already took may still count as
        // occupied; with the slack, recycling a received batch always finds room.
        var fillSize: UInt32 = 1
        while fillSize < UInt32(configuration.frameCount / 2) * 2 { fillSize <<= 1 }
        let xsk = try XSKSocket(
            interface: name, interfaceIndex: info.index, queue: queue, umem: region.base, umemLength: region.byteCount,
            options: XSKSocket.Options(
                fillSize: fillSize, completionSize: configuration.ringSize, ringSize: configuration.ringSize,
                frameSize: configuration.frameSize, needWakeup: configuration.needWakeup,
                tryZeroCopy: configuration.tryZeroCopy, txMetadata: wantsMetadata,
                checksumInKernel: configuration.checksumInKernel))
        let fd = xsk.fd
        do throws(DatapathError) {
            try maps.bindSocket(fd, queue: queue)
            maps.setOwner(queue: queue, pid: getpid(), zeroCopy: xsk.zeroCopy)
        } catch {
            xsk.release()
            throw error
        }

        self.interface = info
        self.queue = queue
        self.configuration = configuration
        self.zeroCopy = xsk.zeroCopy
        self.transmitChecksum = xsk.txMetadataLength > 0 ? .metadata : .software
        self.fill = xsk.fill
        self.completion = xsk.completion
        self.rx = xsk.rx
        self.tx = xsk.tx
        self.xsk = xsk
        self.socketFD = fd
        self.maps = maps
        self.region = region
        self.defaultSourcePort = defaultSourcePort
        let receiveFrames = configuration.frameCount / 2
        var stack = FrameStack(capacity: configuration.frameCount - receiveFrames)
        for frame in receiveFrames..<configuration.frameCount {
            stack.push(UInt64(frame * configuration.frameSize))
        }
        freeTransmitFrames = .allocate(capacity: 1)
        freeTransmitFrames.initialize(to: stack)
        neighbours = .allocate(capacity: 1)
        neighbours.initialize(to: NeighbourCache(interfaceIndex: info.index))
        pendingFill = .allocate(capacity: 1)
        pendingFill.initialize(to: FrameStack(capacity: receiveFrames))
        receiveSlots = .allocate(capacity: configuration.batchSize)
        receiveAddresses = .allocate(capacity: configuration.batchSize)
        // IPv4 headers are 20 bytes shorter than IPv6 ones: the frames leave room for IPv6, and
        // an IPv4 datagram may use the MTU's remaining 20 bytes (DPLPMTUD finds each path's size).
        let frameRoom = configuration.frameSize - EthernetFrame.transmitHeadroom - xsk.txMetadataLength
        payloadLimit = min(Int(info.mtu) - EthernetFrame.ipv4HeaderSize - EthernetFrame.udpHeaderSize, frameRoom)
        ipv6PayloadLimit = min(Int(info.mtu) - EthernetFrame.ipv6HeaderSize - EthernetFrame.udpHeaderSize, frameRoom)

        // Give the kernel every receive frame.
        var index: UInt32 = 0
        let reserved = xsk_ring_prod__reserve(xsk.fill, UInt32(receiveFrames), &index)
        for i in 0..<reserved {
            xsk_ring_prod__fill_addr(xsk.fill, index &+ i)!.pointee = UInt64(Int(i) * configuration.frameSize)
        }
        xsk_ring_prod__submit(xsk.fill, reserved)
    }

    deinit {
        maps.unbindSocket(queue: queue)
        xsk.release()
        receiveSlots.deallocate()
        receiveAddresses.deallocate()
        freeTransmitFrames.deinitialize(count: 1).deallocate()
        neighbours.deinitialize(count: 1).deallocate()
        pendingFill.deinitialize(count: 1).deallocate()
    }

    /// Forgets cached next hops (after a routing or neighbour change).
    public mutating func invalidateNeighbours() { neighbours.pointee.invalidate() }

    /// Frame address → the chunk's base (aligned mode: the kernel adds headroom offsets).
    @inline(__always)
    func chunkBase(_ address: UInt64) -> UInt64 { address & ~UInt64(configuration.frameSize - 1) }
}

extension AFXDPPort: DatapathPort {
    public typealias Queue = AFXDPTransmitQueue

    public mutating func receive(_ body: (ReceivedBatch) -> Void) throws(DatapathError) -> Int {
        var index: UInt32 = 0
        let count = Int(xsk_ring_cons__peek(rx, UInt32(configuration.batchSize), &index))
        if count == 0 {
            if xsk_ring_prod__needs_wakeup(fill) != 0 {
                _ = recvfrom(socketFD, nil, 0, Int32(MSG_DONTWAIT), nil, nil)
            }
            return 0
        }
        var used = 0
        for i in 0..<count {
            let descriptor = xsk_ring_cons__rx_desc(rx, index &+ UInt32(i))!.pointee
            receiveAddresses[i] = chunkBase(descriptor.addr)
            if let datagram = EthernetFrame.parseUDP(region.pointer(descriptor.addr), count: Int(descriptor.len)) {
                receiveSlots[used] = datagram
                used += 1
            } else {
                malformedFrames &+= 1
            }
        }
        xsk_ring_cons__release(rx, UInt32(count))
        if used > 0 { body(ReceivedBatch(storage: receiveSlots, count: used)) }
        for i in 0..<count { pendingFill.pointee.push(receiveAddresses[i]) }
        refill()
        return used
    }

    public mutating func transmit(_ body: (inout AFXDPTransmitQueue) -> Void) throws(DatapathError) -> Int {
        reclaimCompletions()
        var queue = AFXDPTransmitQueue(port: self)
        body(&queue)
        let committed = queue.committed
        queue.finish()
        if committed > 0 {
            xsk_ring_prod__submit(tx, UInt32(committed))
            outstandingTransmits += committed
            kick()
        }
        return committed
    }

    public mutating func service() throws(DatapathError) {
        if pendingFill.pointee.count > 0 { refill() }
        reclaimCompletions()
        if outstandingTransmits > 0 { kick() }
    }

    public var hasPendingTransmit: Bool { outstandingTransmits > 0 }
    public var pollDescriptor: Int32 { socketFD }
    public var maxPayloadSize: Int { payloadLimit }

    /// TX wakeup: sendto with no data makes the kernel process the TX ring (copy mode always
    /// needs it; with need_wakeup only when the flag is set).
    @inline(__always)
    mutating func kick() {
        if !configuration.needWakeup || xsk_ring_prod__needs_wakeup(tx) != 0 {
            // EAGAIN/EBUSY/ENOBUFS mean the kernel is still working on the ring: the next
            // turn kicks again, so the result is deliberately not checked.
            _ = sendto(socketFD, nil, 0, Int32(MSG_DONTWAIT), nil, 0)
        }
    }

    /// Gives received frames back to the kernel through the fill ring; whatever does not fit
    /// (the kernel has not published its consumer index yet) waits for the next turn.
    @inline(__always)
    mutating func refill() {
        let waiting = UInt32(pendingFill.pointee.count)
        var index: UInt32 = 0
        var reserved = xsk_ring_prod__reserve(fill, waiting, &index)
        if reserved == 0 {
            // Reserve is all or nothing: take what is free.
            let free = xsk_prod_nb_free(fill, waiting)
            if free > 0 { reserved = xsk_ring_prod__reserve(fill, min(free, waiting), &index) }
        }
        guard reserved > 0 else { return }
        for i in 0..<reserved {
            xsk_ring_prod__fill_addr(fill, index &+ i)!.pointee = pendingFill.pointee.pop()!
        }
        xsk_ring_prod__submit(fill, reserved)
    }

    @inline(__always)
    mutating func reclaimCompletions() {
        var index: UInt32 = 0
        let count = xsk_ring_cons__peek(completion, UInt32(configuration.ringSize), &index)
        guard count > 0 else { return }
        for i in 0..<count {
            freeTransmitFrames.pointee.push(chunkBase(xsk_ring_cons__comp_addr(completion, index &+ i)!.pointee))
        }
        xsk_ring_cons__release(completion, count)
        outstandingTransmits -= Int(count)
    }
}
