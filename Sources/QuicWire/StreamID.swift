/// A stream ID (RFC 9000 §2.1): the two low bits say who opened the stream and whether it is
/// bidirectional.
@frozen
public struct StreamID: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt64
    @inlinable public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// The `index`-th stream of a kind.
    @inlinable
    public init(index: UInt64, initiator: Role, direction: StreamDirection) {
        rawValue = index << 2 | (initiator == .server ? 1 : 0) | (direction == .unidirectional ? 2 : 0)
    }

    @inlinable public var initiator: Role { rawValue & 1 == 0 ? .client : .server }
    @inlinable public var direction: StreamDirection { rawValue & 2 == 0 ? .bidirectional : .unidirectional }
    /// Position among streams of the same initiator and direction.
    @inlinable public var index: UInt64 { rawValue >> 2 }

    @inlinable public static func < (lhs: StreamID, rhs: StreamID) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { rawValue.description }
}

/// Which endpoint an entity belongs to.
public enum Role: Sendable, Hashable {
    case client, server
    @inlinable public var peer: Role { self == .client ? .server : .client }
}

public enum StreamDirection: Sendable, Hashable {
    case bidirectional, unidirectional
}
