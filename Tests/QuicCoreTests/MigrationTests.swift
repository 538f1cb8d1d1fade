@testable import QuicCore
import QuicWire
import Testing

/// Path validation and connection migration (RFC 9000 §8.2, §9, RFC 9002 §9) over the simulated
/// network: NAT rebinding seen by the server, a client moving to a new local address, paths that
/// fail validation, probing packets, spoofed migrations and disable_active_migration.
@Suite("Path validation and migration (RFC 9000 §8.2, §9)")
struct MigrationTests {
    static let megabyte = 1 << 20
    /// 20 Mbit/s with a 100 kB queue: a 2 MB transfer takes about a second, long enough to move
    /// paths in the middle of it.
    static var limited: LinkConditions {
        var link = LinkConditions()
        link.bandwidth = 2_500_000
        link.queueLimit = 100_000
        return link
    }

    func established(
        seed: UInt64, link: LinkConditions = LinkConditions(),
        configure: ((inout ConnectionConfiguration, inout ConnectionConfiguration) -> Void)? = nil
    ) throws -> Pair {
        try Pair.established(seed: seed, link: link, configure: configure)
    }

    /// Runs a download and an upload, calling `event` once when `at` is reached and `observe`
    /// after every later step, and checks on every step until the server's current path is
    /// validated that it never sent more than three times what it received on it (RFC 9000 §8,
    /// §9.3.1). Returns the largest ratio seen.
    func transferAcrossEvent(
        _ pair: Pair, at: Instant, size: Int = 2 * MigrationTests.megabyte, event: () -> Void, observe: () -> Void = {}
    ) -> (upload: StreamTransfer, download: DownloadTransfer, worstRatio: Double, completed: Bool) {
        let upload = StreamTransfer(pair: pair, sizes: [size])
        let download = DownloadTransfer(pair: pair, size: size)
        var fired = false
        var worst = 0.0
        let completed = pair.run(for: .seconds(120)) {
            upload.pump()
            download.pump()
            if !fired && pair.now >= at {
                fired = true
                event()
            }
            guard fired else { return false }
            observe()
            if let server = pair.serverConnection, !server.path.validated {
                #expect(server.path.bytesSent <= 3 * server.path.bytesReceived, "anti-amplification broken at \(pair.now)")
                worst = max(worst, Double(server.path.bytesSent) / Double(max(server.path.bytesReceived, 1)))
            }
            return upload.isComplete && download.isComplete
        }
        return (upload, download, worst, completed)
    }

    @Test("NAT rebinding, port only, mid-transfer: the server validates the new path and keeps its congestion state; data stays intact")
    func natRebindingPort() throws {
        let pair = try established(seed: 900, link: Self.limited)
        let server = try #require(pair.serverConnection)
        let rebound = SocketAddress(ipv4: (10, 0, 0, 1), port: 50001)
        let generation = server.recovery.pathGeneration
        var windowBefore = 0
        var rttBefore = TimeSpan.zero
        let result = transferAcrossEvent(pair, at: pair.now + .milliseconds(300)) {
            windowBefore = server.congestionWindow
            rttBefore = server.smoothedRTT
            pair.nat[pair.clientAddress] = rebound
        }
        #expect(result.completed)
        #expect(result.upload.corruptions == 0 && result.download.corruptions == 0)
        #expect(server.remoteAddress == rebound)
        #expect(server.isPathValidated)
        #expect(server.statistics.pathMigrations == 1)
        #expect(server.statistics.pathValidations >= 1)
        // §9.4: only the port changed, so congestion control and RTT carried over.
        #expect(server.recovery.pathGeneration == generation)
        #expect(server.recovery.rtt.hasSample)
        print("NAT rebinding (port): server cwnd \(windowBefore) B, srtt \(rttBefore) before; validated, worst sent/received on the unvalidated path \(result.worstRatio)")
        #expect(pair.clientConnection?.closeReason == nil)
    }

