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
    /// A stateless reply (Version Negotiation) was written into the reply buffer.
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

/// A client's first Initial, held until the application accepts or refuses it.
public struct IncomingConnection {
    public let remote: SocketAddress
    /// The local address the Initial arrived at, when the datapath said.
    public let local: SocketAddress?
    public let version: QuicVersion
    public let destinationCID: ConnectionID
    public let sourceCID: ConnectionID
    public let token: [UInt8]
    public let receivedAt: Instant
    let ecn: ECNCodepoint
    /// A copy of the datagram, processed by the connection on accept.
    let datagram: [UInt8]
}

/// Settings of an endpoint.
public struct EndpointConfiguration: Sendable {
    /// Present on servers: the settings every accepted connection gets.
    public var server: ConnectionConfiguration?
    /// Makes the connection IDs this endpoint issues (all of one length).
    public var idGenerator: any ConnectionIDGenerator
    public var supportedVersions: [QuicVersion] = QuicVersion.supported
    public var maxConnections = 100_000

    public init(server: ConnectionConfiguration? = nil, idGenerator: any ConnectionIDGenerator) {
        self.server = server
        self.idGenerator = idGenerator
    }
}

/// Owns connections and routes datagrams to them by destination connection ID (RFC 9000 §5.2);
/// creates server connections for valid Initials; answers unknown versions with Version
/// Negotiation (§6). Performs no I/O: replies are written into caller-provided buffers.
public final class Endpoint {
    // Performance: every stored `var` below is `@exclusivity(unchecked)`. The object is owned by
    // one worker thread and used only from it, so Swift's dynamic exclusivity checks guard nothing
    // here, yet they cost about 15 % of the CPU per packet (swift_beginAccess in the profile).
    public let configuration: EndpointConfiguration
    @exclusivity(unchecked) private var connections: [Connection?] = []
    @exclusivity(unchecked) private var freeHandles: [Int] = []
    /// Our connection IDs, by the connection they belong to.
    @exclusivity(unchecked) private var routes = ConnectionIDTable()
    /// Client-chosen Destination Connection IDs of Initial and 0-RTT packets, until the client
    /// switches to our ID.
    @exclusivity(unchecked) private var initialRoutes: [ConnectionID: ConnectionHandle] = [:]
    @exclusivity(unchecked) private var initialRouteOf: [Int: ConnectionID] = [:]
    /// The peers' stateless reset tokens, by connection (RFC 9000 §10.3.1): a reset carries no
    /// connection ID of ours, only the token at its end.
    @exclusivity(unchecked) private var resetTokens: [StatelessResetToken: ConnectionHandle] = [:]
    /// Drained connections whose last events the application has not read yet.
    @exclusivity(unchecked) private var drained: Set<Int> = []

