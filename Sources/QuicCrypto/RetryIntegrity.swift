import QuicWire

/// The Retry integrity tag (RFC 9001 §5.8, RFC 9369 §3.3.3): AES-128-GCM with a fixed,
/// version-specific key and nonce over the Retry pseudo-packet, with an empty plaintext.
public enum RetryIntegrity {
    static let v1Key: [UInt8] = [
        0xbe, 0x0c, 0x69, 0x0b, 0x9f, 0x66, 0x57, 0x5a, 0x1d, 0x76, 0x6b, 0x54, 0xe3, 0x68, 0xc8, 0x4e,
    ]
    static let v1Nonce: [UInt8] = [0x46, 0x15, 0x99, 0xd3, 0x5d, 0x63, 0x2b, 0xf2, 0x23, 0x98, 0x25, 0xbb]
    static let v2Key: [UInt8] = [
        0x8f, 0xb4, 0xb0, 0x1b, 0x56, 0xac, 0x48, 0xe2, 0x60, 0xfb, 0xcb, 0xce, 0xad, 0x7c, 0xcc, 0x92,
    ]
    static let v2Nonce: [UInt8] = [0xd8, 0x69, 0x69, 0xbc, 0x2d, 0x7c, 0x6d, 0x99, 0x90, 0xef, 0xb0, 0x4a]

    /// The 16-byte tag for a Retry packet (`retryWithoutTag`: from its first byte up to the tag)
    /// sent in response to a client whose first Destination Connection ID was
    /// `originalDestinationCID`.
    public static func tag(
        version: QuicVersion, originalDestinationCID: ConnectionID, retryWithoutTag: UnsafeRawBufferPointer
    ) -> [UInt8] {
        let key = version == .v2 ? v2Key : v1Key
        let nonce = version == .v2 ? v2Nonce : v1Nonce
        // The key is fixed and Retry is rare: a fresh context per tag keeps this simple.
        let aead = try! AEADKey(suite: .aes128GCMSHA256, key: key, iv: nonce, direction: .seal)
        var pseudo = [UInt8](repeating: 0, count: 1 + originalDestinationCID.length + retryWithoutTag.count)
        pseudo.withUnsafeMutableBytes { raw in
            var writer = ByteWriter(raw)
            RetryPacket.encodePseudoPacket(
                originalDestinationCID: originalDestinationCID, retryWithoutTag: retryWithoutTag, into: &writer)
        }
        var tag = [UInt8](repeating: 0, count: 16)
        pseudo.withUnsafeBytes { aad in
            tag.withUnsafeMutableBytes { out in
                aead.seal(
                    packetNumber: 0, associatedData: aad, payload: UnsafeMutableRawBufferPointer(start: nil, count: 0),
                    tag: out.baseAddress!)
            }
        }
        return tag
    }

    /// Whether the last 16 bytes of `retryPacket` are the right tag, compared in constant time.
    public static func isValid(
        version: QuicVersion, originalDestinationCID: ConnectionID, retryPacket: UnsafeRawBufferPointer
    ) -> Bool {
        guard retryPacket.count > RetryPacket.integrityTagLength else { return false }
        let split = retryPacket.count - RetryPacket.integrityTagLength
        let expected = tag(
            version: version, originalDestinationCID: originalDestinationCID,
            retryWithoutTag: UnsafeRawBufferPointer(rebasing: retryPacket[..<split]))
        return expected.withUnsafeBytes { constantTimeEquals($0, UnsafeRawBufferPointer(rebasing: retryPacket[split...])) }
    }
}
