import CQuicShim
import Glibc

/// The software datapath and the path for machines without XDP: one UDP socket with
/// recvmmsg/sendmmsg, UDP_GRO and UDP_SEGMENT (GSO), ECN through IP_TOS/IPV6_TCLASS control
/// messages, and the local address through IP_PKTINFO/IPV6_RECVPKTINFO (udp(7), ip(7), ipv6(7)).
/// Bound to `[::]:port` it is dual-stack (IPv4 peers appear as IPv4 addresses).
///
/// All buffers are allocated once here; receive and transmit allocate nothing.
public struct UDPPort: ~Copyable {
    public let configuration: UDPPortConfiguration
    public let localPort: UInt16
    public let dualStack: Bool
    public let groEnabled: Bool
    /// GSO as the port started; it turns itself off if the kernel refuses a GSO send.
    public let gsoEnabled: Bool
    /// The offload table that decided GSO/GRO (nil for a wildcard bind without an interface).
    public let offloads: OffloadTable?
    let socket: OwnedDescriptor

    // Receive: `batchSize` buffers of `receiveBufferSize`, message headers, control space.
    let receiveBufferSize: Int
    let receiveArena: UnsafeMutableRawPointer
    let receiveMessages: UnsafeMutablePointer<quic_mmsghdr>
    let receiveIOVs: UnsafeMutablePointer<iovec>
    let receiveNames: UnsafeMutablePointer<sockaddr_in6>
    let receiveControl: UnsafeMutableRawPointer
    let receiveSlots: UnsafeMutableBufferPointer<ReceivedDatagram>
    static let controlSize = 128

    // Transmit: lives on the heap so the queue lent to the handler can point at it.
    let sender: UnsafeMutablePointer<UDPSender>
    let receiveStatistics: UnsafeMutablePointer<(calls: UInt64, buffers: UInt64, coalesced: UInt64)>

