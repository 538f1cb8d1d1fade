@testable import QuicCore
@testable import QuicTLS
import QuicWire
import Testing

/// Compatible version negotiation (RFC 9368) between QUIC v1 and v2 (RFC 9369), v2-only
/// deployments, and the version_information checks that prevent downgrades.
@Suite("Version negotiation: compatible v1 → v2, v2 only (simulated network)")
struct VersionNegotiationTests {
    static func preferV2(_ client: inout ConnectionConfiguration, _ server: inout ConnectionConfiguration) {
        server.preferredVersions = [.v2]
    }

    @Test("a v1 client offering v2 is switched to v2 by a server that prefers it; both end on v2",
          arguments: [RetryPolicy.never, .always])
    func v1ToV2(retry: RetryPolicy) throws {
        let pair = Pair(seed: 800) { client, server in
            server.preferredVersions = [.v2]
            server.addressValidation.retry = retry
        }
        pair.network.recordsDatagrams = true
        try pair.connect()
        #expect(pair.run(for: .seconds(5)) { pair.isConnected && pair.clientConnection?.handshakeConfirmed == true })
        let client = try #require(pair.clientConnection)
        let server = try #require(pair.serverConnection)
        #expect(client.version == .v2 && server.version == .v2)
        #expect(client.originalVersion == .v1 && server.originalVersion == .v1)

        // On the wire: the client starts in v1; a Retry, if any, is in v1 (RFC 9369 §4.1); every
        // other long-header packet of the server is v2, and the client follows.
        let fromClient = pair.network.packets(from: .client).flatMap { $0 }.filter { $0.version != nil }
        let fromServer = pair.network.packets(from: .server).flatMap { $0 }.filter { $0.version != nil }
        #expect(fromClient.first?.version == .v1 && fromClient.first?.type == .initial)
        #expect(fromClient.last?.version == .v2)
        #expect(fromServer.filter { $0.type == .retry }.allSatisfy { $0.version == .v1 })
        #expect(fromServer.filter { $0.type == .retry }.count == (retry == .always ? 1 : 0))
        #expect(fromServer.filter { $0.type != .retry }.allSatisfy { $0.version == .v2 })
        #expect(fromServer.contains { $0.type == .handshake })

        // version_information both ways (RFC 9368 §3).
        #expect(client.peerParameters?.versionInformation?.chosenVersion == .v2)
        #expect(server.peerParameters?.versionInformation == .init(chosenVersion: .v1, availableVersions: [.v1, .v2]))

        let transfer = StreamTransfer(pair: pair, sizes: [100_000])
        #expect(transfer.run() != nil)
        #expect(transfer.corruptions == 0)
    }

    @Test("the switch survives loss of the server's first flight (the client keeps sending v1 Initials until it sees v2)")
    func v1ToV2WithLoss() throws {
        var lossy = LinkConditions()
        let pair = Pair(seed: 801, clientToServer: LinkConditions(), serverToClient: lossy, configure: Self.preferV2)
        lossy.blackholes = [pair.now..<pair.now + .milliseconds(300)]
        pair.network.conditions[1] = lossy
        try pair.connect()
        #expect(pair.run(for: .seconds(10)) { pair.isConnected && pair.clientConnection?.handshakeConfirmed == true })
        #expect(pair.clientConnection?.version == .v2 && pair.serverConnection?.version == .v2)
    }

