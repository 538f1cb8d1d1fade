import QuicCrypto
import QuicWire
import Testing

@testable import QuicTLS

/// One in-memory handshake configuration: a suite, a group and the server's signature scheme.
struct HandshakeCase: Sendable, CustomTestStringConvertible {
    var suite: CipherSuite
    var group: NamedGroup
    var scheme: SignatureScheme

    var testDescription: String { "\(suite) \(group) \(scheme)" }

    static let all: [HandshakeCase] = CipherSuite.allCases.flatMap { suite in
        NamedGroup.allCases.flatMap { group in
            SignatureScheme.allCases.map { HandshakeCase(suite: suite, group: group, scheme: $0) }
        }
    }
}

@Suite("Full handshakes")
struct HandshakeTests {
    @Test("every suite × group × signature scheme completes with matching secrets", arguments: HandshakeCase.all)
    func matrix(_ testCase: HandshakeCase) throws {
        var client = TestConfiguration.client()
        client.cipherSuites = [testCase.suite]
        client.groups = [testCase.group]
        client.signatureAlgorithms = [testCase.scheme]
        var server = try TestConfiguration.server(scheme: testCase.scheme)
        server.groups = [testCase.group]
        let pair = HandshakePair(client: client, server: server).run()

        #expect(pair.clientAlert == nil && pair.serverAlert == nil)
        #expect(pair.client.isHandshakeComplete && pair.server.isHandshakeComplete)
        #expect(
            pair.client.negotiatedCipherSuite == testCase.suite && pair.server.negotiatedCipherSuite == testCase.suite)
        #expect(pair.client.negotiatedALPN == "h3" && pair.server.negotiatedALPN == "h3")
        #expect(pair.client.peerTransportParameters == HandshakePair.serverParameters)
        #expect(pair.server.peerTransportParameters == HandshakePair.clientParameters)
        #expect(pair.secretsAgree(at: .handshake) && pair.secretsAgree(at: .oneRTT))
        #expect(pair.secret(.client, write: true, .handshake)?.count == testCase.suite.hash.digestLength)
        #expect(
            pair.client.peerCertificateChain == (try TestPKI.chain(TestPKI.serverFiles(for: testCase.scheme).chain)))
        #expect(!pair.client.isResumed && pair.client.earlyDataState == .notAttempted)
        // The server used the one group and scheme the client allowed: no HelloRetryRequest, and
        // the CertificateVerify carries the scheme.
        #expect(pair.sentMessageTypes(by: .server) == [2, 8, 11, 15, 20])
        let verify = try #require(pair.flights.flatMap(\.messages).first { $0.type == 15 })
        #expect(
            verify.bytes[4...5].elementsEqual([
                UInt8(testCase.scheme.rawValue >> 8), UInt8(testCase.scheme.rawValue & 0xff),
            ]))
    }

    @Test("events come in the order QUIC installs keys (RFC 9001 §4.1.4)")
    func eventOrder() throws {
        let pair = HandshakePair(client: TestConfiguration.client(), server: try TestConfiguration.server()).run()
        let clientKinds = pair.clientEvents.map(Self.kind)
        let serverKinds = pair.serverEvents.map(Self.kind)
        #expect(clientKinds == ["read handshake", "write handshake", "read 1-RTT", "write 1-RTT", "complete"])
        #expect(serverKinds == ["write handshake", "read handshake", "write 1-RTT", "read 1-RTT", "complete"])
        // Client: ClientHello at Initial, Finished at Handshake. Server: ServerHello at Initial,
        // the rest of its flight at Handshake.
        #expect(
            pair.flights.map { "\($0.from) \($0.level)" } == [
                "client initial", "server initial", "server handshake", "client handshake",
            ])
    }

    static func kind(_ event: TLSEvent) -> String {
        switch event {
        case .readSecret(let level, _, _): return "read \(level)"
        case .writeSecret(let level, _, _): return "write \(level)"
        case .handshakeComplete: return "complete"
        case .earlyDataRejected: return "0-RTT rejected"
        case .sessionTicketReceived: return "ticket"
        }
    }

    @Test("with seeded randomness, a fixed clock and Ed25519, a handshake is byte-for-byte reproducible")
    func deterministic() throws {
        func run(seed: UInt64) throws -> [[UInt8]] {
            var client = TestConfiguration.client()
            client.random = SeededRandom(seed: seed).function
            var server = try TestConfiguration.server(scheme: .ed25519)
            server.random = SeededRandom(seed: seed + 1).function
            let pair = HandshakePair(client: client, server: server).run()
            #expect(pair.client.isHandshakeComplete)
            return pair.flights.map(\.data)
        }
        #expect(try run(seed: 7) == run(seed: 7))
        #expect(try run(seed: 7) != run(seed: 8))
    }

    @Test("a client restricted to ChaCha20-Poly1305 gets it from a server preferring AES")
    func clientRestrictedToChaCha() throws {
        var client = TestConfiguration.client()
        client.cipherSuites = [.chacha20Poly1305SHA256]
        let pair = HandshakePair(client: client, server: try TestConfiguration.server()).run()
        #expect(pair.server.negotiatedCipherSuite == .chacha20Poly1305SHA256)
        #expect(pair.client.isHandshakeComplete)
    }

    @Test("the server's preference order decides between suites both offer")
    func serverPreference() throws {
        var server = try TestConfiguration.server()
        server.cipherSuites = [.aes256GCMSHA384, .aes128GCMSHA256]
        let pair = HandshakePair(client: TestConfiguration.client(), server: server).run()
        #expect(pair.client.negotiatedCipherSuite == .aes256GCMSHA384)
    }

    @Test("HelloRetryRequest when the client's key share is for a group the server does not take")
    func helloRetryRequest() throws {
        var client = TestConfiguration.client()
        client.groups = [.x25519, .secp256r1]
        var server = try TestConfiguration.server()
        server.groups = [.secp256r1]
        let pair = HandshakePair(client: client, server: server).run()
        #expect(pair.client.isHandshakeComplete && pair.server.isHandshakeComplete)
        #expect(pair.secretsAgree(at: .handshake) && pair.secretsAgree(at: .oneRTT))
        // ClientHello, HelloRetryRequest, ClientHello, then the normal flight.
        #expect(pair.sentMessageTypes(by: .client) == [1, 1, 20])
        #expect(pair.sentMessageTypes(by: .server) == [2, 2, 8, 11, 15, 20])
        let retry = try ServerHello.decode(
            Array(try #require(pair.flights.first { $0.from == .server }).messages[0].bytes.dropFirst(4)))
        #expect(retry.isHelloRetryRequest)
        let second = try ClientHello.decode(
            Array(pair.flights.filter { $0.from == .client }[1].messages[0].bytes.dropFirst(4)))
        let shares = try ExtensionCodec.decodeClientShares(try #require(second.extensions[.keyShare]))
        #expect(shares.map(\.group) == [NamedGroup.secp256r1.rawValue])
    }

    @Test("no common key exchange group ends with handshake_failure")
    func noCommonGroup() throws {
        var client = TestConfiguration.client()
        client.groups = [.x25519]
        var server = try TestConfiguration.server()
        server.groups = [.secp256r1]
        let pair = HandshakePair(client: client, server: server).run()
        #expect(pair.serverAlert?.description == .handshakeFailure)
    }

    @Test("no signature scheme the server's key can make ends with handshake_failure")
    func noCommonSignatureScheme() throws {
        var client = TestConfiguration.client()
        client.signatureAlgorithms = [.ed25519, .rsaPSSRSAESHA256]
        let pair = HandshakePair(client: client, server: try TestConfiguration.server(scheme: .ecdsaSecp256r1SHA256)).run()
        #expect(pair.serverAlert?.description == .handshakeFailure)
        // Refused before the server sent anything.
        #expect(pair.sentMessageTypes(by: .server).isEmpty)
    }

    @Test("a server without a certificate reports internal_error")
    func serverWithoutCertificate() throws {
        var server = try TestConfiguration.server()
        server.certificateChain = []
        let pair = HandshakePair(client: TestConfiguration.client(), server: server).run()
        #expect(pair.serverAlert?.description == .internalError)
    }

    @Test("ALPN: the server's first preference the client offers; no overlap is no_application_protocol")
    func alpn() throws {
        let agreed = HandshakePair(
            client: TestConfiguration.client(alpn: ["smb", "h3", "hq-interop"]),
            server: try TestConfiguration.server(alpn: ["hq-interop", "h3"])
        ).run()
        #expect(agreed.client.negotiatedALPN == "hq-interop")

        let mismatch = HandshakePair(
            client: TestConfiguration.client(alpn: ["h3"]), server: try TestConfiguration.server(alpn: ["smb"])
        ).run()
        #expect(mismatch.serverAlert?.description == .noApplicationProtocol)
        #expect(mismatch.serverAlert?.quicErrorCode == 0x0178)
        #expect(!mismatch.client.isHandshakeComplete)
    }

    @Test("a client with no ALPN configured refuses to start")
    func clientWithoutALPN() throws {
        let pair = HandshakePair(client: TestConfiguration.client(alpn: []), server: try TestConfiguration.server())
            .run()
        #expect(pair.clientAlert?.description == .internalError)
    }

    @Test("messages split into single bytes reassemble")
    func byteByByte() throws {
        let pair = HandshakePair(client: TestConfiguration.client(), server: try TestConfiguration.server())
        pair.byteByByte = true
        pair.run()
        #expect(pair.client.isHandshakeComplete && pair.server.isHandshakeComplete)
    }

    @Test("the key log has the NSS lines both sides agree on")
    func keyLog() throws {
        let clientLines = LineCollector()
        let serverLines = LineCollector()
        var client = TestConfiguration.client()
        client.keyLog = clientLines.sink
        var server = try TestConfiguration.server()
        server.keyLog = serverLines.sink
        let pair = HandshakePair(client: client, server: server).run()
        #expect(pair.client.isHandshakeComplete)
        #expect(
            clientLines.lines.map { $0.split(separator: " ")[0] } == [
                "CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET", "CLIENT_TRAFFIC_SECRET_0",
                "SERVER_TRAFFIC_SECRET_0", "EXPORTER_SECRET",
            ])
        #expect(Set(clientLines.lines) == Set(serverLines.lines))
        let handshakeLine = clientLines.lines[0].split(separator: " ")
        #expect(handshakeLine[1].count == 64 && handshakeLine[2].count == 64)
        let secret = try #require(pair.secret(.client, write: true, .handshake))
        #expect(String(handshakeLine[2]) == secret.map { String(format: "%02x", $0) }.joined())
    }

    @Test("mutual TLS: the server asks for, verifies and records the client's certificate")
    func mutualTLS() throws {
        var client = TestConfiguration.client()
        client.certificateChain = try TestPKI.chain("client")
        client.privateKey = try TestPKI.key("client")
        var server = try TestConfiguration.server()
        server.requestClientCertificate = true
        let pair = HandshakePair(client: client, server: server).run()
        #expect(pair.client.isHandshakeComplete && pair.server.isHandshakeComplete)
        #expect(pair.server.peerCertificateChain == (try TestPKI.chain("client")))
        #expect(pair.sentMessageTypes(by: .server) == [2, 8, 13, 11, 15, 20])
        #expect(pair.sentMessageTypes(by: .client) == [1, 11, 15, 20])
        #expect(pair.secretsAgree(at: .oneRTT))
    }

    @Test("mutual TLS: a client without a certificate gets certificate_required")
    func mutualTLSWithoutCertificate() throws {
        var server = try TestConfiguration.server()
        server.requestClientCertificate = true
        let pair = HandshakePair(client: TestConfiguration.client(), server: server).run()
        #expect(pair.serverAlert?.description == .certificateRequired)
        #expect(pair.sentMessageTypes(by: .client) == [1, 11, 20])
    }

    @Test("mutual TLS: a client certificate from an unknown CA gets unknown_ca")
    func mutualTLSUnknownCA() throws {
        var client = TestConfiguration.client()
        client.certificateChain = try TestPKI.chain("self-signed")
        client.privateKey = try TestPKI.key("self-signed")
        var server = try TestConfiguration.server()
        server.requestClientCertificate = true
        let pair = HandshakePair(client: client, server: server).run()
        #expect(pair.serverAlert?.description == .unknownCA)
    }

    @Test("the server learns the SNI; an address literal is not sent as SNI but still verified")
    func serverName() throws {
        let named = HandshakePair(client: TestConfiguration.client(), server: try TestConfiguration.server()).run()
        #expect(named.server.serverName == "server.test")

        let address = HandshakePair(
            client: TestConfiguration.client(), server: try TestConfiguration.server(scheme: .rsaPSSRSAESHA256),
            serverName: "127.0.0.1"
        ).run()
        #expect(address.client.isHandshakeComplete)
        #expect(address.server.serverName == nil)
    }
}
