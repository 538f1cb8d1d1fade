import COpenSSL

/// A private key for CertificateVerify signatures (RFC 8446 §4.4.3): ECDSA P-256 or P-384, RSA
/// (signing with RSASSA-PSS) or Ed25519. Loaded once and shared by every connection.
public final class PrivateKey: Sendable {
    let key: EVPKey

    public var keyType: KeyType { key.keyType }

    /// A key from PEM text (PKCS#8 "PRIVATE KEY", "EC PRIVATE KEY" or "RSA PRIVATE KEY").
    /// Encrypted keys are refused rather than prompting for a pass phrase.
    public init(pem: [UInt8]) throws(CryptoError) {
        let pointer = try withMemoryBIO(pem) { bio throws(CryptoError) in
            guard let pointer = PEM_read_bio_PrivateKey(bio, nil, refusePassphrase, nil) else {
                throw .openSSL("no usable private key in the PEM data (encrypted keys are not supported)")
            }
            return pointer
        }
        key = try EVPKey(taking: pointer)
    }

    public convenience init(pem: String) throws(CryptoError) { try self.init(pem: Array(pem.utf8)) }

    /// A key from a PEM file (configuration time only).
    public convenience init(pemFile path: String) throws(CryptoError) {
        do { try self.init(pem: try readFile(path)) } catch {
            throw CryptoError("cannot load the private key from \(path): \(error.message)")
        }
    }

    /// The signature of `message` under `scheme`, which must fit the key type. ECDSA and
    /// RSA-PSS draw their nonce/salt from OpenSSL's generator, so signatures are not reproducible.
    public func sign(_ message: [UInt8], scheme: SignatureScheme) throws(CryptoError) -> [UInt8] {
        let result: Result<[UInt8], CryptoError> = message.withUnsafeBytes { raw in
            do throws(CryptoError) { return .success(try key.sign(raw, scheme: scheme)) } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// Whether `certificate` carries this key's public half.
    public func matches(_ certificate: Certificate) -> Bool {
        guard let x509 = try? X509Certificate(certificate), let publicKey = X509_get0_pubkey(x509.pointer) else {
            ERR_clear_error()
            return false
        }
        return EVP_PKEY_eq(key.pointer, publicKey) == 1
    }
}
