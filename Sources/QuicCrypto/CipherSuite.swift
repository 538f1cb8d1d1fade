import COpenSSL

/// The TLS 1.3 cipher suites QUIC uses (RFC 8446 §B.4, RFC 9001 §5.3): each fixes the AEAD, the
/// hash for HKDF and the header-protection cipher.
public enum CipherSuite: UInt16, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case aes128GCMSHA256 = 0x1301
    case aes256GCMSHA384 = 0x1302
    case chacha20Poly1305SHA256 = 0x1303

    public var hash: HashAlgorithm { self == .aes256GCMSHA384 ? .sha384 : .sha256 }
    public var keyLength: Int { self == .aes128GCMSHA256 ? 16 : 32 }
    /// AEAD nonce length (RFC 8446 §5.3: N_MAX is 12 for all three).
    public var ivLength: Int { 12 }
    /// Header-protection key length: same as the AEAD key (RFC 9001 §5.4.3, §5.4.4).
    public var headerProtectionKeyLength: Int { keyLength }
    public static let tagLength = 16

    /// Packets a key may protect before it must be updated (RFC 9001 §6.6): 2^23 for AES-GCM;
    /// ChaCha20-Poly1305's confidentiality limit exceeds the packet number space.
    public var confidentialityLimit: UInt64 { self == .chacha20Poly1305SHA256 ? 1 << 62 : 1 << 23 }
    /// Packets that may fail authentication under one key before the connection must close
    /// (RFC 9001 §6.6): 2^52 for AES-GCM, 2^36 for ChaCha20-Poly1305.
    public var integrityLimit: UInt64 { self == .chacha20Poly1305SHA256 ? 1 << 36 : 1 << 52 }

    var aeadCipher: OpaquePointer {
        switch self {
        case .aes128GCMSHA256: return EVP_aes_128_gcm()
        case .aes256GCMSHA384: return EVP_aes_256_gcm()
        case .chacha20Poly1305SHA256: return EVP_chacha20_poly1305()
        }
    }

    public var description: String {
        switch self {
        case .aes128GCMSHA256: return "TLS_AES_128_GCM_SHA256"
        case .aes256GCMSHA384: return "TLS_AES_256_GCM_SHA384"
        case .chacha20Poly1305SHA256: return "TLS_CHACHA20_POLY1305_SHA256"
        }
    }
}
