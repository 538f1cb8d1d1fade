import QuicWire

/// What a sent packet carried that matters once it is acknowledged or declared lost. Frames are
/// retransmitted, not packets (RFC 9000 §13.3): on loss each record re-queues its information,
/// with current values where the frame carries state (MAX_DATA and the like).
public enum SentFrame: Sendable, Hashable {
    case ack(largest: UInt64)
    case crypto(offset: UInt64, length: Int)
    case stream(id: StreamID, offset: UInt64, length: Int, fin: Bool)
    case resetStream(StreamID)
    case stopSending(StreamID)
    case maxData
    case maxStreamData(StreamID)
    case maxStreams(StreamDirection)
    case dataBlocked
    case streamDataBlocked(StreamID)
    case streamsBlocked(StreamDirection)
    case newConnectionID(sequence: UInt64)
    case retireConnectionID(sequence: UInt64)
    case handshakeDone
    case newToken
    case ping
    case datagram
    case pathChallenge
    case pathResponse
    case connectionClose
    /// A DPLPMTUD probe of `size` bytes (PING and PADDING, RFC 9000 §14.4), sent on the path of
    /// loss recovery generation `path`.
    case mtuProbe(size: Int, path: UInt8)
}

/// One sent packet as loss recovery remembers it (RFC 9002 Appendix A.1.1).
@usableFromInline
struct SentPacket: Sendable {
    enum State: UInt8, Sendable { case outstanding, acked, lost }
    var packetNumber: UInt64
    var timeSent: Instant
    var bytes: Int
    var ackEliciting: Bool
    var inFlight: Bool
    /// Absolute index of the first frame record in the space's frame ring.
    var firstFrame: Int
    var frameCount: Int
    var state: State
    /// Sent with ECT(0) (RFC 9000 §13.4.2).
    var ecnMarked = false
    /// A PMTU probe: its loss is no congestion signal (RFC 9000 §14.4).
    var isMTUProbe = false
    /// The path (generation of loss recovery state) it was sent on: packets of an earlier path
    /// feed neither the congestion controller nor the RTT estimator of the current one (RFC 9000
    /// §9.4). Compared for equality only, so wrapping is harmless.
    var pathGeneration: UInt8 = 0
    /// Delivery-rate state at send (draft-ietf-ccwg-bbr-06 §4.1.2.1.2); meaningful for in-flight
    /// packets only.
    var delivery = DeliverySnapshot()
}

/// The sent packets of one packet number space, in packet-number order, and their frame records.
/// Packet numbers are consecutive, so a packet is found by subtraction; acknowledged and lost
/// packets stay as tombstones until they reach the front.
struct SentPacketQueue: Sendable {
    private(set) var packets = RingBuffer<SentPacket>(capacity: 64)
    private(set) var frames = RingBuffer<SentFrame>(capacity: 256)
    /// Packet number of the front packet.
    private(set) var firstPacketNumber: UInt64 = 0
    /// Packet number the next packet will have.
    private(set) var nextPacketNumber: UInt64 = 0
    /// Ack-eliciting packets still outstanding and in flight.
    private(set) var ackElicitingInFlight = 0

    init() {}

    /// Starts recording a packet's frames; returns the index of its first frame.
    var frameCursor: Int { frames.endIndex }

    mutating func addFrame(_ frame: SentFrame) { frames.append(frame) }

    mutating func append(_ packet: SentPacket) {
        precondition(packet.packetNumber == nextPacketNumber, "packet numbers must be consecutive")
        if packets.isEmpty { firstPacketNumber = packet.packetNumber }
        packets.append(packet)
        nextPacketNumber = packet.packetNumber + 1
        if packet.ackEliciting && packet.inFlight { ackElicitingInFlight += 1 }
    }

    func index(of packetNumber: UInt64) -> Int? {
        guard !packets.isEmpty, packetNumber >= firstPacketNumber,
            packetNumber < firstPacketNumber + UInt64(packets.count)
        else { return nil }
        return packets.startIndex + Int(packetNumber - firstPacketNumber)
    }

    subscript(index: Int) -> SentPacket {
        get { packets[index] }
        set {
            let old = packets[index]
            if old.state == .outstanding && newValue.state != .outstanding && old.ackEliciting && old.inFlight {
                ackElicitingInFlight -= 1
            }
            packets[index] = newValue
        }
    }

    func frame(at index: Int) -> SentFrame { frames[index] }

    /// Pops acknowledged and lost packets (and their frames) off the front.
    mutating func dropSettledFront() {
        while let front = packets.first, front.state != .outstanding {
            packets.popFirst()
            firstPacketNumber += 1
            for _ in 0..<front.frameCount { frames.popFirst() }
        }
    }

    /// Everything, for a discarded space.
    mutating func removeAll() {
        packets.removeAll()
        frames.removeAll()
        firstPacketNumber = nextPacketNumber
        ackElicitingInFlight = 0
    }

    var indices: Range<Int> { packets.startIndex..<packets.endIndex }
}
