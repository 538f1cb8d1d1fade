import QuicCrypto
import QuicWire
import Testing

@Suite("AEAD and packet protection")
struct AEADTests {
    static let suites = CipherSuite.allCases

    func keys(_ suite: CipherSuite, _ direction: AEADKey.Direction, secretByte: UInt8 = 0x42) throws -> PacketProtectionKeys {
        try PacketProtectionKeys(
            suite: suite, secret: [UInt8](repeating: secretByte, count: suite.hash.digestLength), version: .v1,
            direction: direction)
    }

    /// A 1-RTT packet: 8-byte DCID, 2-byte packet number, `payload`, tag room.
    func makePacket(payload: [UInt8], packetNumber: UInt64, keyPhase: Bool = false) -> [UInt8] {
        var packet = [UInt8](repeating: 0, count: 1 + 8 + 2 + payload.count + 16)
        packet.withUnsafeMutableBytes { raw in
            var writer = ByteWriter(raw)
            _ = HeaderEncoder.encodeShort(
                destinationCID: ConnectionID(bytes: [1, 2, 3, 4, 5, 6, 7, 8])!, keyPhase: keyPhase,
                packetNumber: packetNumber & 0xffff, packetNumberLength: 2, into: &writer)
            writer.writeBytes(payload)
        }
        return packet
    }

    @Test("seal then open gives back the payload", arguments: suites)
    func roundTrip(suite: CipherSuite) throws {
        let sender = try keys(suite, .seal)
        let receiver = try keys(suite, .open)
        let payload = (0..<1150).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        var packet = makePacket(payload: payload, packetNumber: 77)
        let plain = packet
        packet.withUnsafeMutableBytes {
            PacketProtection.protect(packet: $0, packetNumberOffset: 9, packetNumberLength: 2, packetNumber: 77, keys: sender)
        }
        #expect(packet != plain)
        let opened = try #require(
            packet.withUnsafeMutableBytes {
                PacketProtection.unprotect(packet: $0, packetNumberOffset: 9, largestProcessed: 70, keys: receiver)
            })
        #expect(opened.packetNumber == 77)
        #expect(Array(packet[opened.payload]) == payload)
        #expect(Array(packet[..<11]) == Array(plain[..<11]))
    }

    /// Flipping any one byte of the ciphertext or tag, or changing the header (the AAD), must fail.
    @Test("tampered ciphertext, tag or header does not open", arguments: suites)
    func tampering(suite: CipherSuite) throws {
        let sender = try keys(suite, .seal)
        let receiver = try keys(suite, .open)
        var packet = makePacket(payload: Array(repeating: 0xab, count: 40), packetNumber: 5)
        packet.withUnsafeMutableBytes {
            PacketProtection.protect(packet: $0, packetNumberOffset: 9, packetNumberLength: 2, packetNumber: 5, keys: sender)
        }
        // Every byte after the header: ciphertext and tag.
        for position in 11..<packet.count {
            var copy = packet
            copy[position] ^= 0x01
            let result = copy.withUnsafeMutableBytes {
                PacketProtection.unprotect(packet: $0, packetNumberOffset: 9, largestProcessed: 4, keys: receiver)
            }
            #expect(result == nil, "byte \(position) flipped still opened")
        }
        // A DCID byte (authenticated as associated data).
        var header = packet
        header[3] ^= 0x80
        #expect(header.withUnsafeMutableBytes {
            PacketProtection.unprotect(packet: $0, packetNumberOffset: 9, largestProcessed: 4, keys: receiver)
        } == nil)
        // The right bytes under a different key.
        let stranger = try keys(suite, .open, secretByte: 0x43)
        var copy = packet
        #expect(copy.withUnsafeMutableBytes {
            PacketProtection.unprotect(packet: $0, packetNumberOffset: 9, largestProcessed: 4, keys: stranger)
        } == nil)
        // Too short to hold a sample: dropped, not a crash.
        var stub: [UInt8] = [0x40, 1, 2, 3]
        #expect(stub.withUnsafeMutableBytes {
            PacketProtection.unprotect(packet: $0, packetNumberOffset: 1, largestProcessed: nil, keys: receiver)
        } == nil)
    }

    @Test("key update: the next generation opens only what it sealed", arguments: suites)
    func keyUpdate(suite: CipherSuite) throws {
        let sender = try keys(suite, .seal).nextGeneration()
        let receiverOld = try keys(suite, .open)
        let receiverNew = try receiverOld.nextGeneration()
        #expect(receiverNew.headerProtection === receiverOld.headerProtection)
        #expect(receiverNew.secret != receiverOld.secret)
        var packet = makePacket(payload: Array("after the update".utf8), packetNumber: 900, keyPhase: true)
        packet.withUnsafeMutableBytes {
            PacketProtection.protect(packet: $0, packetNumberOffset: 9, packetNumberLength: 2, packetNumber: 900, keys: sender)
        }
        var copy = packet
        // Header protection does not change, so the key phase bit can be read before choosing keys.
        let header = try #require(copy.withUnsafeMutableBytes {
            PacketProtection.removeHeaderProtection(packet: $0, packetNumberOffset: 9, key: receiverOld.headerProtection)
        })
        #expect(header.firstByte & HeaderBits.shortKeyPhase != 0)
        #expect(!copy.withUnsafeMutableBytes {
            PacketProtection.openPayload(packet: $0, payloadOffset: header.payloadOffset, packetNumber: 900, key: receiverOld.aead)
        })
        copy = packet
        #expect(copy.withUnsafeMutableBytes {
            PacketProtection.unprotect(packet: $0, packetNumberOffset: 9, largestProcessed: 899, keys: receiverNew)
        } != nil)
    }

    @Test("wrong key or IV length is a CryptoError, not a crash")
    func badKeyLengths() {
        #expect(throws: CryptoError.self) {
            try AEADKey(suite: .aes128GCMSHA256, key: [1, 2, 3], iv: Array(repeating: 0, count: 12), direction: .seal)
        }
        #expect(throws: CryptoError.self) {
            try AEADKey(suite: .aes256GCMSHA384, key: Array(repeating: 0, count: 32), iv: [0], direction: .open)
        }
        #expect(throws: CryptoError.self) { try HeaderProtectionKey(suite: .chacha20Poly1305SHA256, key: [0]) }
    }

    /// RFC 5869 Appendix A.1 (SHA-256) and RFC 8448's early secret (SHA-256 of zeros).
    @Test("HKDF known answers")
    func hkdf() throws {
        let ikm = [UInt8](repeating: 0x0b, count: 22)
        let salt = Array(UInt8(0x00)...UInt8(0x0c))
        let info = Array(UInt8(0xf0)...UInt8(0xf9))
        let prk = HKDF.extract(salt: salt, inputKeyingMaterial: ikm, hash: .sha256)
        #expect(hexString(prk) == "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5")
        let okm = HKDF.expand(pseudorandomKey: prk, info: info, length: 42, hash: .sha256)
        #expect(
            hexString(okm)
                == "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865")
    }
}
