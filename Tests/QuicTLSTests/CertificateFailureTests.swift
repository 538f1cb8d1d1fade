import QuicCrypto
import Testing

@testable import QuicTLS

/// A server certificate problem and the alert the client must answer with (RFC 8446 §6.2).
struct CertificateFailure: Sendable, CustomTestStringConvertible {
    var name: String
    var chain: String
    var key: String
    var serverName = "server.test"
    var time = TestPKI.validTime
    var verification: CertificateVerification = .caFile(TestPKI.path("ca.pem"))
    var expected: AlertDescription

    var testDescription: String { name }
}

@Suite("Certificate failures")
struct CertificateFailureTests {
    static let cases: [CertificateFailure] = [
        CertificateFailure(
            name: "self-signed, no CA vouches for it → unknown_ca", chain: "self-signed", key: "self-signed",
            expected: .unknownCA),
        CertificateFailure(
            name: "intermediate missing from the chain → unknown_ca", chain: "server-p256", key: "server-p256",
            expected: .unknownCA),
        CertificateFailure(
            name: "test CA against the system trust store → unknown_ca", chain: "server-p256-chain",
            key: "server-p256", verification: .systemTrustStore, expected: .unknownCA),
        CertificateFailure(
            name: "name not in the certificate → bad_certificate", chain: "server-p256-chain", key: "server-p256",
            serverName: "other.test", expected: .badCertificate),
        CertificateFailure(
            name: "address not in the certificate → bad_certificate", chain: "server-p256-chain",
            key: "server-p256", serverName: "192.0.2.1", expected: .badCertificate),
        CertificateFailure(
            name: "expired → certificate_expired", chain: "expired", key: "expired", expected: .certificateExpired),
        CertificateFailure(
            name: "not yet valid → certificate_expired", chain: "server-p256-chain", key: "server-p256",
            time: TestPKI.beforeIssuance, expected: .certificateExpired),
        CertificateFailure(
            name: "a client certificate presented by a server → unsupported_certificate", chain: "client",
            key: "client", expected: .unsupportedCertificate),
    ]

    @Test("the client refuses the server's certificate with the RFC 8446 §6.2 alert", arguments: cases)
    func refused(_ failure: CertificateFailure) throws {
        let clock = TestClock(failure.time)
        var client = TestConfiguration.client(clock: clock)
        client.verification = failure.verification
        var server = try TestConfiguration.server(clock: clock)
        server.certificateChain = try TestPKI.chain(failure.chain)
        server.privateKey = try TestPKI.key(failure.key)
        let pair = HandshakePair(client: client, server: server, serverName: failure.serverName).run()
        #expect(
            pair.clientAlert?.description == failure.expected,
            "\(pair.clientAlert.map { String(reflecting: $0) } ?? "no alert")")
        #expect(pair.clientAlert?.quicErrorCode == 0x0100 + UInt64(failure.expected.rawValue))
        #expect(!pair.client.isHandshakeComplete)
        // Rejected before the client derived 1-RTT keys.
        #expect(pair.secret(.client, write: true, .oneRTT) == nil)
    }

    @Test("verification off accepts a self-signed certificate and logs a warning")
    func verificationOff() throws {
        let log = LineCollector()
        var client = TestConfiguration.client()
        client.verification = .none
        client.log = log.sink
        var server = try TestConfiguration.server()
        server.certificateChain = try TestPKI.chain("self-signed")
        server.privateKey = try TestPKI.key("self-signed")
        let pair = HandshakePair(client: client, server: server, serverName: nil).run()
        #expect(pair.client.isHandshakeComplete)
        #expect(log.lines.contains { $0.contains("warning") && $0.contains("verification is off") })
    }

    @Test("verification off still checks the CertificateVerify signature")
    func verificationOffStillChecksSignature() throws {
        var client = TestConfiguration.client()
        client.verification = .none
        var server = try TestConfiguration.server()
        // The certificate of one key, the signature of another.
        server.certificateChain = try TestPKI.chain("self-signed")
        server.privateKey = try TestPKI.key("server-p256")
        let pair = HandshakePair(client: client, server: server).run()
        #expect(pair.clientAlert?.description == .decryptError)
    }

    @Test("verifying without a server name is refused before anything is sent")
    func noServerName() throws {
        let pair = HandshakePair(
            client: TestConfiguration.client(), server: try TestConfiguration.server(), serverName: nil
        ).run()
        #expect(pair.clientAlert?.description == .internalError)
        #expect(pair.flights.isEmpty)
    }

    @Test("a missing CA file is reported as internal_error naming the file")
    func missingCAFile() throws {
        var client = TestConfiguration.client()
        client.verification = .caFile("/nonexistent/ca.pem")
        let pair = HandshakePair(client: client, server: try TestConfiguration.server()).run()
        #expect(pair.clientAlert?.description == .internalError)
        #expect(pair.clientAlert?.reason.contains("/nonexistent/ca.pem") == true)
    }
}
