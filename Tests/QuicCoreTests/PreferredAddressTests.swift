@testable import QuicCore
import QuicWire
import Testing

/// The server's preferred address (RFC 9000 §9.6): sent with a connection ID of sequence 1, the
/// client validates it after confirmation and moves, the server answers from it and stops using
/// its original address; an unreachable preferred address leaves the connection where it was.
@Suite("Server preferred address (RFC 9000 §9.6)")
struct PreferredAddressTests {
    static let preferred = SocketAddress(ipv4: (10, 0, 0, 20), port: 4433)

    /// `reachable`: whether anything listens on the preferred address.
    func pair(
        seed: UInt64, reachable: Bool = true, configure: ((inout ConnectionConfiguration, inout ConnectionConfiguration) -> Void)? = nil
    ) throws -> Pair {
        try Pair.established(seed: seed) { client, server in
            server.preferredAddress = PreferredAddressConfiguration(ipv4: Self.preferred)
            configure?(&client, &server)
        } prepare: { pair in
            if reachable { pair.serverAddresses.insert(Self.preferred) }
        }
    }

    @Test("the client validates the preferred address after confirmation and moves; data continues and the server's original address is no longer used")
    func clientMoves() throws {
        let pair = try pair(seed: 1000)
        let client = try #require(pair.clientConnection)
        let server = try #require(pair.serverConnection)
        // The parameter's ID is sequence 1 of the server's IDs (§5.1.1), routed by its endpoint.
        let offered = try #require(client.peerParameters?.preferredAddress)
        #expect(server.localIDs.active.first { $0.sequence == 1 }?.id == offered.connectionID)
        #expect(pair.server.route(of: offered.connectionID) != nil)
        let upload = StreamTransfer(pair: pair, sizes: [1 << 20])
        let download = DownloadTransfer(pair: pair, size: 1 << 20)
        var movedAt: Instant?
        var serverMovedAt: Instant?
        let completed = pair.run(for: .seconds(60)) {
            upload.pump()
            download.pump()
            if movedAt == nil && client.remoteAddress == Self.preferred { movedAt = pair.now }
            if serverMovedAt == nil && server.localAddress == Self.preferred { serverMovedAt = pair.now }
            return upload.isComplete && download.isComplete
        }
        #expect(completed && upload.corruptions == 0 && download.corruptions == 0)
        let clientMove = try #require(movedAt)
        let serverMove = try #require(serverMovedAt)
        print("preferred address: client moved \(clientMove - Instant(nanoseconds: 1_000_000_000)) after start, server followed \(serverMove - clientMove) later")
        #expect(client.remoteAddress == Self.preferred && client.isPathValidated)
        #expect(server.localAddress == Self.preferred && server.isPathValidated)
        // The client validated before moving: its first datagram to the preferred address was a
        // padded probe, and it went there with the ID from the parameter (or another unused one).
        let toPreferred = pair.log.filter { $0.side == .client && $0.destination == Self.preferred }
        #expect(toPreferred.first.map { $0.size >= 1200 } == true)
        #expect(toPreferred.first?.shortHeaderDCID == offered.connectionID)
        // After the client moved, it never sent to the original address again; after the server
        // followed, nothing left the server's original address.
        #expect(!pair.datagrams(from: .client, after: clientMove).contains { $0.destination == pair.serverAddress })
        #expect(!pair.datagrams(from: .server, after: serverMove).contains { $0.source == pair.serverAddress })
        #expect(pair.datagrams(from: .server, after: serverMove).count > 100)
        #expect(client.statistics.pathMigrations == 1)
    }

    @Test("the client's probe reaches the preferred address before any of its NEW_CONNECTION_ID frames: the server answers with the client ID in use (the client's address is the same, §9.5) and the client moves at once")
    func probeBeforeClientIDs() throws {
        let pair = Pair(seed: 1004) { _, server in server.preferredAddress = PreferredAddressConfiguration(ipv4: Self.preferred) }
        pair.serverAddresses.insert(Self.preferred)
        // Every 1-RTT datagram of the client's that is not the probe is lost until the client has
        // moved, so the server holds no spare ID of the client's when the PATH_CHALLENGE arrives.
        pair.network.intercept = { side, bytes in
            guard side == .client, let client = pair.clientConnection, client.remoteAddress != Self.preferred,
                let packet = wirePackets(bytes).first, packet.type == .oneRTT
            else { return true }
            return packet.destinationCID == client.peerParameters?.preferredAddress?.connectionID
        }
        try pair.connect()
        let confirmed = pair.run(for: .seconds(5)) { pair.clientConnection?.handshakeConfirmed == true }
        let client = try #require(pair.clientConnection)
        let confirmedAt = pair.now
        #expect(confirmed)
        // Well before the probe's own retransmission (a PTO with the initial RTT, about 1 s).
        #expect(pair.run(for: .milliseconds(300)) { client.remoteAddress == Self.preferred && client.isPathValidated })
        print("preferred address without spare client IDs: moved \(pair.now - confirmedAt) after confirmation")
        let server = try #require(pair.serverConnection)
        let download = DownloadTransfer(pair: pair, size: 200_000)
        #expect(pair.run(for: .seconds(10)) { download.pump(); return download.isComplete } && download.corruptions == 0)
        #expect(server.localAddress == Self.preferred && server.isPathValidated)
    }

    @Test("a preferred address that does not answer: validation fails, the client stays on the original address and retires the preferred ID")
    func unreachablePreferredAddress() throws {
        let pair = try pair(seed: 1001, reachable: false)
        let client = try #require(pair.clientConnection)
        let offered = try #require(client.peerParameters?.preferredAddress)
        let upload = StreamTransfer(pair: pair, sizes: [1 << 20])
        #expect(upload.run() != nil && upload.isComplete && upload.corruptions == 0)
        _ = pair.run(for: .seconds(4)) { client.alternatePath == nil }
        #expect(client.remoteAddress == pair.serverAddress)
        #expect(client.alternatePath == nil)
        #expect(client.statistics.pathValidationFailures == 1)
        #expect(!client.peerIDs.active.contains { $0.id == offered.connectionID })
        #expect(client.closeReason == nil)
    }

    @Test("a client told not to follow preferred addresses stays; the ID still counts as issued")
    func notFollowing() throws {
        let pair = try pair(seed: 1002) { client, _ in client.followPreferredAddress = false }
        let client = try #require(pair.clientConnection)
        let upload = StreamTransfer(pair: pair, sizes: [200_000])
        #expect(upload.run() != nil && upload.isComplete)
        #expect(client.remoteAddress == pair.serverAddress)
        #expect(!pair.log.contains { $0.destination == Self.preferred })
        #expect(client.peerIDs.active.contains { $0.sequence == 1 })
    }

    @Test("disable_active_migration does not stop a client that acted on the preferred address from migrating later (RFC 9000 §9)")
    func migrationAfterPreferredAddress() throws {
        let pair = try pair(seed: 1003) { _, server in server.disableActiveMigration = true }
        let client = try #require(pair.clientConnection)
        let server = try #require(pair.serverConnection)
        #expect(pair.run(for: .seconds(5)) { client.remoteAddress == Self.preferred && client.peerIDs.hasUnused })
        let newLocal = SocketAddress(ipv4: (10, 0, 0, 3), port: 50000)
        try client.migrate(to: newLocal, now: pair.now)
        client.ping()
        #expect(pair.run(for: .seconds(5)) { server.remoteAddress == newLocal && server.isPathValidated && client.isPathValidated })
    }
}
