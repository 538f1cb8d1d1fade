@testable import QuicCore
import QuicTLS
import QuicWire

/// A client and a server endpoint over a `SimulatedNetwork`, driven the way the poll-mode engine
/// drives them: deliver datagrams, run timers, poll transmits; simulated time jumps to the next
/// event. Everything random comes from the seed.
final class Pair {
    let network: SimulatedNetwork
    let client: Endpoint
    /// Replaced by `restartServer()`.
    private(set) var server: Endpoint
    /// The address the next `connect()` sends from (a NAT rebinding of a running connection is
    /// `nat`).
    var clientAddress = SocketAddress(ipv4: (10, 0, 0, 1), port: 50000)
    let serverAddress = SocketAddress(ipv4: (10, 0, 0, 2), port: 443)
    var now = Instant(nanoseconds: 1_000_000_000)
    private(set) var clientHandle: ConnectionHandle?
    private(set) var serverHandles: [ConnectionHandle] = []
    var clientConfiguration: ConnectionConfiguration
    var serverConfiguration: ConnectionConfiguration
    /// Every connection event, by side.
    private(set) var clientEvents: [ConnectionEvent] = []
    private(set) var serverEvents: [ConnectionEvent] = []
    var injectedPacketNumber: UInt64 = 0
    /// A NAT in front of the client: the address its datagrams from an inside address carry
    /// when they reach the server (none: unchanged). Datagrams to an inside address that has
    /// been mapped elsewhere are dropped (the old binding is gone).
    var nat: [SocketAddress: SocketAddress] = [:]
    /// Addresses the server receives on (add a preferred address here).
    var serverAddresses: Set<SocketAddress>
    /// Addresses the client receives on: its own, and every one it has sent from.
    var clientAddresses: Set<SocketAddress>
    /// Every datagram that left an endpoint, in order.
    private(set) var log: [SentDatagram] = []
    /// Datagrams the network delivered to an address nobody listens on.
    private(set) var undeliverable = 0

    struct SentDatagram {
        var time: Instant
        var side: SimulatedNetwork.Side
        /// The sender's own address, and what the network saw after the NAT.
        var source: SocketAddress
        var wireSource: SocketAddress
        var destination: SocketAddress
        var size: Int
        /// The Destination Connection ID of a short-header packet (8-byte IDs in this harness).
        var shortHeaderDCID: ConnectionID?
    }

    private var buffer = [UInt8](repeating: 0, count: 65536)
    private var reply = [UInt8](repeating: 0, count: 2048)

    let serverEndpointConfiguration: EndpointConfiguration

    init(
        seed: UInt64, clientToServer: LinkConditions = LinkConditions(), serverToClient: LinkConditions = LinkConditions(),
        configure: ((inout ConnectionConfiguration, inout ConnectionConfiguration) -> Void)? = nil,
        endpoints: ((inout EndpointConfiguration, inout EndpointConfiguration) -> Void)? = nil
    ) {
        network = SimulatedNetwork(seed: seed, clientToServer: clientToServer, serverToClient: serverToClient)
        let clientRandom = SeededBytes(seed: seed &* 31 &+ 1)
        let serverRandom = SeededBytes(seed: seed &* 31 &+ 2)
        var clientConfiguration = ConnectionConfiguration(
            tls: TestCertificates.shared.tls(server: false, random: { clientRandom.fill($0) }))
        clientConfiguration.random = { clientRandom.fill($0) }
        clientConfiguration.statelessResetKey = Array(repeating: 1, count: 32)
        var serverConfiguration = ConnectionConfiguration(
            tls: TestCertificates.shared.tls(server: true, random: { serverRandom.fill($0) }))
        serverConfiguration.random = { serverRandom.fill($0) }
        serverConfiguration.statelessResetKey = Array(repeating: 2, count: 32)
        serverConfiguration.addressValidation.tokenKeys = AddressTokenKeys(random: { serverRandom.fill($0) })
        configure?(&clientConfiguration, &serverConfiguration)
        self.clientConfiguration = clientConfiguration
        self.serverConfiguration = serverConfiguration
        serverAddresses = [serverAddress]
        clientAddresses = [clientAddress]
        var clientEndpoint = EndpointConfiguration(
            idGenerator: QuicLBConnectionIDGenerator(serverID: 1, random: { clientRandom.fill($0) }))
        var serverEndpoint = EndpointConfiguration(
            server: serverConfiguration, idGenerator: QuicLBConnectionIDGenerator(serverID: 2, random: { serverRandom.fill($0) }))
        endpoints?(&clientEndpoint, &serverEndpoint)
        serverEndpointConfiguration = serverEndpoint
        client = Endpoint(configuration: clientEndpoint)
        server = Endpoint(configuration: serverEndpoint)
    }

