import Glibc
import QuicCrypto

/// Everything a TLS endpoint needs to run handshakes. A value type, built once and shared by
/// every connection of a client or server.
public struct TLSConfiguration: Sendable {
    /// Cipher suites in preference order (RFC 8446 §4.1.2). A server picks its most preferred
    /// suite that the client offers.
    public var cipherSuites: [CipherSuite] = [.aes128GCMSHA256, .aes256GCMSHA384, .chacha20Poly1305SHA256]
    /// Key exchange groups in preference order (RFC 8446 §4.2.7). A client sends a key share for
    /// `groups[0]` only; a server that prefers another offered group answers with a
    /// HelloRetryRequest only when the client sent no share it accepts.
    public var groups: [NamedGroup] = [.x25519, .secp256r1]
    /// CertificateVerify schemes accepted from the peer and, in this order, used when signing
    /// (RFC 8446 §4.2.3).
    public var signatureAlgorithms: [SignatureScheme] = [
        .ecdsaSecp256r1SHA256, .ed25519, .rsaPSSRSAESHA256, .ecdsaSecp384r1SHA384,
    ]
    /// Application protocols (ALPN, RFC 7301) in preference order. QUIC requires agreement: no
    /// common protocol ends the handshake with no_application_protocol (RFC 9001 §8.1).
    public var alpn: [String] = []
    /// This endpoint's certificate chain, leaf first (servers; clients for mutual TLS).
    public var certificateChain: [Certificate] = []
    /// The private key of `certificateChain[0]`.
    public var privateKey: PrivateKey?
    /// How the peer's certificate chain is checked.
    public var verification: CertificateVerification = .systemTrustStore
    /// Server: ask for, and require, a client certificate (RFC 8446 §4.3.2). A client that sends
    /// none gets certificate_required.
    public var requestClientCertificate = false
    /// Client: where tickets are kept and taken from for resumption (RFC 8446 §4.6.1).
    public var sessionTicketStore: SessionTicketStore?
    /// Server: the keys sealing session tickets; nil issues no tickets and resumes nothing.
    public var ticketKeys: TicketKeyRing?
    /// Client: send 0-RTT when a ticket allows it. Server: offer and accept 0-RTT.
    public var enableEarlyData = false
    /// Receives one NSS key log line per secret (no trailing newline), as SSLKEYLOGFILE expects.
    public var keyLog: (@Sendable (String) -> Void)?
    /// Receives diagnostics: warnings and the reasons 0-RTT or resumption was declined.
    public var log: (@Sendable (String) -> Void)?
    /// Milliseconds since the Unix epoch: ticket ages and lifetimes, and the time at which
    /// certificates must be valid.
    public var wallClock: @Sendable () -> UInt64 = { systemWallClockMilliseconds() }
    /// Fills a buffer with random bytes: hello randoms, key shares, ticket fields.
    public var random: @Sendable (UnsafeMutableRawBufferPointer) -> Void = { secureRandomBytes($0) }

    public init() {}

    public init(alpn: [String]) { self.alpn = alpn }
}

/// How an endpoint checks its peer's certificate chain.
public enum CertificateVerification: Sendable, Hashable {
    /// Against the operating system's trust anchors, and the server name.
    case systemTrustStore
    /// Against the CA certificates in a PEM file, and the server name.
    case caFile(String)
    /// No chain or name check: the peer is not authenticated. Only for tests and closed setups;
    /// every handshake logs a warning. The CertificateVerify signature is still checked.
    case none
}

/// The current wall-clock time in milliseconds since the Unix epoch.
public func systemWallClockMilliseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return UInt64(now.tv_sec) * 1000 + UInt64(now.tv_nsec) / 1_000_000
}
