@testable import QuicCore
import QuicCrypto
import QuicWire
import Testing

/// Stateless resets (RFC 9000 §10.3): sent by an endpoint that lost a connection, detected by
/// the peer through the token it was given.
@Suite("Stateless reset (RFC 9000 §10.3)")
struct StatelessResetTests {
    @Test("a restarted server resets the client's connection: smaller than the trigger, with the right token; the client closes at once")
    func resetAfterRestart() throws {
        let pair = Pair(seed: 700)
        try pair.connect()
        #expect(pair.run(for: .seconds(5)) { pair.isConnected && pair.clientConnection?.handshakeConfirmed == true })
        let client = try #require(pair.clientConnection)
        let destination = client.peerIDs.current
        pair.restartServer()
        pair.network.recordsDatagrams = true

        let stream = try #require(client.openStream(.bidirectional))
        _ = try client.write(stream, Array(repeating: 1, count: 3000))
        pair.run(for: .seconds(5)) { pair.clientClosed }

        #expect(pair.clientEvents.last == .closed(.statelessReset))
        #expect(client.closeReason == .statelessReset)
        #expect(pair.server.statistics.statelessResetsSent >= 1)
        #expect(pair.client.statistics.statelessResetsReceived >= 1)
        let replies = pair.network.datagrams.filter { $0.side == .server }.map(\.bytes)
        let triggers = pair.network.datagrams.filter { $0.side == .client }.map(\.bytes)
        let reset = try #require(replies.first)
        let expected = StatelessResetTokens.token(for: destination, key: pair.serverConfiguration.statelessResetKey)
        #expect(Array(reset.suffix(16)) == expected.bytes)
        #expect(reset[0] & 0xc0 == 0x40, "short-header form with the fixed bit")
        #expect(reset.count < triggers[0].count && reset.count >= 21)
        // Draining: the client sends nothing more once it saw the reset.
        let sentBefore = pair.network.sent[0]
        pair.run(for: .seconds(2)) { false }
        #expect(pair.network.sent[0] == sentBefore)
        #expect(pair.client.connectionCount == 0)
    }

    /// A short-header datagram of `size` bytes to an unknown 8-byte connection ID.
    func unknownPacket(size: Int, id: UInt8) -> [UInt8] {
        var bytes = [UInt8](repeating: id, count: size)
        bytes[0] = 0x41
        return bytes
    }

    func serverEndpoint(perSecond: Int = 100, burst: Int = 10) -> (Endpoint, ConnectionConfiguration) {
        let pair = Pair(seed: 701, endpoints: { _, server in
            server.statelessResetsPerSecond = perSecond
            server.statelessResetBurst = burst
        })
        return (pair.server, pair.serverConfiguration)
    }

    func reply(_ endpoint: Endpoint, _ datagram: [UInt8], at now: Instant) -> [UInt8]? {
        var bytes = datagram
        var buffer = [UInt8](repeating: 0, count: 1500)
        let event = bytes.withUnsafeMutableBytes { raw in
            buffer.withUnsafeMutableBytes { reply in
                endpoint.handle(datagram: raw, from: SocketAddress(ipv4: (10, 0, 0, 1), port: 1), ecn: .notECT, now: now, replyBuffer: reply)
            }
        }
        if case .reply(let transmit) = event { return Array(buffer[..<transmit.size]) }
        return nil
    }

    @Test("reset sizes: none below the smallest valid packet, one byte shorter up to 43 bytes, then 43...64 and always shorter")
    func sizes() throws {
        let (endpoint, configuration) = serverEndpoint(perSecond: 1_000_000, burst: 1000)
        let now = Instant(nanoseconds: 1)
        // 1 + 8-byte ID + 4 + 16 = 29 is the smallest packet that can be valid.
        #expect(reply(endpoint, unknownPacket(size: 21, id: 1), at: now) == nil)
        #expect(reply(endpoint, unknownPacket(size: 28, id: 1), at: now) == nil)
        #expect(reply(endpoint, unknownPacket(size: 29, id: 1), at: now)?.count == 28)
        #expect(reply(endpoint, unknownPacket(size: 43, id: 1), at: now)?.count == 42)
        #expect(reply(endpoint, unknownPacket(size: 44, id: 1), at: now)?.count == 43)
        for size in [45, 64, 65, 100, 1200, 1500] {
            let reset = try #require(reply(endpoint, unknownPacket(size: size, id: UInt8(size % 200)), at: now))
            #expect(reset.count < size && (43...64).contains(reset.count), "\(size) → \(reset.count)")
            let id = ConnectionID(bytes: [UInt8](repeating: UInt8(size % 200), count: 8))!
            #expect(Array(reset.suffix(16)) == StatelessResetTokens.token(for: id, key: configuration.statelessResetKey).bytes)
        }
        // Long headers and client-only endpoints get no reset.
        var long = unknownPacket(size: 100, id: 1)
        long[0] = 0xc0
        #expect(reply(endpoint, long, at: now) == nil)
        let clientOnly = Endpoint(configuration: EndpointConfiguration(idGenerator: QuicLBConnectionIDGenerator(serverID: 1)))
        #expect(reply(clientOnly, unknownPacket(size: 100, id: 1), at: now) == nil)
    }