    /// The server loses all state (a crash and restart), keeping its configuration and keys.
    func restartServer() {
        server = Endpoint(configuration: serverEndpointConfiguration)
        serverHandles = []
    }

    var clientConnection: Connection? { clientHandle.flatMap { client.connection($0) } }
    var serverConnection: Connection? { serverHandles.first.flatMap { server.connection($0) } }

    func connect(serverName: String = "localhost") throws {
        clientHandle = try client.connect(
            to: serverAddress, from: clientAddress, serverName: serverName, configuration: clientConfiguration, now: now)
    }

    /// Sends everything the connections have to send now.
    func flush() {
        for (endpoint, side, handles) in [
            (client, SimulatedNetwork.Side.client, clientHandle.map { [$0] } ?? []), (server, .server, serverHandles),
        ] {
            for handle in handles {
                guard let connection = endpoint.connection(handle) else { continue }
                while let transmit = buffer.withUnsafeMutableBytes({ connection.pollTransmit(now: now, into: $0) }) {
                    let source = transmit.source ?? (side == .client ? clientAddress : serverAddress)
                    let wireSource = side == .client ? nat[source] ?? source : source
                    if side == .client { clientAddresses.insert(source) }
                    let bytes = Array(buffer[..<transmit.size])
                    let dcid = bytes[0] & 0x80 == 0 && bytes.count > 9 ? ConnectionID(bytes: bytes[1..<9]) : nil
                    log.append(
                        SentDatagram(
                            time: now, side: side, source: source, wireSource: wireSource, destination: transmit.destination,
                            size: transmit.size, shortHeaderDCID: dcid))
                    network.send(bytes, from: side, address: wireSource, to: transmit.destination, now: now, ecn: transmit.ecn)
                }
                collectEvents(connection, side: side)
                endpoint.processEvents(of: handle)
            }
        }
    }

    private func collectEvents(_ connection: Connection, side: SimulatedNetwork.Side) {
        while let event = connection.pollEvent() {
            if side == .client { clientEvents.append(event) } else { serverEvents.append(event) }
            onEvent?(side, event)
        }
    }

    /// Called for each connection event as it is collected.
    var onEvent: ((SimulatedNetwork.Side, ConnectionEvent) -> Void)?

    private var allHandles: [(Endpoint, ConnectionHandle, SimulatedNetwork.Side)] {
        (clientHandle.map { [(client, $0, SimulatedNetwork.Side.client)] } ?? []) + serverHandles.map { (server, $0, .server) }
    }

    /// The earliest pending event: a delivery or a connection timer.
    var nextEventTime: Instant? {
        var next = network.nextDelivery
        for (endpoint, handle, _) in allHandles {
            if let timeout = endpoint.connection(handle)?.pollTimeout(), next == nil || timeout < next! { next = timeout }
        }
        return next
    }

