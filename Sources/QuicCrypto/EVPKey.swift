import COpenSSL

/// An owned OpenSSL EVP_PKEY with its algorithm recognised. Signing and verifying create a fresh
/// EVP_MD_CTX per call, so one key may be used from several threads at once (OpenSSL 3 keys are
/// read-only after creation).
final class EVPKey: @unchecked Sendable {
    let pointer: OpaquePointer
    let keyType: KeyType

    /// Takes ownership of `pointer`; throws (and frees it) for algorithms QuicXDP does not use.
    init(taking pointer: OpaquePointer) throws(CryptoError) {
        guard let keyType = EVPKey.keyType(of: pointer) else {
            EVP_PKEY_free(pointer)
            throw CryptoError(
                "unsupported key type: use ECDSA P-256 or P-384, RSA (rsaEncryption, 2048 bits or more) or Ed25519")
        }
        self.pointer = pointer
        self.keyType = keyType
    }

    deinit { EVP_PKEY_free(pointer) }

    static func keyType(of key: OpaquePointer) -> KeyType? {
        switch EVP_PKEY_get_base_id(key) {
        case EVP_PKEY_RSA: return .rsa
        case EVP_PKEY_ED25519: return .ed25519
        case EVP_PKEY_EC:
            var name = [CChar](repeating: 0, count: 64)
            var length = 0
            guard EVP_PKEY_get_group_name(key, &name, name.count, &length) == 1 else { return nil }
            let group = String(decoding: name.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            switch group {
            case "prime256v1", "P-256", "secp256r1": return .ecdsaP256
            case "secp384r1", "P-384": return .ecdsaP384
            default: return nil
            }
        default: return nil
        }
    }

    /// Prepares `context` for `scheme`: the digest, and for RSA the PSS parameters of RFC 8446
    /// §4.2.3 (MGF1 with the same hash, salt length equal to the digest length).
    private func setUp(
        _ context: OpaquePointer, scheme: SignatureScheme,
        _ initialise: (OpaquePointer, UnsafeMutablePointer<OpaquePointer?>, OpaquePointer?) -> Int32
    ) -> Bool {
        let digest: OpaquePointer?
        switch scheme {
        case .ecdsaSecp256r1SHA256, .rsaPSSRSAESHA256: digest = EVP_sha256()
        case .ecdsaSecp384r1SHA384: digest = EVP_sha384()
        case .ed25519: digest = nil
        }
        var keyContext: OpaquePointer? = nil
        guard initialise(context, &keyContext, digest) == 1 else { return false }
        if scheme == .rsaPSSRSAESHA256 {
            guard let keyContext,
                EVP_PKEY_CTX_set_rsa_padding(keyContext, RSA_PKCS1_PSS_PADDING) == 1,
                EVP_PKEY_CTX_set_rsa_pss_saltlen(keyContext, RSA_PSS_SALTLEN_DIGEST) == 1,
                EVP_PKEY_CTX_set_rsa_mgf1_md(keyContext, EVP_sha256()) == 1
            else { return false }
        }
        return true
    }

    func sign(_ message: UnsafeRawBufferPointer, scheme: SignatureScheme) throws(CryptoError) -> [UInt8] {
        guard scheme.keyType == keyType else { throw CryptoError("\(scheme) cannot sign with a \(keyType) key") }
        guard let context = EVP_MD_CTX_new() else { throw .openSSL("EVP_MD_CTX_new") }
        defer { EVP_MD_CTX_free(context) }
        guard setUp(context, scheme: scheme, { EVP_DigestSignInit($0, $1, $2, nil, pointer) }) else {
            throw .openSSL("signature setup for \(scheme)")
        }
        let data = message.baseAddress?.assumingMemoryBound(to: UInt8.self)
        var length = 0
        guard EVP_DigestSign(context, nil, &length, data, message.count) == 1 else { throw .openSSL("\(scheme) size") }
        var signature = [UInt8](repeating: 0, count: length)
        guard EVP_DigestSign(context, &signature, &length, data, message.count) == 1 else {
            throw .openSSL("\(scheme) signing")
        }
        signature.removeLast(signature.count - length)
        return signature
    }

    func verify(signature: UnsafeRawBufferPointer, message: UnsafeRawBufferPointer, scheme: SignatureScheme) -> Bool {
        guard scheme.keyType == keyType, signature.count > 0 else { return false }
        guard let context = EVP_MD_CTX_new() else { return false }
        defer {
            EVP_MD_CTX_free(context)
            ERR_clear_error()
        }
        guard setUp(context, scheme: scheme, { EVP_DigestVerifyInit($0, $1, $2, nil, pointer) }) else { return false }
        return EVP_DigestVerify(
            context, signature.baseAddress!.assumingMemoryBound(to: UInt8.self), signature.count,
            message.baseAddress?.assumingMemoryBound(to: UInt8.self), message.count) == 1
    }
}
