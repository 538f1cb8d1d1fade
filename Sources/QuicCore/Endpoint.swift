import QuicCrypto
import QuicWire

/// Names a connection within its endpoint.
@frozen
public struct ConnectionHandle: Hashable, Sendable, CustomStringConvertible {
    public let index: Int
    public init(_ index: Int) { self.index = index }
    public var description: String { "#\(index)" }
}

/// What an endpoint did with a datagram.
public enum DatagramEvent {
    /// An existing connection processed it.
    case delivered(ConnectionHandle)
    /// A client wants a new connection: `accept` or `refuse` it.
    case incoming(IncomingConnection)
    /// A stateless reply was written into the reply buffer: Version Negotiation, Retry, an
    /// Initial closing the attempt (INVALID_TOKEN), or a stateless reset.
    case reply(Transmit)
    /// Nobody could use it.
    case dropped(DropReason)
}

public enum DropReason: Sendable, Equatable {
    case malformed
    case unknownConnection
    case initialTooSmall
    case unsupportedVersionTooSmall
    case notAServer
    case tooManyConnections
}

/// A client's first Initial, held until the application accepts or refuses it. Immutable; a
/// class so that `DatagramEvent`, returned for every datagram, stays small.
public final class IncomingConnection: Sendable {
    public let remote: SocketAddress
    /// The local address the Initial arrived at, when the datapath said.
    public let local: SocketAddress?
    public let version: QuicVersion
    public let destinationCID: ConnectionID
    public let sourceCID: ConnectionID
    public let token: [UInt8]
    /// What the token proved about the client's address (RFC 9000 §8.1).
    public let addressValidation: AddressValidation
    public let receivedAt: Instant
    let ecn: ECNCodepoint
    /// A copy of the datagram, processed by the connection on accept.
    let datagram: [UInt8]

    init(
        remote: SocketAddress, local: SocketAddress?, version: QuicVersion, destinationCID: ConnectionID,
        sourceCID: ConnectionID, token: [UInt8], addressValidation: AddressValidation, receivedAt: Instant,
        ecn: ECNCodepoint, datagram: [UInt8]
    ) {
        self.remote = remote
        self.local = local
        self.version = version
        self.destinationCID = destinationCID
        self.sourceCID = sourceCID
        self.token = token
        self.addressValidation = addressValidation
        self.receivedAt = receivedAt
        self.ecn = ecn
        self.datagram = datagram
    }
}

/// Settings of an endpoint.
public struct EndpointConfiguration: Sendable {
    /// Present on servers: the settings every accepted connection gets.
    public var server: ConnectionConfiguration?
    /// Makes the connection IDs this endpoint issues (all of one length).
    public var idGenerator: any ConnectionIDGenerator
    public var supportedVersions: [QuicVersion] = QuicVersion.supported
    public var maxConnections = 100_000
    /// Stateless resets (RFC 9000 §10.3) sent on average per second at most, by a token bucket
    /// of `statelessResetBurst` (§10.3.3: a limit stops reset loops and floods). Zero sends none.
    public var statelessResetsPerSecond = 100
    public var statelessResetBurst = 10

    public init(server: ConnectionConfiguration? = nil, idGenerator: any ConnectionIDGenerator) {
        self.server = server
        self.idGenerator = idGenerator
    }
}

/// What an endpoint answered statelessly, for diagnostics and tests.
public struct EndpointStatistics: Sendable, Equatable {
    public var versionNegotiationsSent = 0
    public var retriesSent = 0
    /// Initials with a Retry token that failed validation, answered with INVALID_TOKEN.
    public var invalidTokenClosesSent = 0
    /// Initials whose NEW_TOKEN token validated the client's address.
    public var newTokensAccepted = 0
    public var statelessResetsSent = 0
    /// Resets the rate limit held back.
    public var statelessResetsRateLimited = 0
    /// Datagrams matched to a connection by their stateless reset token.
    public var statelessResetsReceived = 0
}

