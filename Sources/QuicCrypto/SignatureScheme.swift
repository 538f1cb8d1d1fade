/// The signature schemes QuicXDP signs and verifies in CertificateVerify (RFC 8446 §4.2.3).
/// Certificate-chain signatures are OpenSSL's business and may use any algorithm it accepts.
public enum SignatureScheme: UInt16, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case ecdsaSecp256r1SHA256 = 0x0403
    case ecdsaSecp384r1SHA384 = 0x0503
    /// RSASSA-PSS with MGF1-SHA-256 and a salt as long as the digest, over an rsaEncryption key.
    case rsaPSSRSAESHA256 = 0x0804
    case ed25519 = 0x0807

    /// The key a certificate must carry for this scheme: RFC 8446 §4.2.3 ties each ECDSA scheme
    /// to one curve.
    public var keyType: KeyType {
        switch self {
        case .ecdsaSecp256r1SHA256: return .ecdsaP256
        case .ecdsaSecp384r1SHA384: return .ecdsaP384
        case .rsaPSSRSAESHA256: return .rsa
        case .ed25519: return .ed25519
        }
    }

    public var description: String {
        switch self {
        case .ecdsaSecp256r1SHA256: return "ecdsa_secp256r1_sha256"
        case .ecdsaSecp384r1SHA384: return "ecdsa_secp384r1_sha384"
        case .rsaPSSRSAESHA256: return "rsa_pss_rsae_sha256"
        case .ed25519: return "ed25519"
        }
    }
}

/// The public-key algorithms QuicXDP can sign and verify with.
public enum KeyType: Sendable, Hashable, CustomStringConvertible {
    case ecdsaP256, ecdsaP384, rsa, ed25519

    /// The one scheme this implementation uses with a key of this type.
    public var signatureScheme: SignatureScheme {
        switch self {
        case .ecdsaP256: return .ecdsaSecp256r1SHA256
        case .ecdsaP384: return .ecdsaSecp384r1SHA384
        case .rsa: return .rsaPSSRSAESHA256
        case .ed25519: return .ed25519
        }
    }

    public var description: String {
        switch self {
        case .ecdsaP256: return "ECDSA P-256"
        case .ecdsaP384: return "ECDSA P-384"
        case .rsa: return "RSA"
        case .ed25519: return "Ed25519"
        }
    }
}
