import Foundation
import QuicCrypto
import QuicWire
import Testing

@testable import QuicTLS

/// A client and a server that keep tickets across connections, on one test clock.
struct ResumptionSetup {
    let clock = TestClock()
    var ring = TicketKeyRing()
    var store = SessionTicketStore()
    var client: TLSConfiguration
    var server: TLSConfiguration
    var earlyDataContext: [UInt8] = [0x51, 0x55, 0x49, 0x43]
    /// What tickets are bound to on each side (QUIC puts its version here, RFC 9369 §5).
    var ticketContext: (client: [UInt8], server: [UInt8]) = ([], [])

    init(earlyData: Bool = true) throws {
        client = TestConfiguration.client(clock: clock)
        server = try TestConfiguration.server(clock: clock)
        client.enableEarlyData = earlyData
        server.enableEarlyData = earlyData
    }

    func connect() -> HandshakePair {
        var client = self.client
        client.sessionTicketStore = store
        var server = self.server
        server.ticketKeys = ring
        return HandshakePair(
            client: client, server: server, earlyDataContext: earlyDataContext, ticketContext: ticketContext
        ).run()
    }
}

@Suite("Resumption and 0-RTT")
struct ResumptionTests {
    @Test("the first connection stores a ticket; the second resumes without Certificate")
    func resumption() throws {
        let setup = try ResumptionSetup(earlyData: false)
        let first = setup.connect()
        #expect(first.client.isHandshakeComplete && !first.client.isResumed)
        #expect(first.clientEvents.last == .sessionTicketReceived)
        #expect(first.flights.last?.level == .oneRTT && first.flights.last?.messages.map(\.type) == [4])
        #expect(setup.store.count == 1)

        let second = setup.connect()
        #expect(second.client.isHandshakeComplete && second.server.isHandshakeComplete)
        #expect(second.client.isResumed && second.server.isResumed)
        #expect(second.sentMessageTypes(by: .server) == [2, 8, 20, 4])
        #expect(second.client.peerCertificateChain.isEmpty)
        #expect(second.client.earlyDataState == .notAttempted)
        #expect(second.secretsAgree(at: .handshake) && second.secretsAgree(at: .oneRTT))
        #expect(second.client.resumptionTransportParameters == HandshakePair.serverParameters)
        // The ticket was used up and replaced by the new connection's.
        #expect(setup.store.count == 1)
    }

    @Test("0-RTT accepted: the client's early write secret is the server's early read secret")
    func earlyDataAccepted() throws {
        let setup = try ResumptionSetup()
        _ = setup.connect()
        let second = setup.connect()
        #expect(second.client.earlyDataState == .accepted && second.server.earlyDataState == .accepted)
        #expect(second.secretsAgree(at: .zeroRTT))
        // The 0-RTT write key is there right after the ClientHello, before anything else.
        #expect(HandshakeTests.kind(second.clientEvents[0]) == "write 0-RTT")
        #expect(HandshakeTests.kind(second.serverEvents[0]) == "read 0-RTT")
        #expect(!second.clientEvents.contains(.earlyDataRejected))
        #expect(second.client.isResumed && second.client.isHandshakeComplete)
        #expect(second.client.resumptionTransportParameters == HandshakePair.serverParameters)
        #expect(second.client.resumptionALPN == "h3")
    }

    enum Rejection: String, CaseIterable, Sendable {
        case serverDisabledEarlyData, contextChanged, applicationProtocolChanged, helloRetryRequest, ticketAgeSkew
        case unknownTicketKey
    }

    @Test("0-RTT rejected: the client is told and the handshake completes at 1-RTT", arguments: Rejection.allCases)
    func earlyDataRejected(_ rejection: Rejection) throws {
        var setup = try ResumptionSetup()
        setup.client.alpn = ["h3", "hq-interop"]
        setup.server.alpn = ["h3", "hq-interop"]
        _ = setup.connect()
        var stillResumes = true
        switch rejection {
        case .serverDisabledEarlyData: setup.server.enableEarlyData = false
        case .contextChanged: setup.earlyDataContext = [0x51, 0x55, 0x49, 0x44]
        case .applicationProtocolChanged: setup.server.alpn = ["hq-interop", "h3"]
        case .helloRetryRequest: setup.server.groups = [.secp256r1]
        case .ticketAgeSkew:
            // The client reports an age 60 s off the server's view (RFC 8446 §8.3).
            let clientClock = TestClock(setup.clock.now + 60_000)
            setup.client.wallClock = clientClock.function
        case .unknownTicketKey:
            setup.ring = TicketKeyRing()
            stillResumes = false
        }
        let second = setup.connect()
        #expect(second.clientAlert == nil && second.serverAlert == nil)
        #expect(second.client.earlyDataState == .rejected)
        #expect(second.server.earlyDataState == .rejected)
        #expect(second.clientEvents.filter { $0 == .earlyDataRejected }.count == 1)
        #expect(second.secret(.server, write: false, .zeroRTT) == nil)
        #expect(second.client.isHandshakeComplete && second.server.isHandshakeComplete)
        #expect(second.client.isResumed == stillResumes)
        #expect(second.secretsAgree(at: .oneRTT))
    }

