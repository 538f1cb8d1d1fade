@testable import QuicCore
import QuicCrypto
import QuicTLS
import QuicWire
import Testing

/// Address validation before the handshake: Retry (RFC 9000 §8.1.2, §17.2.5, RFC 9001 §5.8) and
/// tokens from NEW_TOKEN frames (§8.1.3, §19.7), on the simulated network.
@Suite("Address validation: Retry and NEW_TOKEN (simulated network)")
struct AddressValidationTests {
    static func retryAlways(_ client: inout ConnectionConfiguration, _ server: inout ConnectionConfiguration) {
        server.addressValidation.retry = .always
    }

    @Test("Retry round trip: the handshake completes after one Retry, with the connection IDs in the parameters (§7.3)",
          arguments: [QuicVersion.v1, .v2])
    func retryRoundTrip(version: QuicVersion) throws {
        let pair = Pair(seed: 600) { client, server in
            client.version = version
            server.addressValidation.retry = .always
        }
        pair.network.recordsDatagrams = true
        try pair.connect()
        #expect(pair.run(for: .seconds(5)) { pair.isConnected && pair.clientConnection?.handshakeConfirmed == true })
        let client = try #require(pair.clientConnection)
        let server = try #require(pair.serverConnection)

        // On the wire: Initial, Retry, Initial with the token to the Retry's ID, then the handshake.
        let fromClient = pair.network.packets(from: .client)
        let fromServer = pair.network.packets(from: .server)
        let retry = try #require(fromServer.first?.first)
        #expect(retry.type == .retry && retry.version == version)
        #expect(retry.destinationCID == client.initialSourceCID)
        #expect(fromServer.flatMap { $0 }.filter { $0.type == .retry }.count == 1)
        #expect(fromClient[0][0].type == .initial && fromClient[0][0].token.isEmpty)
        #expect(fromClient[0][0].destinationCID == client.originalDestinationCID)
        #expect(fromClient[1][0].type == .initial && fromClient[1][0].token == retry.token)
        #expect(fromClient[1][0].destinationCID == retry.sourceCID)
        #expect(pair.server.statistics.retriesSent == 1)

        #expect(client.receivedRetry && client.retrySourceCID == retry.sourceCID)
        let parameters = try #require(client.peerParameters)
        #expect(parameters.originalDestinationConnectionID == client.originalDestinationCID)
        #expect(parameters.retrySourceConnectionID == retry.sourceCID)
        #expect(server.retrySourceCID == retry.sourceCID)
        #expect(server.serverOriginalDestinationCID == client.originalDestinationCID)
        // The Retry round trip validated the address: no anti-amplification limit from the start.
        #expect(server.addressValidated)
        #expect(client.version == version && server.version == version)

        let transfer = StreamTransfer(pair: pair, sizes: [50_000])
        #expect(transfer.run() != nil)
        #expect(transfer.corruptions == 0)
    }

    @Test("a Retry token echoed after its lifetime gets INVALID_TOKEN and no connection is made (§8.1.2); within it, it is accepted",
          arguments: [(lifetime: 15, accepted: false), (lifetime: 25, accepted: true)])
    func retryTokenLifetime(lifetime: Int64, accepted: Bool) throws {
        // 10 ms each way: the token comes back 20 ms after it was issued.
        let pair = Pair(seed: 601) { _, server in
            server.addressValidation.retry = .always
            server.addressValidation.retryTokenLifetime = .milliseconds(lifetime)
        }
        try pair.connect()
        pair.run(for: .seconds(5)) { pair.clientClosed || pair.isConnected }
        #expect(pair.server.statistics.retriesSent == 1)
        #expect(pair.isConnected == accepted)
        #expect(pair.server.statistics.invalidTokenClosesSent == (accepted ? 0 : 1))
        #expect(pair.transportCloseCodesFromServer == (accepted ? [] : [TransportErrorCode.invalidToken.rawValue]))
        #expect(pair.server.connectionCount == (accepted ? 1 : 0))
    }