/// Owns connections and routes datagrams to them by destination connection ID (RFC 9000 §5.2);
/// creates server connections for valid Initials; answers unknown versions with Version
/// Negotiation (§6), validates addresses with Retry and tokens (§8.1), and resets connections it
/// no longer knows (§10.3). Performs no I/O: replies are written into caller-provided buffers.
public final class Endpoint {
    // Performance: every stored `var` below is `@exclusivity(unchecked)`. The object is owned by
    // one worker thread and used only from it, so Swift's dynamic exclusivity checks guard nothing
    // here, yet they cost about 15 % of the CPU per packet (swift_beginAccess in the profile).
    public let configuration: EndpointConfiguration
    /// `configuration.idGenerator.length`, read for every datagram.
    private let shortHeaderCIDLength: Int
    @exclusivity(unchecked) private var connections: [Connection?] = []
    @exclusivity(unchecked) private var freeHandles: [Int] = []
    /// Our connection IDs, by the connection they belong to.
    @exclusivity(unchecked) private var routes = ConnectionIDTable()
    /// Client-chosen Destination Connection IDs of Initial and 0-RTT packets, until the client
    /// switches to our ID.
    @exclusivity(unchecked) private var initialRoutes: [ConnectionID: ConnectionHandle] = [:]
    /// Per handle index, like `connections` (arrays, not dictionaries: `processEvents` looks at
    /// both for every datagram).
    @exclusivity(unchecked) private var initialRouteOf: [ConnectionID?] = []
    @exclusivity(unchecked) private var initialRouteCount = 0
    /// Drained connections whose last events the application has not read yet.
    @exclusivity(unchecked) private var drained: [Bool] = []
    @exclusivity(unchecked) private var drainedCount = 0
    /// The peers' stateless reset tokens that count (RFC 9000 §10.3.1: those of the peer IDs each
    /// connection has sent to and not retired, on any of its paths), by connection: a reset
    /// carries no connection ID of ours, only the token at its end. The connections report them
    /// (`EndpointEvent.resetTokenActive`/`.resetTokenRetired`). Hashing is keyed per process, so
    /// lookup timing tells nothing of the token values (§10.3.1 allows comparing keyed
    /// transforms of the tokens).
    @exclusivity(unchecked) private var resetTokens: [StatelessResetToken: ConnectionHandle] = [:]
    @exclusivity(unchecked) private var resetBudget: TokenBucket
    @exclusivity(unchecked) public private(set) var statistics = EndpointStatistics()

    public init(configuration: EndpointConfiguration) {
        self.configuration = configuration
        shortHeaderCIDLength = configuration.idGenerator.length
        resetBudget = TokenBucket(perSecond: configuration.statelessResetsPerSecond, burst: configuration.statelessResetBurst)
    }

    /// Connections not yet freed (including drained ones whose last events are unread).
    public var connectionCount: Int { connections.count - freeHandles.count }

    public func connection(_ handle: ConnectionHandle) -> Connection? {
        guard handle.index < connections.count else { return nil }
        return connections[handle.index]
    }

    /// The connection a datagram to our connection ID `id` goes to (tests, diagnostics).
    func route(of id: ConnectionID) -> ConnectionHandle? { routes[id] }

    /// Every live connection's handle.
    public var handles: [ConnectionHandle] {
        connections.indices.compactMap { connections[$0] == nil ? nil : ConnectionHandle($0) }
    }

    private func insert(_ connection: Connection) -> ConnectionHandle {
        let handle: ConnectionHandle
        if let index = freeHandles.popLast() {
            connections[index] = connection
            drained[index] = false
            handle = ConnectionHandle(index)
        } else {
            connections.append(connection)
            initialRouteOf.append(nil)
            drained.append(false)
            handle = ConnectionHandle(connections.count - 1)
        }
        return handle
    }

    /// Starts a client connection. `local`, when given, is the address it sends from (see
    /// `Transmit.source`); `Connection.migrate(to:)` moves it later.
    public func connect(
        to remote: SocketAddress, from local: SocketAddress? = nil, serverName: String?, configuration: ConnectionConfiguration,
        now: Instant
    ) throws(TransportFailure) -> ConnectionHandle {
        let connection = try Connection(
            clientConfiguration: configuration, serverName: serverName, remote: remote, local: local,
            idGenerator: self.configuration.idGenerator, now: now)
        let handle = insert(connection)
        routes.insert(connection.sourceConnectionID, handle)
        processEvents(of: handle)
        return handle
    }

