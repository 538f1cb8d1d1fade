import QuicCrypto
import QuicWire
import Testing

/// RFC 9001 A.5 and RFC 9369 A.5: a ChaCha20-Poly1305 short-header packet.
@Suite("ChaCha20-Poly1305 short header vectors")
struct ShortHeaderVectorTests {
    let vectors = try! VectorFile("quic-packet-protection")

    static let versions: [(String, QuicVersion)] = [("v1", .v1), ("v2", .v2)]

    @Test("keys, key update secret, nonce, mask and packet", arguments: versions)
    func chacha(prefix: String, version: QuicVersion) throws {
        // RFC 9369 A.5 uses the same secret as RFC 9001 A.5.
        let secret = try vectors.hex("v1.a5.secret")
        let suite = CipherSuite.chacha20Poly1305SHA256
        let material = PacketKeyMaterial(suite: suite, secret: secret, version: version)
        #expect(material.key == (try vectors.hex("\(prefix).a5.key")))
        #expect(material.iv == (try vectors.hex("\(prefix).a5.iv")))
        #expect(material.headerProtectionKey == (try vectors.hex("\(prefix).a5.hp")))
        #expect(KeyUpdate.nextSecret(secret, suite: suite, version: version) == (try vectors.hex("\(prefix).a5.ku")))

        let packetNumber: UInt64 = 654_360_564
        // nonce = iv XOR packet number
        var nonce = material.iv
        for index in 0..<8 { nonce[11 - index] ^= UInt8(truncatingIfNeeded: packetNumber >> UInt64(8 * index)) }
        #expect(nonce == (try vectors.hex("\(prefix).a5.nonce")))

        let hp = try HeaderProtectionKey(suite: suite, key: material.headerProtectionKey)
        let sample = try vectors.hex("\(prefix).a5.sample")
        #expect(maskBytes(sample.withUnsafeBytes { hp.mask(sample: $0.baseAddress!) }) == (try vectors.hex("\(prefix).a5.mask")))

        // Build the packet with our short-header encoder: 3-byte packet number, empty DCID, PING.
        let keys = try PacketProtectionKeys(suite: suite, secret: secret, version: version, direction: .seal)
        var packet = [UInt8](repeating: 0, count: 4 + 1 + 16)
        let header = packet.withUnsafeMutableBytes { raw -> EncodedHeader in
            var writer = ByteWriter(raw)
            let header = HeaderEncoder.encodeShort(
                destinationCID: .empty, keyPhase: false, packetNumber: packetNumber & 0xff_ffff,
                packetNumberLength: 3, into: &writer)
            Frame.ping.encode(into: &writer)
            return header
        }
        #expect(Array(packet[..<4]) == (try vectors.hex("v1.a5.unprotected_header")))
        packet.withUnsafeMutableBytes { raw in
            PacketProtection.protect(
                packet: raw, packetNumberOffset: header.packetNumberOffset, packetNumberLength: 3,
                packetNumber: packetNumber, keys: keys)
        }
        #expect(hexString(packet) == hexString(try vectors.hex("\(prefix).a5.packet")))

        // And open it again, recovering the full packet number from a nearby largest.
        let receiver = try PacketProtectionKeys(suite: suite, secret: secret, version: version, direction: .open)
        let opened = try #require(
            packet.withUnsafeMutableBytes { raw in
                PacketProtection.unprotect(
                    packet: raw, packetNumberOffset: 1, largestProcessed: packetNumber - 1, keys: receiver)
            })
        #expect(opened.packetNumber == packetNumber)
        #expect(Array(packet[opened.payload]) == [0x01])
    }
}