    @Test("a Retry token from another address (the client's port changed) gets INVALID_TOKEN (§8.1.4)")
    func retryTokenBoundToAddress() throws {
        let pair = Pair(seed: 602, configure: Self.retryAlways)
        // The client's NAT rebinds between the Retry and the client's answer: the first Initial
        // with the token is lost with the old binding, its retransmission comes from a new port.
        pair.network.intercept = { side, bytes in
            guard side == .client, pair.nat.isEmpty, let initial = wirePackets(bytes).first, initial.type == .initial,
                !initial.token.isEmpty
            else { return true }
            pair.nat[pair.clientAddress] = SocketAddress(ipv4: (10, 0, 0, 1), port: 50001)
            return false
        }
        try pair.connect()
        pair.run(for: .seconds(5)) { pair.clientClosed }
        #expect(pair.transportCloseCodesFromServer == [TransportErrorCode.invalidToken.rawValue])
        #expect(pair.server.connectionCount == 0)
    }

    @Test("an Initial whose token claims to come from a Retry but was forged gets INVALID_TOKEN")
    func forgedRetryToken() throws {
        let store = SessionTicketStore()
        // Right kind byte, random rest: it cannot open under the server's key.
        var forged: [UInt8] = [AddressTokenKeys.Kind.retry.rawValue]
        forged += (0..<60).map { UInt8(truncatingIfNeeded: $0 &* 37) }
        store.insertAddressToken(forged, serverName: "localhost", version: .v1, now: TestCertificates.shared.wallClock)
        let pair = Pair(seed: 603) { client, _ in client.addressTokenStore = store }
        pair.network.recordsDatagrams = true
        try pair.connect()
        pair.run(for: .seconds(5)) { pair.clientClosed }
        #expect(pair.network.packets(from: .client).first?.first?.token == forged)
        #expect(pair.transportCloseCodesFromServer == [TransportErrorCode.invalidToken.rawValue])
        #expect(pair.server.connectionCount == 0)
    }

    enum IgnoredToken: String, CaseIterable {
        case forgedNewToken, otherServersKey, garbage
    }

    @Test("a bad token that does not claim to be a Retry token is ignored: the server retries as if there were none (§8.1.3)",
          arguments: IgnoredToken.allCases)
    func ignoredToken(kind: IgnoredToken) throws {
        let store = SessionTicketStore()
        let token: [UInt8]
        switch kind {
        case .forgedNewToken:
            token = [AddressTokenKeys.Kind.newToken.rawValue] + (0..<40).map { UInt8(truncatingIfNeeded: $0 &* 11) }
        case .otherServersKey:
            token = AddressTokenKeys().sealNewToken(
                client: SocketAddress(ipv4: (10, 0, 0, 1), port: 50000), version: .v1, now: Instant(nanoseconds: 1_000_000_000))
        case .garbage:
            token = [0xff, 1, 2, 3]
        }
        store.insertAddressToken(token, serverName: "localhost", version: .v1, now: TestCertificates.shared.wallClock)
        let pair = Pair(seed: 604) { client, server in
            client.addressTokenStore = store
            server.addressValidation.retry = .always
        }
        try pair.connect()
        #expect(pair.run(for: .seconds(5)) { pair.isConnected })
        #expect(pair.server.statistics.retriesSent == 1, "\(kind): the token validated nothing, so a Retry was due")
        #expect(pair.server.statistics.newTokensAccepted == 0)
        #expect(pair.clientConnection?.receivedRetry == true)
    }

    @Test("a second Retry, even with a valid tag, is ignored (§17.2.5.2)")
    func secondRetryIgnored() throws {
        let pair = Pair(seed: 605, configure: Self.retryAlways)
        try pair.connect()
        #expect(pair.run(for: .seconds(1)) { pair.clientConnection?.receivedRetry == true })
        let client = try #require(pair.clientConnection)
        let firstRetrySource = try #require(client.retrySourceCID)
        let other = ConnectionID(bytes: [9, 9, 9, 9, 9, 9, 9, 9])!
        pair.network.send(
            retryPacket(
                version: .v1, destinationCID: client.initialSourceCID, sourceCID: other, token: [0x52, 1, 2, 3],
                originalDestinationCID: client.originalDestinationCID),
            from: .server, address: pair.serverAddress, now: pair.now)
        #expect(pair.run(for: .seconds(5)) { pair.isConnected && client.handshakeConfirmed })
        #expect(client.retrySourceCID == firstRetrySource)
        #expect(client.peerParameters?.retrySourceConnectionID == firstRetrySource)
    }