    /// Routes one received datagram. `local` is the address it arrived at, when the datapath
    /// knows it (connections tell paths apart by it, RFC 9000 §9). `replyBuffer` receives a
    /// stateless reply when one is due.
    public func handle(
        datagram: UnsafeMutableRawBufferPointer, from remote: SocketAddress, to local: SocketAddress? = nil, ecn: ECNCodepoint,
        now: Instant, replyBuffer: UnsafeMutableRawBufferPointer
    ) -> DatagramEvent {
        // Nearly every datagram: a short-header packet to one of our connection IDs. Routed with
        // one table lookup; anything else takes the general path below, which decides the same
        // way for these.
        if datagram.count > shortHeaderCIDLength, datagram[0] & 0x80 == 0,
            let destination = ConnectionID(UnsafeRawBufferPointer(rebasing: datagram[1..<(1 + shortHeaderCIDLength)])),
            let handle = routes[destination], connections[handle.index] != nil
        {
            deliver(datagram, to: handle, from: remote, to: local, ecn: ecn, now: now)
            return .delivered(handle)
        }
        let invariant: InvariantHeader
        do {
            invariant = try InvariantHeader.parse(
                UnsafeRawBufferPointer(datagram), shortHeaderCIDLength: shortHeaderCIDLength)
        } catch {
            return .dropped(.malformed)
        }
        if invariant.isLongHeader, let version = invariant.version, version != .negotiation,
            !configuration.supportedVersions.contains(version)
        {
            return versionNegotiation(invariant, datagramSize: datagram.count, remote: remote, into: replyBuffer)
        }
        let destination = ConnectionID(invariant.destinationCID)
        if let destination, let handle = routes[destination] ?? initialRoutes[destination], connection(handle) != nil {
            deliver(datagram, to: handle, from: remote, to: local, ecn: ecn, now: now)
            return .delivered(handle)
        }
        guard invariant.isLongHeader else {
            return unknownShortHeader(
                datagram, destination: destination, from: remote, to: local, ecn: ecn, now: now, into: replyBuffer)
        }
        guard let server = configuration.server else { return .dropped(.notAServer) }
        // Only a client Initial starts a connection (RFC 9000 §7.2, §14.1).
        let header: PacketHeader
        do {
            header = try PacketHeader.parse(UnsafeRawBufferPointer(datagram), shortHeaderCIDLength: shortHeaderCIDLength)
        } catch {
            return .dropped(.malformed)
        }
        guard header.type == .initial, let version = header.version else { return .dropped(.unknownConnection) }
        guard datagram.count >= Connection.minimumInitialDatagramSize else { return .dropped(.initialTooSmall) }
        let settings = server.addressValidation
        var validation = AddressValidation.none
        if !header.token.isEmpty {
            switch checkToken(header, version: version, from: remote, settings: settings, now: now) {
            case .valid(let result):
                validation = result
            case .ignored:
                break
            case .invalidRetryToken:
                // §8.1.2: the client will not take another Retry; tell it at once, statelessly.
                return closeInitial(
                    header, version: version, code: .invalidToken, reason: "invalid or expired Retry token", to: remote,
                    into: replyBuffer, counting: \.invalidTokenClosesSent)
            }
        }
        // A client picks at least 8 bytes; after our Retry it uses the ID we chose (§7.2).
        guard validation.isRetry || header.destinationCID.length >= 8 else { return .dropped(.malformed) }
        guard connectionCount < configuration.maxConnections else { return .dropped(.tooManyConnections) }
        if validation == .none && shouldRetry(settings.retry) {
            return retry(header, version: version, from: remote, settings: settings, now: now, into: replyBuffer)
        }
        return .incoming(
            IncomingConnection(
                remote: remote, local: local, version: version, destinationCID: header.destinationCID,
                sourceCID: header.sourceCID, token: Array(header.token), addressValidation: validation, receivedAt: now, ecn: ecn, datagram: Array(datagram)))
    }

    /// Hands a datagram to the connection of `handle` (which must be live) and applies the routing
    /// changes that caused.
    private func deliver(
        _ datagram: UnsafeMutableRawBufferPointer, to handle: ConnectionHandle, from remote: SocketAddress,
        to local: SocketAddress?, ecn: ECNCodepoint, now: Instant
    ) {
        // Used without retaining it: `connections` holds it throughout, and only `processEvents`,
        // called after, can free it.
        let needsEvents = Unmanaged.passUnretained(connections[handle.index].unsafelyUnwrapped)._withUnsafeGuaranteedRef {
            connection in
            connection.handle(datagram: datagram, from: remote, to: local, ecn: ecn, now: now)
            return connection.hasEndpointWork
        }
        // Most datagrams change no routes: skip the bookkeeping then.
        if needsEvents || needsEventsOutsideConnection(handle) { processEvents(of: handle) }
    }

