/// Packet number encoding and decoding (RFC 9000 §17.1 and Appendix A).
public enum PacketNumberCoding {
    /// The number of bytes (1...4) needed to send `packetNumber` when the peer has acknowledged
    /// up to `largestAcknowledged` (nil when nothing has been acknowledged): enough to cover
    /// twice the range of unacknowledged packets (Appendix A.2).
    @inlinable
    public static func encodedLength(for packetNumber: UInt64, largestAcknowledged: UInt64?) -> Int {
        let unacknowledged: UInt64
        if let largestAcknowledged {
            unacknowledged = packetNumber &- largestAcknowledged
        } else {
            unacknowledged = packetNumber &+ 1
        }
        // ceil(log2(unacknowledged) + 1) bits, which is the bit width of 2 * unacknowledged - 1
        let needed = 64 - (max(unacknowledged, 1) &* 2 &- 1).leadingZeroBitCount
        let bytes = (needed + 7) / 8
        return max(1, min(4, bytes))
    }

    /// Recovers the full packet number from its `length`-byte truncation, given the largest packet
    /// number successfully processed in the space (nil before the first one) (Appendix A.3).
    @inlinable
    public static func decode(truncated: UInt64, length: Int, largestProcessed: UInt64?) -> UInt64 {
        let expected = largestProcessed.map { $0 &+ 1 } ?? 0
        let bits = UInt64(length * 8)
        let window: UInt64 = 1 << bits
        let halfWindow = window / 2
        let mask = window - 1
        let candidate = (expected & ~mask) | truncated
        if candidate &+ halfWindow <= expected && candidate < (1 << 62) - window {
            return candidate + window
        }
        if candidate > expected &+ halfWindow && candidate >= window {
            return candidate - window
        }
        return candidate
    }
}