    @Test("a Retry whose integrity tag does not check out is ignored; the same Retry with a good tag is followed (RFC 9001 §5.8)",
          arguments: [true, false])
    func retryIntegrityTag(corrupt: Bool) throws {
        // The server never retries; a forged Retry reaches the client before the server's Initial.
        let pair = Pair(seed: 606)
        try pair.connect()
        let client = try #require(pair.clientConnection)
        let forgedSource = ConnectionID(bytes: [7, 7, 7, 7, 7, 7, 7, 7])!
        pair.network.send(
            retryPacket(
                version: .v1, destinationCID: client.initialSourceCID, sourceCID: forgedSource,
                token: [AddressTokenKeys.Kind.newToken.rawValue, 1, 2, 3], originalDestinationCID: client.originalDestinationCID,
                corruptTag: corrupt),
            from: .server, address: pair.serverAddress, now: pair.now)
        pair.run(for: .seconds(5)) { pair.isConnected || pair.clientClosed }
        if corrupt {
            #expect(!client.receivedRetry)
            #expect(pair.isConnected)
            #expect(client.peerParameters?.retrySourceConnectionID == nil)
        } else {
            // Followed: the client now expects a retry_source_connection_id the real server never
            // sends, and fails the handshake (§7.3).
            #expect(client.receivedRetry && client.retrySourceCID == forgedSource)
            guard case .transportError(let code, _, _)? = client.closeReason else {
                Issue.record("the client did not fail: \(String(describing: client.closeReason))")
                return
            }
            #expect(code == .transportParameterError)
        }
    }

    @Test("a Retry in another version than the client's is ignored (RFC 9369 §4.1)")
    func retryInOtherVersionIgnored() throws {
        let pair = Pair(seed: 612)
        try pair.connect()
        let client = try #require(pair.clientConnection)
        pair.network.send(
            retryPacket(
                version: .v2, destinationCID: client.initialSourceCID, sourceCID: ConnectionID(bytes: [5, 5, 5, 5, 5, 5, 5, 5])!,
                token: [AddressTokenKeys.Kind.newToken.rawValue, 1], originalDestinationCID: client.originalDestinationCID),
            from: .server, address: pair.serverAddress, now: pair.now)
        #expect(pair.run(for: .seconds(5)) { pair.isConnected })
        #expect(!client.receivedRetry && client.version == .v1)
    }

    @Test("NEW_TOKEN: the server sends one after confirmation; the client's next connection uses it and is not retried (§8.1.3)")
    func newTokenSkipsRetry() throws {
        let store = SessionTicketStore()
        let pair = Pair(seed: 607) { client, server in
            client.addressTokenStore = store
            server.addressValidation.retry = .always
        }
        pair.network.recordsDatagrams = true
        try pair.connect()
        #expect(pair.run(for: .seconds(5)) { pair.isConnected && store.addressTokenCount == 1 })
        #expect(pair.server.statistics.retriesSent == 1)
        // The NEW_TOKEN frame travelled in 1-RTT after the handshake; the Retry token is not kept (§8.1.3).
        #expect(store.addressTokenCount == 1)
        pair.clientConnection!.close(errorCode: 0, now: pair.now)
        pair.run(for: .seconds(5)) { pair.client.connectionCount == 0 }

        // Next connection, from another port (NEW_TOKEN tokens bind the IP address only).
        pair.clientAddress = SocketAddress(ipv4: (10, 0, 0, 1), port: 50002)
        let sentBefore = pair.network.datagrams.count
        try pair.connect()
        let second = try #require(pair.clientConnection)
        #expect(pair.run(for: .seconds(5)) { second.handshakeConfirmed })
        #expect(pair.server.statistics.retriesSent == 1, "no Retry for a client with a valid token")
        #expect(pair.server.statistics.newTokensAccepted == 1)
        #expect(!second.receivedRetry)
        let firstInitial = try #require(pair.network.datagrams[sentBefore...].first { $0.side == .client })
        let token = try #require(wirePackets(firstInitial.bytes).first?.token)
        #expect(!token.isEmpty && token.first == AddressTokenKeys.Kind.newToken.rawValue)
        let server = try #require(pair.server.handles.last.flatMap { pair.server.connection($0) })
        #expect(server.addressValidated)
        #expect(server.retrySourceCID == nil && second.peerParameters?.retrySourceConnectionID == nil)
    }

