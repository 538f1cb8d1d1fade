/// The packet types of QUIC v1 and v2 (RFC 9000 §17, RFC 9369 §3.2).
public enum PacketType: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case initial, zeroRTT, handshake, retry, oneRTT, versionNegotiation

    /// The long-header type from the two type bits, which v2 permutes (RFC 9369 §3.2).
    @inlinable
    public static func longHeaderType(bits: UInt8, version: QuicVersion) -> PacketType {
        let v1Types: (PacketType, PacketType, PacketType, PacketType) = (.initial, .zeroRTT, .handshake, .retry)
        let v2Types: (PacketType, PacketType, PacketType, PacketType) = (.retry, .initial, .zeroRTT, .handshake)
        let table = version == .v2 ? v2Types : v1Types
        switch bits & 0x03 {
        case 0: return table.0
        case 1: return table.1
        case 2: return table.2
        default: return table.3
        }
    }

    /// The two long-header type bits for this type in `version`.
    @inlinable
    public func longHeaderBits(version: QuicVersion) -> UInt8 {
        let v1: UInt8
        switch self {
        case .initial: v1 = 0
        case .zeroRTT: v1 = 1
        case .handshake: v1 = 2
        case .retry: v1 = 3
        case .oneRTT, .versionNegotiation: preconditionFailure("\(self) has no long-header type bits")
        }
        return version == .v2 ? (v1 + 1) & 0x03 : v1
    }

    /// Packet types that carry a packet number and encrypted payload.
    @inlinable public var isProtected: Bool {
        switch self {
        case .initial, .zeroRTT, .handshake, .oneRTT: return true
        case .retry, .versionNegotiation: return false
        }
    }

    public var description: String {
        switch self {
        case .initial: return "initial"
        case .zeroRTT: return "0RTT"
        case .handshake: return "handshake"
        case .retry: return "retry"
        case .oneRTT: return "1RTT"
        case .versionNegotiation: return "version_negotiation"
        }
    }
}

/// The three packet number spaces (RFC 9000 §12.3).
public enum PacketNumberSpace: Int, Sendable, Hashable, CaseIterable {
    case initial = 0, handshake = 1, applicationData = 2

    @inlinable
    public init?(_ type: PacketType) {
        switch type {
        case .initial: self = .initial
        case .handshake: self = .handshake
        case .zeroRTT, .oneRTT: self = .applicationData
        case .retry, .versionNegotiation: return nil
        }
    }
}
