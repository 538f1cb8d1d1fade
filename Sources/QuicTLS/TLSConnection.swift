import QuicCrypto
import QuicWire

/// The TLS 1.3 handshake of one QUIC connection (RFC 9001 §4), sans-IO: QUIC feeds it the CRYPTO
/// bytes received at each encryption level and polls the bytes to send, the secrets for each
/// level, and completion. No record layer, no ChangeCipherSpec, no EndOfEarlyData, no KeyUpdate
/// (RFC 9001 §4.1.3, §6, §8.3, §8.4). Not thread-safe: one connection, one thread.
public final class TLSConnection {
    public let role: Role
    private let core: HandshakeCore

    /// - Parameters:
    ///   - localTransportParameters: the body of the quic_transport_parameters (0x39) extension
    ///     this endpoint sends (RFC 9001 §8.2).
    ///   - serverName: client only: sent as SNI (unless an address literal) and matched against
    ///     the server's certificate.
    ///   - ticketContext: what session tickets are bound to (see `ticketContext`).
    ///   - earlyDataContext: server only: bytes a ticket must have been issued with for 0-RTT to be
    ///     accepted; QUIC puts the settings 0-RTT depends on here (RFC 9001 §4.6.3).
    ///   - transportParametersForClient: server only: given the client's quic_transport_parameters
    ///     once its ClientHello is accepted, returns the body to send instead of
    ///     `localTransportParameters` (QUIC picks its version_information from the client's,
    ///     RFC 9368 §2.3). Called before EncryptedExtensions is written.
    public init(
        role: Role, configuration: TLSConfiguration, localTransportParameters: [UInt8], serverName: String? = nil,
        ticketContext: [UInt8] = [], earlyDataContext: [UInt8] = [], transportParametersForClient: (@Sendable ([UInt8]) -> [UInt8])? = nil
    ) {
        self.role = role
        switch role {
        case .client:
            core = ClientHandshake(
                configuration: configuration, localTransportParameters: localTransportParameters, serverName: serverName
            )
        case .server:
            core = ServerHandshake(
                configuration: configuration, localTransportParameters: localTransportParameters,
                earlyDataContext: earlyDataContext, transportParametersForClient: transportParametersForClient)
        }
        core.ticketContext = ticketContext
    }

    /// Opaque bytes session tickets are bound to (QUIC: the version, RFC 9369 §5). A client offers
    /// only a stored ticket received under the context in effect at `start()`, and stores the
    /// tickets it receives under the context in effect then. A server resumes only a ticket
    /// issued under the context in effect when the ClientHello arrives (anything else is a full
    /// handshake without 0-RTT) and seals the context in effect when it issues a ticket. Change
    /// it between the two when the connection changes what tickets belong to (QUIC: compatible
    /// version negotiation, RFC 9369 §5).
    public var ticketContext: [UInt8] {
        get { core.ticketContext }
        set { core.ticketContext = newValue }
    }

    /// Client: queues the ClientHello (and with 0-RTT, emits the 0-RTT write secret). Server:
    /// nothing; the handshake starts with the client's bytes.
    public func start() throws(TLSAlert) { try core.start() }

    /// In-order CRYPTO bytes received at `level`. Partial messages are buffered (one message at
    /// most, bounded per type); complete ones are processed at once. The first alert ends the
    /// handshake and is thrown again by every later call.
    public func handle(_ data: UnsafeRawBufferPointer, at level: EncryptionLevel) throws(TLSAlert) {
        try core.handle(data, at: level)
    }

    public func handle(_ data: [UInt8], at level: EncryptionLevel) throws(TLSAlert) {
        let result: Result<Void, TLSAlert> = data.withUnsafeBytes { raw in
            do throws(TLSAlert) { try core.handle(raw, at: level) } catch { return .failure(error) }
            return .success(())
        }
        try result.get()
    }

    /// The next handshake bytes to send, in order, with the level whose packets carry them.
    public func pollOutput() -> (level: EncryptionLevel, data: [UInt8])? { core.pollOutput() }

    /// The next event: secrets as levels become available, completion, 0-RTT rejection, tickets.
    public func pollEvent() -> TLSEvent? { core.pollEvent() }

    /// The raw body of the peer's quic_transport_parameters extension.
    public var peerTransportParameters: [UInt8]? { core.peerTransportParameters }
    public var negotiatedALPN: String? { core.negotiatedALPN }
    public var negotiatedCipherSuite: CipherSuite? { core.negotiatedSuite }
    /// Finished sent and the peer's Finished verified (RFC 9001 §4.1.1).
    public var isHandshakeComplete: Bool { core.isHandshakeComplete }
    /// A ticket's PSK was accepted: no certificates were exchanged.
    public var isResumed: Bool { core.isResumed }
    public var earlyDataState: EarlyDataState { core.earlyDataState }
    /// The peer's certificates, leaf first; empty on a resumed connection.
    public var peerCertificateChain: [Certificate] { core.peerCertificateChain }
    /// Client: the server's transport parameters remembered with the ticket offered on this
    /// connection, which bound what 0-RTT may send (RFC 9000 §7.4.1).
    public var resumptionTransportParameters: [UInt8]? { core.resumptionTransportParameters }
    /// Client: the application protocol remembered with that ticket: what 0-RTT data is spoken
    /// in (RFC 8446 §4.2.10).
    public var resumptionALPN: String? { core.resumptionALPN }
    /// Client: the name given at creation. Server: the host name from the client's server_name.
    public var serverName: String? { core.serverName }
}