    enum TokenMisuse: String, CaseIterable {
        /// The same token twice (§8.1.4: accepted once).
        case replayed
        /// From another IP address.
        case otherAddress
        /// Past the server's NEW_TOKEN lifetime.
        case expired
    }

    @Test("a NEW_TOKEN token that is replayed, from another address or expired validates nothing",
          arguments: TokenMisuse.allCases)
    func newTokenMisuse(misuse: TokenMisuse) throws {
        let store = SessionTicketStore()
        let pair = Pair(seed: 608) { client, server in
            client.addressTokenStore = store
            server.addressValidation.retry = .always
            server.addressValidation.newTokenLifetime = .seconds(60)
        }
        let keys = pair.serverConfiguration.addressValidation.tokenKeys
        let token = keys.sealNewToken(client: pair.clientAddress, version: .v1, now: pair.now)
        let wallClock = TestCertificates.shared.wallClock
        store.insertAddressToken(token, serverName: "localhost", version: .v1, now: wallClock)
        switch misuse {
        case .replayed:
            try pair.connect()
            #expect(pair.run(for: .seconds(5)) { pair.isConnected })
            #expect(pair.server.statistics.newTokensAccepted == 1 && pair.server.statistics.retriesSent == 0)
            pair.clientConnection!.close(errorCode: 0, now: pair.now)
            pair.run(for: .seconds(5)) { pair.client.connectionCount == 0 }
            store.removeAll()
            store.insertAddressToken(token, serverName: "localhost", version: .v1, now: wallClock)
        case .otherAddress:
            pair.clientAddress = SocketAddress(ipv4: (10, 0, 0, 9), port: 50000)
        case .expired:
            pair.run(for: .seconds(61)) { false }
        }
        let accepted = pair.server.statistics.newTokensAccepted
        try pair.connect()
        let connection = try #require(pair.clientConnection)
        #expect(pair.run(for: .seconds(5)) { connection.handshakeConfirmed })
        #expect(pair.server.statistics.newTokensAccepted == accepted, "\(misuse): the token was accepted")
        #expect(connection.receivedRetry, "\(misuse): the server should have retried")
    }

    @Test("a token from a v1 connection is not used for a v2 one (RFC 9369 §5)")
    func tokenVersion() throws {
        let store = SessionTicketStore()
        let pair = Pair(seed: 609) { client, server in
            client.addressTokenStore = store
            client.version = .v2
            server.addressValidation.retry = .always
        }
        let token = pair.serverConfiguration.addressValidation.tokenKeys.sealNewToken(
            client: pair.clientAddress, version: .v1, now: pair.now)
        store.insertAddressToken(token, serverName: "localhost", version: .v1, now: TestCertificates.shared.wallClock)
        pair.network.recordsDatagrams = true
        try pair.connect()
        #expect(pair.run(for: .seconds(5)) { pair.isConnected })
        #expect(pair.network.packets(from: .client).first?.first?.token == [])
        #expect(pair.clientConnection?.receivedRetry == true)
    }

    @Test("a valid NEW_TOKEN token lifts the anti-amplification limit (§8.1; without one: ConnectionBehaviourTests.antiAmplification)")
    func amplificationLimitLifted() throws {
        let store = SessionTicketStore()
        let pair = Pair(seed: 610) { client, _ in client.addressTokenStore = store }
        let token = pair.serverConfiguration.addressValidation.tokenKeys.sealNewToken(
            client: pair.clientAddress, version: .v1, now: pair.now)
        store.insertAddressToken(token, serverName: "localhost", version: .v1, now: TestCertificates.shared.wallClock)
        // The client's first flight arrives; everything it sends after is lost, so only probes
        // keep the server sending.
        pair.network.conditions[0].blackholes = [pair.now + .milliseconds(1)..<pair.now + .seconds(100)]
        try pair.connect()
        pair.run(for: .seconds(10)) { false }
        let server = try #require(pair.server.handles.first.flatMap { pair.server.connection($0) })
        #expect(server.pathBytesReceived >= 1200 && server.pathBytesReceived < 2400, "one client datagram")
        #expect(server.addressValidated)
        #expect(server.pathBytesSent > 3 * server.pathBytesReceived, "sent \(server.pathBytesSent) for \(server.pathBytesReceived)")
    }