    /// Advances to the next event (but not past `deadline`) and processes it. Returns false when
    /// nothing is pending before the deadline.
    @discardableResult
    func step(deadline: Instant = .distantFuture) -> Bool {
        flush()
        guard let next = nextEventTime, next <= deadline else {
            now = max(now, min(deadline, now + .seconds(3600)))
            return false
        }
        now = max(now, next)
        for item in network.take(dueBy: now) {
            var bytes = item.bytes
            let endpoint = item.to == .client ? client : server
            guard let local = localAddress(for: item) else {
                undeliverable += 1
                continue
            }
            let event = bytes.withUnsafeMutableBytes { datagram in
                reply.withUnsafeMutableBytes { replyBuffer in
                    endpoint.handle(datagram: datagram, from: item.from, to: local, ecn: item.ecn, now: now, replyBuffer: replyBuffer)
                }
            }
            if case .delivered(let handle) = event, let connection = endpoint.connection(handle) {
                collectEvents(connection, side: item.to)
            }
            switch event {
            case .incoming(let incoming):
                if let handle = try? server.accept(incoming, now: now) { serverHandles.append(handle) }
            case .reply(let transmit):
                network.send(Array(reply[..<transmit.size]), from: item.to, address: local, to: transmit.destination, now: now)
            case .delivered, .dropped:
                break
            }
        }
        for (endpoint, handle, side) in allHandles {
            guard let connection = endpoint.connection(handle) else { continue }
            if let timeout = connection.pollTimeout(), timeout <= now { connection.handleTimeout(now: now) }
            collectEvents(connection, side: side)
            endpoint.processEvents(of: handle)
        }
        flush()
        return true
    }

    /// The address a datagram arrives at on its receiving side, through the NAT for the client;
    /// nil when nobody listens there.
    private func localAddress(for item: SimulatedNetwork.InFlight) -> SocketAddress? {
        switch item.to {
        case .server:
            let local = item.destination ?? serverAddress
            return serverAddresses.contains(local) ? local : nil
        case .client:
            let outside = item.destination ?? clientAddress
            let inside: SocketAddress
            if let mapped = nat.first(where: { $0.value == outside })?.key {
                inside = mapped
            } else {
                guard nat[outside] == nil else { return nil }
                inside = outside
            }
            return clientAddresses.contains(inside) ? inside : nil
        }
    }

    /// Datagrams one side sent after `time`.
    func datagrams(from side: SimulatedNetwork.Side, after time: Instant = .zero) -> [SentDatagram] {
        log.filter { $0.side == side && $0.time > time }
    }

    /// Steps until `condition` holds or `limit` of simulated time passes. Returns whether it held.
    @discardableResult
    func run(for limit: TimeSpan = .seconds(60), until condition: () -> Bool) -> Bool {
        let deadline = now + limit
        while !condition() {
            guard now < deadline, step(deadline: deadline) else { return condition() }
        }
        return true
    }

    var isConnected: Bool {
        clientEvents.contains(.connected) && serverEvents.contains(.connected)
    }
}

extension Pair {
    /// A pair over `link` (both directions) whose handshake is confirmed and whose sides each
    /// hold a spare connection ID of the other's (the state migrations start from). `prepare`
    /// runs before the client connects.
    static func established(
        seed: UInt64, link: LinkConditions = LinkConditions(),
        configure: ((inout ConnectionConfiguration, inout ConnectionConfiguration) -> Void)? = nil,
        prepare: ((Pair) -> Void)? = nil
    ) throws -> Pair {
        let pair = Pair(seed: seed, clientToServer: link, serverToClient: link, configure: configure)
        prepare?(pair)
        try pair.connect()
        let ready = pair.run(for: .seconds(10)) {
            guard pair.isConnected, let client = pair.clientConnection, let server = pair.serverConnection else { return false }
            return client.handshakeConfirmed && client.peerIDs.hasUnused && server.peerIDs.hasUnused
        }
        guard ready else { throw SetupFailure(reason: "no confirmed connection with spare connection IDs within 10 s") }
        return pair
    }

    struct SetupFailure: Error, CustomStringConvertible {
        var reason: String
        var description: String { reason }
    }
}
