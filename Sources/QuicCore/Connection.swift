import QuicCrypto
import QuicTLS
import QuicWire

/// A QUIC connection as a state machine with no I/O (DESIGN.md, "The sans-IO contract";
/// RFC 9000, 9001, 9002).
///
/// Inputs: `handle(datagram:from:ecn:now:)`, `handleTimeout(now:)`, and application calls
/// (streams, datagrams, close). After any input the driver polls, in order:
/// `pollTransmit(now:into:)` until nil, `pollTimeout()`, `pollEndpointEvent()`, `pollEvent()`.
/// The same inputs at the same instants give the same outputs.
public final class Connection {
    // Performance: every stored `var` below is `@exclusivity(unchecked)`. The object is owned by
    // one worker thread and used only from it, so Swift's dynamic exclusivity checks guard nothing
    // here, yet they cost about 15 % of the CPU per packet (swift_beginAccess in the profile).
    public enum State: Sendable, Equatable {
        case handshaking, established, closing, draining, closed
    }

    public let role: Role
    let configuration: ConnectionConfiguration
    /// Our max_idle_timeout (what closes a connection the peer never answered).
    public var localIdleTimeout: TimeSpan { configuration.maxIdleTimeout }
    /// The version in use: the client's Original Version until compatible version negotiation
    /// settles on another (RFC 9368 §2.3).
    @exclusivity(unchecked) public internal(set) var version: QuicVersion
    /// The version the client started with (RFC 9368 §2). 0-RTT packets always use it
    /// (RFC 9369 §4.1).
    public let originalVersion: QuicVersion
    @exclusivity(unchecked) public internal(set) var state: State = .handshaking

    // MARK: Identity
    let localCIDLength: Int
    @exclusivity(unchecked) var localIDs = LocalConnectionIDs()
    @exclusivity(unchecked) var peerIDs: PeerConnectionIDs
    /// The Destination Connection ID of the client's first Initial (RFC 9000 §7.3).
    let originalDestinationCID: ConnectionID
    /// The Source Connection ID of our first Initial (initial_source_connection_id).
    let initialSourceCID: ConnectionID
    /// The Source Connection ID of the peer's first long-header packet.
    @exclusivity(unchecked) var peerInitialSourceCID: ConnectionID?
    /// Client: the Source Connection ID of the Retry we followed; server: the ID it used in one.
    @exclusivity(unchecked) var retrySourceCID: ConnectionID?
    /// Client: the token in our Initials (RFC 9000 §8.1): from a NEW_TOKEN frame of an earlier
    /// connection, replaced by the one a Retry carries.
    @exclusivity(unchecked) var retryToken: [UInt8] = []
    /// Server: set when the original destination CID came from a Retry token.
    let serverOriginalDestinationCID: ConnectionID?
    let idGenerator: any ConnectionIDGenerator
    @exclusivity(unchecked) var receivedFirstServerPacket = false
    @exclusivity(unchecked) var receivedRetry = false
    /// Client: the first Initial carried a token from an earlier connection's NEW_TOKEN frame.
    @exclusivity(unchecked) public private(set) var sentAddressToken = false
    /// Server, after switching versions: Initial keys of the original version, for the client's
    /// Initials sent before it learned of the switch (RFC 9369 §4.1).
    @exclusivity(unchecked) var originalVersionInitialReceiveKeys: PacketProtectionKeys?
    /// Client: Initial keys of another version the server may be switching to (RFC 9368 §2.3),
    /// made on the first packet of that version and adopted once one decrypts.
    @exclusivity(unchecked) var versionCandidate:
        (version: QuicVersion, keys: (send: PacketProtectionKeys, receive: PacketProtectionKeys))?