    @Test("refuse: a stateless Initial with CONNECTION_REFUSED, smaller than the client's Initial, which the client reads")
    func refuse() throws {
        let pair = Pair(seed: 613)
        let client = try Connection(
            clientConfiguration: pair.clientConfiguration, serverName: "localhost", remote: pair.serverAddress,
            idGenerator: QuicLBConnectionIDGenerator(serverID: 1), now: pair.now)
        var datagram = [UInt8](repeating: 0, count: 1500)
        let size = try #require(datagram.withUnsafeMutableBytes { client.pollTransmit(now: pair.now, into: $0) }).size
        var reply = [UInt8](repeating: 0, count: 1500)
        let event = datagram.withUnsafeMutableBytes { raw in
            reply.withUnsafeMutableBytes { buffer in
                pair.server.handle(
                    datagram: UnsafeMutableRawBufferPointer(rebasing: raw[..<size]), from: pair.clientAddress, ecn: .notECT,
                    now: pair.now, replyBuffer: buffer)
            }
        }
        guard case .incoming(let incoming) = event else {
            Issue.record("expected an incoming connection, got \(event)")
            return
        }
        let transmit = try #require(reply.withUnsafeMutableBytes { pair.server.refuse(incoming, now: pair.now, into: $0) })
        #expect(transmit.size < size && transmit.destination == pair.clientAddress)
        #expect(pair.server.connectionCount == 0)
        #expect(wirePackets(Array(reply[..<transmit.size])).map(\.type) == [.initial])
        reply.withUnsafeMutableBytes { raw in
            client.handle(
                datagram: UnsafeMutableRawBufferPointer(rebasing: raw[..<transmit.size]), from: pair.serverAddress, ecn: .notECT,
                now: pair.now)
        }
        #expect(client.closeReason == .peer(errorCode: TransportErrorCode.connectionRefused.rawValue, isApplication: false,
                                            frameType: 0, reason: "refused"))
    }

    @Test("Retry under load: only while the given number of handshakes is in progress")
    func retryUnderLoad() throws {
        let pair = Pair(seed: 611) { _, server in server.addressValidation.retry = .underLoad(handshakes: 1) }
        // The first client meets an idle server: no Retry.
        try pair.connect()
        #expect(pair.run(for: .seconds(5)) { pair.isConnected })
        #expect(pair.server.statistics.retriesSent == 0)
        // A handshake that never finishes (its client is gone) keeps the server loaded.
        var initial = [UInt8](repeating: 0, count: 1200)
        let stalled = try Connection(
            clientConfiguration: pair.clientConfiguration, serverName: "localhost", remote: pair.serverAddress,
            idGenerator: QuicLBConnectionIDGenerator(serverID: 9), now: pair.now)
        let size = try #require(initial.withUnsafeMutableBytes { stalled.pollTransmit(now: pair.now, into: $0) }).size
        pair.network.send(Array(initial[..<size]), from: .client, address: SocketAddress(ipv4: (10, 0, 0, 7), port: 1), now: pair.now)
        pair.run(for: .milliseconds(50)) { false }
        #expect(pair.server.connectionCount == 2)
        // The client's next connection is retried.
        pair.clientConnection!.close(errorCode: 0, now: pair.now)
        pair.run(for: .seconds(1)) { pair.client.connectionCount == 0 }
        try pair.connect()
        let second = try #require(pair.clientConnection)
        #expect(pair.run(for: .seconds(5)) { second.handshakeConfirmed })
        #expect(pair.server.statistics.retriesSent == 1)
        #expect(second.receivedRetry)
    }
}

@Suite("Address validation tokens")
struct AddressTokenTests {
    let client = SocketAddress(ipv4: (192, 0, 2, 1), port: 4000)
    let original = ConnectionID(bytes: [1, 2, 3, 4, 5, 6, 7, 8])!
    let retrySource = ConnectionID(bytes: [8, 7, 6, 5, 4, 3, 2, 1])!
    let now = Instant(nanoseconds: 5_000_000_000)

