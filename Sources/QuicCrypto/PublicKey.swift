/// A public key that verifies CertificateVerify signatures (RFC 8446 §4.4.3), taken from a
/// certificate.
public final class PublicKey: Sendable {
    let key: EVPKey

    public var keyType: KeyType { key.keyType }

    init(_ key: EVPKey) { self.key = key }

    /// Whether `signature` is a valid `scheme` signature over `message` by this key; false for a
    /// scheme that does not fit the key type (RFC 8446 §4.2.3).
    public func verify(signature: [UInt8], message: [UInt8], scheme: SignatureScheme) -> Bool {
        signature.withUnsafeBytes { s in
            message.withUnsafeBytes { m in key.verify(signature: s, message: m, scheme: scheme) }
        }
    }
}