    // MARK: Path
    /// The path packets go on now (RFC 9000 §9); see Path.swift and Connection+Paths.swift.
    @exclusivity(unchecked) var path: Path
    /// The current path's maximum datagram size (RFC 9000 §14.2), raised by DPLPMTUD.
    @exclusivity(unchecked) var maxDatagramSize: Int
    public var remoteAddress: SocketAddress { path.remote }
    /// The peer's address is validated (RFC 9000 §8.1); until then a server sends at most three
    /// times what it received.
    var addressValidated: Bool {
        get { path.validated }
        set { path.validated = newValue }
    }
    var pathBytesReceived: Int {
        get { path.bytesReceived }
        set { path.bytesReceived = newValue }
    }
    var pathBytesSent: Int {
        get { path.bytesSent }
        set { path.bytesSent = newValue }
    }

    // MARK: Keys
    let tls: TLSConnection
    /// Keys by EncryptionLevel.rawValue.
    @exclusivity(unchecked) var sendKeys: InlineArray<4, PacketProtectionKeys?> = [nil, nil, nil, nil]
    @exclusivity(unchecked) var receiveKeys: InlineArray<4, PacketProtectionKeys?> = [nil, nil, nil, nil]
    @exclusivity(unchecked) var crypto: InlineArray<3, CryptoStream> = [CryptoStream(), CryptoStream(), CryptoStream()]
    /// 1-RTT key phases (RFC 9001 §6): ours when sending, and the one the peer's packets carry.
    @exclusivity(unchecked) var sendKeyPhase = false
    @exclusivity(unchecked) var receiveKeyPhase = false
    @exclusivity(unchecked) var nextReceiveKeys: PacketProtectionKeys?
    @exclusivity(unchecked) var previousReceiveKeys: PacketProtectionKeys?
    @exclusivity(unchecked) var previousReceiveKeysExpiry: Instant?
    /// The first packet number received in the current receive key phase.
    @exclusivity(unchecked) var firstPacketNumberInReceivePhase: UInt64 = 0
    @exclusivity(unchecked) public internal(set) var keyUpdatesInitiated = 0
    /// Key updates the peer started and we followed.
    @exclusivity(unchecked) public internal(set) var keyUpdatesFollowed = 0
    /// The first packet number we sent with the current send keys: an update may start only
    /// once one of those is acknowledged (RFC 9001 §6.1).
    @exclusivity(unchecked) var firstPacketNumberInSendPhase: UInt64 = 0
    /// 1-RTT packets protected with the current send keys (RFC 9001 §6.6 confidentiality limit).
    @exclusivity(unchecked) var packetsProtectedInSendPhase: UInt64 = 0
    /// After the peer started an update: the packet that started it, until one of our packets
    /// with the new keys carries an ACK (a second update before that is premature, §6.2).
    @exclusivity(unchecked) var peerKeyUpdateAwaitingAck: UInt64?
    /// Received packets that failed authentication, across all keys (§6.6 integrity limit).
    @exclusivity(unchecked) var authenticationFailures: UInt64 = 0
    /// The §6.6 limits of the 1-RTT AEAD (the stricter of each until the suite is known).
    @exclusivity(unchecked) var aeadLimits = AEADLimits(confidentiality: 1 << 23, integrity: 1 << 36)

    // MARK: Packet number spaces
    @exclusivity(unchecked) var received: InlineArray<3, ReceivedPackets> = [ReceivedPackets(), ReceivedPackets(), ReceivedPackets()]
    @exclusivity(unchecked) var pacer: Pacer
    @exclusivity(unchecked) var pacingDeadline: Instant?
    /// Probe packets owed per space after a PTO.
    @exclusivity(unchecked) var probes = [0, 0, 0]
    /// The application had nothing more to send at the last send opportunity.
    @exclusivity(unchecked) var appLimited = true

    // MARK: Streams and datagrams
    let streams: StreamManager
    @exclusivity(unchecked) var datagramsToSend = RingBuffer<[UInt8]>(capacity: 8)
    @exclusivity(unchecked) var datagramsReceived = RingBuffer<[UInt8]>(capacity: 8)
    @exclusivity(unchecked) var peerMaxDatagramFrameSize: UInt64?

