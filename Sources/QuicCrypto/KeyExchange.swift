import COpenSSL
import CQuicShim

/// The (EC)DHE groups QuicXDP negotiates (RFC 8446 §4.2.7). Both are mandatory or recommended
/// for TLS 1.3 (RFC 8446 §9.1).
public enum NamedGroup: UInt16, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case secp256r1 = 0x0017
    case x25519 = 0x001d

    /// The exact length of a KeyShareEntry.key_exchange for this group: an uncompressed point
    /// (0x04 || X || Y) for secp256r1 (RFC 8446 §4.2.8.2), 32 bytes for X25519 (§4.2.8.2, RFC 7748).
    public var keyExchangeLength: Int { self == .x25519 ? 32 : 65 }

    /// The length of the shared secret Z (RFC 8446 §7.4.2): the X coordinate or the X25519 output.
    public var sharedSecretLength: Int { 32 }

    public var description: String { self == .x25519 ? "x25519" : "secp256r1" }
}

/// One ephemeral key pair for a single handshake (RFC 8446 §4.2.8, §7.4). The private key is made
/// from bytes the caller supplies, so a simulation with a seeded random source is reproducible.
/// Not shared between threads: one handshake owns it.
public final class EphemeralKeyPair {
    public let group: NamedGroup
    /// What goes into KeyShareEntry.key_exchange.
    public let publicKey: [UInt8]
    private let key: OpaquePointer  // EVP_PKEY with the private key

    /// A fresh key pair whose private key comes from `random`. For secp256r1 a draw outside
    /// [1, n-1] is discarded and drawn again (the chance is below 2^-32 per draw).
    public init(group: NamedGroup, random: (UnsafeMutableRawBufferPointer) -> Void) throws(CryptoError) {
        self.group = group
        var secret = [UInt8](repeating: 0, count: 32)
        defer { OPENSSL_cleanse(&secret, secret.count) }
        switch group {
        case .x25519:
            secret.withUnsafeMutableBytes { random($0) }
            guard let key = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nil, secret, secret.count) else {
                throw .openSSL("X25519 private key from random bytes")
            }
            var publicKey = [UInt8](repeating: 0, count: 32)
            var length = publicKey.count
            guard EVP_PKEY_get_raw_public_key(key, &publicKey, &length) == 1, length == 32 else {
                EVP_PKEY_free(key)
                throw .openSSL("X25519 public key")
            }
            self.key = key
            self.publicKey = publicKey
        case .secp256r1:
            let (key, publicKey) = try P256.keyPair(random: random, scratch: &secret)
            self.key = key
            self.publicKey = publicKey
        }
    }

    deinit { EVP_PKEY_free(key) }

    /// The shared secret Z with the peer's key_exchange bytes (RFC 8446 §7.4.1, §7.4.2); nil when
    /// those bytes are not a valid public key for the group: wrong length, not an uncompressed
    /// point on the curve, or an X25519 share that yields the all-zero value. Callers answer nil
    /// with an illegal_parameter alert.
    public func sharedSecret(peerPublicKey: [UInt8]) -> [UInt8]? {
        guard peerPublicKey.count == group.keyExchangeLength else { return nil }
        let peer: OpaquePointer?
        switch group {
        case .x25519:
            peer = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nil, peerPublicKey, peerPublicKey.count)
        case .secp256r1:
            guard peerPublicKey[0] == 0x04 else { return nil }
            peer = P256.publicKey(peerPublicKey)
        }
        guard let peer else {
            ERR_clear_error()
            return nil
        }
        defer { EVP_PKEY_free(peer) }
        guard let context = EVP_PKEY_CTX_new(key, nil) else { return nil }
        defer { EVP_PKEY_CTX_free(context) }
        var secret = [UInt8](repeating: 0, count: group.sharedSecretLength)
        var length = secret.count
        // EVP_PKEY_derive_set_peer validates the peer key (on the curve, in the right subgroup).
        guard EVP_PKEY_derive_init(context) == 1, EVP_PKEY_derive_set_peer(context, peer) == 1,
            EVP_PKEY_derive(context, &secret, &length) == 1, length == secret.count
        else {
            ERR_clear_error()
            return nil
        }
        // RFC 8446 §7.4.2: an all-zero X25519 result means a low-order peer point.
        if secret.allSatisfy({ $0 == 0 }) { return nil }
        return secret
    }
}