    public init(configuration: EndpointConfiguration) {
        self.configuration = configuration
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
            handle = ConnectionHandle(index)
        } else {
            connections.append(connection)
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
        let invariant: InvariantHeader
        do {
            invariant = try InvariantHeader.parse(
                UnsafeRawBufferPointer(datagram), shortHeaderCIDLength: configuration.idGenerator.length)
        } catch {
            return .dropped(.malformed)
        }
        if invariant.isLongHeader, let version = invariant.version, version != .negotiation,
            !configuration.supportedVersions.contains(version)
        {
            return versionNegotiation(invariant, datagramSize: datagram.count, remote: remote, into: replyBuffer)
        }
        let destination = ConnectionID(invariant.destinationCID)
        if let destination, let handle = routes[destination] ?? initialRoutes[destination], let connection = connection(handle) {
            connection.handle(datagram: datagram, from: remote, to: local, ecn: ecn, now: now)
            processEvents(of: handle)
            return .delivered(handle)
        }
        if !invariant.isLongHeader, !resetTokens.isEmpty,
            let token = StatelessReset.candidateToken(in: UnsafeRawBufferPointer(datagram)), let handle = resetTokens[token],
            let connection = connection(handle)
        {
            // A stateless reset for one of our connections (it checks the token again).
            connection.handle(datagram: datagram, from: remote, to: local, ecn: ecn, now: now)
            processEvents(of: handle)
            return .delivered(handle)
        }
        guard invariant.isLongHeader else { return .dropped(.unknownConnection) }
        guard configuration.server != nil else { return .dropped(.notAServer) }
        // Only a client Initial starts a connection (RFC 9000 §7.2, §14.1).
        let header: PacketHeader
        do {
            header = try PacketHeader.parse(UnsafeRawBufferPointer(datagram), shortHeaderCIDLength: configuration.idGenerator.length)
        } catch {
            return .dropped(.malformed)
        }
        guard header.type == .initial else { return .dropped(.unknownConnection) }
        guard datagram.count >= Connection.minimumInitialDatagramSize else { return .dropped(.initialTooSmall) }
        guard header.destinationCID.length >= 8 else { return .dropped(.malformed) }
        guard connectionCount < configuration.maxConnections else { return .dropped(.tooManyConnections) }
        return .incoming(
            IncomingConnection(
                remote: remote, local: local, version: header.version!, destinationCID: header.destinationCID, sourceCID: header.sourceCID,
                token: Array(header.token), receivedAt: now, ecn: ecn, datagram: Array(datagram)))
    }

    /// Accepts an incoming connection and processes its first datagram.
    public func accept(_ incoming: IncomingConnection, now: Instant) throws(TransportFailure) -> ConnectionHandle {
        guard let settings = configuration.server else {
            throw TransportFailure(code: .internalError, frameType: nil, reason: "endpoint has no server configuration")
        }
        let connection = try Connection(
            serverConfiguration: settings, version: incoming.version, remote: incoming.remote,
            local: incoming.local.flatMap { $0.isUnspecified ? nil : $0 },
            clientDestinationCID: incoming.destinationCID, clientSourceCID: incoming.sourceCID,
            idGenerator: configuration.idGenerator, now: now)
        let handle = insert(connection)
        initialRoutes[incoming.destinationCID] = handle
        initialRouteOf[handle.index] = incoming.destinationCID
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
        guard let settings = configuration.server,
            let connection = try? Connection(
                serverConfiguration: settings, version: incoming.version, remote: incoming.remote,
                clientDestinationCID: incoming.destinationCID, clientSourceCID: incoming.sourceCID,
                idGenerator: configuration.idGenerator, now: now)
        else { return nil }
        connection.pathBytesReceived = incoming.datagram.count
        connection.close(errorCode: TransportErrorCode.connectionRefused.rawValue, reason: "refused", isApplication: false, now: now)
        return connection.pollTransmit(now: now, into: buffer)
    }

    /// Applies a connection's routing changes. A drained connection stops receiving datagrams at
    /// once and is freed here once the application has read its last events (`pollEvent`).
    /// Call after driving a connection directly (timeouts, transmits, application calls).
    public func processEvents(of handle: ConnectionHandle) {
        guard let connection = connection(handle) else { return }
        if drained.contains(handle.index) {
            if !connection.hasPendingEvents {
                drained.remove(handle.index)
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
                if resetTokens.values.contains(handle) { resetTokens = resetTokens.filter { $0.value != handle } }
                if let initial = initialRouteOf.removeValue(forKey: handle.index) { initialRoutes[initial] = nil }
                drained.insert(handle.index)
                processEvents(of: handle)
                return
            }
        }
        // Once the handshake is confirmed the client only uses our IDs.
        if connection.handshakeConfirmed, let initial = initialRouteOf.removeValue(forKey: handle.index) {
            initialRoutes[initial] = nil
        }
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
        return .reply(Transmit(destination: remote, ecn: .notECT, size: writer.offset, segmentSize: nil))
    }
}
