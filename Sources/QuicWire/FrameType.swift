/// Frame types (RFC 9000 §19, §12.4 Table 3; RFC 9221 §4), with the one table of which packet
/// types may carry each.
public enum FrameType: UInt64, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case padding = 0x00
    case ping = 0x01
    case ack = 0x02
    case ackECN = 0x03
    case resetStream = 0x04
    case stopSending = 0x05
    case crypto = 0x06
    case newToken = 0x07
    /// 0x08–0x0f: the low three bits are OFF, LEN and FIN.
    case stream = 0x08
    case maxData = 0x10
    case maxStreamData = 0x11
    case maxStreamsBidi = 0x12
    case maxStreamsUni = 0x13
    case dataBlocked = 0x14
    case streamDataBlocked = 0x15
    case streamsBlockedBidi = 0x16
    case streamsBlockedUni = 0x17
    case newConnectionID = 0x18
    case retireConnectionID = 0x19
    case pathChallenge = 0x1a
    case pathResponse = 0x1b
    case connectionCloseTransport = 0x1c
    case connectionCloseApplication = 0x1d
    case handshakeDone = 0x1e
    /// RFC 9221: 0x30 runs to the end of the packet, 0x31 carries a length.
    case datagram = 0x30
    case datagramWithLength = 0x31

    /// The frame type for a wire value, folding the STREAM variants.
    @inlinable
    public init?(wireValue: UInt64) {
        if (0x08...0x0f).contains(wireValue) {
            self = .stream
        } else {
            self.init(rawValue: wireValue)
        }
    }

    // Table 3 of RFC 9000 §12.4 ("IH01"); DATAGRAM as RFC 9221 §4 says (0-RTT and 1-RTT only).
    @usableFromInline static let initialBit: UInt8 = 1
    @usableFromInline static let handshakeBit: UInt8 = 2
    @usableFromInline static let zeroRTTBit: UInt8 = 4
    @usableFromInline static let oneRTTBit: UInt8 = 8

    @usableFromInline var allowedPacketTypes: UInt8 {
        let all: UInt8 = 0x0f
        let zeroAndOne: UInt8 = FrameType.zeroRTTBit | FrameType.oneRTTBit
        switch self {
        case .padding, .ping, .connectionCloseTransport: return all
        case .ack, .ackECN, .crypto: return all & ~FrameType.zeroRTTBit
        case .newToken, .pathResponse, .handshakeDone: return FrameType.oneRTTBit
        case .resetStream, .stopSending, .stream, .maxData, .maxStreamData, .maxStreamsBidi, .maxStreamsUni,
            .dataBlocked, .streamDataBlocked, .streamsBlockedBidi, .streamsBlockedUni, .newConnectionID,
            .retireConnectionID, .pathChallenge, .connectionCloseApplication, .datagram, .datagramWithLength:
            return zeroAndOne
        }
    }

    /// Whether a packet of `packetType` may carry this frame (RFC 9000 §12.4 Table 3).
    @inlinable
    public func isAllowed(in packetType: PacketType) -> Bool {
        let bit: UInt8
        switch packetType {
        case .initial: bit = FrameType.initialBit
        case .handshake: bit = FrameType.handshakeBit
        case .zeroRTT: bit = FrameType.zeroRTTBit
        case .oneRTT: bit = FrameType.oneRTTBit
        case .retry, .versionNegotiation: return false
        }
        return allowedPacketTypes & bit != 0
    }

    /// Whether receiving the frame makes the packet ack-eliciting (RFC 9002 §2).
    @inlinable
    public var isAckEliciting: Bool {
        switch self {
        case .padding, .ack, .ackECN, .connectionCloseTransport, .connectionCloseApplication: return false
        default: return true
        }
    }

    /// Whether the frame is a probing frame (RFC 9000 §9.1): a packet of only these does not
    /// move the peer's address.
    @inlinable
    public var isProbing: Bool {
        switch self {
        case .padding, .pathChallenge, .pathResponse, .newConnectionID: return true
        default: return false
        }
    }

    public var description: String { "0x" + String(rawValue, radix: 16) }
}
