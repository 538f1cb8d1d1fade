import QuicCrypto
import QuicWire
import Testing

/// RFC 9001 Appendix A (v1) and RFC 9369 Appendix A (v2), byte for byte.
@Suite("Initial packet protection vectors")
struct InitialPacketVectorTests {
    let short = try! VectorFile("quic-packet-protection")
    let full = try! VectorFile("rfc9001-a2-a3-full")

    static let versions: [(String, QuicVersion)] = [("v1", .v1), ("v2", .v2)]

    var dcid: ConnectionID { ConnectionID(bytes: try! full.hex("dcid"))! }

    @Test("initial, client and server secrets", arguments: versions)
    func secrets(prefix: String, version: QuicVersion) throws {
        #expect(InitialSecrets.salt(for: version) == (try full.hex("\(prefix).initial_salt")))
        #expect(
            InitialSecrets.initialSecret(version: version, clientDestinationCID: dcid)
                == (try full.hex("\(prefix).initial_secret")))
        let (client, server) = InitialSecrets.secrets(version: version, clientDestinationCID: dcid)
        #expect(client == (try full.hex("\(prefix).client_initial_secret")))
        #expect(server == (try full.hex("\(prefix).server_initial_secret")))
    }

    @Test("key, IV and header-protection key for each side", arguments: versions)
    func keyMaterial(prefix: String, version: QuicVersion) throws {
        let (client, server) = InitialSecrets.secrets(version: version, clientDestinationCID: dcid)
        for (side, secret) in [("client", client), ("server", server)] {
            let material = PacketKeyMaterial(suite: .aes128GCMSHA256, secret: secret, version: version)
            #expect(material.key == (try full.hex("\(prefix).\(side).key")), "\(prefix) \(side) key")
            #expect(material.iv == (try full.hex("\(prefix).\(side).iv")), "\(prefix) \(side) iv")
            #expect(material.headerProtectionKey == (try full.hex("\(prefix).\(side).hp")), "\(prefix) \(side) hp")
        }
    }

    @Test("header-protection masks from the RFC samples", arguments: versions)
    func masks(prefix: String, version: QuicVersion) throws {
        let (client, server) = InitialSecrets.secrets(version: version, clientDestinationCID: dcid)
        for (section, secret) in [("a2", client), ("a3", server)] {
            let material = PacketKeyMaterial(suite: .aes128GCMSHA256, secret: secret, version: version)
            let key = try HeaderProtectionKey(suite: .aes128GCMSHA256, key: material.headerProtectionKey)
            let sample = try full.hex("\(prefix).\(section).sample")
            let mask = sample.withUnsafeBytes { key.mask(sample: $0.baseAddress!) }
            let expected = try full.hex("\(prefix).\(section).mask")
            #expect(maskBytes(mask) == expected, "\(prefix) \(section) mask")
        }
    }

    /// A.2: the complete 1200-byte client Initial, built from the RFC's plaintext.
    @Test("client Initial protected from plaintext equals the RFC packet, and back", arguments: versions)
    func clientInitial(prefix: String, version: QuicVersion) throws {
        try roundTrip(prefix: prefix, section: "a2", version: version, role: .client, packetNumber: 2, pnLength: 4)
    }

    /// A.3: the server Initial (ACK + CRYPTO, 2-byte packet number).
    @Test("server Initial protected from plaintext equals the RFC packet, and back", arguments: versions)
    func serverInitial(prefix: String, version: QuicVersion) throws {
        try roundTrip(prefix: prefix, section: "a3", version: version, role: .server, packetNumber: 1, pnLength: 2)
    }

    func roundTrip(prefix: String, section: String, version: QuicVersion, role: Role, packetNumber: UInt64, pnLength: Int)
        throws
    {
        let unprotected = try full.hex("\(prefix).\(section).unprotected_packet")
        let header = try full.hex("\(prefix).\(section).unprotected_header")
        let expected = try full.hex("\(prefix).\(section).packet")
        let sender = try InitialSecrets.keys(version: version, clientDestinationCID: dcid, role: role).send
        let receiver = try InitialSecrets.keys(version: version, clientDestinationCID: dcid, role: role.peer).receive

        // The header as our encoder writes it must match the RFC's unprotected header.
        let encodedHeader = encodeHeader(
            version: version, role: role, packetNumber: packetNumber, pnLength: pnLength,
            payloadLength: unprotected.count - header.count)
        #expect(encodedHeader == header, "encoded \(prefix) \(section) header")

        var packet = unprotected + [UInt8](repeating: 0, count: 16)
        packet.withUnsafeMutableBytes { raw in
            PacketProtection.protect(
                packet: raw, packetNumberOffset: header.count - pnLength, packetNumberLength: pnLength,
                packetNumber: packetNumber, keys: sender)
        }
        #expect(packet.count == expected.count)
        #expect(hexString(packet) == hexString(expected), "protected \(prefix) \(section) packet")

        // Unprotect the RFC's bytes in place with the peer's keys.
        var received = expected
        let parsed = try received.withUnsafeBytes { try PacketHeader.parse($0, shortHeaderCIDLength: 0) }
        #expect(parsed.type == .initial)
        #expect(parsed.version == version)
        #expect(parsed.end == expected.count)
        let result = received.withUnsafeMutableBytes { raw in
            PacketProtection.unprotect(
                packet: raw, packetNumberOffset: parsed.packetNumberOffset, largestProcessed: nil, keys: receiver)
        }
        let opened = try #require(result)
        #expect(opened.packetNumber == packetNumber)
        #expect(Array(received[..<opened.payload.upperBound]) == unprotected)
    }

    func encodeHeader(version: QuicVersion, role: Role, packetNumber: UInt64, pnLength: Int, payloadLength: Int)
        -> [UInt8]
    {
        let destination = role == .client ? dcid : ConnectionID.empty
        let source = role == .client ? ConnectionID.empty : ConnectionID(bytes: [0xf0, 0x67, 0xa5, 0x50, 0x2a, 0x42, 0x62, 0xb5])!
        var buffer = [UInt8](repeating: 0, count: 64)
        let length = buffer.withUnsafeMutableBytes { raw -> Int in
            var writer = ByteWriter(raw)
            let encoded = HeaderEncoder.encodeLong(
                type: .initial, version: version, destinationCID: destination, sourceCID: source,
                packetNumber: packetNumber, packetNumberLength: pnLength, into: &writer)
            encoded.patchLength(packetEnd: writer.offset + payloadLength + 16, in: raw)
            return writer.offset
        }
        return Array(buffer[..<length])
    }

    /// A.4: the Retry integrity tag.
    @Test("Retry integrity tag", arguments: versions)
    func retry(prefix: String, version: QuicVersion) throws {
        let retry = try short.hex("\(prefix).a4.retry")
        let withoutTag = Array(retry.dropLast(16))
        let tag = withoutTag.withUnsafeBytes {
            RetryIntegrity.tag(version: version, originalDestinationCID: dcid, retryWithoutTag: $0)
        }
        #expect(tag == Array(retry.suffix(16)))
        #expect(retry.withUnsafeBytes { RetryIntegrity.isValid(version: version, originalDestinationCID: dcid, retryPacket: $0) })

        // Our encoder writes the same Retry (the RFC's unused bits are 0xf).
        var buffer = [UInt8](repeating: 0, count: 64)
        let written = buffer.withUnsafeMutableBytes { raw -> Int in
            var writer = ByteWriter(raw)
            _ = Array("token".utf8).withUnsafeBytes { token in
                RetryPacket.encodeWithoutTag(
                    version: version, destinationCID: .empty,
                    sourceCID: ConnectionID(bytes: [0xf0, 0x67, 0xa5, 0x50, 0x2a, 0x42, 0x62, 0xb5])!, token: token,
                    unusedBits: 0x0f, into: &writer)
            }
            return writer.offset
        }
        #expect(Array(buffer[..<written]) == withoutTag)

        // A tag for another original DCID, or one flipped bit, fails.
        let otherDCID = ConnectionID(bytes: [1, 2, 3, 4])!
        #expect(!retry.withUnsafeBytes { RetryIntegrity.isValid(version: version, originalDestinationCID: otherDCID, retryPacket: $0) })
        var tampered = retry
        tampered[tampered.count - 1] ^= 0x01
        #expect(!tampered.withUnsafeBytes { RetryIntegrity.isValid(version: version, originalDestinationCID: dcid, retryPacket: $0) })

        // The parser finds the token and the tag.
        let parsed = try retry.withUnsafeBytes { try PacketHeader.parse($0, shortHeaderCIDLength: 0) }
        #expect(parsed.type == .retry)
        #expect(Array(parsed.token) == Array("token".utf8))
    }
}

func maskBytes(_ mask: UInt64) -> [UInt8] {
    (0..<5).map { UInt8(truncatingIfNeeded: mask >> UInt64(32 - 8 * $0)) }
}
