/// A QUIC variable-length integer (RFC 9000 §16): 0 ..< 2^62, encoded in 1, 2, 4 or 8 bytes with
/// the length in the two high bits of the first byte.
@frozen
public struct VarInt: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64

    /// 2^62 − 1, the largest value a variable-length integer can carry.
    public static let max = VarInt(unchecked: (1 << 62) - 1)
    public static let zero = VarInt(unchecked: 0)

    @inlinable public init?(rawValue: UInt64) {
        guard rawValue <= VarInt.max.rawValue else { return nil }
        self.rawValue = rawValue
    }

    @inlinable public init?<T: BinaryInteger>(_ value: T) {
        guard value >= 0, let raw = UInt64(exactly: value), raw <= VarInt.max.rawValue else { return nil }
        self.rawValue = raw
    }

    /// For values already known to be in range; traps otherwise (a bug, not bad input).
    @inlinable public init(unchecked value: UInt64) {
        precondition(value <= (1 << 62) - 1, "value exceeds the varint range")
        self.rawValue = value
    }

    /// Bytes of the shortest encoding.
    @inlinable public var encodedLength: Int { VarInt.encodedLength(rawValue) }

    /// Bytes of the shortest encoding of `value` (which must be < 2^62).
    @inlinable public static func encodedLength(_ value: UInt64) -> Int {
        if value < 1 << 6 { return 1 }
        if value < 1 << 14 { return 2 }
        if value < 1 << 30 { return 4 }
        return 8
    }

    @inlinable public static func < (lhs: VarInt, rhs: VarInt) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { rawValue.description }
}
