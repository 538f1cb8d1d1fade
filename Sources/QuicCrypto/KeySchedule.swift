import QuicWire

/// QUIC's HKDF labels, which QUIC v2 renames (RFC 9001 §5.1, RFC 9369 §3.3.2).
public struct QuicLabels: Sendable {
    public let key: String
    public let iv: String
    public let headerProtection: String
    public let keyUpdate: String

    public static let v1 = QuicLabels(key: "quic key", iv: "quic iv", headerProtection: "quic hp", keyUpdate: "quic ku")
    public static let v2 = QuicLabels(
        key: "quicv2 key", iv: "quicv2 iv", headerProtection: "quicv2 hp", keyUpdate: "quicv2 ku")

    public static func forVersion(_ version: QuicVersion) -> QuicLabels { version == .v2 ? .v2 : .v1 }
}

/// Key, IV and header-protection key derived from a traffic secret (RFC 9001 §5.1).
public struct PacketKeyMaterial: Sendable, Hashable {
    public var key: [UInt8]
    public var iv: [UInt8]
    public var headerProtectionKey: [UInt8]

    public init(suite: CipherSuite, secret: [UInt8], version: QuicVersion) {
        let labels = QuicLabels.forVersion(version)
        key = HKDF.expandLabel(secret: secret, label: labels.key, length: suite.keyLength, hash: suite.hash)
        iv = HKDF.expandLabel(secret: secret, label: labels.iv, length: suite.ivLength, hash: suite.hash)
        headerProtectionKey = HKDF.expandLabel(
            secret: secret, label: labels.headerProtection, length: suite.headerProtectionKeyLength, hash: suite.hash)
    }
}

/// Initial secrets (RFC 9001 §5.2, RFC 9369 §3.3.1): derived from the client's first
/// Destination Connection ID with a version-specific salt, always AES-128-GCM with SHA-256.
public enum InitialSecrets {
    public static let v1Salt: [UInt8] = [
        0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb,
        0x7f, 0x0a,
    ]
    public static let v2Salt: [UInt8] = [
        0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93, 0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb, 0xf9, 0xbd,
        0x2e, 0xd9,
    ]

    public static func salt(for version: QuicVersion) -> [UInt8] { version == .v2 ? v2Salt : v1Salt }

    /// initial_secret = HKDF-Extract(salt, client_dst_connection_id).
    public static func initialSecret(version: QuicVersion, clientDestinationCID: ConnectionID) -> [UInt8] {
        HKDF.extract(salt: salt(for: version), inputKeyingMaterial: clientDestinationCID.bytes, hash: .sha256)
    }

    /// The client and server Initial secrets.
    public static func secrets(version: QuicVersion, clientDestinationCID: ConnectionID)
        -> (client: [UInt8], server: [UInt8])
    {
        let initial = initialSecret(version: version, clientDestinationCID: clientDestinationCID)
        return (
            HKDF.expandLabel(secret: initial, label: "client in", length: 32, hash: .sha256),
            HKDF.expandLabel(secret: initial, label: "server in", length: 32, hash: .sha256)
        )
    }

    /// Ready-to-use Initial keys for one endpoint: `send` protects what it sends, `receive` opens
    /// what its peer sends.
    public static func keys(version: QuicVersion, clientDestinationCID: ConnectionID, role: Role) throws(CryptoError)
        -> (send: PacketProtectionKeys, receive: PacketProtectionKeys)
    {
        let (client, server) = secrets(version: version, clientDestinationCID: clientDestinationCID)
        let sendSecret = role == .client ? client : server
        let receiveSecret = role == .client ? server : client
        return (
            try PacketProtectionKeys(suite: .aes128GCMSHA256, secret: sendSecret, version: version, direction: .seal),
            try PacketProtectionKeys(suite: .aes128GCMSHA256, secret: receiveSecret, version: version, direction: .open)
        )
    }
}

/// Key update (RFC 9001 §6.1, RFC 9369 §3.3.2).
public enum KeyUpdate {
    /// secret_<n+1> = HKDF-Expand-Label(secret_<n>, "quic ku" | "quicv2 ku", "", Hash.length).
    public static func nextSecret(_ secret: [UInt8], suite: CipherSuite, version: QuicVersion) -> [UInt8] {
        HKDF.expandLabel(
            secret: secret, label: QuicLabels.forVersion(version).keyUpdate, length: suite.hash.digestLength,
            hash: suite.hash)
    }
}