    @Test("NAT rebinding to a new address mid-transfer: the server resets congestion control and RTT, stays within 3× until validation, and data stays intact")
    func natRebindingAddress() throws {
        let pair = try established(seed: 901, link: Self.limited)
        let server = try #require(pair.serverConnection)
        let rebound = SocketAddress(ipv4: (192, 0, 2, 77), port: 40000)
        let generation = server.recovery.pathGeneration
        var windowAfterMove: Int?
        var rttSampledAfterMove: Bool?
        var ecnAfterMove: ECNValidation.State?
        var validatedAt: Instant?
        let movedAt = pair.now + .milliseconds(300)
        let result = transferAcrossEvent(pair, at: movedAt) {
            pair.nat[pair.clientAddress] = rebound
        } observe: {
            guard server.remoteAddress == rebound else { return }
            if windowAfterMove == nil {
                windowAfterMove = server.congestionWindow
                rttSampledAfterMove = server.recovery.rtt.hasSample
                ecnAfterMove = server.ecnState
            }
            if server.path.validated && validatedAt == nil { validatedAt = pair.now }
        }
        #expect(result.completed)
        #expect(result.upload.corruptions == 0 && result.download.corruptions == 0)
        #expect(server.remoteAddress == rebound && server.isPathValidated)
        // §9.4: a new address means new congestion state: the initial window, no RTT sample.
        #expect(server.recovery.pathGeneration != generation)
        #expect(windowAfterMove == 10 * 1200)
        #expect(rttSampledAfterMove == false)
        // ECN is validated again on the new path (§13.4.2) and passes there.
        #expect(ecnAfterMove == .testing)
        #expect(server.ecnState == .capable)
        let validation = try #require(validatedAt) - movedAt
        print("NAT rebinding (address): validated \(validation) after the move; largest sent/received on the unvalidated path \(result.worstRatio)")
        #expect(result.worstRatio <= 3.0)
    }

    @Test("client migration mid-transfer: packets leave from the new address with a new connection ID, the server follows with a new ID of its own, both validate, old IDs are retired")
    func clientMigration() throws {
        let pair = try established(seed: 902, link: Self.limited)
        let client = try #require(pair.clientConnection)
        let server = try #require(pair.serverConnection)
        let newLocal = SocketAddress(ipv4: (10, 0, 0, 3), port: 50000)
        let oldClientDCID = client.destinationConnectionID
        let oldServerDCID = server.destinationConnectionID
        var migratedAt = Instant.zero
        let result = transferAcrossEvent(pair, at: pair.now + .milliseconds(300)) {
            migratedAt = pair.now
            #expect(throws: Never.self) { try client.migrate(to: newLocal, now: pair.now) }
        }
        #expect(result.completed)
        #expect(result.upload.corruptions == 0 && result.download.corruptions == 0)
        // The client's datagrams after the move leave from the new address, never with the old
        // ID; the only ones from the old address answer the server's challenge there (§8.2.2,
        // §9.3.3: a PATH_RESPONSE goes back on the path the challenge came on).
        let after = pair.datagrams(from: .client, after: migratedAt)
        let moved = after.filter { $0.source == newLocal }
        #expect(after.count { $0.source != newLocal } <= 2)
        let clientIDs = Set(moved.compactMap(\.shortHeaderDCID))
        #expect(!clientIDs.isEmpty)
        #expect(!clientIDs.contains(oldClientDCID), "the client reused \(oldClientDCID) on the new path")
        // The server answered on the new path with an ID it had not used before (§9.5).
        let serverLate = pair.datagrams(from: .server, after: migratedAt + .milliseconds(100))
        #expect(serverLate.count { $0.destination != newLocal } == 0)
        #expect(serverLate.count { $0.shortHeaderDCID == oldServerDCID } == 0, "the server reused \(oldServerDCID) on the new path")
        #expect(client.isPathValidated && server.isPathValidated)
        #expect(client.localAddress == newLocal && server.remoteAddress == newLocal)
        // Both sides retired the IDs of the old path.
        #expect(!client.peerIDs.active.contains { $0.id == oldClientDCID })
        #expect(!server.peerIDs.active.contains { $0.id == oldServerDCID })
        #expect(pair.client.route(of: oldServerDCID) == nil)
        #expect(pair.server.route(of: oldClientDCID) == nil)
        // The local address changed: the client's congestion state started over (§9.4).
        #expect(client.recovery.pathGeneration != 0)
        #expect(client.statistics.pathMigrations == 1 && server.statistics.pathMigrations == 1)
    }

