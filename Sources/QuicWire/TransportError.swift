/// A QUIC transport error code (RFC 9000 §20.1). CRYPTO_ERROR is the range 0x0100–0x01ff,
/// carrying a TLS alert in its low byte (RFC 9001 §4.8).
@frozen
public struct TransportErrorCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt64
    @inlinable public init(rawValue: UInt64) { self.rawValue = rawValue }

    public static let noError = Self(rawValue: 0x00)
    public static let internalError = Self(rawValue: 0x01)
    public static let connectionRefused = Self(rawValue: 0x02)
    public static let flowControlError = Self(rawValue: 0x03)
    public static let streamLimitError = Self(rawValue: 0x04)
    public static let streamStateError = Self(rawValue: 0x05)
    public static let finalSizeError = Self(rawValue: 0x06)
    public static let frameEncodingError = Self(rawValue: 0x07)
    public static let transportParameterError = Self(rawValue: 0x08)
    public static let connectionIDLimitError = Self(rawValue: 0x09)
    public static let protocolViolation = Self(rawValue: 0x0a)
    public static let invalidToken = Self(rawValue: 0x0b)
    public static let applicationError = Self(rawValue: 0x0c)
    public static let cryptoBufferExceeded = Self(rawValue: 0x0d)
    public static let keyUpdateError = Self(rawValue: 0x0e)
    public static let aeadLimitReached = Self(rawValue: 0x0f)
    public static let noViablePath = Self(rawValue: 0x10)
    /// VERSION_NEGOTIATION_ERROR (RFC 9368 §10.2).
    public static let versionNegotiationError = Self(rawValue: 0x11)

    /// CRYPTO_ERROR carrying a TLS alert (RFC 9001 §4.8).
    @inlinable public static func crypto(alert: UInt8) -> Self { Self(rawValue: 0x0100 | UInt64(alert)) }

    /// The TLS alert inside a CRYPTO_ERROR, or nil for other codes.
    public var tlsAlert: UInt8? {
        (0x0100...0x01ff).contains(rawValue) ? UInt8(truncatingIfNeeded: rawValue) : nil
    }

    public var description: String {
        let names: [UInt64: String] = [
            0x00: "NO_ERROR", 0x01: "INTERNAL_ERROR", 0x02: "CONNECTION_REFUSED",
            0x03: "FLOW_CONTROL_ERROR", 0x04: "STREAM_LIMIT_ERROR", 0x05: "STREAM_STATE_ERROR",
            0x06: "FINAL_SIZE_ERROR", 0x07: "FRAME_ENCODING_ERROR", 0x08: "TRANSPORT_PARAMETER_ERROR",
            0x09: "CONNECTION_ID_LIMIT_ERROR", 0x0a: "PROTOCOL_VIOLATION", 0x0b: "INVALID_TOKEN",
            0x0c: "APPLICATION_ERROR", 0x0d: "CRYPTO_BUFFER_EXCEEDED", 0x0e: "KEY_UPDATE_ERROR",
            0x0f: "AEAD_LIMIT_REACHED", 0x10: "NO_VIABLE_PATH", 0x11: "VERSION_NEGOTIATION_ERROR",
        ]
        if let name = names[rawValue] { return name }
        if let alert = tlsAlert { return "CRYPTO_ERROR(alert \(alert))" }
        return "0x" + String(rawValue, radix: 16)
    }
}

/// Why bytes from the network could not be decoded. Each failure carries the transport error
/// code the RFC assigns to it, so a connection can close with the right code.
@frozen
public struct WireError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The closed set of decoding failures.
    public enum Reason: UInt8, Hashable, Sendable {
        case truncated
        case lengthPastEnd
        case unknownFrameType
        case frameNotAllowedInPacketType
        case nonMinimalFrameType
        case invalidValue
        case invalidConnectionIDLength
        case ackRangeUnderflow
        case offsetTooLarge
        case emptyToken
        case duplicateParameter
        case forbiddenParameter
        case missingParameter
        case fixedBitZero
        case reservedBits
        case unsupportedVersion
        case invalidPacket
        case emptyPayload
    }

    public var code: TransportErrorCode
    public var reason: Reason
    /// The frame type being decoded, where one applies (reported in CONNECTION_CLOSE).
    public var frameType: UInt64?

    @inlinable
    public init(_ code: TransportErrorCode, _ reason: Reason, frameType: UInt64? = nil) {
        self.code = code
        self.reason = reason
        self.frameType = frameType
    }

    @inlinable static var truncated: WireError { WireError(.frameEncodingError, .truncated) }

    public var description: String {
        var text = "\(code): \(reason)"
        if let frameType { text += " (frame type 0x\(String(frameType, radix: 16)))" }
        return text
    }
}