    /// Whether `processEvents` has work for `handle` besides the connection's own events: freeing
    /// it once drained, or dropping its Initial route once the handshake is confirmed. (Always
    /// inlined: two counter checks asked for every datagram, not worth a call.)
    @inline(__always)
    private func needsEventsOutsideConnection(_ handle: ConnectionHandle) -> Bool {
        (drainedCount > 0 && drained[handle.index]) || (initialRouteCount > 0 && initialRouteOf[handle.index] != nil)
    }

    /// Accepts an incoming connection and processes its first datagram.
    public func accept(_ incoming: IncomingConnection, now: Instant) throws(TransportFailure) -> ConnectionHandle {
        guard let settings = configuration.server else {
            throw TransportFailure(code: .internalError, frameType: nil, reason: "endpoint has no server configuration")
        }
        var originalDestinationCID: ConnectionID?
        var retrySourceCID: ConnectionID?
        if case .retry(let original) = incoming.addressValidation {
            // §7.3: the parameters name the client's first ID and the one our Retry gave it.
            originalDestinationCID = original
            retrySourceCID = incoming.destinationCID
        }
        let connection = try Connection(
            serverConfiguration: settings, version: incoming.version, remote: incoming.remote,
            local: incoming.local.flatMap { $0.isUnspecified ? nil : $0 },
            clientDestinationCID: incoming.destinationCID, clientSourceCID: incoming.sourceCID,
            originalDestinationCID: originalDestinationCID, retrySourceCID: retrySourceCID,
            addressValidatedByToken: incoming.addressValidation == .newToken, idGenerator: configuration.idGenerator, now: now)
        let handle = insert(connection)
        initialRoutes[incoming.destinationCID] = handle
        initialRouteOf[handle.index] = incoming.destinationCID
        initialRouteCount += 1
        processEvents(of: handle)
        var datagram = incoming.datagram
        datagram.withUnsafeMutableBytes { raw in
            connection.handle(datagram: raw, from: incoming.remote, to: incoming.local, ecn: incoming.ecn, now: now)
        }
        processEvents(of: handle)
        return handle
    }

    /// Refuses an incoming connection: writes an Initial with CONNECTION_CLOSE
    /// (CONNECTION_REFUSED, RFC 9000 §5.2.2) into `buffer`.
    public func refuse(_ incoming: IncomingConnection, now: Instant, into buffer: UnsafeMutableRawBufferPointer) -> Transmit? {
        guard configuration.server != nil else { return nil }
        return writeInitialClose(
            version: incoming.version, clientDestinationCID: incoming.destinationCID, clientSourceCID: incoming.sourceCID,
            code: .connectionRefused, reason: "refused", to: incoming.remote, into: buffer)
    }

    /// Applies a connection's routing changes. A drained connection stops receiving datagrams at
    /// once and is freed here once the application has read its last events (`pollEvent`).
    /// Call after driving a connection directly (timeouts, transmits, application calls).
    public func processEvents(of handle: ConnectionHandle) {
        guard let connection = connection(handle) else { return }
        if drained[handle.index] {
            if !connection.hasPendingEvents {
                drained[handle.index] = false
                drainedCount -= 1
                connections[handle.index] = nil
                freeHandles.append(handle.index)
            }
            return
        }
        while let event = connection.pollEndpointEvent() {
            switch event {
            case .issued(let id):
                routes.insert(id, handle)
            case .retired(let id):
                if routes[id] == handle { routes.remove(id) }
            case .resetTokenActive(let token):
                resetTokens[token] = handle
            case .resetTokenRetired(let token):
                if resetTokens[token] == handle { resetTokens[token] = nil }
            case .drained:
                routes.removeAll(routingTo: handle)
                dropInitialRoute(of: handle)
                // Its reset tokens: those it announced, and any whose retirement is still queued
                // behind this event.
                while let later = connection.pollEndpointEvent() {
                    if case .resetTokenRetired(let token) = later, resetTokens[token] == handle { resetTokens[token] = nil }
                }
                for token in connection.announcedResetTokens where resetTokens[token] == handle { resetTokens[token] = nil }
                drained[handle.index] = true
                drainedCount += 1
                processEvents(of: handle)
                return
            }
        }
        // Once the handshake is confirmed the client only uses our IDs.
        if initialRouteOf[handle.index] != nil && connection.handshakeConfirmed { dropInitialRoute(of: handle) }
    }