    @Test("client migration to a path that drops everything: validation fails, the client returns to the old path and the transfer completes")
    func migrationToDeadPath() throws {
        let pair = try established(seed: 903)
        let client = try #require(pair.clientConnection)
        let server = try #require(pair.serverConnection)
        let deadLocal = SocketAddress(ipv4: (10, 0, 0, 4), port: 50000)
        pair.network.deadAddresses.insert(deadLocal)
        var migratedAt = Instant.zero
        var returnedAt: Instant?
        let upload = StreamTransfer(pair: pair, sizes: [Self.megabyte])
        var fired = false
        let completed = pair.run(for: .seconds(120)) {
            upload.pump()
            if !fired {
                fired = true
                migratedAt = pair.now
                #expect(throws: Never.self) { try client.migrate(to: deadLocal, now: pair.now) }
            }
            if returnedAt == nil && client.localAddress == pair.clientAddress && pair.now > migratedAt { returnedAt = pair.now }
            return upload.isComplete
        }
        #expect(completed && upload.corruptions == 0)
        let back = try #require(returnedAt) - migratedAt
        print("migration to a dead path: returned to the old path after \(back) (validation timeout \(client.validationTimeout))")
        #expect(back >= .seconds(1) && back <= .seconds(4))
        #expect(client.localAddress == pair.clientAddress)
        #expect(client.statistics.pathValidationFailures == 1)
        // The server never saw the dead path.
        #expect(server.statistics.pathMigrations == 0)
        #expect(client.closeReason == nil)
        // Packets after the return leave from the old address.
        #expect(pair.datagrams(from: .client, after: returnedAt!).allSatisfy { $0.source == pair.clientAddress })
    }

    @Test("client migration to a dead path when the old address is gone too: validation fails and the connection closes silently (no viable path)")
    func migrationWithoutFallback() throws {
        let pair = try established(seed: 904)
        let client = try #require(pair.clientConnection)
        let deadLocal = SocketAddress(ipv4: (10, 0, 0, 5), port: 50000)
        pair.network.deadAddresses = [deadLocal, pair.clientAddress]
        let migratedAt = pair.now
        try client.migrate(to: deadLocal, keepingPreviousPath: false, now: pair.now)
        #expect(pair.run(for: .seconds(10)) { client.isClosed })
        #expect(client.closeReason == .noViablePath)
        let closedAt = pair.now
        print("migration without a fallback: closed \(closedAt - migratedAt) after the move")
        #expect(closedAt - migratedAt >= .seconds(1) && closedAt - migratedAt <= .seconds(4))
        // Silently: nothing more leaves the client (no CONNECTION_CLOSE, §9.3.2).
        _ = pair.run(for: .seconds(1)) { false }
        #expect(pair.datagrams(from: .client, after: closedAt - .nanoseconds(1)).isEmpty)
        #expect(pair.client.connectionCount == 0)
    }

