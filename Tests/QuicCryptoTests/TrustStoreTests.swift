import QuicCrypto
import Testing

@Suite("X.509 chain and name verification")
struct TrustStoreTests {
    let store: TrustStore

    init() throws { store = try TrustStore(caFile: TestPKI.path("ca.pem")) }

    func failure(
        _ chain: String, purpose: TrustStore.Purpose = .serverAuthentication, name: String? = "server.test",
        time: Int64 = TestPKI.validTime
    ) throws -> CertificateVerificationError.Reason? {
        let certificates = try TestPKI.chain(chain)
        do {
            try store.verify(chain: certificates, purpose: purpose, peerName: name, time: time)
            return nil
        } catch {
            return error.reason
        }
    }

    @Test("valid chains verify, through an intermediate too, by DNS name or IP address")
    func validChains() throws {
        for name in ["server-p256-chain", "server-p384", "server-rsa", "server-ed25519"] {
            #expect(try failure(name) == nil, "\(name)")
        }
        #expect(try failure("server-rsa", name: "127.0.0.1") == nil)
        #expect(try failure("client", purpose: .clientAuthentication, name: nil) == nil)
    }

    @Test("each failure names its cause")
    func failures() throws {
        #expect(try failure("server-p256") == .untrustedIssuer)  // intermediate missing
        #expect(try failure("self-signed") == .untrustedIssuer)
        #expect(try failure("expired") == .expired)
        #expect(try failure("server-rsa", time: TestPKI.beforeIssuance) == .notYetValid)
        #expect(try failure("server-rsa", name: "other.test") == .hostnameMismatch)
        #expect(try failure("server-rsa", name: "10.0.0.1") == .hostnameMismatch)
        #expect(try failure("server-rsa", purpose: .clientAuthentication, name: nil) == .wrongPurpose)
    }

    @Test("a corrupted signature or unparsable DER is refused")
    func corrupted() throws {
        var der = try TestPKI.chain("server-rsa")[0].der
        der[der.count - 5] ^= 0x01  // inside the issuer's signature
        #expect(throws: CertificateVerificationError.self) {
            try store.verify(
                chain: [Certificate(der: der)], purpose: .serverAuthentication, peerName: "server.test",
                time: TestPKI.validTime)
        }
        do {
            try store.verify(chain: [Certificate(der: [1, 2, 3])], purpose: .serverAuthentication, peerName: nil)
            Issue.record("garbage verified")
        } catch {
            #expect(error.reason == .malformed)
        }
    }

    @Test("the system trust store loads and does not trust the test CA")
    func systemStore() throws {
        let system = try TrustStore.system()
        #expect(throws: CertificateVerificationError.self) {
            try system.verify(
                chain: try TestPKI.chain("server-rsa"), purpose: .serverAuthentication, peerName: "server.test",
                time: TestPKI.validTime)
        }
    }
}
