import QuicCrypto
import Testing

@Suite("Signatures and keys")
struct SignatureTests {
    static let keys: [(name: String, type: KeyType)] = [
        ("server-p256", .ecdsaP256), ("server-p384", .ecdsaP384), ("server-rsa", .rsa), ("server-ed25519", .ed25519),
    ]

    @Test("each key signs with its scheme and the certificate's key verifies", arguments: SignatureScheme.allCases)
    func signAndVerify(scheme: SignatureScheme) throws {
        let name = try #require(Self.keys.first { $0.type == scheme.keyType }).name
        let key = try TestPKI.key(name)
        let certificate = try TestPKI.chain(name)[0]
        #expect(key.keyType == scheme.keyType)
        #expect(key.matches(certificate))
        let publicKey = try certificate.publicKey()
        let message = Array("TLS 1.3, server CertificateVerify".utf8)
        let signature = try key.sign(message, scheme: scheme)
        #expect(publicKey.verify(signature: signature, message: message, scheme: scheme))

        var tampered = signature
        tampered[tampered.count / 2] ^= 0x40
        #expect(!publicKey.verify(signature: tampered, message: message, scheme: scheme))
        #expect(!publicKey.verify(signature: signature, message: message + [0], scheme: scheme))
        #expect(!publicKey.verify(signature: [], message: message, scheme: scheme))
    }

    @Test("a scheme that does not fit the key neither signs nor verifies")
    func mismatchedScheme() throws {
        let key = try TestPKI.key("server-p256")
        #expect(throws: CryptoError.self) { try key.sign([1, 2, 3], scheme: .ecdsaSecp384r1SHA384) }
        #expect(throws: CryptoError.self) { try key.sign([1, 2, 3], scheme: .rsaPSSRSAESHA256) }
        let signature = try key.sign([1, 2, 3], scheme: .ecdsaSecp256r1SHA256)
        let publicKey = try TestPKI.chain("server-p256")[0].publicKey()
        #expect(!publicKey.verify(signature: signature, message: [1, 2, 3], scheme: .ecdsaSecp384r1SHA384))
        #expect(!key.matches(try TestPKI.chain("server-p384")[0]))
    }

    @Test("PEM loading: chains in order, garbage refused with a message")
    func pemLoading() throws {
        let chain = try TestPKI.chain("server-p256-chain")
        #expect(chain.count == 2)
        #expect(chain[0].subjectDescription == "/CN=server-p256")
        #expect(chain[1].subjectDescription == "/CN=intermediate")
        #expect(chain.allSatisfy { $0.isWellFormed })
        #expect(throws: CryptoError.self) { try Certificate.chain(pem: "not a certificate") }
        #expect(throws: CryptoError.self) {
            try PrivateKey(pem: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
        }
        #expect(throws: CryptoError.self) { try PrivateKey(pemFile: TestPKI.path("missing.key")) }
        #expect(!Certificate(der: [0x30, 0x03, 0x02, 0x01, 0x01]).isWellFormed)
        #expect(!Certificate(der: chain[0].der + [0]).isWellFormed)
    }
}