    @Test("0-RTT with a switch: the client's 0-RTT stays in v1 (RFC 9369 §4.1) and is accepted; the rest is v2; after a Retry the 0-RTT is sent again to the new ID",
          arguments: [RetryPolicy.never, .always])
    func zeroRTTWithSwitch(retry: RetryPolicy) throws {
        let tickets = SessionTicketStore()
        let ticketRandom = SeededBytes(seed: 806)
        let pair = Pair(seed: 806) { client, server in
            client.tls.sessionTicketStore = tickets
            client.tls.enableEarlyData = true
            server.tls.enableEarlyData = true
            server.tls.ticketKeys = TicketKeyRing(random: { ticketRandom.fill($0) })
            server.preferredVersions = [.v2]
            server.addressValidation.retry = retry
            // The first connection stays in v1, so its ticket is a v1 one (RFC 9369 §5).
            client.availableVersions = [.v1]
        }
        try pair.connect()
        #expect(pair.run(for: .seconds(5)) { pair.isConnected && tickets.count > 0 })
        #expect(pair.clientConnection?.version == .v1)
        pair.clientConnection!.close(errorCode: 0, now: pair.now)
        pair.run(for: .seconds(5)) { pair.client.connectionCount == 0 }

        pair.clientConfiguration.availableVersions = [.v1, .v2]
        pair.network.recordsDatagrams = true
        try pair.connect()
        let client = try #require(pair.clientConnection)
        let stream = try #require(client.openStream(.bidirectional), "0-RTT lets the client open a stream at once")
        _ = try client.write(stream, Array(repeating: 0x61, count: 500))
        try client.finish(stream)
        #expect(pair.run(for: .seconds(5)) { client.handshakeConfirmed })
        #expect(client.earlyDataState == .accepted)
        #expect(client.version == .v2)
        #expect(client.followedRetry == (retry == .always))
        let zeroRTT = pair.network.packets(from: .client).flatMap { $0 }.filter { $0.type == .zeroRTT }
        #expect(!zeroRTT.isEmpty && zeroRTT.allSatisfy { $0.version == .v1 })
        let server = try #require(pair.server.handles.last.flatMap { pair.server.connection($0) })
        #expect(server.version == .v2)
        #expect(server.earlyDataState == .accepted)
        #expect(server.statistics.undecryptablePackets == 0)
        var buffer = [UInt8](repeating: 0, count: 1000)
        let (count, fin) = try buffer.withUnsafeMutableBytes { try server.read(stream, into: $0) }
        #expect(count == 500 && fin)
    }

    /// A pair whose client keeps tickets in `tickets` and whose server issues them, 0-RTT on.
    static func resumingPair(
        seed: UInt64, tickets: SessionTicketStore,
        configure: ((inout ConnectionConfiguration, inout ConnectionConfiguration) -> Void)? = nil
    ) -> Pair {
        let ticketRandom = SeededBytes(seed: seed)
        return Pair(seed: seed) { client, server in
            client.tls.sessionTicketStore = tickets
            client.tls.enableEarlyData = true
            server.tls.enableEarlyData = true
            server.tls.ticketKeys = TicketKeyRing(random: { ticketRandom.fill($0) })
            configure?(&client, &server)
        }
    }

    struct Outcome: Equatable {
        var original: QuicVersion
        var version: QuicVersion
        var resumed: Bool
        var earlyData: EarlyDataState
    }

    /// One connection with `pair.clientConfiguration`: confirmed, its ticket received, closed.
    /// The client's versions, and whether both sides resumed and how 0-RTT went (they agree).
    static func connectOnce(_ pair: Pair) throws -> Outcome {
        func ticketsReceived() -> Int { pair.clientEvents.filter { $0 == .sessionTicketReceived }.count }
        let before = ticketsReceived()
        try pair.connect()
        let client = try #require(pair.clientConnection)
        #expect(pair.run(for: .seconds(5)) { client.handshakeConfirmed && ticketsReceived() > before })
        let server = try #require(pair.server.handles.last.flatMap { pair.server.connection($0) })
        #expect(server.isResumed == client.isResumed && server.earlyDataState == client.earlyDataState)
        #expect(server.version == client.version)
        let outcome = Outcome(
            original: client.originalVersion, version: client.version, resumed: client.isResumed,
            earlyData: client.earlyDataState)
        client.close(errorCode: 0, now: pair.now)
        pair.run(for: .seconds(5)) { pair.client.connectionCount == 0 }
        return outcome
    }

    @Test("a v1 ticket is not offered on a v2 connection, which is a full handshake; the next v1 connection resumes with it (RFC 9369 §5)")
    func ticketsStayInTheirVersion() throws {
        let tickets = SessionTicketStore()
        let pair = Self.resumingPair(seed: 808, tickets: tickets)
        #expect(try Self.connectOnce(pair) == Outcome(original: .v1, version: .v1, resumed: false, earlyData: .notAttempted))
        #expect(tickets.count == 1)

        pair.clientConfiguration.version = .v2
        #expect(try Self.connectOnce(pair) == Outcome(original: .v2, version: .v2, resumed: false, earlyData: .notAttempted))
        #expect(tickets.count == 2, "the v1 ticket is still there, beside the v2 connection's")

        pair.clientConfiguration.version = .v1
        #expect(try Self.connectOnce(pair) == Outcome(original: .v1, version: .v1, resumed: true, earlyData: .accepted))
    }