    // MARK: Handshake
    @exclusivity(unchecked) var handshakeComplete = false
    @exclusivity(unchecked) public internal(set) var handshakeConfirmed = false
    @exclusivity(unchecked) var peerParameters: TransportParameters?
    @exclusivity(unchecked) var handshakeDonePending = false
    @exclusivity(unchecked) var zeroRTTAccepted = false

    // MARK: Frames owed
    @exclusivity(unchecked) var pingPending = false
    /// Server: the NEW_TOKEN token issued on this connection (RFC 9000 §8.1.3), kept until
    /// acknowledged; `newTokenPending` while it is to be (re)sent.
    @exclusivity(unchecked) var newToken: [UInt8]?
    @exclusivity(unchecked) var newTokenPending = false

    // MARK: Closing
    struct CloseFrame {
        var errorCode: UInt64
        var frameType: UInt64
        var isApplication: Bool
        var reason: String
    }
    @exclusivity(unchecked) var closeFrame: CloseFrame?
    @exclusivity(unchecked) var closeSendPending = false
    @exclusivity(unchecked) var closeDeadline: Instant?
    @exclusivity(unchecked) var closesSentWhileClosing = 0
    @exclusivity(unchecked) public internal(set) var closeReason: CloseReason?
    @exclusivity(unchecked) var idleTimeout: TimeSpan?
    /// When the idle timer last restarted (RFC 9000 §10.1).
    @exclusivity(unchecked) var idleTimerStart: Instant?
    /// The idle timeout runs from the last restart for at least three current PTOs (§10.1),
    /// computed when asked rather than on every packet.
    var idleDeadline: Instant? {
        guard let idleTimerStart, let idleTimeout else { return nil }
        return idleTimerStart + max(idleTimeout, recovery.rtt.probeTimeout * 3)
    }
    @exclusivity(unchecked) var ackElicitingSentSinceReceive = false

    /// Where this connection's qlog events go (configuration.qlog, or one made for it).
    @exclusivity(unchecked) var qlogSink: QlogSink?

    // MARK: Outputs
    @exclusivity(unchecked) var events = RingBuffer<ConnectionEvent>(capacity: 16)
    @exclusivity(unchecked) var endpointEvents = RingBuffer<EndpointEvent>(capacity: 8)
    @exclusivity(unchecked) public internal(set) var statistics = ConnectionStatistics()
    /// The ECN state last reported (qlog), to notice changes.
    @exclusivity(unchecked) var lastECNState = ECNValidation.State.testing
    /// Packets being assembled into the current datagram.
    @exclusivity(unchecked) var pendingPackets: [PendingPacket] = []

    // MARK: Paths, less often used
    // (declared after the per-packet state so that it stays close together in the object)
    /// The previous path while the current one is validated, or a candidate being probed.
    @exclusivity(unchecked) var alternatePath: Path?
    /// The previous path's loss recovery, pacing and PMTU state, set aside to restore on return
    /// (none when only ports changed: then the state simply carried over, RFC 9000 §9.4).
    @exclusivity(unchecked) var previousPathState: SavedPathState?
    /// DPLPMTUD on the current path (RFC 8899, RFC 9000 §14.3).
    @exclusivity(unchecked) var pmtu: PathMTUDiscovery
    /// Set while a received packet is processed: the PATH_CHALLENGE it carried, and whether it
    /// was a non-probing packet with the largest packet number so far (RFC 9000 §9.3).
    @exclusivity(unchecked) var incomingChallenge: UInt64?
    @exclusivity(unchecked) var packetWasProbing = true
    @exclusivity(unchecked) var datagramMovesPeer = false
    /// Set while a datagram is built: it carries a PATH_CHALLENGE or PATH_RESPONSE and must be
    /// padded to 1200 bytes (RFC 9000 §8.2.1, §8.2.2).
    @exclusivity(unchecked) var padDatagramForPath = false
    @exclusivity(unchecked) var challengeInDatagram = false
    /// PMTU probe outcomes reported by loss recovery, applied after the ACK or loss pass.
    @exclusivity(unchecked) var mtuProbeAcknowledged: Int?
    @exclusivity(unchecked) var mtuProbeLost: Int?
    /// qlog tuple IDs handed out.
    @exclusivity(unchecked) var pathsCreated = 0
    /// The peer's reset tokens the endpoint was told about, as of `peerIDs.version`.
    @exclusivity(unchecked) var announcedResetTokens: [StatelessResetToken] = []
    @exclusivity(unchecked) var announcedPeerIDsVersion = -1
    /// Loss recovery and congestion control, last: the largest stored property (the controller
    /// state), kept after the fields the receive path touches.
    @exclusivity(unchecked) var recovery: LossRecovery<SelectedCongestionController>