    func open(_ keys: AddressTokenKeys, _ token: [UInt8], cid: ConnectionID? = nil, client: SocketAddress? = nil,
              version: QuicVersion = .v1) -> AddressTokenKeys.Contents? {
        token.withUnsafeBytes { keys.open($0, destinationCID: cid ?? retrySource, client: client ?? self.client, version: version) }
    }

    @Test("a Retry token opens only with the same address and port, connection ID and version")
    func retryTokenBinding() {
        let keys = AddressTokenKeys()
        let token = keys.sealRetryToken(
            originalDestinationCID: original, retrySourceCID: retrySource, client: client, version: .v1, now: now)
        #expect(token.first == AddressTokenKeys.Kind.retry.rawValue)
        #expect(open(keys, token) == .retry(originalDestinationCID: original, issuedAt: now))
        #expect(open(keys, token, client: SocketAddress(ipv4: (192, 0, 2, 1), port: 4001)) == nil)
        #expect(open(keys, token, client: SocketAddress(ipv4: (192, 0, 2, 2), port: 4000)) == nil)
        #expect(open(keys, token, cid: original) == nil)
        #expect(open(keys, token, version: .v2) == nil)
        // Any altered byte, in the clear part or the sealed one.
        for index in token.indices {
            var altered = token
            altered[index] ^= 0x40
            #expect(open(keys, altered) == nil, "byte \(index) altered")
        }
        #expect(open(AddressTokenKeys(), token) == nil, "another server's key")
        #expect(open(keys, Array(token.dropLast())) == nil)
        #expect(open(keys, []) == nil)
    }

    @Test("a NEW_TOKEN token binds the IP address, not the port, and each one is unique")
    func newTokenBinding() {
        let keys = AddressTokenKeys()
        let token = keys.sealNewToken(client: client, version: .v2, now: now)
        #expect(token.first == AddressTokenKeys.Kind.newToken.rawValue)
        #expect(open(keys, token, client: SocketAddress(ipv4: (192, 0, 2, 1), port: 9), version: .v2) == .newToken(issuedAt: now))
        #expect(open(keys, token, version: .v1) == nil)
        #expect(open(keys, token, client: SocketAddress(ipv4: (192, 0, 2, 9), port: 4000), version: .v2) == nil)
        let ipv6 = SocketAddress(ipv6: [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [1], port: 4000)
        #expect(open(keys, keys.sealNewToken(client: ipv6, version: .v1, now: now), client: ipv6) == .newToken(issuedAt: now))
        #expect(keys.sealNewToken(client: client, version: .v2, now: now) != token)
    }

    @Test("after one rotation old tokens still open; after two they do not")
    func rotation() {
        let keys = AddressTokenKeys(rotationInterval: .seconds(10))
        let token = keys.sealNewToken(client: client, version: .v1, now: now)
        keys.rotate(now: now + .seconds(1))
        #expect(open(keys, token) != nil)
        keys.rotate(now: now + .seconds(2))
        #expect(open(keys, token) == nil)
        // Sealing after the interval makes a new key by itself.
        let later = keys.sealNewToken(client: client, version: .v1, now: now + .seconds(2))
        _ = keys.sealNewToken(client: client, version: .v1, now: now + .seconds(13))
        #expect(open(keys, later) != nil)
        _ = keys.sealNewToken(client: client, version: .v1, now: now + .seconds(24))
        #expect(open(keys, later) == nil)
    }

    @Test("a NEW_TOKEN token is admitted once until it expires; a full register admits nothing new")
    func replayRegister() {
        let keys = AddressTokenKeys(replayCapacity: 2)
        let tokens = (0..<3).map { _ in keys.sealNewToken(client: client, version: .v1, now: now) }
        func admit(_ token: [UInt8], at time: Instant) -> Bool {
            token.withUnsafeBytes { keys.admitNewToken($0, expiresAt: now + .seconds(10), now: time) }
        }
        #expect(admit(tokens[0], at: now))
        #expect(!admit(tokens[0], at: now + .seconds(1)))
        #expect(admit(tokens[1], at: now))
        #expect(!admit(tokens[2], at: now), "register full of live entries")
        #expect(admit(tokens[2], at: now + .seconds(11)), "expired entries make room")
    }
}