    @Test("a server declines a v1 ticket offered on a v2 connection: a full handshake, 0-RTT rejected, no error (RFC 9369 §5)")
    func serverDeclinesTicketOfOtherVersion() throws {
        let tickets = SessionTicketStore()
        let pair = Self.resumingPair(seed: 809, tickets: tickets)
        _ = try Self.connectOnce(pair)
        // A client that files the v1 ticket under v2, as one ignoring RFC 9369 §5 would.
        let now = pair.clientConfiguration.tls.wallClock()
        var ticket = try #require(tickets.take(serverName: "localhost", context: Connection.ticketContext(.v1), now: now))
        ticket.context = Connection.ticketContext(.v2)
        tickets.insert(ticket, now: now)

        pair.clientConfiguration.version = .v2
        let eventsBefore = pair.clientEvents.count
        #expect(try Self.connectOnce(pair) == Outcome(original: .v2, version: .v2, resumed: false, earlyData: .rejected))
        #expect(pair.clientEvents[eventsBefore...].contains(.zeroRTTRejected))
    }

    @Test("after compatible negotiation v1 → v2 the ticket is a v2 one: a v2 connection resumes with it, a v1-only one does not (RFC 9369 §5)")
    func ticketAfterSwitchIsV2() throws {
        let tickets = SessionTicketStore()
        let pair = Self.resumingPair(seed: 810, tickets: tickets) { _, server in server.preferredVersions = [.v2] }
        #expect(try Self.connectOnce(pair) == Outcome(original: .v1, version: .v2, resumed: false, earlyData: .notAttempted))

        pair.clientConfiguration.availableVersions = [.v1]
        #expect(try Self.connectOnce(pair) == Outcome(original: .v1, version: .v1, resumed: false, earlyData: .notAttempted))
        #expect(tickets.count == 2)

        pair.clientConfiguration.version = .v2
        pair.clientConfiguration.availableVersions = []
        #expect(try Self.connectOnce(pair) == Outcome(original: .v2, version: .v2, resumed: true, earlyData: .accepted))
    }

    @Test("the client's Available Versions put its preference first (RFC 9368 §3)")
    func clientAvailableVersions() {
        func offer(_ chosen: QuicVersion, _ configured: [QuicVersion]) -> [QuicVersion] {
            CompatibleVersionNegotiation.clientAvailableVersions(chosen: chosen, configured: configured)
        }
        #expect(offer(.v1, []) == [.v1, .v2])
        #expect(offer(.v2, []) == [.v2, .v1], "starting in v2 by default prefers v2")
        #expect(offer(.v1, [.v2, .v1]) == [.v2, .v1], "start in v1, ask for v2")
        #expect(offer(.v1, [.v1]) == [.v1])
        #expect(offer(.v2, [.v1]) == [.v2, .v1])
        #expect(offer(.v1, [QuicVersion(rawValue: 0x1a2a_3a4a), .v2]) == [.v1, .v2], "greasing and unknown versions are not offered")
    }

    @Test("a client that starts in v1 but asks for v2 is switched by a server that prefers v2, not by one without preference",
          arguments: [true, false])
    func clientAsksForV2(serverPrefersV2: Bool) throws {
        let pair = Pair(seed: 807) { client, server in
            client.availableVersions = [.v2, .v1]
            if serverPrefersV2 { server.preferredVersions = [.v2] }
        }
        try pair.connect()
        #expect(pair.run(for: .seconds(5)) { pair.isConnected })
        let expected: QuicVersion = serverPrefersV2 ? .v2 : .v1
        #expect(pair.clientConnection?.version == expected && pair.serverConnection?.version == expected)
    }

    enum Offer: String, CaseIterable {
        /// The server has no preference: it keeps the client's version.
        case noPreference
        /// The client offers only v1.
        case clientOffersOnlyV1
        /// The client starts in v2: the server prefers v2 anyway.
        case clientStartsInV2
    }

    @Test("no switch without both an offer and a preference", arguments: Offer.allCases)
    func noSwitch(offer: Offer) throws {
        let pair = Pair(seed: 802) { client, server in
            switch offer {
            case .noPreference: break
            case .clientOffersOnlyV1:
                client.availableVersions = [.v1]
                server.preferredVersions = [.v2]
            case .clientStartsInV2:
                client.version = .v2
                server.preferredVersions = [.v2, .v1]
            }
        }
        try pair.connect()
        #expect(pair.run(for: .seconds(5)) { pair.isConnected })
        let expected: QuicVersion = offer == .clientStartsInV2 ? .v2 : .v1
        #expect(pair.clientConnection?.version == expected && pair.serverConnection?.version == expected)
        #expect(pair.clientConnection?.peerParameters?.versionInformation?.chosenVersion == expected)
    }