    struct PendingPacket {
        var level: EncryptionLevel
        var header: EncodedHeader
        var packetNumber: UInt64
        var firstFrame: Int
        var payloadEnd: Int
        var ackEliciting: Bool
        var containsAck: Bool
        var padded: Bool
        var kind = Kind.regular

        enum Kind {
            case regular
            /// A DPLPMTUD probe (RFC 9000 §14.4): in flight, but its loss is no congestion signal.
            case mtuProbe
            /// PATH_CHALLENGE/PATH_RESPONSE on the other path: not in flight on the current one.
            case alternatePath
        }
    }

    // MARK: Construction

    /// A client connection to `remote`. `serverName` is sent as SNI and checked against the
    /// server's certificate. `local`, when given, is the address packets are sent from (it is
    /// then the `source` of every `Transmit`); nil lets the datapath choose.
    public init(
        clientConfiguration configuration: ConnectionConfiguration, serverName: String?, remote: SocketAddress,
        local: SocketAddress? = nil, idGenerator: any ConnectionIDGenerator, now: Instant
    ) throws(TransportFailure) {
        role = .client
        self.configuration = configuration
        version = configuration.version
        originalVersion = configuration.version
        localCIDLength = idGenerator.length
        self.idGenerator = idGenerator
        path = Path(remote: remote, local: local, validated: true)
        maxDatagramSize = configuration.initialMaxDatagramSize
        pmtu = PathMTUDiscovery(base: configuration.initialMaxDatagramSize, raiseInterval: configuration.pmtuRaiseInterval)

        // A random Destination Connection ID of at least 8 bytes (RFC 9000 §7.2).
        var dcidBytes = [UInt8](repeating: 0, count: 8)
        dcidBytes.withUnsafeMutableBytes { configuration.random($0) }
        let dcid = ConnectionID(bytes: dcidBytes)!
        originalDestinationCID = dcid
        serverOriginalDestinationCID = nil
        peerIDs = PeerConnectionIDs(initial: dcid)
        let scid = idGenerator.generate()
        initialSourceCID = scid
        recovery = LossRecovery(
            controller: SelectedCongestionController(configuration.congestionControl, maxDatagramSize: maxDatagramSize),
            isServer: false, ecn: configuration.ecn)
        lastECNState = recovery.ecn.state
        if let limits = configuration.aeadLimitsOverride { aeadLimits = limits }
        pacer = Pacer(maxDatagramSize: maxDatagramSize)
        streams = StreamManager(role: .client, limits: configuration.streams)

        var parameters = Connection.localParameters(configuration, streams: streams)
        parameters.initialSourceConnectionID = scid
        parameters.versionInformation = TransportParameters.VersionInformation(
            chosenVersion: version,
            availableVersions: CompatibleVersionNegotiation.clientAvailableVersions(
                chosen: version, configured: configuration.availableVersions))
        configuration.transportParametersOverride?(&parameters)
        tls = TLSConnection(
            role: .client, configuration: configuration.tls, localTransportParameters: parameters.encode(),
            serverName: serverName, ticketContext: Connection.ticketContext(version))
        // A token from an earlier connection's NEW_TOKEN frame validates our address at once
        // (RFC 9000 §8.1.3); only one issued in this version applies (RFC 9369 §5).
        if let store = configuration.addressTokenStore, let serverName,
            let token = store.takeAddressToken(serverName: serverName, version: version, now: configuration.tls.wallClock())
        {
            retryToken = token
            sentAddressToken = true
        }
        _ = localIDs.add(scid, resetToken: StatelessResetTokens.token(for: scid, key: configuration.statelessResetKey), announce: false)
        try installInitialKeys()
        recovery.maxAckDelay = .zero
        setUpObservation()
        qlogHeader()
        do {
            try tls.start()
        } catch {
            throw TransportFailure(error)
        }
        try driveTLS(now: now)
    }

