import CQuicShim
import Glibc

/// The transmit state of a UDP port: one arena the handler writes datagrams into back to back,
/// and the sendmmsg messages describing it. Consecutive datagrams to the same peer from the same
/// source with the same ECN and equal sizes (the last may be shorter) become one message with a
/// UDP_SEGMENT control message (GSO, udp(7)); anything else starts a new message.
struct UDPSender {
    let configuration: UDPPortConfiguration
    let dualStack: Bool
    /// Coalesce runs into UDP_SEGMENT messages (off for good once the kernel refused one).
    var gso: Bool
    var refusedSegmentedSends: UInt64 = 0
    let arenaSize: Int
    let arena: UnsafeMutableRawPointer
    let messages: UnsafeMutablePointer<quic_mmsghdr>
    let iovs: UnsafeMutablePointer<iovec>
    let names: UnsafeMutablePointer<sockaddr_in6>
    let control: UnsafeMutableRawPointer
    static let controlSize = 96
    let maxMessages: Int
    let segmented: UnsafeMutablePointer<Bool>

    var messageCount = 0
    var sentMessages = 0
    var droppedMessages = 0
    /// Totals since the port opened: sendmmsg messages and the datagrams in them (GSO packs
    /// several datagrams into one message).
    var totalMessages: UInt64 = 0
    var totalDatagrams: UInt64 = 0
    var writeOffset = 0
    /// The kernel refused part of the last batch (EAGAIN); nothing new until it is sent.
    var awaitingKernel = false

    // The open run (a message being built).
    var runOpen = false
    var runStart = 0
    var runSegmentSize = 0
    var runSegments = 0
    var runBytes = 0
    var runClosedByShortSegment = false
    var runDestination = SocketAddress(.v4(0), port: 0)
    var runSource: SocketAddress?
    var runECN = ECN.notECT

    var pendingMessages: Int { messageCount - sentMessages }

    /// Whether message `index` carries several datagrams (a UDP_SEGMENT control message).
    func isSegmented(_ index: Int) -> Bool { segmented[index] }

    init(configuration: UDPPortConfiguration, dualStack: Bool, gso: Bool) {
        self.configuration = configuration
        self.dualStack = dualStack
        self.gso = gso
        maxMessages = configuration.batchSize
        arenaSize = configuration.batchSize * max(configuration.maxPayloadSize, 1) * (gso ? 8 : 1)
        arena = .allocate(byteCount: arenaSize, alignment: 64)
        messages = .allocate(capacity: maxMessages)
        iovs = .allocate(capacity: maxMessages)
        names = .allocate(capacity: maxMessages)
        control = .allocate(byteCount: Self.controlSize * maxMessages, alignment: 8)
        segmented = .allocate(capacity: maxMessages)
        segmented.initialize(repeating: false, count: maxMessages)
    }

    // Lives in a heap cell owned by UDPPort, which deinitializes it exactly once.
    func free() {
        arena.deallocate(); messages.deallocate(); iovs.deallocate(); names.deallocate(); control.deallocate()
        segmented.deallocate()
    }

    mutating func reset() {
        messageCount = 0
        sentMessages = 0
        writeOffset = 0
        runOpen = false
        awaitingKernel = false
    }

    /// Space for the next datagram, or nil when the arena or the message table is full or
    /// earlier messages are still waiting for the kernel.
    mutating func reserve() -> UnsafeMutableRawBufferPointer? {
        guard !awaitingKernel else { return nil }
        guard arenaSize - writeOffset >= configuration.maxPayloadSize else { return nil }
        // Room for one more message even if this datagram cannot join the open run.
        guard messageCount + (runOpen ? 1 : 0) < maxMessages else { return nil }
        return UnsafeMutableRawBufferPointer(start: arena + writeOffset, count: configuration.maxPayloadSize)
    }

    mutating func commit(length: Int, to destination: SocketAddress, from source: SocketAddress?, ecn: ECN) {
        let joins = runOpen && gso && !runClosedByShortSegment
            && destination == runDestination && source == runSource && ecn == runECN
            && length <= runSegmentSize && runSegments < configuration.maxSegments
            && runBytes + length <= 65000
        if !joins {
            closeRun()
            guard messageCount < maxMessages else { return }
            runOpen = true
            runStart = writeOffset
            runSegmentSize = length
            runSegments = 0
            runBytes = 0
            runClosedByShortSegment = false
            runDestination = destination
            runSource = source
            runECN = ecn
        }
        runSegments += 1
        runBytes += length
        if length < runSegmentSize { runClosedByShortSegment = true }
        writeOffset += length
    }