    @Test("probing packets from a new address get a PATH_RESPONSE there but do not move the server; a non-probing packet with the largest number does, an older one does not move it back")
    func probingDoesNotMigrate() throws {
        let pair = try established(seed: 905)
        let server = try #require(pair.serverConnection)
        let elsewhere = SocketAddress(ipv4: (10, 0, 0, 1), port: 50009)
        let numbers = pair.takeClientPacketNumbers(3)
        let before = pair.log.count
        // PATH_CHALLENGE padded to 1200 bytes: a probe (§9.1).
        var probe = frameBytes(.pathChallenge(0x1122_3344_5566_7788))
        probe += [UInt8](repeating: 0, count: 1150)
        pair.injectFromClient(probe, from: elsewhere, packetNumber: numbers[0], direct: true)
        #expect(server.remoteAddress == pair.clientAddress)
        _ = pair.run(for: .milliseconds(5)) { false }
        #expect(server.statistics.pathMigrations == 0)
        // The response went to the probing address, in a datagram of at least 1200 bytes (the
        // probe's 1200 bytes allow 3600 back); nothing else went there.
        let answers = pair.log[before...].filter { $0.side == .server && $0.destination == elsewhere }
        #expect(answers.count >= 1)
        #expect(answers.allSatisfy { $0.size >= 1200 })
        // A PING (non-probing) with the largest packet number so far: the server moves.
        pair.injectFromClient(frameBytes(.ping), from: elsewhere, packetNumber: numbers[2], direct: true)
        #expect(server.remoteAddress == elsewhere)
        // A non-probing packet from the old address with a lower number does not move it back (§9.3).
        pair.injectFromClient(frameBytes(.ping), from: pair.clientAddress, packetNumber: numbers[1], direct: true)
        #expect(server.remoteAddress == elsewhere)
        #expect(server.statistics.pathMigrations == 1)
        // The client's next packet (largest number, genuine address) brings it back.
        pair.clientConnection?.ping()
        #expect(pair.run(for: .milliseconds(100)) { server.remoteAddress == pair.clientAddress })
        #expect(server.closeReason == nil && pair.clientConnection?.closeReason == nil)
    }

    @Test("a spoofed migration (a packet copied to an address the client does not own, arriving first): the server stays within 3x toward it and returns to the client; transfers go on", arguments: [false, true])
    func spoofedMigration(clientBusy: Bool) throws {
        let pair = try established(seed: clientBusy ? 906 : 909, link: Self.limited)
        let server = try #require(pair.serverConnection)
        let attacker = SocketAddress(ipv4: (203, 0, 113, 9), port: 6666)
        let upload = StreamTransfer(pair: pair, sizes: [clientBusy ? 2 << 20 : 1])
        if clientBusy { _ = pair.run(for: .milliseconds(300)) { upload.pump(); return false } }
        let number = pair.takeClientPacketNumbers(1)[0]
        let injectedAt = pair.now
        let copy = frameBytes(.ping)
        pair.injectFromClient(copy, from: attacker, packetNumber: number, direct: true)
        #expect(server.remoteAddress == attacker, "the server followed the copied packet (§9.3)")
        let completed = pair.run(for: .seconds(30)) {
            if clientBusy || server.remoteAddress != attacker { upload.pump() }
            return server.remoteAddress != attacker && upload.isComplete
        }
        #expect(completed && upload.corruptions == 0)
        let toAttacker = pair.datagrams(from: .server, after: injectedAt - .nanoseconds(1)).filter { $0.destination == attacker }
        let sent = toAttacker.reduce(0) { $0 + $1.size }
        let received = 1 + 8 + 4 + copy.count + 16
        let back = pair.log.first { $0.side == .server && $0.time > injectedAt && $0.destination == pair.clientAddress }.map { $0.time - injectedAt }
        print("spoofed migration (client \(clientBusy ? "busy" : "idle")): server sent \(sent) B in \(toAttacker.count) datagrams toward the spoofed address for \(received) B from it; sending to the client again after \(back.map(String.init(describing:)) ?? "never"); validation failures \(server.statistics.pathValidationFailures), migrations \(server.statistics.pathMigrations)")
        #expect(sent <= 3 * received)
        #expect(server.remoteAddress == pair.clientAddress && server.isPathValidated)
        #expect(server.statistics.pathMigrations == 2)
        #expect(server.closeReason == nil && pair.clientConnection?.closeReason == nil)
        // The client's path state came back with it: the RTT estimate was kept.
        #expect(server.recovery.rtt.hasSample)
    }