    @Test("a replayed ticket gets 0-RTT once; the replay still resumes at 1-RTT")
    func replayProtection() throws {
        let setup = try ResumptionSetup()
        _ = setup.connect()
        // Copy the one stored ticket into a second store, as an attacker replaying it would.
        let ticket = try #require(setup.store.take(serverName: "server.test", context: [], now: setup.clock.now))
        setup.store.insert(ticket, now: setup.clock.now)
        var replayer = setup
        replayer.store = SessionTicketStore()
        replayer.store.insert(ticket, now: setup.clock.now)

        let original = setup.connect()
        #expect(original.server.earlyDataState == .accepted)
        let replay = replayer.connect()
        #expect(replay.server.earlyDataState == .rejected)
        #expect(replay.clientEvents.contains(.earlyDataRejected))
        #expect(replay.server.isResumed && replay.server.isHandshakeComplete)
    }

    @Test("an expired ticket is not offered")
    func expiredTicket() throws {
        var setup = try ResumptionSetup()
        setup.ring = TicketKeyRing(ticketLifetime: 60)
        _ = setup.connect()
        setup.clock.advance(by: 61_000)
        let second = setup.connect()
        #expect(!second.client.isResumed)
        #expect(second.client.earlyDataState == .notAttempted)
        #expect(second.sentMessageTypes(by: .server).contains(11))
    }

    @Test("a ticket sealed under a rotated-out key leads to a full handshake")
    func keyRotation() throws {
        var setup = try ResumptionSetup(earlyData: false)
        setup.ring = TicketKeyRing(rotationInterval: 1000, retainedKeys: 1)
        _ = setup.connect()
        setup.clock.advance(by: 2000)
        setup.ring.rotate(now: setup.clock.now)
        let second = setup.connect()
        #expect(!second.client.isResumed && second.client.isHandshakeComplete)
    }

    @Test("a ticket sealed under a previous but retained key still resumes")
    func retainedKey() throws {
        var setup = try ResumptionSetup(earlyData: false)
        setup.ring = TicketKeyRing(rotationInterval: 1000, retainedKeys: 2)
        _ = setup.connect()
        setup.clock.advance(by: 2000)
        setup.ring.rotate(now: setup.clock.now)
        #expect(setup.connect().client.isResumed)
    }

    /// Whether the client's first ClientHello carried a pre_shared_key.
    static func offeredTicket(_ pair: HandshakePair) throws -> Bool {
        let hello = try #require(pair.flights.first { $0.from == .client }?.messages.first)
        return try ClientHello.decode(Array(hello.bytes.dropFirst(4))).extensions.contains(.preSharedKey)
    }

    static let v1Context: [UInt8] = [0, 0, 0, 1]
    static let v2Context: [UInt8] = [0x6b, 0x33, 0x43, 0xcf]

    @Test("a client offers only a ticket stored under its ticket context; others wait for a connection in theirs (RFC 9369 §5)")
    func clientTicketContext() throws {
        var setup = try ResumptionSetup()
        setup.ticketContext = (Self.v1Context, Self.v1Context)
        _ = setup.connect()
        #expect(setup.store.count == 1)

        setup.ticketContext = (Self.v2Context, Self.v2Context)
        let other = setup.connect()
        #expect(try !Self.offeredTicket(other))
        #expect(!other.client.isResumed && other.client.earlyDataState == .notAttempted)
        #expect(other.sentMessageTypes(by: .server).contains(11), "a full handshake: the server sends its Certificate")
        #expect(setup.store.count == 2, "the v1 ticket stays, the new connection's is added")

        setup.ticketContext = (Self.v1Context, Self.v1Context)
        let same = setup.connect()
        #expect(try Self.offeredTicket(same))
        #expect(same.client.isResumed && same.server.isResumed)
        #expect(same.client.earlyDataState == .accepted)
    }