    @Test("resets are rate limited by a token bucket: a burst, then the refill rate")
    func rateLimit() {
        let (endpoint, _) = serverEndpoint(perSecond: 10, burst: 3)
        var now = Instant(nanoseconds: 1_000_000_000)
        var sent = 0
        for index in 0..<10 where reply(endpoint, unknownPacket(size: 100, id: UInt8(index)), at: now) != nil { sent += 1 }
        #expect(sent == 3)
        #expect(endpoint.statistics.statelessResetsRateLimited == 7)
        // 10 per second: one more every 100 ms.
        now = now + .milliseconds(99)
        #expect(reply(endpoint, unknownPacket(size: 100, id: 50), at: now) == nil)
        now = now + .milliseconds(1)
        #expect(reply(endpoint, unknownPacket(size: 100, id: 51), at: now) != nil)
        #expect(reply(endpoint, unknownPacket(size: 100, id: 52), at: now) == nil)
        now = now + .seconds(10)
        sent = 0
        for index in 0..<10 where reply(endpoint, unknownPacket(size: 100, id: UInt8(60 + index)), at: now) != nil { sent += 1 }
        #expect(sent == 3, "the bucket holds at most the burst")
        let silent = serverEndpoint(perSecond: 0, burst: 3).0
        #expect(reply(silent, unknownPacket(size: 100, id: 1), at: now) == nil)
    }

    @Test("datagrams that merely look like resets do not end the connection")
    func notAReset() throws {
        let pair = Pair(seed: 702)
        try pair.connect()
        #expect(pair.run(for: .seconds(5)) { pair.isConnected && pair.clientConnection?.handshakeConfirmed == true })
        // Random bytes in short-header form, for a connection ID nobody uses.
        pair.network.send(unknownPacket(size: 60, id: 0x33), from: .server, address: pair.serverAddress, now: pair.now)
        pair.run(for: .milliseconds(100)) { false }
        #expect(!pair.clientClosed)
        #expect(pair.client.statistics.statelessResetsReceived == 0)
        let transfer = StreamTransfer(pair: pair, sizes: [10_000])
        #expect(transfer.run() != nil)
    }

    @Test("the server detects a client's reset once it uses a client connection ID that came with a token")
    func serverDetectsReset() throws {
        let pair = Pair(seed: 703)
        try pair.connect()
        #expect(pair.run(for: .seconds(5)) { pair.isConnected && pair.clientConnection?.handshakeConfirmed == true })
        pair.run(for: .milliseconds(100)) { false }
        let client = try #require(pair.clientConnection)
        let server = try #require(pair.serverConnection)
        // The server moves to a new client ID, as a NEW_CONNECTION_ID with retire_prior_to makes
        // it (our client never asks for that). Only the token matters for this test.
        let next = ConnectionID(bytes: [7, 1, 0x5a, 0x5a, 1, 2, 3, 4])!
        let token = StatelessResetToken(high: 0x1122_3344_5566_7788, low: 0x99aa_bbcc_ddee_ff00)
        try server.peerIDs.add(
            NewConnectionIDFrame(sequenceNumber: 10, retirePriorTo: 10, connectionID: next, statelessResetToken: token), limit: 8)
        #expect(server.peerIDs.current == next)
        // Any packet lets the server report the token to its endpoint.
        client.ping()
        pair.run(for: .milliseconds(100)) { false }
        // The client "loses state" and answers with a reset carrying that token.
        var reset = unknownPacket(size: 40, id: 0x5a)
        reset.replaceSubrange(24..<40, with: token.bytes)
        pair.network.send(reset, from: .client, address: pair.clientAddress, now: pair.now)
        pair.run(for: .milliseconds(100)) { false }
        #expect(server.closeReason == .statelessReset)
        #expect(pair.server.statistics.statelessResetsReceived == 1)
    }
}