    @Test("disable_active_migration: the client refuses to migrate, and the server drops packets from a rebound address without closing")
    func activeMigrationDisabled() throws {
        let pair = try established(seed: 907) { _, server in server.disableActiveMigration = true }
        let client = try #require(pair.clientConnection)
        let server = try #require(pair.serverConnection)
        #expect(throws: MigrationError.disabledByPeer) {
            try client.migrate(to: SocketAddress(ipv4: (10, 0, 0, 3), port: 50000), now: pair.now)
        }
        pair.nat[pair.clientAddress] = SocketAddress(ipv4: (10, 0, 0, 1), port: 50001)
        client.ping()
        _ = pair.run(for: .seconds(1)) { false }
        #expect(server.statistics.datagramsFromUnknownPaths > 0)
        #expect(server.remoteAddress == pair.clientAddress)
        #expect(server.state == .established)
        #expect(!pair.datagrams(from: .server).contains { $0.destination != pair.clientAddress })
    }

    @Test("migrate(to:) refuses before confirmation, on a server, to the same address, and without a spare connection ID")
    func migrateRefusals() throws {
        // The client accepts only two IDs: the server's first one and one spare.
        let pair = Pair(seed: 908) { client, _ in client.activeConnectionIDLimit = 2 }
        try pair.connect()
        let client = try #require(pair.clientConnection)
        #expect(throws: MigrationError.handshakeNotConfirmed) {
            try client.migrate(to: SocketAddress(ipv4: (10, 0, 0, 3), port: 1), now: pair.now)
        }
        #expect(pair.run(for: .seconds(5)) { client.handshakeConfirmed && client.peerIDs.hasUnused })
        let server = try #require(pair.serverConnection)
        #expect(throws: MigrationError.notAClient) { try server.migrate(to: pair.serverAddress, now: pair.now) }
        #expect(throws: MigrationError.sameAddress) { try client.migrate(to: pair.clientAddress, now: pair.now) }
        try client.migrate(to: SocketAddress(ipv4: (10, 0, 0, 3), port: 50000), now: pair.now)
        #expect(throws: MigrationError.noUnusedConnectionID) {
            try client.migrate(to: SocketAddress(ipv4: (10, 0, 0, 4), port: 50000), now: pair.now)
        }
        // Once the first move is validated, the server replaces the retired ID and a spare is back.
        #expect(pair.run(for: .seconds(3)) { client.isPathValidated && client.peerIDs.hasUnused })
        try client.migrate(to: SocketAddress(ipv4: (10, 0, 0, 4), port: 50000), now: pair.now)
        #expect(pair.run(for: .seconds(3)) { client.isPathValidated && server.remoteAddress.port == 50000 && server.remoteAddress.addressBytes == [10, 0, 0, 4] })
        #expect(client.closeReason == nil && server.closeReason == nil)
    }

    @Test("qlog: a client migration logs tuple_assigned, migration_state_updated (started, complete) and connection_id_updated; PMTUD logs mtu_updated")
    func qlogEvents() throws {
        let clientLog = MemoryQlog()
        let serverLog = MemoryQlog()
        let pair = try established(seed: 910) { client, server in
            client.qlog = clientLog
            server.qlog = serverLog
        }
        let client = try #require(pair.clientConnection)
        let newLocal = SocketAddress(ipv4: (10, 0, 0, 3), port: 50001)
        try client.migrate(to: newLocal, now: pair.now)
        client.ping()
        #expect(pair.run(for: .seconds(3)) {
            client.isPathValidated && client.alternatePath == nil && client.currentMaxDatagramSize == 1472
        })
        func events(_ log: MemoryQlog, _ name: String) -> [String] { log.records.filter { $0.contains("\"name\":\"quic:\(name)\"") } }
        let tuples = events(clientLog, "tuple_assigned")
        #expect(tuples.contains { $0.contains("\"tuple_local\":{\"ip_v4\":\"10.0.0.3\",\"port_v4\":50001}") })
        let migration = events(clientLog, "migration_state_updated")
        #expect(migration.first?.contains("\"new\":\"migration_started\"") == true)
        #expect(migration.last?.contains("\"new\":\"migration_complete\"") == true)
        #expect(events(clientLog, "connection_id_updated").contains { $0.contains("\"initiator\":\"local\"") })
        #expect(!events(serverLog, "migration_state_updated").isEmpty)
        let mtu = events(clientLog, "mtu_updated")
        #expect(mtu.contains { $0.contains("\"old\":1200,\"new\":1472,\"done\":true") })
        for record in clientLog.records + serverLog.records {
            #expect(record.filter { $0 == "{" }.count == record.filter { $0 == "}" }.count)
        }
    }
}