    private func dropInitialRoute(of handle: ConnectionHandle) {
        guard let initial = initialRouteOf[handle.index] else { return }
        initialRouteOf[handle.index] = nil
        initialRouteCount -= 1
        initialRoutes[initial] = nil
    }

    /// RFC 9000 §6.1: answer a long-header packet of an unknown version with the versions we
    /// speak, only for datagrams a client Initial could be (at least 1200 bytes).
    private func versionNegotiation(
        _ invariant: InvariantHeader, datagramSize: Int, remote: SocketAddress, into buffer: UnsafeMutableRawBufferPointer
    ) -> DatagramEvent {
        guard configuration.server != nil else { return .dropped(.notAServer) }
        guard datagramSize >= Connection.minimumInitialDatagramSize else { return .dropped(.unsupportedVersionTooSmall) }
        let size = VersionNegotiation.encodedLength(
            clientDestinationCIDLength: invariant.destinationCID.count, clientSourceCIDLength: invariant.sourceCID.count,
            versionCount: configuration.supportedVersions.count + 1)
        guard size <= buffer.count else { return .dropped(.malformed) }
        var writer = ByteWriter(buffer)
        var random: UInt8 = 0
        withUnsafeMutableBytes(of: &random) { secureRandomBytes($0) }
        // A greasing version (0x?a?a?a?a) exercises the client's handling of unknown ones (§6.3).
        let grease = QuicVersion(rawValue: 0x0a0a_0a0a | UInt32(random & 0xf0) << 24 | UInt32(random & 0x0f) << 20)
        VersionNegotiation.encode(
            clientDestinationCID: invariant.destinationCID, clientSourceCID: invariant.sourceCID,
            supported: configuration.supportedVersions, greaseVersion: grease, unusedBits: random, into: &writer)
        statistics.versionNegotiationsSent += 1
        return .reply(Transmit(destination: remote, ecn: .notECT, size: writer.offset, segmentSize: nil))
    }

    // MARK: Address validation (RFC 9000 §8.1)

    private enum TokenCheck {
        case valid(AddressValidation)
        /// No token worth anything: carry on as without one (§8.1.3).
        case ignored
        /// A Retry token that does not validate: §8.1.2 asks for INVALID_TOKEN.
        case invalidRetryToken
    }

    private func checkToken(
        _ header: PacketHeader, version: QuicVersion, from remote: SocketAddress, settings: AddressValidationSettings,
        now: Instant
    ) -> TokenCheck {
        let keys = settings.tokenKeys
        switch keys.open(header.token, destinationCID: header.destinationCID, client: remote, version: version) {
        case .retry(let original, let issuedAt)?:
            guard issuedAt <= now, now - issuedAt <= settings.retryTokenLifetime else { return .invalidRetryToken }
            return .valid(.retry(originalDestinationCID: original))
        case .newToken(let issuedAt)?:
            // §8.1.4: expired or already used tokens validate nothing.
            guard issuedAt <= now, now - issuedAt <= settings.newTokenLifetime,
                keys.admitNewToken(header.token, expiresAt: issuedAt + settings.newTokenLifetime, now: now)
            else { return .ignored }
            statistics.newTokensAccepted += 1
            return .valid(.newToken)
        case nil:
            // Tokens say in the clear which kind they are (§8.1.1). One that claims to be from a
            // Retry but does not open is forged, altered, from another address or too old.
            return AddressTokenKeys.claimedKind(header.token) == .retry ? .invalidRetryToken : .ignored
        }
    }

    private func shouldRetry(_ policy: RetryPolicy) -> Bool {
        switch policy {
        case .never: return false
        case .always: return true
        // Server connections whose handshake is not confirmed keep an initial route.
        case .underLoad(let handshakes): return initialRouteCount >= handshakes
        }
    }