    /// Binds a UDP socket. `address` nil binds `[::]` dual-stack; an IPv4 address binds an
    /// AF_INET socket, an IPv6 one a v6-only socket.
    public init(address: IPAddress? = nil, port: UInt16,
                configuration: UDPPortConfiguration = UDPPortConfiguration()) throws(DatapathError) {
        let family = address?.isIPv4 == true ? AF_INET : AF_INET6
        let raw = Glibc.socket(family, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard raw >= 0 else { throw DatapathError(.socketFailed, "cannot create a UDP socket", errno: .current) }
        let socket = OwnedDescriptor(taking: raw)
        let dualStack = family == AF_INET6 && address == nil
        if family == AF_INET6 {
            _ = UDPSocketOptions.set(raw, Int32(IPPROTO_IPV6), IPV6_V6ONLY, dualStack ? 0 : 1)
            _ = UDPSocketOptions.set(raw, Int32(IPPROTO_IPV6), IPV6_RECVPKTINFO, 1)
            _ = UDPSocketOptions.set(raw, Int32(IPPROTO_IPV6), IPV6_RECVTCLASS, 1)
        }
        for (force, plain) in [(SO_RCVBUFFORCE, SO_RCVBUF), (SO_SNDBUFFORCE, SO_SNDBUF)] {
            if !UDPSocketOptions.set(raw, SOL_SOCKET, force, configuration.socketBufferBytes) {
                _ = UDPSocketOptions.set(raw, SOL_SOCKET, plain, configuration.socketBufferBytes)
            }
        }
        if family == AF_INET || dualStack {
            _ = UDPSocketOptions.set(raw, Int32(IPPROTO_IP), IP_PKTINFO, 1)
            _ = UDPSocketOptions.set(raw, Int32(IPPROTO_IP), IP_RECVTOS, 1)
        }
        // DF on every datagram (RFC 9000 §14: QUIC datagrams must not be fragmented) without
        // the kernel's path-MTU cache refusing sends (QUIC probes the path itself). Without
        // this a GSO send, larger than the MTU as a whole, leaves without DF.
        _ = UDPSocketOptions.set(raw, Int32(IPPROTO_IP), IP_MTU_DISCOVER, UDPSocketOptions.pmtuDiscoveryProbe)
        if family == AF_INET6 {
            _ = UDPSocketOptions.set(raw, Int32(IPPROTO_IPV6), IPV6_MTU_DISCOVER, UDPSocketOptions.pmtuDiscoveryProbe)
        }
        var storage = sockaddr_in6()
        let length = withUnsafeMutableBytes(of: &storage) { raw in
            SocketAddress(address ?? .v6(high: 0, low: 0), port: port).write(sockaddrTo: raw.baseAddress!, dualStack: false)
        }
        let bound = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(raw, $0, length) }
        }
        if bound != 0 {
            let cause = Errno.current
            if cause.rawValue == EADDRINUSE {
                throw DatapathError(.socketFailed, "cannot bind UDP port \(port): already in use; stop the other server or pick another port", errno: cause)
            }
            if cause.rawValue == EACCES {
                throw DatapathError(.notRoot, "cannot bind UDP port \(port): permission denied; use a port ≥ 1024 or run as root", errno: cause)
            }
            throw DatapathError(.socketFailed, "cannot bind UDP \(address.map(String.init(describing:)) ?? "[::]"):\(port)", errno: cause)
        }
        var actual = sockaddr_in6()
        var actualLength = socklen_t(MemoryLayout<sockaddr_in6>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(raw, $0, &actualLength) }
        }
        localPort = withUnsafeBytes(of: &actual) { SocketAddress(sockaddr: $0.baseAddress!)?.port ?? port }

        // The offload table of the interface the socket lives on decides; the kernel must also
        // accept the socket options (UDP_SEGMENT since 4.18, UDP_GRO since 5.0).
        let interfaceName = configuration.offloadInterface ?? address.flatMap { InterfaceInfo.name(owning: $0) }
        let offloads = interfaceName.flatMap { try? OffloadTable.discover(interface: $0) }
        let coalescing = offloads?.provider(.receiveCoalescing) ?? .software
        groEnabled = configuration.useGRO && coalescing != .unavailable
            && UDPSocketOptions.set(raw, UDPSocketOptions.solUDP, UDPSocketOptions.udpGRO, 1)
        var segment: Int32 = 0
        var segmentLength = socklen_t(4)
        gsoEnabled = configuration.useGSO && offloads?.provider(.segmentation) != .unavailable
            && getsockopt(raw, UDPSocketOptions.solUDP, UDPSocketOptions.udpSegment, &segment, &segmentLength) == 0
        self.offloads = offloads

        self.configuration = configuration
        self.dualStack = dualStack
        self.socket = socket
        let batch = configuration.batchSize
        receiveBufferSize = groEnabled ? 65536 : max(configuration.maxPayloadSize, 2048)
        receiveArena = .allocate(byteCount: receiveBufferSize * batch, alignment: 64)
        receiveMessages = .allocate(capacity: batch)
        receiveIOVs = .allocate(capacity: batch)
        receiveNames = .allocate(capacity: batch)
        receiveControl = .allocate(byteCount: Self.controlSize * batch, alignment: 8)
        receiveSlots = .allocate(capacity: batch * (groEnabled ? 64 : 1))
        receiveStatistics = .allocate(capacity: 1)
        receiveStatistics.initialize(to: (0, 0, 0))
        sender = .allocate(capacity: 1)
        sender.initialize(to: UDPSender(configuration: configuration, dualStack: dualStack, gso: gsoEnabled))
    }

    deinit {
        receiveArena.deallocate()
        receiveMessages.deallocate()
        receiveIOVs.deallocate()
        receiveNames.deallocate()
        receiveControl.deallocate()
        receiveSlots.deallocate()
        receiveStatistics.deallocate()
        sender.pointee.free()
        sender.deinitialize(count: 1).deallocate()
    }

    public var descriptor: Int32 { socket.rawValue }

    /// Counters for tests and benchmarks.
    public struct Counters: Sendable {
        public var sentMessages: UInt64
        public var sentDatagrams: UInt64
        public var droppedDatagrams: UInt64
        public var receiveCalls: UInt64
        public var receivedBuffers: UInt64
        /// Buffers that arrived GRO-coalesced (more than one datagram).
        public var coalescedBuffers: UInt64
        /// GSO sends the kernel refused (after the first, the port sends without GSO).
        public var refusedSegmentedSends: UInt64
    }

    public var counters: Counters {
        Counters(sentMessages: sender.pointee.totalMessages, sentDatagrams: sender.pointee.totalDatagrams,
                 droppedDatagrams: UInt64(sender.pointee.droppedMessages),
                 receiveCalls: receiveStatistics.pointee.calls, receivedBuffers: receiveStatistics.pointee.buffers,
                 coalescedBuffers: receiveStatistics.pointee.coalesced,
                 refusedSegmentedSends: sender.pointee.refusedSegmentedSends)
    }
}

extension UDPPort: DatapathPort {
    public typealias Queue = UDPTransmitQueue