    /// Turns the open run into a message.
    mutating func closeRun() {
        guard runOpen else { return }
        runOpen = false
        let i = messageCount
        messageCount += 1
        totalMessages &+= 1
        totalDatagrams &+= UInt64(runSegments)
        iovs[i] = iovec(iov_base: arena + runStart, iov_len: runBytes)
        let nameLength = runDestination.write(sockaddrTo: UnsafeMutableRawPointer(names + i), dualStack: dualStack)
        let controlBase = control + i * Self.controlSize
        controlBase.initializeMemory(as: UInt8.self, repeating: 0, count: Self.controlSize)
        messages[i].msg_hdr = msghdr(
            msg_name: UnsafeMutableRawPointer(names + i), msg_namelen: nameLength,
            msg_iov: iovs + i, msg_iovlen: 1,
            msg_control: controlBase, msg_controllen: Self.controlSize, msg_flags: 0)
        messages[i].msg_len = 0
        var used = 0
        var header = messages[i].msg_hdr
        var cmsg = quic_cmsg_firsthdr(&header)
        func append(level: Int32, type: Int32, size: Int, _ write: (UnsafeMutableRawPointer) -> Void) {
            guard let current = cmsg else { return }
            current.pointee.cmsg_level = level
            current.pointee.cmsg_type = type
            current.pointee.cmsg_len = quic_cmsg_len(size)
            write(UnsafeMutableRawPointer(quic_cmsg_data(current)!))
            used += quic_cmsg_space(size)
            // CMSG_NXTHDR checks the next header against msg_controllen, so `header` keeps the
            // whole buffer's length here; the message gets `used` below. (Shrinking it here lost
            // every control message after the first: GSO runs went out without their ECN mark.)
            cmsg = quic_cmsg_nxthdr(&header, current)
        }
        let ipv4 = runDestination.address.isIPv4
        segmented[i] = runSegments > 1
        if runSegments > 1 {
            let size = UInt16(runSegmentSize)
            append(level: UDPSocketOptions.solUDP, type: UDPSocketOptions.udpSegment, size: 2) { $0.storeBytes(of: size, as: UInt16.self) }
        }
        if runECN != .notECT {
            let value = Int32(runECN.rawValue)
            if ipv4 {
                append(level: Int32(IPPROTO_IP), type: IP_TOS, size: 4) { $0.storeBytes(of: value, as: Int32.self) }
            } else {
                append(level: Int32(IPPROTO_IPV6), type: IPV6_TCLASS, size: 4) { $0.storeBytes(of: value, as: Int32.self) }
            }
        }
        if let source = runSource {
            if ipv4 {
                append(level: Int32(IPPROTO_IP), type: IP_PKTINFO, size: UDPSocketOptions.ipPacketInfoSize) { p in
                    p.initializeMemory(as: UInt8.self, repeating: 0, count: UDPSocketOptions.ipPacketInfoSize)
                    source.address.write(networkBytesTo: p + UDPSocketOptions.ipPacketInfoSpecificDestinationOffset)
                }
            } else {
                append(level: Int32(IPPROTO_IPV6), type: IPV6_PKTINFO, size: UDPSocketOptions.ipv6PacketInfoSize) { p in
                    p.initializeMemory(as: UInt8.self, repeating: 0, count: UDPSocketOptions.ipv6PacketInfoSize)
                    source.address.write(networkBytesTo: p)
                }
            }
        }
        messages[i].msg_hdr.msg_controllen = used
        if used == 0 { messages[i].msg_hdr.msg_control = nil }
    }
}

/// The transmit side of a `UDPPort` lent to a handler for one `transmit` call.
public struct UDPTransmitQueue: TransmitQueue {
    let sender: UnsafeMutablePointer<UDPSender>
    var committed = 0

    init(sender: UnsafeMutablePointer<UDPSender>) { self.sender = sender }

    public mutating func reserve() -> UnsafeMutableRawBufferPointer? { sender.pointee.reserve() }

    public mutating func commit(length: Int, to destination: SocketAddress, from source: SocketAddress?, ecn: ECN) {
        sender.pointee.commit(length: length, to: destination, from: source, ecn: ecn)
        committed += 1
    }
}