    /// §8.1.2, §17.2.5.1: a Retry with a token and a connection ID of our choosing; nothing is
    /// kept. The token binds the client's address and port, our new ID and the version, and
    /// carries the client's first Destination Connection ID, which the integrity tag covers
    /// too (RFC 9001 §5.8).
    private func retry(
        _ header: PacketHeader, version: QuicVersion, from remote: SocketAddress, settings: AddressValidationSettings,
        now: Instant, into buffer: UnsafeMutableRawBufferPointer
    ) -> DatagramEvent {
        var sourceCID = configuration.idGenerator.generate()
        while sourceCID == header.destinationCID { sourceCID = configuration.idGenerator.generate() }
        let token = settings.tokenKeys.sealRetryToken(
            originalDestinationCID: header.destinationCID, retrySourceCID: sourceCID, client: remote, version: version, now: now)
        let size =
            1 + 4 + 1 + header.sourceCID.length + 1 + sourceCID.length + token.count + RetryPacket.integrityTagLength
        guard size <= buffer.count else { return .dropped(.unknownConnection) }
        var writer = ByteWriter(buffer)
        let unusedBits = randomByte()
        token.withUnsafeBytes { token in
            _ = RetryPacket.encodeWithoutTag(
                version: version, destinationCID: header.sourceCID, sourceCID: sourceCID, token: token,
                unusedBits: unusedBits, into: &writer)
        }
        let tag = RetryIntegrity.tag(
            version: version, originalDestinationCID: header.destinationCID,
            retryWithoutTag: UnsafeRawBufferPointer(writer.written))
        writer.writeBytes(tag)
        statistics.retriesSent += 1
        return .reply(Transmit(destination: remote, ecn: .notECT, size: writer.offset, segmentSize: nil))
    }

    private func closeInitial(
        _ header: PacketHeader, version: QuicVersion, code: TransportErrorCode, reason: String, to remote: SocketAddress,
        into buffer: UnsafeMutableRawBufferPointer, counting counter: WritableKeyPath<EndpointStatistics, Int>
    ) -> DatagramEvent {
        guard
            let transmit = writeInitialClose(
                version: version, clientDestinationCID: header.destinationCID, clientSourceCID: header.sourceCID, code: code,
                reason: reason, to: remote, into: buffer)
        else { return .dropped(.unknownConnection) }
        statistics[keyPath: counter] += 1
        return .reply(transmit)
    }

    /// An Initial packet with CONNECTION_CLOSE answering a client Initial, written without any
    /// connection state (RFC 9000 §10.2: no closing period follows). Protected with the Initial
    /// keys of the client's Destination Connection ID; not padded, since it elicits no ACK
    /// (§14.1), so it is always smaller than the 1200-byte Initial it answers.
    private func writeInitialClose(
        version: QuicVersion, clientDestinationCID: ConnectionID, clientSourceCID: ConnectionID, code: TransportErrorCode,
        reason: String, to remote: SocketAddress, into buffer: UnsafeMutableRawBufferPointer
    ) -> Transmit? {
        guard let keys = try? InitialSecrets.keys(version: version, clientDestinationCID: clientDestinationCID, role: .server)
        else { return nil }
        let sourceCID = configuration.idGenerator.generate()
        let reasonBytes = Array(reason.utf8)
        return reasonBytes.withUnsafeBytes { reasonView -> Transmit? in
            let frame = Frame.connectionClose(
                ConnectionCloseFrame(
                    isApplicationClose: false, errorCode: code.rawValue, frameType: 0, reason: ByteView(reasonView)))
            let packetNumberLength = 2
            let headerLength = HeaderEncoder.longHeaderLength(
                type: .initial, destinationCID: clientSourceCID, sourceCID: sourceCID, tokenLength: 0,
                packetNumberLength: packetNumberLength)
            let size = headerLength + frame.encodedLength + CipherSuite.tagLength
            guard size <= buffer.count else { return nil }
            let packet = UnsafeMutableRawBufferPointer(rebasing: buffer[..<size])
            var writer = ByteWriter(packet)
            let header = HeaderEncoder.encodeLong(
                type: .initial, version: version, destinationCID: clientSourceCID, sourceCID: sourceCID, packetNumber: 0,
                packetNumberLength: packetNumberLength, into: &writer)
            frame.encode(into: &writer)
            header.patchLength(packetEnd: size, in: packet)
            PacketProtection.protect(
                packet: packet, packetNumberOffset: header.packetNumberOffset, packetNumberLength: packetNumberLength,
                packetNumber: 0, keys: keys.send)
            return Transmit(destination: remote, ecn: .notECT, size: size, segmentSize: nil)
        }
    }

