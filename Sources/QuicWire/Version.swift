/// A QUIC version number (RFC 9000 §15, RFC 8999 §5.1).
@frozen
public struct QuicVersion: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    @inlinable public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// QUIC version 1 (RFC 9000).
    public static let v1 = QuicVersion(rawValue: 0x0000_0001)
    /// QUIC version 2 (RFC 9369 §3.1).
    public static let v2 = QuicVersion(rawValue: 0x6b33_43cf)
    /// The value carried by Version Negotiation packets (RFC 9000 §17.2.1).
    public static let negotiation = QuicVersion(rawValue: 0)

    /// The versions this implementation speaks, in preference order.
    public static let supported: [QuicVersion] = [.v1, .v2]

    @inlinable public var isSupported: Bool { self == .v1 || self == .v2 }

    /// Versions of the form 0x?a?a?a?a are reserved to exercise version negotiation (§15).
    @inlinable public var isReservedForGrease: Bool { rawValue & 0x0f0f_0f0f == 0x0a0a_0a0a }

    public var description: String {
        switch self {
        case .v1: return "v1"
        case .v2: return "v2"
        default: return "0x" + String(rawValue, radix: 16)
        }
    }
}
