import QuicWire

/// The four encryption levels QUIC and TLS share (RFC 9001 §2.1, §4.1.4). TLS hands over secrets
/// per level; QUIC protects packets of the matching types with them.
public enum EncryptionLevel: Int, Sendable, Hashable, CaseIterable, Comparable, CustomStringConvertible {
    case initial = 0
    case zeroRTT = 1
    case handshake = 2
    case oneRTT = 3

    /// The packet number space packets of this level use.
    public var packetNumberSpace: PacketNumberSpace {
        switch self {
        case .initial: return .initial
        case .handshake: return .handshake
        case .zeroRTT, .oneRTT: return .applicationData
        }
    }

    /// The level of a protected packet type; nil for Retry and Version Negotiation.
    public init?(_ type: PacketType) {
        switch type {
        case .initial: self = .initial
        case .zeroRTT: self = .zeroRTT
        case .handshake: self = .handshake
        case .oneRTT: self = .oneRTT
        case .retry, .versionNegotiation: return nil
        }
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String {
        switch self {
        case .initial: return "initial"
        case .zeroRTT: return "0-RTT"
        case .handshake: return "handshake"
        case .oneRTT: return "1-RTT"
        }
    }
}