    /// A server connection for a client's first Initial. `originalDestinationCID` is the DCID of
    /// that Initial, or, after a Retry, the one the token vouches for (then `retrySourceCID` is
    /// the ID the Retry carried). `addressValidatedByToken`: the Initial carried a valid token
    /// from a NEW_TOKEN frame (RFC 9000 §8.1.3), which lifts the anti-amplification limit.
    public init(
        serverConfiguration configuration: ConnectionConfiguration, version: QuicVersion, remote: SocketAddress,
        local: SocketAddress? = nil, clientDestinationCID: ConnectionID, clientSourceCID: ConnectionID,
        originalDestinationCID: ConnectionID? = nil, retrySourceCID: ConnectionID? = nil, addressValidatedByToken: Bool = false,
        idGenerator: any ConnectionIDGenerator, now: Instant
    ) throws(TransportFailure) {
        role = .server
        self.configuration = configuration
        self.version = version
        originalVersion = version
        localCIDLength = idGenerator.length
        self.idGenerator = idGenerator
        // A Retry round trip, or a token from an earlier connection, validated the address
        // (RFC 9000 §8.1.2, §8.1.3).
        path = Path(remote: remote, local: local, validated: retrySourceCID != nil || addressValidatedByToken)
        maxDatagramSize = configuration.initialMaxDatagramSize
        pmtu = PathMTUDiscovery(base: configuration.initialMaxDatagramSize, raiseInterval: configuration.pmtuRaiseInterval)
        self.originalDestinationCID = clientDestinationCID
        serverOriginalDestinationCID = originalDestinationCID
        self.retrySourceCID = retrySourceCID
        peerIDs = PeerConnectionIDs(initial: clientSourceCID)
        peerInitialSourceCID = clientSourceCID
        let scid = idGenerator.generate()
        initialSourceCID = scid
        recovery = LossRecovery(
            controller: SelectedCongestionController(configuration.congestionControl, maxDatagramSize: maxDatagramSize),
            isServer: true, ecn: configuration.ecn)
        lastECNState = recovery.ecn.state
        if let limits = configuration.aeadLimitsOverride { aeadLimits = limits }
        pacer = Pacer(maxDatagramSize: maxDatagramSize)
        streams = StreamManager(role: .server, limits: configuration.streams)

        let resetToken = StatelessResetTokens.token(for: scid, key: configuration.statelessResetKey)
        var parameters = Connection.localParameters(configuration, streams: streams)
        parameters.initialSourceConnectionID = scid
        parameters.originalDestinationConnectionID = originalDestinationCID ?? clientDestinationCID
        parameters.retrySourceConnectionID = retrySourceCID
        parameters.statelessResetToken = resetToken
        // RFC 9000 §9.6.1: the preferred address comes with connection ID sequence 1 (§5.1.1).
        let preferredAddress = Connection.preferredAddressParameter(configuration, idGenerator: idGenerator)
        parameters.preferredAddress = preferredAddress
        let base = parameters
        let available = CompatibleVersionNegotiation.serverAvailableVersions(configured: configuration.availableVersions)
        parameters.versionInformation = TransportParameters.VersionInformation(
            chosenVersion: version, availableVersions: available)
        configuration.transportParametersOverride?(&parameters)
        // version_information names the version chosen from the client's offer (RFC 9368 §2.3),
        // known only once the ClientHello is read: TLS asks for the final parameters then.
        let original = version
        let preferred = configuration.preferredVersions
        let override = configuration.transportParametersOverride
        tls = TLSConnection(
            role: .server, configuration: configuration.tls, localTransportParameters: parameters.encode(),
            ticketContext: Connection.ticketContext(version), earlyDataContext: Connection.earlyDataContext(parameters),
            transportParametersForClient: { client in
                CompatibleVersionNegotiation.serverParameters(
                    base: base, original: original, preferred: preferred, available: available, override: override,
                    clientParameters: client)
            })
        _ = localIDs.add(scid, resetToken: resetToken, announce: false)
        endpointEvents.append(.issued(scid))
        if let preferredAddress {
            _ = localIDs.add(preferredAddress.connectionID, resetToken: preferredAddress.statelessResetToken, announce: false)
            endpointEvents.append(.issued(preferredAddress.connectionID))
        }
        try installInitialKeys()
        recovery.maxAckDelay = .zero
        setUpObservation()
        qlogHeader()
    }

