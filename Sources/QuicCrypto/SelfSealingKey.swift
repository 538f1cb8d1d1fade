/// An AES-256-GCM key for blobs that only their maker opens again: session tickets (RFC 8446
/// §4.6.1) and address-validation tokens (RFC 9000 §8.1.4). One OpenSSL context per direction,
/// made once; the nonce is the IV XOR a counter that must never repeat under one key, so the
/// owner serialises access (both users hold the key under a lock).
public final class SelfSealingKey {
    /// Bytes of random material a key is made from: 32 of key, 12 of IV.
    public static let materialLength = 44

    /// Names the key in the blobs it seals, so the right one of several retained keys opens them.
    public let id: UInt32
    public let sealer: AEADKey
    public let opener: AEADKey
    /// The next nonce counter.
    public var counter: UInt64 = 0

    public init(id: UInt32, material: [UInt8]) throws(CryptoError) {
        guard material.count >= Self.materialLength else { throw CryptoError("self-sealing key material is too short") }
        self.id = id
        let key = Array(material[..<32])
        let iv = Array(material[32..<44])
        sealer = try AEADKey(suite: .aes256GCMSHA384, key: key, iv: iv, direction: .seal)
        opener = try AEADKey(suite: .aes256GCMSHA384, key: key, iv: iv, direction: .open)
    }

    /// Takes the next counter value.
    public func nextCounter() -> UInt64 {
        defer { counter += 1 }
        return counter
    }
}