/// secp256r1 through OpenSSL 3's provider interface: EVP_PKEY_fromdata with the group name and
/// the key's components, so no deprecated EC_KEY calls.
enum P256 {
    static let groupName = "prime256v1"
    // OSSL_PARAM_BLD_to_param copies values but keeps the key pointers, so parameter names must
    // outlive the parameters: static strings, with the values of OSSL_PKEY_PARAM_GROUP_NAME,
    // OSSL_PKEY_PARAM_PUB_KEY and OSSL_PKEY_PARAM_PRIV_KEY.
    static let groupKey: StaticString = "group"
    static let publicKeyKey: StaticString = "pub"
    static let privateKeyKey: StaticString = "priv"

    static func name(_ key: StaticString) -> UnsafePointer<CChar> {
        UnsafeRawPointer(key.utf8Start).assumingMemoryBound(to: CChar.self)
    }

    /// A key pair whose scalar comes from `random`; the public point is computed here because
    /// EVP_PKEY_fromdata in OpenSSL 3.0 does not derive it from the private key.
    static func keyPair(
        random: (UnsafeMutableRawBufferPointer) -> Void, scratch: inout [UInt8]
    ) throws(CryptoError)
        -> (OpaquePointer, [UInt8])
    {
        guard let group = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1) else { throw .openSSL("P-256 group") }
        defer { EC_GROUP_free(group) }
        guard let order = EC_GROUP_get0_order(group), let scalar = BN_secure_new() else {
            throw .openSSL("P-256 order")
        }
        defer { BN_clear_free(scalar) }
        var attempts = 0
        while true {
            attempts += 1
            guard attempts <= 64 else { throw CryptoError("the random source keeps producing invalid P-256 scalars") }
            scratch.withUnsafeMutableBytes { random($0) }
            guard BN_bin2bn(scratch, Int32(scratch.count), scalar) != nil else { throw .openSSL("BN_bin2bn") }
            if BN_is_zero(scalar) == 0 && BN_cmp(scalar, order) < 0 { break }
        }
        BN_set_flags(scalar, BN_FLG_CONSTTIME)
        guard let point = EC_POINT_new(group) else { throw .openSSL("EC_POINT_new") }
        defer { EC_POINT_free(point) }
        guard EC_POINT_mul(group, point, scalar, nil, nil, nil) == 1 else { throw .openSSL("P-256 public point") }
        var publicKey = [UInt8](repeating: 0, count: 65)
        guard EC_POINT_point2oct(group, point, POINT_CONVERSION_UNCOMPRESSED, &publicKey, 65, nil) == 65 else {
            throw .openSSL("P-256 point encoding")
        }
        guard let key = makeKey(publicKey: publicKey, privateScalar: scalar) else {
            throw .openSSL("P-256 key from its components")
        }
        return (key, publicKey)
    }

    /// The peer's public key from an uncompressed point; nil when it is not on the curve.
    static func publicKey(_ point: [UInt8]) -> OpaquePointer? { makeKey(publicKey: point, privateScalar: nil) }

    /// An EVP_PKEY from the group name, the encoded point and optionally the private scalar.
    /// OSSL_PARAM_BLD keeps pointers to strings and octets until OSSL_PARAM_BLD_to_param, so
    /// everything happens while those buffers are pinned.
    private static func makeKey(publicKey: [UInt8], privateScalar: OpaquePointer?) -> OpaquePointer? {
        guard let builder = OSSL_PARAM_BLD_new() else { return nil }
        defer { OSSL_PARAM_BLD_free(builder) }
        return groupName.withCString { name in
            publicKey.withUnsafeBytes { point -> OpaquePointer? in
                guard OSSL_PARAM_BLD_push_utf8_string(builder, P256.name(groupKey), name, 0) == 1,
                    OSSL_PARAM_BLD_push_octet_string(builder, P256.name(publicKeyKey), point.baseAddress, point.count)
                        == 1
                else { return nil }
                if let privateScalar {
                    guard OSSL_PARAM_BLD_push_BN(builder, P256.name(privateKeyKey), privateScalar) == 1 else {
                        return nil
                    }
                }
                let selection =
                    privateScalar == nil ? quic_evp_pkey_selection_public_key() : quic_evp_pkey_selection_keypair()
                return fromData(builder, selection: selection)
            }
        }
    }

    private static func fromData(_ builder: OpaquePointer, selection: Int32) -> OpaquePointer? {
        guard let params = OSSL_PARAM_BLD_to_param(builder) else { return nil }
        defer { OSSL_PARAM_free(params) }
        guard let context = EVP_PKEY_CTX_new_from_name(nil, "EC", nil) else { return nil }
        defer { EVP_PKEY_CTX_free(context) }
        var key: OpaquePointer? = nil
        guard EVP_PKEY_fromdata_init(context) == 1, EVP_PKEY_fromdata(context, &key, selection, params) == 1 else {
            return nil
        }
        return key
    }
}
