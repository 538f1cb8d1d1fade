/// TLS alert descriptions (RFC 8446 §6, §6.2). QUIC sends every alert as fatal, as the
/// CRYPTO_ERROR 0x0100 + value (RFC 9001 §4.8).
public enum AlertDescription: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case closeNotify = 0
    case unexpectedMessage = 10
    case badRecordMAC = 20
    case recordOverflow = 22
    case handshakeFailure = 40
    case badCertificate = 42
    case unsupportedCertificate = 43
    case certificateRevoked = 44
    case certificateExpired = 45
    case certificateUnknown = 46
    case illegalParameter = 47
    case unknownCA = 48
    case accessDenied = 49
    case decodeError = 50
    case decryptError = 51
    case protocolVersion = 70
    case insufficientSecurity = 71
    case internalError = 80
    case inappropriateFallback = 86
    case userCanceled = 90
    case missingExtension = 109
    case unsupportedExtension = 110
    case unrecognizedName = 112
    case badCertificateStatusResponse = 113
    case unknownPSKIdentity = 115
    case certificateRequired = 116
    case noApplicationProtocol = 120

    public var description: String {
        switch self {
        case .closeNotify: return "close_notify"
        case .unexpectedMessage: return "unexpected_message"
        case .badRecordMAC: return "bad_record_mac"
        case .recordOverflow: return "record_overflow"
        case .handshakeFailure: return "handshake_failure"
        case .badCertificate: return "bad_certificate"
        case .unsupportedCertificate: return "unsupported_certificate"
        case .certificateRevoked: return "certificate_revoked"
        case .certificateExpired: return "certificate_expired"
        case .certificateUnknown: return "certificate_unknown"
        case .illegalParameter: return "illegal_parameter"
        case .unknownCA: return "unknown_ca"
        case .accessDenied: return "access_denied"
        case .decodeError: return "decode_error"
        case .decryptError: return "decrypt_error"
        case .protocolVersion: return "protocol_version"
        case .insufficientSecurity: return "insufficient_security"
        case .internalError: return "internal_error"
        case .inappropriateFallback: return "inappropriate_fallback"
        case .userCanceled: return "user_canceled"
        case .missingExtension: return "missing_extension"
        case .unsupportedExtension: return "unsupported_extension"
        case .unrecognizedName: return "unrecognized_name"
        case .badCertificateStatusResponse: return "bad_certificate_status_response"
        case .unknownPSKIdentity: return "unknown_psk_identity"
        case .certificateRequired: return "certificate_required"
        case .noApplicationProtocol: return "no_application_protocol"
        }
    }
}

/// A fatal TLS alert that ended the handshake: what QUIC reports in CONNECTION_CLOSE, plus a
/// reason for logs (never sent; RFC 9000 §19.19 lets the reason phrase stay empty).
public struct TLSAlert: Error, Hashable, Sendable {
    public var description: AlertDescription
    public var reason: String
    /// Set for the few violations RFC 9001 names as QUIC PROTOCOL_VIOLATION (0x0a) rather than a
    /// TLS alert: a non-empty legacy_session_id (§8.4), EndOfEarlyData or handshake data beyond a
    /// key change (§8.3, §4.1.3), a post-handshake CertificateRequest (§4.4), a NewSessionTicket
    /// early_data value other than 0xffffffff (§4.6.1). `description` still names the closest alert.
    public var isQuicProtocolViolation: Bool

    public init(_ description: AlertDescription, _ reason: String, isQuicProtocolViolation: Bool = false) {
        self.description = description
        self.reason = reason
        self.isQuicProtocolViolation = isQuicProtocolViolation
    }

    /// The QUIC error code: PROTOCOL_VIOLATION when flagged, else CRYPTO_ERROR 0x0100 + alert
    /// (RFC 9001 §4.8).
    public var quicErrorCode: UInt64 { isQuicProtocolViolation ? 0x0a : 0x0100 + UInt64(description.rawValue) }

    static func decodeError(_ reason: String) -> TLSAlert { TLSAlert(.decodeError, reason) }
    static func illegalParameter(_ reason: String) -> TLSAlert { TLSAlert(.illegalParameter, reason) }
    static func unexpectedMessage(_ reason: String) -> TLSAlert { TLSAlert(.unexpectedMessage, reason) }
    static func missingExtension(_ reason: String) -> TLSAlert { TLSAlert(.missingExtension, reason) }
    static func internalError(_ reason: String) -> TLSAlert { TLSAlert(.internalError, reason) }
}

extension TLSAlert: CustomDebugStringConvertible {
    public var debugDescription: String {
        "TLS alert \(description) (\(description.rawValue)): \(reason)"
            + (isQuicProtocolViolation ? " [QUIC PROTOCOL_VIOLATION]" : "")
    }
}
