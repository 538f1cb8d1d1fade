import QuicCrypto
import Testing

/// Feeds fixed byte strings to EphemeralKeyPair, one per draw.
final class ScriptedRandom: @unchecked Sendable {
    private var draws: [[UInt8]]
    private(set) var drawCount = 0

    init(_ draws: [[UInt8]]) { self.draws = draws }

    func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        let next = draws.isEmpty ? [UInt8](repeating: 0x5a, count: buffer.count) : draws.removeFirst()
        precondition(next.count == buffer.count)
        buffer.copyBytes(from: next)
        drawCount += 1
    }
}

func hex(_ text: String) -> [UInt8] {
    var bytes: [UInt8] = []
    var index = text.startIndex
    while index < text.endIndex {
        let next = text.index(index, offsetBy: 2)
        bytes.append(UInt8(text[index..<next], radix: 16)!)
        index = next
    }
    return bytes
}

@Suite("Key exchange (X25519, secp256r1)")
struct KeyExchangeTests {
    @Test("X25519 reproduces RFC 7748 §6.1: both public keys and the shared secret")
    func x25519Vector() throws {
        let alice = try EphemeralKeyPair(
            group: .x25519,
            random: ScriptedRandom([
                hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
            ]).fill)
        let bob = try EphemeralKeyPair(
            group: .x25519,
            random: ScriptedRandom([
                hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
            ]).fill)
        #expect(alice.publicKey == hex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"))
        #expect(bob.publicKey == hex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"))
        let shared = hex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")
        #expect(alice.sharedSecret(peerPublicKey: bob.publicKey) == shared)
        #expect(bob.sharedSecret(peerPublicKey: alice.publicKey) == shared)
    }

    @Test("P-256 with private scalar 1: the public key is the generator, the secret is the peer's X")
    func p256KnownAnswer() throws {
        let one = try EphemeralKeyPair(
            group: .secp256r1, random: ScriptedRandom([[UInt8](repeating: 0, count: 31) + [1]]).fill)
        // The generator G of secp256r1 (SEC 2 §2.4.2, FIPS 186-4 §D.1.2.3), uncompressed.
        let generator = hex(
            "04" + "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"
                + "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5")
        #expect(one.publicKey == generator)
        let peer = try EphemeralKeyPair(group: .secp256r1, random: { secureRandomBytes($0) })
        #expect(one.sharedSecret(peerPublicKey: peer.publicKey) == Array(peer.publicKey[1...32]))
    }

    @Test("both groups agree on a 32-byte secret", arguments: NamedGroup.allCases)
    func agreement(group: NamedGroup) throws {
        let a = try EphemeralKeyPair(group: group, random: { secureRandomBytes($0) })
        let b = try EphemeralKeyPair(group: group, random: { secureRandomBytes($0) })
        #expect(a.publicKey.count == group.keyExchangeLength)
        let secret = try #require(a.sharedSecret(peerPublicKey: b.publicKey))
        #expect(secret.count == 32)
        #expect(b.sharedSecret(peerPublicKey: a.publicKey) == secret)
    }

    @Test("the same injected random gives the same key pair")
    func deterministic() throws {
        let draw = [UInt8](repeating: 7, count: 32)
        for group in NamedGroup.allCases {
            let first = try EphemeralKeyPair(group: group, random: ScriptedRandom([draw]).fill)
            let second = try EphemeralKeyPair(group: group, random: ScriptedRandom([draw]).fill)
            #expect(first.publicKey == second.publicKey)
        }
    }

    @Test("a P-256 scalar outside [1, n-1] is drawn again")
    func p256Redraw() throws {
        let random = ScriptedRandom([
            [UInt8](repeating: 0xff, count: 32), [UInt8](repeating: 0, count: 32), [UInt8](repeating: 1, count: 32),
        ])
        let pair = try EphemeralKeyPair(group: .secp256r1, random: random.fill)
        #expect(random.drawCount == 3)
        #expect(pair.publicKey.first == 0x04)
    }

    @Test("invalid peer shares are refused, not trapped on")
    func invalidShares() throws {
        let p256 = try EphemeralKeyPair(group: .secp256r1, random: { secureRandomBytes($0) })
        let other = try EphemeralKeyPair(group: .secp256r1, random: { secureRandomBytes($0) })
        var offCurve = other.publicKey
        offCurve[64] ^= 1
        var compressed = other.publicKey
        compressed[0] = 0x02
        #expect(p256.sharedSecret(peerPublicKey: offCurve) == nil)
        #expect(p256.sharedSecret(peerPublicKey: compressed) == nil)
        #expect(p256.sharedSecret(peerPublicKey: Array(other.publicKey.dropLast())) == nil)
        #expect(p256.sharedSecret(peerPublicKey: [0x04] + [UInt8](repeating: 0, count: 64)) == nil)

        let x25519 = try EphemeralKeyPair(group: .x25519, random: { secureRandomBytes($0) })
        // Low-order points give the all-zero secret (RFC 8446 §7.4.2, RFC 7748 §6.1).
        #expect(x25519.sharedSecret(peerPublicKey: [UInt8](repeating: 0, count: 32)) == nil)
        #expect(x25519.sharedSecret(peerPublicKey: [1] + [UInt8](repeating: 0, count: 31)) == nil)
        #expect(x25519.sharedSecret(peerPublicKey: [UInt8](repeating: 9, count: 31)) == nil)
    }
}
