import COpenSSL

/// A header-protection key (RFC 9001 §5.4): AES-ECB for the AES suites (§5.4.3), raw ChaCha20
/// for ChaCha20-Poly1305 (§5.4.4). One OpenSSL context, keyed once, reused for every mask.
public final class HeaderProtectionKey {
    public let suite: CipherSuite
    @usableFromInline let context: OpaquePointer
    @usableFromInline let isChaCha: Bool

    public static let sampleLength = 16

    public init(suite: CipherSuite, key: [UInt8]) throws(CryptoError) {
        guard key.count == suite.headerProtectionKeyLength else {
            throw CryptoError("header protection key has the wrong length for \(suite)")
        }
        guard let context = EVP_CIPHER_CTX_new() else { throw .openSSL("EVP_CIPHER_CTX_new") }
        let cipher: OpaquePointer
        switch suite {
        case .aes128GCMSHA256: cipher = EVP_aes_128_ecb()
        case .aes256GCMSHA384: cipher = EVP_aes_256_ecb()
        case .chacha20Poly1305SHA256: cipher = EVP_chacha20()
        }
        guard EVP_EncryptInit_ex(context, cipher, nil, key, nil) == 1 else {
            EVP_CIPHER_CTX_free(context)
            throw .openSSL("header protection key setup for \(suite)")
        }
        if suite != .chacha20Poly1305SHA256 { EVP_CIPHER_CTX_set_padding(context, 0) }
        self.suite = suite
        self.context = context
        self.isChaCha = suite == .chacha20Poly1305SHA256
    }

    deinit { EVP_CIPHER_CTX_free(context) }

    /// The 5-byte mask for a 16-byte `sample`, packed big-endian into the low 40 bits of the
    /// result (mask[0] in bits 39–32).
    @inlinable
    public func mask(sample: UnsafeRawPointer) -> UInt64 {
        var block: (UInt64, UInt64) = (0, 0)
        let ok = withUnsafeMutableBytes(of: &block) { out -> Bool in
            let output = out.baseAddress!.assumingMemoryBound(to: UInt8.self)
            let input = sample.assumingMemoryBound(to: UInt8.self)
            var length: Int32 = 0
            if isChaCha {
                // counter = sample[0..<4] (little-endian), nonce = sample[4..<16]: exactly the
                // 16-byte IV OpenSSL's ChaCha20 takes. Encrypting five zero bytes gives the mask.
                guard EVP_EncryptInit_ex(context, nil, nil, nil, input) == 1 else { return false }
                return EVP_EncryptUpdate(context, output, &length, output, 5) == 1
            }
            return EVP_EncryptUpdate(context, output, &length, input, 16) == 1
        }
        precondition(ok, "header protection mask failed inside OpenSSL")
        return withUnsafeBytes(of: &block) { raw in
            var value: UInt64 = 0
            for index in 0..<5 { value = value << 8 | UInt64(raw[index]) }
            return value
        }
    }
}
