/// HKDF (RFC 5869) and TLS 1.3's HKDF-Expand-Label (RFC 8446 §7.1) over OpenSSL's HMAC.
public enum HKDF {
    /// HKDF-Extract(salt, IKM) = HMAC-Hash(salt, IKM).
    public static func extract(salt: [UInt8], inputKeyingMaterial: [UInt8], hash: HashAlgorithm) -> [UInt8] {
        hash.hmac(key: salt, data: inputKeyingMaterial)
    }

    /// HKDF-Expand(PRK, info, L).
    public static func expand(pseudorandomKey: [UInt8], info: [UInt8], length: Int, hash: HashAlgorithm) -> [UInt8] {
        precondition(length <= 255 * hash.digestLength, "HKDF-Expand length too large")
        var output: [UInt8] = []
        output.reserveCapacity(length)
        var block: [UInt8] = []
        var counter: UInt8 = 1
        while output.count < length {
            block = hash.hmac(key: pseudorandomKey, data: block + info + [counter])
            output.append(contentsOf: block.prefix(length - output.count))
            counter &+= 1
        }
        return output
    }

    /// HKDF-Expand-Label(Secret, Label, Context, Length) with the "tls13 " prefix (RFC 8446 §7.1),
    /// which QUIC uses for its own labels too (RFC 9001 §5.1).
    public static func expandLabel(
        secret: [UInt8], label: String, context: [UInt8] = [], length: Int, hash: HashAlgorithm
    ) -> [UInt8] {
        let fullLabel = Array("tls13 ".utf8) + Array(label.utf8)
        precondition(fullLabel.count <= 255 && context.count <= 255 && length <= 0xffff)
        var info: [UInt8] = [UInt8(length >> 8), UInt8(length & 0xff), UInt8(fullLabel.count)]
        info += fullLabel
        info.append(UInt8(context.count))
        info += context
        return expand(pseudorandomKey: secret, info: info, length: length, hash: hash)
    }

    /// Derive-Secret(Secret, Label, Messages) given the transcript hash (RFC 8446 §7.1).
    public static func deriveSecret(secret: [UInt8], label: String, transcriptHash: [UInt8], hash: HashAlgorithm)
        -> [UInt8]
    {
        expandLabel(secret: secret, label: label, context: transcriptHash, length: hash.digestLength, hash: hash)
    }
}
