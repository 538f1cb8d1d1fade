import QuicWire

/// An HTTP/3 application error code (RFC 9114 §8.1) or a QPACK one (RFC 9204 §6). These are the
/// codes this stack sends; a code received from a peer is a plain `UInt64`, because unknown codes
/// must be accepted and treated as H3_NO_ERROR (RFC 9114 §8).
public enum HTTP3ErrorCode: UInt64, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case noError = 0x0100
    case generalProtocolError = 0x0101
    case internalError = 0x0102
    case streamCreationError = 0x0103
    case closedCriticalStream = 0x0104
    case frameUnexpected = 0x0105
    case frameError = 0x0106
    case excessiveLoad = 0x0107
    case idError = 0x0108
    case settingsError = 0x0109
    case missingSettings = 0x010a
    case requestRejected = 0x010b
    case requestCancelled = 0x010c
    case requestIncomplete = 0x010d
    case messageError = 0x010e
    case connectError = 0x010f
    case versionFallback = 0x0110
    /// RFC 9204 §6.
    case qpackDecompressionFailed = 0x0200
    case qpackEncoderStreamError = 0x0201
    case qpackDecoderStreamError = 0x0202

    public var description: String {
        switch self {
        case .noError: "H3_NO_ERROR"
        case .generalProtocolError: "H3_GENERAL_PROTOCOL_ERROR"
        case .internalError: "H3_INTERNAL_ERROR"
        case .streamCreationError: "H3_STREAM_CREATION_ERROR"
        case .closedCriticalStream: "H3_CLOSED_CRITICAL_STREAM"
        case .frameUnexpected: "H3_FRAME_UNEXPECTED"
        case .frameError: "H3_FRAME_ERROR"
        case .excessiveLoad: "H3_EXCESSIVE_LOAD"
        case .idError: "H3_ID_ERROR"
        case .settingsError: "H3_SETTINGS_ERROR"
        case .missingSettings: "H3_MISSING_SETTINGS"
        case .requestRejected: "H3_REQUEST_REJECTED"
        case .requestCancelled: "H3_REQUEST_CANCELLED"
        case .requestIncomplete: "H3_REQUEST_INCOMPLETE"
        case .messageError: "H3_MESSAGE_ERROR"
        case .connectError: "H3_CONNECT_ERROR"
        case .versionFallback: "H3_VERSION_FALLBACK"
        case .qpackDecompressionFailed: "QPACK_DECOMPRESSION_FAILED"
        case .qpackEncoderStreamError: "QPACK_ENCODER_STREAM_ERROR"
        case .qpackDecoderStreamError: "QPACK_DECODER_STREAM_ERROR"
        }
    }

    /// Whether `value` is one of the reserved codes 0x1f * N + 0x21 that exercise the rule that
    /// unknown codes mean H3_NO_ERROR (RFC 9114 §8.1).
    @inlinable public static func isReserved(_ value: UInt64) -> Bool { isGreaseValue(value) }
}

/// Whether `value` has the reserved form 0x1f * N + 0x21 used for GREASE stream types, frame
/// types, setting identifiers and error codes (RFC 9114 §6.2.3, §7.2.4.1, §7.2.8, §8.1).
@inlinable
public func isGreaseValue(_ value: UInt64) -> Bool {
    value >= 0x21 && (value - 0x21) % 0x1f == 0
}

/// An HTTP/3 connection error (RFC 9114 §8): the embedding layer closes the QUIC connection with
/// `code` as the application error code (CONNECTION_CLOSE of type 0x1d, RFC 9000 §19.19) and may
/// put `message` in the reason phrase.
///
/// Stream errors are not thrown: they come back as `HTTP3Event.streamError` and only that stream
/// is reset.
public struct HTTP3Error: Error, Hashable, Sendable, CustomStringConvertible {
    public var code: HTTP3ErrorCode
    /// The stream on which the error was detected, where there is one.
    public var stream: StreamID?
    /// What went wrong, for a person reading a log.
    public var message: String

    public init(_ code: HTTP3ErrorCode, stream: StreamID? = nil, _ message: String) {
        self.code = code
        self.stream = stream
        self.message = message
    }

    public var description: String {
        if let stream { return "\(code) on stream \(stream): \(message)" }
        return "\(code): \(message)"
    }
}
