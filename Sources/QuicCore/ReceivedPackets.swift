import QuicWire

/// What one packet number space has received, and when it owes the peer an ACK
/// (RFC 9000 §13.2).
public struct ReceivedPackets: Sendable {
    /// Most ACK ranges reported; older ranges are forgotten (§13.2.3 lets a receiver limit them).
    public static let maxRanges = 32

    /// Received packet numbers (bounded to the newest `maxRanges * 2` ranges for duplicate checks).
    public private(set) var received = RangeSet()
    /// Packets below this are never reported again: the peer has seen an ACK covering them.
    public private(set) var ackFloor: UInt64 = 0
    public private(set) var largest: UInt64?
    var largestReceivedTime: Instant = .zero
    /// The largest ack-eliciting packet number received, for the reordering rule.
    var largestAckEliciting: UInt64?
    var ackElicitingSinceLastAck = 0
    /// An ACK must go out no later than this.
    public private(set) var ackDeadline: Instant?
    /// Packets arrived since the last ACK, so one is owed (possibly not yet due).
    public private(set) var hasNewPackets = false
    public private(set) var ecnCounts = ECNCounts()
    public private(set) var sawECN = false

    public init() {}

    /// Whether `packetNumber` was already received (or is too old to tell, which counts as seen).
    public func isDuplicate(_ packetNumber: UInt64) -> Bool {
        if received.contains(packetNumber) { return true }
        if let low = received.min, packetNumber < low, received.count >= ReceivedPackets.maxRanges * 2 { return true }
        return packetNumber < ackFloor
    }

    /// Records a successfully processed packet. `immediate`: Initial and Handshake packets are
    /// acknowledged without delay (§13.2.1).
    public mutating func onPacketReceived(
        _ packetNumber: UInt64, ackEliciting: Bool, ecn: ECNCodepoint, now: Instant, maxAckDelay: TimeSpan,
        immediate: Bool, ackElicitingThreshold: Int = 2
    ) {
        received.insert(packetNumber)
        received.keepHighest(ReceivedPackets.maxRanges * 2)
        switch ecn {
        case .ect0: ecnCounts.ect0 += 1; sawECN = true
        case .ect1: ecnCounts.ect1 += 1; sawECN = true
        case .ce: ecnCounts.ce += 1; sawECN = true
        case .notECT: break
        }
        let isNewLargest = largest.map { packetNumber > $0 } ?? true
        if isNewLargest {
            largest = packetNumber
            largestReceivedTime = now
        }
        hasNewPackets = true
        guard ackEliciting else { return }

        // §13.2.1: acknowledge at once when packets seem lost or reordered, or when CE-marked.
        var outOfOrder = false
        if let largestAckEliciting {
            if packetNumber < largestAckEliciting {
                outOfOrder = true
            } else if packetNumber > largestAckEliciting + 1,
                !received.contains((largestAckEliciting + 1)..<packetNumber)
            {
                outOfOrder = true
            }
        }
        largestAckEliciting = max(largestAckEliciting ?? 0, packetNumber)
        ackElicitingSinceLastAck += 1
        if immediate || outOfOrder || ecn == .ce || ackElicitingSinceLastAck >= ackElicitingThreshold {
            ackDeadline = now
        } else if ackDeadline == nil {
            ackDeadline = now + maxAckDelay
        }
    }

    /// Whether an ACK is due at `now`.
    public func ackDue(at now: Instant) -> Bool {
        guard let ackDeadline else { return false }
        return ackDeadline <= now
    }

    /// Ranges to report, highest first, within the floor.
    public var rangesToAcknowledge: [ClosedRange<UInt64>] {
        var result: [ClosedRange<UInt64>] = []
        for range in DescendingRanges(received, limit: ReceivedPackets.maxRanges) {
            guard range.upperBound >= ackFloor else { break }
            result.append(max(range.lowerBound, ackFloor)...range.upperBound)
        }
        return result
    }

    /// Calls `body` with the ranges to report, highest first, without allocating.
    @inlinable
    public func withAckRanges<R>(_ body: (AckRangeView) -> R) -> R {
        body(AckRangeView(received: received, floor: ackFloor))
    }

    /// The ACK Delay field value: time since the largest was received, in microseconds scaled
    /// down by our ack_delay_exponent (§19.3).
    public func encodedAckDelay(now: Instant, exponent: UInt64) -> UInt64 {
        let delay = now > largestReceivedTime ? (now - largestReceivedTime).microseconds : 0
        return UInt64(delay) >> exponent
    }

    /// An ACK covering everything received went out.
    public mutating func onAckSent() {
        ackElicitingSinceLastAck = 0
        ackDeadline = nil
        hasNewPackets = false
    }

    /// The peer acknowledged a packet of ours that carried an ACK up to `largest`: those packets
    /// need not be reported again (§13.2.4).
    public mutating func onAckAcknowledged(largest: UInt64) {
        ackFloor = max(ackFloor, largest &+ 1)
    }

    /// Whether anything is left to acknowledge.
    public var hasRangesToAcknowledge: Bool {
        guard let largest else { return false }
        return largest >= ackFloor
    }
}

/// The ranges an ACK will report, highest first, clipped to the floor; a view, not a copy.
public struct AckRangeView: Sequence {
    @usableFromInline let received: RangeSet
    @usableFromInline let floor: UInt64

    @inlinable init(received: RangeSet, floor: UInt64) {
        self.received = received
        self.floor = floor
    }

    @inlinable public func makeIterator() -> Iterator {
        Iterator(base: DescendingRanges(received, limit: ReceivedPackets.maxRanges).makeIterator(), floor: floor)
    }

    @frozen
    public struct Iterator: IteratorProtocol {
        @usableFromInline var base: DescendingRanges.Iterator
        @usableFromInline let floor: UInt64
        @usableFromInline var done = false

        @inlinable init(base: DescendingRanges.Iterator, floor: UInt64) {
            self.base = base
            self.floor = floor
        }

        @inlinable
        public mutating func next() -> ClosedRange<UInt64>? {
            guard !done, let range = base.next(), range.upperBound >= floor else {
                done = true
                return nil
            }
            return Swift.max(range.lowerBound, floor)...range.upperBound
        }
    }
}

/// The ECN codepoint of a received datagram (RFC 3168), from the IP header.
public enum ECNCodepoint: UInt8, Sendable, Hashable {
    case notECT = 0b00
    case ect1 = 0b01
    case ect0 = 0b10
    case ce = 0b11
}