    public mutating func receive(_ body: (ReceivedBatch) -> Void) throws(DatapathError) -> Int {
        let batch = configuration.batchSize
        for i in 0..<batch {
            receiveIOVs[i] = iovec(iov_base: receiveArena + i * receiveBufferSize, iov_len: receiveBufferSize)
            receiveMessages[i].msg_hdr = msghdr(
                msg_name: UnsafeMutableRawPointer(receiveNames + i), msg_namelen: socklen_t(MemoryLayout<sockaddr_in6>.size),
                msg_iov: receiveIOVs + i, msg_iovlen: 1,
                msg_control: receiveControl + i * Self.controlSize, msg_controllen: Self.controlSize, msg_flags: 0)
            receiveMessages[i].msg_len = 0
        }
        let fd = socket.rawValue
        let result: IOResult<Int32>
        do {
            result = try syscall("recvmmsg") { quic_recvmmsg(fd, receiveMessages, UInt32(batch), Int32(MSG_DONTWAIT)) }
        } catch {
            throw DatapathError(.socketFailed, "recvmmsg failed on UDP port \(localPort)", errno: error)
        }
        guard case .done(let count) = result, count > 0 else { return 0 }
        receiveStatistics.pointee.calls &+= 1
        receiveStatistics.pointee.buffers &+= UInt64(count)
        var used = 0
        for i in 0..<Int(count) {
            var header = receiveMessages[i].msg_hdr
            guard let source = SocketAddress(sockaddr: UnsafeRawPointer(receiveNames + i)) else { continue }
            var destination = SocketAddress(source.address.isIPv4 ? .v4(0) : .v6(high: 0, low: 0), port: localPort)
            var ecn = ECN.notECT
            var segmentSize = 0
            var cmsg = quic_cmsg_firsthdr(&header)
            while let current = cmsg {
                let level = current.pointee.cmsg_level
                let type = current.pointee.cmsg_type
                let data = UnsafeRawPointer(quic_cmsg_data(current)!)
                if level == Int32(IPPROTO_IP) && type == IP_PKTINFO {
                    destination.address = IPAddress(ipv4NetworkBytes: data + UDPSocketOptions.ipPacketInfoAddressOffset)
                } else if level == Int32(IPPROTO_IPV6) && type == IPV6_PKTINFO {
                    destination.address = IPAddress(ipv6NetworkBytes: data).unmapped
                } else if level == Int32(IPPROTO_IP) && type == IP_TOS {
                    ecn = ECN(trafficClass: data.load(as: UInt8.self))
                } else if level == Int32(IPPROTO_IPV6) && type == IPV6_TCLASS {
                    ecn = ECN(trafficClass: UInt8(truncatingIfNeeded: data.loadUnaligned(as: Int32.self)))
                } else if level == UDPSocketOptions.solUDP && type == UDPSocketOptions.udpGRO {
                    segmentSize = Int(data.loadUnaligned(as: Int32.self))
                }
                cmsg = quic_cmsg_nxthdr(&header, current)
            }
            let total = Int(receiveMessages[i].msg_len)
            let base = receiveArena + i * receiveBufferSize
            let step = segmentSize > 0 ? segmentSize : max(total, 1)
            if segmentSize > 0 && total > segmentSize { receiveStatistics.pointee.coalesced &+= 1 }
            var offset = 0
            // A GRO buffer holds equal-sized datagrams, the last possibly shorter (udp(7)).
            repeat {
                let length = min(step, total - offset)
                receiveSlots[used] = ReceivedDatagram(
                    payload: UnsafeMutableRawBufferPointer(start: base + offset, count: length),
                    source: source, destination: destination, ecn: ecn)
                used += 1
                offset += length
            } while offset < total && used < receiveSlots.count
        }
        if used > 0 { body(ReceivedBatch(storage: receiveSlots, count: used)) }
        return used
    }

    public mutating func transmit(_ body: (inout UDPTransmitQueue) -> Void) throws(DatapathError) -> Int {
        try flushPending()
        var queue = UDPTransmitQueue(sender: sender)
        body(&queue)
        let committed = queue.committed
        sender.pointee.closeRun()
        try flushPending()
        return committed
    }

    public mutating func service() throws(DatapathError) { try flushPending() }

    public var hasPendingTransmit: Bool { sender.pointee.pendingMessages > 0 }
    public var pollDescriptor: Int32 { socket.rawValue }
    public var maxPayloadSize: Int { configuration.maxPayloadSize }

    /// Sends what the sender has queued; on EAGAIN keeps the rest for the next turn.
    mutating func flushPending() throws(DatapathError) {
        let fd = socket.rawValue
        while sender.pointee.sentMessages < sender.pointee.messageCount {
            let first = sender.pointee.sentMessages
            let remaining = sender.pointee.messageCount - first
            let messages = sender.pointee.messages + first
            let result: IOResult<Int32>
            do {
                result = try syscall("sendmmsg") { quic_sendmmsg(fd, messages, UInt32(remaining), 0) }
            } catch {
                // An unreachable peer or a rejected message (EMSGSIZE, EINVAL): drop that
                // datagram, as a lost packet; QUIC recovers (RFC 9002). A refused GSO send
                // (EIO: a path the kernel cannot segment for) turns GSO off for later sends.
                if sender.pointee.isSegmented(first), error == .io || error == .invalidArgument {
                    sender.pointee.refusedSegmentedSends += 1
                    sender.pointee.gso = false
                }
                sender.pointee.sentMessages += 1
                sender.pointee.droppedMessages += 1
                continue
            }
            switch result {
            case .wouldBlock:
                sender.pointee.awaitingKernel = true
                return
            case .done(let sent): sender.pointee.sentMessages += Int(sent)
            }
        }
        sender.pointee.reset()
    }
}
