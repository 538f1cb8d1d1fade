/// ServerHello and HelloRetryRequest, which share one structure (RFC 8446 §4.1.3, §4.1.4).
struct ServerHello {
    /// SHA-256("HelloRetryRequest"): the random that marks a HelloRetryRequest (§4.1.3).
    static let helloRetryRequestRandom: [UInt8] = [
        0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
        0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
    ]
    /// The last 8 bytes of a random from a TLS 1.3 server negotiating TLS 1.2 or TLS 1.1 and
    /// below: "DOWNGRD" followed by 01 or 00 (§4.1.3).
    static let downgradeSentinels: [[UInt8]] = [
        [0x44, 0x4f, 0x57, 0x4e, 0x47, 0x52, 0x44, 0x01], [0x44, 0x4f, 0x57, 0x4e, 0x47, 0x52, 0x44, 0x00],
    ]

    var random: [UInt8]
    var legacySessionIDEcho: [UInt8] = []
    var cipherSuite: UInt16
    var extensions: ExtensionBlock

    var isHelloRetryRequest: Bool { random == ServerHello.helloRetryRequestRandom }

    func encode() -> [UInt8] {
        HandshakeMessage.encode(.serverHello) { writer in
            writer.writeUInt16(ProtocolVersion.tls12)
            writer.writeBytes(random)
            writer.writeVector(lengthBytes: 1, legacySessionIDEcho)
            writer.writeUInt16(cipherSuite)
            writer.writeUInt8(0)
            extensions.encode(into: &writer)
        }
    }

    /// Parses the body, checking legacy_version (0x0303, else protocol_version: an older version
    /// must not be negotiated, RFC 9001 §4.2) and legacy_compression_method (0, else
    /// illegal_parameter, §4.1.3).
    static func decode(_ body: [UInt8]) throws(TLSAlert) -> ServerHello {
        var reader = TLSReader(body)
        let legacyVersion = try reader.readUInt16("ServerHello.legacy_version")
        guard legacyVersion == ProtocolVersion.tls12 else {
            throw TLSAlert(
                .protocolVersion, "ServerHello.legacy_version is 0x\(String(legacyVersion, radix: 16)), not 0x0303")
        }
        let random = try reader.readBytes(32, "ServerHello.random")
        let sessionID = try reader.readVector(lengthBytes: 1, max: 32, "legacy_session_id_echo")
        let suite = try reader.readUInt16("cipher_suite")
        guard try reader.readUInt8("legacy_compression_method") == 0 else {
            throw .illegalParameter("ServerHello.legacy_compression_method is not 0")
        }
        guard !reader.isAtEnd else {
            throw TLSAlert(.protocolVersion, "ServerHello without extensions negotiates TLS 1.2 or older")
        }
        let extensions = try ExtensionBlock(reading: &reader, minLength: 6, in: "ServerHello")
        try reader.expectEnd("ServerHello")
        return ServerHello(random: random, legacySessionIDEcho: sessionID, cipherSuite: suite, extensions: extensions)
    }
}