    /// The transport parameters this endpoint sends, before the connection-ID ones are added.
    static func localParameters(_ configuration: ConnectionConfiguration, streams: StreamManager) -> TransportParameters {
        var parameters = TransportParameters()
        streams.fill(&parameters)
        parameters.maxIdleTimeout = UInt64(max(configuration.maxIdleTimeout.milliseconds, 0))
        parameters.maxUDPPayloadSize = configuration.maxUDPPayloadSize
        parameters.ackDelayExponent = configuration.ackDelayExponent
        parameters.maxAckDelay = UInt64(configuration.maxAckDelay.milliseconds)
        parameters.activeConnectionIDLimit = configuration.activeConnectionIDLimit
        parameters.disableActiveMigration = configuration.disableActiveMigration
        parameters.maxDatagramFrameSize = configuration.maxDatagramFrameSize
        return parameters
    }

    /// What 0-RTT acceptance depends on (RFC 9001 §4.6.3, RFC 9000 §7.4.1): the limits a client
    /// remembered must not shrink, so a ticket only resumes with 0-RTT under the same settings.
    static func earlyDataContext(_ parameters: TransportParameters) -> [UInt8] {
        var remembered = TransportParameters()
        remembered.initialMaxData = parameters.initialMaxData
        remembered.initialMaxStreamDataBidiLocal = parameters.initialMaxStreamDataBidiLocal
        remembered.initialMaxStreamDataBidiRemote = parameters.initialMaxStreamDataBidiRemote
        remembered.initialMaxStreamDataUni = parameters.initialMaxStreamDataUni
        remembered.initialMaxStreamsBidi = parameters.initialMaxStreamsBidi
        remembered.initialMaxStreamsUni = parameters.initialMaxStreamsUni
        remembered.activeConnectionIDLimit = parameters.activeConnectionIDLimit
        remembered.maxDatagramFrameSize = parameters.maxDatagramFrameSize
        return remembered.encode()
    }

    /// What session tickets are bound to: the QUIC version, 4 bytes big-endian (RFC 9369 §5). A
    /// client offers only a ticket of the version it starts in; a server resumes only a ticket of
    /// the version the client started in, and both file later tickets under the negotiated one.
    static func ticketContext(_ version: QuicVersion) -> [UInt8] {
        withUnsafeBytes(of: version.rawValue.bigEndian) { Array($0) }
    }

    func installInitialKeys() throws(TransportFailure) {
        do {
            let keys = try InitialSecrets.keys(version: version, clientDestinationCID: originalDestinationCID, role: role)
            sendKeys[EncryptionLevel.initial.rawValue] = keys.send
            receiveKeys[EncryptionLevel.initial.rawValue] = keys.receive
        } catch {
            throw TransportFailure(code: .internalError, frameType: nil, reason: "initial keys: \(error)")
        }
    }

    // MARK: Application API

