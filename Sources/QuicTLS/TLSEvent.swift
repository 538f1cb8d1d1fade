import QuicCrypto

/// What the handshake tells QUIC, in the order QUIC needs it (RFC 9001 §4.1.4, Figure 5).
public enum TLSEvent: Sendable, Hashable {
    /// Keys to open the peer's packets at `level`.
    case readSecret(level: EncryptionLevel, suite: CipherSuite, secret: [UInt8])
    /// Keys to protect this endpoint's packets at `level`.
    case writeSecret(level: EncryptionLevel, suite: CipherSuite, secret: [UInt8])
    /// Finished sent and the peer's Finished verified (RFC 9001 §4.1.1).
    case handshakeComplete
    /// Client: the server refused 0-RTT; everything sent in 0-RTT is lost and streams must be
    /// reset (RFC 9001 §4.6.2).
    case earlyDataRejected
    /// Client: a NewSessionTicket was stored in the configuration's ticket store.
    case sessionTicketReceived
}

/// Where 0-RTT stands on this connection (RFC 9001 §4.6).
public enum EarlyDataState: Sendable, Hashable {
    case notAttempted, attempted, accepted, rejected
}