    @Test("a server declines a ticket issued under another ticket context: full handshake, 0-RTT rejected, no alert (RFC 9369 §5)")
    func serverTicketContext() throws {
        var setup = try ResumptionSetup()
        setup.ticketContext = (Self.v1Context, Self.v1Context)
        _ = setup.connect()
        // A client that files tickets wrongly: it offers the v1 ticket to a server now in v2.
        setup.ticketContext = (Self.v1Context, Self.v2Context)
        let second = setup.connect()
        #expect(try Self.offeredTicket(second))
        #expect(second.clientAlert == nil && second.serverAlert == nil)
        #expect(second.client.isHandshakeComplete && second.server.isHandshakeComplete)
        #expect(!second.client.isResumed && !second.server.isResumed)
        #expect(second.sentMessageTypes(by: .server).contains(11))
        #expect(second.client.earlyDataState == .rejected && second.server.earlyDataState == .rejected)
        #expect(second.secret(.server, write: false, .zeroRTT) == nil)
        #expect(second.secretsAgree(at: .oneRTT))

        // The ticket issued then carries the server's context: the v2 server now resumes it.
        #expect(setup.store.count == 1)
        #expect(setup.connect().server.isResumed)
    }

    @Test("a server without ticket keys issues no ticket")
    func noTicketKeys() throws {
        let setup = try ResumptionSetup()
        var client = setup.client
        client.sessionTicketStore = setup.store
        let pair = HandshakePair(client: client, server: setup.server).run()
        #expect(pair.client.isHandshakeComplete)
        #expect(setup.store.count == 0)
        #expect(!pair.sentMessageTypes(by: .server).contains(4))
    }

    /// Runs `body` with the path of a file in a fresh temporary directory, removed afterwards.
    static func withTicketFile(_ body: (String) throws -> Void) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("quicxdp-tickets-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try body(directory.appendingPathComponent("tickets").path)
    }

    @Test("the file-backed store keeps tickets across store instances, readable only by the owner")
    func fileStore() throws {
        try Self.withTicketFile { path in
            var setup = try ResumptionSetup()
            setup.store = SessionTicketStore(filePath: path)
            _ = setup.connect()
            #expect(setup.store.lastWriteError == nil)
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)

            setup.store = SessionTicketStore(filePath: path)
            #expect(setup.store.count == 1)
            let resumed = setup.connect()
            #expect(resumed.client.isResumed && resumed.client.earlyDataState == .accepted)

            try Data("garbage".utf8).write(to: URL(fileURLWithPath: path))
            #expect(SessionTicketStore(filePath: path).count == 0)
        }
    }

    @Test("the ticket file keeps each ticket's context; a QXDP-TICKETS-1 file loads its tokens and drops its tickets")
    func fileStoreContexts() throws {
        try Self.withTicketFile { path in
            let now: UInt64 = 1_000_000
            let ticket = ClientTicket(
                serverName: "server.test", ticket: [1, 2, 3], psk: [4, 5], suite: .aes128GCMSHA256, receivedAt: now,
                lifetime: 3600, ageAdd: 9, maxEarlyDataSize: nil, alpn: "h3", transportParameters: [6], context: Self.v2Context)

            SessionTicketStore(filePath: path).insert(ticket, now: now)
            let reloaded = SessionTicketStore(filePath: path)
            #expect(reloaded.take(serverName: "server.test", context: Self.v1Context, now: now) == nil)
            #expect(reloaded.take(serverName: "server.test", context: Self.v2Context, now: now) == ticket)

            // The layout before contexts: the same records without the trailing context.
            var writer = TLSWriter()
            writer.writeBytes(Array("QXDP-TICKETS-1".utf8))
            writer.writeUInt32(1)
            var record = TLSWriter()
            ticket.encode(into: &record)
            writer.writeBytes(Array(record.bytes.dropLast(1 + Self.v2Context.count)))
            writer.writeUInt32(1)
            ClientAddressToken(serverName: "server.test", version: .v1, token: [7, 8], receivedAt: now).encode(into: &writer)
            try Data(writer.bytes).write(to: URL(fileURLWithPath: path))
            let old = SessionTicketStore(filePath: path)
            #expect(old.count == 0, "nothing says which QUIC version issued those tickets")
            #expect(old.addressTokenCount == 1)
            #expect(old.takeAddressToken(serverName: "server.test", version: .v1, now: now) == [7, 8])
        }
    }

    @Test("the strike register refuses a second use and fails closed when full of live entries")
    func strikeRegister() {
        var register = StrikeRegister(capacity: 2)
        let a = TicketID(keyID: 1, counter: 1)
        let b = TicketID(keyID: 1, counter: 2)
        let c = TicketID(keyID: 1, counter: 3)
        let first = register.admit(a, expiresAt: 10_000, now: 0)
        let replay = register.admit(a, expiresAt: 10_000, now: 1)
        let second = register.admit(b, expiresAt: 20_000, now: 2)
        let whileFull = register.admit(c, expiresAt: 20_000, now: 3)  // full, nothing expired
        let afterExpiry = register.admit(c, expiresAt: 20_000, now: 10_001)  // a expired and was purged
        #expect(first && !replay && second && !whileFull && afterExpiry)
        #expect(register.count == 2)
    }
}