    /// The local connection ID the connection was created with.
    public var sourceConnectionID: ConnectionID { initialSourceCID }
    /// The negotiated application protocol.
    public var alpn: String? { tls.negotiatedALPN }
    public var cipherSuite: CipherSuite? { tls.negotiatedCipherSuite }
    public var isResumed: Bool { tls.isResumed }
    public var earlyDataState: EarlyDataState { tls.earlyDataState }
    public var isEstablished: Bool { state == .established }
    public var isClosed: Bool { state == .closed }
    public var smoothedRTT: TimeSpan { recovery.rtt.smoothedRTT }
    public var congestionWindow: Int { recovery.congestionWindow }
    public var bytesInFlight: Int { recovery.bytesInFlight }
    /// The peer's certificate chain (leaf first).
    public var peerCertificateChain: [Certificate] { tls.peerCertificateChain }
    /// Client: the handshake went through a Retry (RFC 9000 §8.1.2).
    public var followedRetry: Bool { receivedRetry }

    /// Opens a stream; nil when the peer's stream limit does not allow one now. Before the
    /// handshake completes, only a client with 0-RTT keys may open streams.
    public func openStream(_ direction: StreamDirection) -> StreamID? {
        guard state == .handshaking || state == .established else { return nil }
        guard peerParameters != nil || sendKeys[EncryptionLevel.zeroRTT.rawValue] != nil else { return nil }
        return streams.open(direction)
    }

    /// Copies what the stream buffer takes of `bytes`; `fin` ends the stream after them (only when
    /// all were taken). Returns the number of bytes taken.
    public func write(_ stream: StreamID, _ bytes: UnsafeRawBufferPointer, fin: Bool = false) throws(StreamError) -> Int {
        guard state == .handshaking || state == .established else { throw .closed }
        return try streams.write(stream, bytes, fin: fin)
    }

