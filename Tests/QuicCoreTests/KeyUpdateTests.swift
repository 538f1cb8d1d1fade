@testable import QuicCore
import QuicCrypto
import QuicWire
import Testing

/// Key updates (RFC 9001 §6): started on request, after a packet count, and before the AEAD's
/// confidentiality limit; followed by the peer; premature updates refused; the integrity limit
/// (§6.6) enforced.
@Suite("Key update and AEAD limits (simulated network)")
struct KeyUpdateTests {
    func established(
        seed: UInt64, _ link: LinkConditions = LinkConditions(),
        configure: ((inout ConnectionConfiguration, inout ConnectionConfiguration) -> Void)? = nil
    ) throws -> Pair {
        let pair = Pair(seed: seed, clientToServer: link, serverToClient: link, configure: configure)
        try pair.connect()
        #expect(pair.run(for: .seconds(10)) { pair.isConnected && pair.clientConnection?.handshakeConfirmed == true })
        return pair
    }

    @Test("updates every 200 packets (client) and 150 (server), 3 MB: every update followed, all data intact", arguments: [0.0, 0.05])
    func periodic(loss: Double) throws {
        var link = LinkConditions()
        link.bandwidth = 12_500_000
        link.loss = loss
        link.reorder = loss
        let pair = try established(seed: 21, link) { client, server in
            client.keyUpdateInterval = 200
            server.keyUpdateInterval = 150
        }
        let client = try #require(pair.clientConnection)
        let server = try #require(pair.serverConnection)
        let transfer = StreamTransfer(pair: pair, sizes: [3 << 20])
        #expect(transfer.run() != nil)
        #expect(transfer.isComplete && transfer.corruptions == 0)
        print("key updates at \(Int(loss * 100)) % loss: client started \(client.keyUpdatesInitiated), followed \(client.keyUpdatesFollowed); server started \(server.keyUpdatesInitiated), followed \(server.keyUpdatesFollowed); client sent \(client.statistics.packetsSent) packets, server \(server.statistics.packetsSent)")
        // ~2700 client packets at one update per ≥ 200 packets and ≥ 1 RTT (the previous update
        // must be acknowledged first).
        #expect(client.keyUpdatesInitiated >= 5)
        // Updates cross when both sides start one at once; otherwise the server follows.
        #expect(server.keyUpdatesFollowed + server.keyUpdatesInitiated >= client.keyUpdatesInitiated - 1)
        #expect(client.closeReason == nil && server.closeReason == nil)
        // A last packet shows the server the client's latest phase: then they agree.
        client.ping()
        #expect(pair.run(for: .seconds(2)) { client.sendKeyPhase == server.receiveKeyPhase && server.sendKeyPhase == client.receiveKeyPhase })
    }

    @Test("without an interval, the confidentiality limit itself triggers updates in time (limit lowered to 1000 packets)")
    func confidentialityLimit() throws {
        let pair = try established(seed: 22) { client, server in
            client.aeadLimitsOverride = AEADLimits(confidentiality: 1000, integrity: 1 << 36)
            server.aeadLimitsOverride = AEADLimits(confidentiality: 1000, integrity: 1 << 36)
            // The packet count below assumes 1200-byte datagrams; PMTUD would carry the same
            // bytes in fewer, larger packets.
            client.pathMTUDiscovery = false
            server.pathMTUDiscovery = false
        }
        let client = try #require(pair.clientConnection)
        let transfer = StreamTransfer(pair: pair, sizes: [2 << 20])
        #expect(transfer.run() != nil && transfer.isComplete)
        #expect(client.keyUpdatesInitiated >= 3)
        #expect(client.closeReason == nil, "\(String(describing: client.closeReason))")
        #expect(client.packetsProtectedInSendPhase < 1000)
    }

    @Test("an update waits until a packet sent with the current keys is acknowledged (RFC 9001 §6.1)")
    func updateNeedsAcknowledgment() throws {
        let pair = try established(seed: 23)
        let client = try #require(pair.clientConnection)
        let server = try #require(pair.serverConnection)
        #expect(client.initiateKeyUpdate())
        // The server follows as soon as a packet in the new phase arrives...
        let stream = try #require(client.openStream(.bidirectional))
        _ = try client.write(stream, [UInt8](repeating: 7, count: 100))
        #expect(pair.run(for: .seconds(1)) { server.receiveKeyPhase == true && server.sendKeyPhase == true })
        // ...and the client may update again only once the server has acknowledged one of its
        // new-phase packets, which the loop below waits for.
        #expect(pair.run(for: .seconds(1)) { client.receiveKeyPhase == true })
        _ = pair.run(for: .seconds(1)) { (client.recovery.largestAcked(.applicationData) ?? 0) >= client.firstPacketNumberInSendPhase }
        #expect(client.initiateKeyUpdate())
        #expect(!client.initiateKeyUpdate())
    }

    @Test("a peer that updates twice in a row, before our acknowledgment with the new keys, gets KEY_UPDATE_ERROR (RFC 9001 §6.2)")
    func prematureUpdate() throws {
        let pair = try established(seed: 24)
        let client = try #require(pair.clientConnection)
        let server = try #require(pair.serverConnection)
        let stream = try #require(client.openStream(.bidirectional))
        // A misbehaving client: two updates back to back, one packet each, bypassing the rule
        // that the public initiateKeyUpdate() enforces.
        #expect(client.rotateSendKeys(initiated: true))
        _ = try client.write(stream, [UInt8](repeating: 1, count: 100))
        pair.flush()
        #expect(client.rotateSendKeys(initiated: true))
        _ = try client.write(stream, [UInt8](repeating: 2, count: 100))
        pair.flush()
        #expect(pair.run(for: .seconds(2)) { client.closeReason != nil })
        guard case .transportError(let code, _, _) = server.closeReason else {
            Issue.record("server: \(String(describing: server.closeReason))")
            return
        }
        #expect(code == .keyUpdateError)
        guard case .peer(let peerCode, let isApplication, _, _) = client.closeReason else {
            Issue.record("client: \(String(describing: client.closeReason))")
            return
        }
        #expect(peerCode == TransportErrorCode.keyUpdateError.rawValue && !isApplication)
    }

    @Test("packets failing authentication beyond the integrity limit (lowered to 20) close the connection with AEAD_LIMIT_REACHED")
    func integrityLimit() throws {
        var link = LinkConditions()
        link.corrupt = 0.2
        let pair = try established(seed: 25) { _, server in
            server.aeadLimitsOverride = AEADLimits(confidentiality: 1 << 23, integrity: 20)
        }
        pair.network.conditions[0] = link
        let server = try #require(pair.serverConnection)
        let client = try #require(pair.clientConnection)
        let transfer = StreamTransfer(pair: pair, sizes: [2 << 20])
        _ = transfer.run(limit: .seconds(30))
        guard case .transportError(let code, _, _) = server.closeReason else {
            Issue.record("server: \(String(describing: server.closeReason))")
            return
        }
        #expect(code == .aeadLimitReached)
        #expect(server.authenticationFailures == 21)
        guard case .peer(let peerCode, _, _, _) = client.closeReason else {
            Issue.record("client: \(String(describing: client.closeReason))")
            return
        }
        #expect(peerCode == TransportErrorCode.aeadLimitReached.rawValue)
    }
}