    enum Tampering: String, CaseIterable {
        /// The server's packets use v2 but its version_information says v1.
        case serverClaimsOriginalVersion
        /// The server switched to v2 and sent no version_information.
        case serverOmitsVersionInformation
        /// The server names a version the client never offered.
        case serverChoosesUnofferedVersion
        /// The client's packets are v1 but its version_information says v2 (RFC 9368 §4).
        case clientClaimsOtherVersion
    }

    @Test("version_information that does not match the versions on the wire closes with VERSION_NEGOTIATION_ERROR (RFC 9368 §4)",
          arguments: Tampering.allCases)
    func downgradeChecks(tampering: Tampering) throws {
        let pair = Pair(seed: 803) { client, server in
            switch tampering {
            case .serverClaimsOriginalVersion:
                server.preferredVersions = [.v2]
                server.transportParametersOverride = { $0.versionInformation?.chosenVersion = .v1 }
            case .serverOmitsVersionInformation:
                server.preferredVersions = [.v2]
                server.transportParametersOverride = { $0.versionInformation = nil }
            case .serverChoosesUnofferedVersion:
                // Without a switch the version stays v1, so a chosen v2 is also not what the packets use.
                client.availableVersions = [.v1]
                server.transportParametersOverride = { $0.versionInformation?.chosenVersion = .v2 }
            case .clientClaimsOtherVersion:
                client.transportParametersOverride = {
                    $0.versionInformation = .init(chosenVersion: .v2, availableVersions: [.v2, .v1])
                }
            }
        }
        try pair.connect()
        let code = TransportErrorCode.versionNegotiationError
        func serverSawClose() -> Bool {
            pair.serverEvents.contains { event in
                if case .closed(.peer(code.rawValue, false, _, _)) = event { return true } else { return false }
            }
        }
        pair.run(for: .seconds(5)) { pair.clientClosed && (tampering == .clientClaimsOtherVersion || serverSawClose()) }
        let detector = tampering == .clientClaimsOtherVersion ? pair.serverConnection : pair.clientConnection
        guard case .transportError(let detected, _, let reason)? = detector?.closeReason else {
            Issue.record("\(tampering): no transport error: \(String(describing: detector?.closeReason))")
            return
        }
        #expect(detected == code, "\(tampering): \(reason)")
        if tampering == .clientClaimsOtherVersion {
            #expect(pair.transportCloseCodesFromServer == [code.rawValue])
        } else {
            #expect(serverSawClose())
        }
    }

    @Test("a v2-only server: v2 clients connect; a v1 client gets Version Negotiation listing v2 and gives up")
    func v2Only() throws {
        func v2OnlyPair(seed: UInt64, clientVersion: QuicVersion) -> Pair {
            Pair(seed: seed, configure: { client, server in
                client.version = clientVersion
                client.availableVersions = [clientVersion]
                server.availableVersions = [.v2]
            }, endpoints: { _, server in server.supportedVersions = [.v2] })
        }
        let v2 = v2OnlyPair(seed: 804, clientVersion: .v2)
        try v2.connect()
        #expect(v2.run(for: .seconds(5)) { v2.isConnected })
        #expect(v2.clientConnection?.version == .v2 && v2.serverConnection?.version == .v2)
        #expect(v2.clientConnection?.peerParameters?.versionInformation == .init(chosenVersion: .v2, availableVersions: [.v2]))

        let v1 = v2OnlyPair(seed: 805, clientVersion: .v1)
        v1.network.recordsDatagrams = true
        try v1.connect()
        v1.run(for: .seconds(5)) { v1.clientClosed }
        let negotiation = try #require(v1.network.packets(from: .server).first?.first)
        #expect(negotiation.type == .versionNegotiation)
        guard case .closed(.versionNegotiationFailed(let offered))? = v1.clientEvents.last else {
            Issue.record("client events: \(v1.clientEvents)")
            return
        }
        #expect(offered.contains(.v2) && !offered.contains(.v1))
        #expect(v1.server.statistics.versionNegotiationsSent == 1)
        #expect(v1.server.connectionCount == 0)
    }
}