    public func write(_ stream: StreamID, _ bytes: [UInt8], fin: Bool = false) throws(StreamError) -> Int {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(StreamError) -> Int in try write(stream, raw, fin: fin) }
        }
        return try result.get()
    }

    public func finish(_ stream: StreamID) throws(StreamError) { try streams.finish(stream) }

    /// Bytes a write to `stream` would take now.
    public func writableBytes(_ stream: StreamID) -> Int { streams.writableBytes(stream) }

    /// Reads in-order bytes into `buffer`; `fin` once the end is reached.
    public func read(_ stream: StreamID, into buffer: UnsafeMutableRawBufferPointer) throws(StreamError) -> (count: Int, fin: Bool) {
        try streams.read(stream, into: buffer)
    }

    public func resetStream(_ stream: StreamID, errorCode: UInt64) throws(StreamError) {
        try streams.reset(stream, errorCode: errorCode)
    }

    public func stopSending(_ stream: StreamID, errorCode: UInt64) throws(StreamError) {
        try streams.stopSending(stream, errorCode: errorCode)
    }

    /// The largest DATAGRAM payload the peer accepts now; nil when it does not support them.
    public var maxDatagramPayload: Int? {
        guard let limit = peerMaxDatagramFrameSize, limit > 0 else { return nil }
        // Frame type and a 2-byte length, within what fits in one short-header packet.
        let packetRoom = maxDatagramSize - (1 + peerIDs.current.length + 4 + CipherSuite.tagLength) - 3
        return max(0, min(Int(min(limit, 65535)) - 3, packetRoom))
    }

    /// Queues an unreliable DATAGRAM frame (RFC 9221 §5). False when the peer does not accept
    /// DATAGRAM frames or the payload is too large for one packet.
    public func sendDatagram(_ payload: [UInt8]) -> Bool {
        guard state == .established, let limit = maxDatagramPayload, payload.count <= limit else { return false }
        if datagramsToSend.count >= 64 { datagramsToSend.popFirst() }
        datagramsToSend.append(payload)
        return true
    }

    /// The oldest received DATAGRAM payload.
    public func readDatagram() -> [UInt8]? { datagramsReceived.popFirst() }

    /// Sends a PING at the next opportunity (keep-alive).
    public func ping() { pingPending = true }

    /// Starts a key update (RFC 9001 §6.1); false when one may not start now: before the
    /// handshake is confirmed, while the previous one is unanswered, or (after an earlier update)
    /// before a packet sent with the current keys has been acknowledged.
    @discardableResult
    public func initiateKeyUpdate() -> Bool {
        guard handshakeConfirmed, sendKeyPhase == receiveKeyPhase else { return false }
        if keyUpdatesInitiated + keyUpdatesFollowed > 0 {
            // Not the first update: the current keys must have proven themselves (§6.1).
            guard let acknowledged = recovery.largestAcked(.applicationData), acknowledged >= firstPacketNumberInSendPhase else {
                return false
            }
        }
        return rotateSendKeys(initiated: true)
    }

    /// The next generation of 1-RTT send keys (RFC 9001 §6.1, §6.2).
    @discardableResult
    func rotateSendKeys(initiated: Bool) -> Bool {
        guard let keys = sendKeys[EncryptionLevel.oneRTT.rawValue], let next = try? keys.nextGeneration() else { return false }
        sendKeys[EncryptionLevel.oneRTT.rawValue] = next
        sendKeyPhase.toggle()
        firstPacketNumberInSendPhase = recovery.nextPacketNumber(.applicationData)
        packetsProtectedInSendPhase = 0
        if initiated { keyUpdatesInitiated += 1 } else { keyUpdatesFollowed += 1 }
        return true
    }

    /// Closes the connection with an application error code (CONNECTION_CLOSE 0x1d, RFC 9000
    /// §10.2), or a transport code when `isApplication` is false.
    public func close(errorCode: UInt64, reason: String = "", isApplication: Bool = true, now: Instant) {
        guard state == .handshaking || state == .established else { return }
        enterClosing(
            CloseFrame(errorCode: errorCode, frameType: 0, isApplication: isApplication, reason: reason),
            reason: .local(errorCode: errorCode, isApplication: isApplication, reason: reason), now: now)
    }

    public func pollEvent() -> ConnectionEvent? {
        if let event = events.popFirst() { return event }
        if let event = streams.pollEvent() { return .stream(event) }
        return nil
    }

    public func pollEndpointEvent() -> EndpointEvent? {
        if peerIDs.version != announcedPeerIDsVersion { announceResetTokens() }
        return endpointEvents.popFirst()
    }

    /// Whether `pollEndpointEvent` may have something to return.
    var hasEndpointWork: Bool { !endpointEvents.isEmpty || peerIDs.version != announcedPeerIDsVersion }

    /// Whether `pollEvent` has something to return.
    public var hasPendingEvents: Bool { !events.isEmpty || !streams.events.isEmpty }

    // MARK: Helpers

    func qlog(_ make: @autoclosure () -> String) {
        qlogSink?.record(make())
    }

    /// The sink, and the idle timer's start value before the peer's parameters are known (our own
    /// max_idle_timeout, so a handshake with a silent peer ends; RFC 9000 §10.1).
    func setUpObservation() {
        qlogSink = configuration.qlog ?? configuration.makeQlog?(role, originalDestinationCID)
        if configuration.maxIdleTimeout.nanoseconds > 0 { idleTimeout = configuration.maxIdleTimeout }
    }

    func qlogHeader() {
        qlog(QlogEvents.header(vantagePoint: role, groupID: originalDestinationCID))
    }
}

/// A connection error: the transport error code, the frame that caused it and a reason for the
/// CONNECTION_CLOSE frame (RFC 9000 §10.2, §20).
public struct TransportFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: TransportErrorCode
    public var frameType: UInt64?
    public var reason: String

    public init(code: TransportErrorCode, frameType: UInt64?, reason: String) {
        self.code = code
        self.frameType = frameType
        self.reason = reason
    }

    init(_ error: WireError) {
        self.init(code: error.code, frameType: error.frameType, reason: "\(error.reason)")
    }

    public var description: String { reason.isEmpty ? code.description : "\(code): \(reason)" }

    /// A TLS alert becomes CRYPTO_ERROR (0x0100 + alert), or PROTOCOL_VIOLATION where RFC 9001
    /// asks for it (e.g. §8.4 legacy_session_id, §4.1.3 data at an old level).
    init(_ alert: TLSAlert) {
        self.init(
            code: TransportErrorCode(rawValue: alert.quicErrorCode), frameType: FrameType.crypto.rawValue, reason: alert.reason)
    }
}