    // MARK: Stateless reset (RFC 9000 §10.3)

    /// A short-header datagram for no connection ID we route: a stateless reset from the peer of
    /// one of our connections (§10.3.1), or a packet for a connection we lost, which a server
    /// answers with a stateless reset of its own (§10.3).
    private func unknownShortHeader(
        _ datagram: UnsafeMutableRawBufferPointer, destination: ConnectionID?, from remote: SocketAddress,
        to local: SocketAddress?, ecn: ECNCodepoint, now: Instant, into buffer: UnsafeMutableRawBufferPointer
    ) -> DatagramEvent {
        if !resetTokens.isEmpty, let token = StatelessReset.candidateToken(in: UnsafeRawBufferPointer(datagram)),
            let handle = resetTokens[token], connection(handle) != nil
        {
            statistics.statelessResetsReceived += 1
            deliver(datagram, to: handle, from: remote, to: local, ecn: ecn, now: now)
            return .delivered(handle)
        }
        guard let server = configuration.server, let destination else { return .dropped(.unknownConnection) }
        // The token is derived from the ID the packet was sent to, so only a non-empty ID can be
        // reset (§10.3.2). A packet shorter than the smallest valid one for our ID length (1 +
        // ID + 4 bytes of packet number and payload + 16 of tag) is discarded (§10.3).
        let smallestValid = 1 + destination.length + 4 + CipherSuite.tagLength
        guard !destination.isEmpty, datagram.count >= smallestValid, datagram.count > StatelessReset.minimumLength else {
            return .dropped(.unknownConnection)
        }
        // §10.3.3: always smaller than the trigger, so two endpoints that lost state cannot
        // loop; one byte smaller up to 43 bytes (§10.3), otherwise a random size up to 64, like
        // a short packet carrying an ACK.
        let size: Int
        if datagram.count <= 43 {
            size = datagram.count - 1
        } else {
            let upper = min(datagram.count - 1, 64)
            size = 43 + Int(randomByte()) % (upper - 43 + 1)
        }
        guard size <= buffer.count else { return .dropped(.unknownConnection) }
        guard resetBudget.take(now: now) else {
            statistics.statelessResetsRateLimited += 1
            return .dropped(.unknownConnection)
        }
        let token = StatelessResetTokens.token(for: destination, key: server.statelessResetKey)
        let tokenStart = size - 16
        server.random(UnsafeMutableRawBufferPointer(rebasing: buffer[..<tokenStart]))
        // Short-header form with the fixed bit set; everything else unpredictable (§10.3).
        buffer[0] = 0x40 | (buffer[0] & 0x3f)
        var writer = ByteWriter(UnsafeMutableRawBufferPointer(rebasing: buffer[tokenStart..<size]))
        writer.writeUInt64(token.high)
        writer.writeUInt64(token.low)
        statistics.statelessResetsSent += 1
        return .reply(Transmit(destination: remote, ecn: .notECT, size: size, segmentSize: nil))
    }

    private func randomByte() -> UInt8 {
        var byte: UInt8 = 0
        withUnsafeMutableBytes(of: &byte) { raw in
            if let server = configuration.server { server.random(raw) } else { secureRandomBytes(raw) }
        }
        return byte
    }
}

extension AddressValidation {
    var isRetry: Bool {
        if case .retry = self { return true }
        return false
    }
}

/// A token bucket: `burst` events at once, refilled at `perSecond`; integer nanoseconds, so the
/// same instants give the same answers.
struct TokenBucket {
    /// Nanoseconds of credit per event.
    let cost: UInt64
    let capacity: UInt64
    var credit: UInt64
    var updatedAt: Instant?

    init(perSecond: Int, burst: Int) {
        cost = perSecond > 0 ? 1_000_000_000 / UInt64(perSecond) : .max
        let product = cost.multipliedReportingOverflow(by: UInt64(max(1, burst)))
        capacity = perSecond > 0 ? (product.overflow ? .max : product.partialValue) : 0
        credit = capacity
    }

    mutating func take(now: Instant) -> Bool {
        guard capacity > 0 else { return false }
        if let updatedAt, now > updatedAt {
            credit = min(capacity, credit &+ (now.nanoseconds - updatedAt.nanoseconds))
        }
        updatedAt = max(updatedAt ?? now, now)
        guard credit >= cost else { return false }
        credit -= cost
        return true
    }
}
