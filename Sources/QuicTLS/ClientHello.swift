/// ClientHello (RFC 8446 §4.1.2). QUIC clients send an empty legacy_session_id (RFC 9001 §8.4).
struct ClientHello {
    var random: [UInt8]
    var legacySessionID: [UInt8] = []
    var cipherSuites: [UInt16]
    var extensions: ExtensionBlock

    /// The whole handshake message.
    func encode() -> [UInt8] {
        HandshakeMessage.encode(.clientHello) { writer in
            writer.writeUInt16(ProtocolVersion.tls12)  // legacy_version
            writer.writeBytes(random)
            writer.writeVector(lengthBytes: 1, legacySessionID)
            writer.writeVector(lengthBytes: 2) { list in for suite in cipherSuites { list.writeUInt16(suite) } }
            writer.writeVector(lengthBytes: 1, [0])  // legacy_compression_methods: null only
            extensions.encode(into: &writer)
        }
    }

    /// Parses a ClientHello body, enforcing what TLS 1.3 fixes: legacy_version 0x0303 (§4.1.2;
    /// anything older is a version QUIC may not use, RFC 9001 §4.2 → protocol_version), exactly
    /// the null compression method (→ illegal_parameter), and an extensions block (a hello
    /// without one is TLS 1.2 or older → protocol_version).
    static func decode(_ body: [UInt8]) throws(TLSAlert) -> ClientHello {
        var reader = TLSReader(body)
        let legacyVersion = try reader.readUInt16("ClientHello.legacy_version")
        guard legacyVersion == ProtocolVersion.tls12 else {
            throw TLSAlert(
                .protocolVersion, "ClientHello.legacy_version is 0x\(String(legacyVersion, radix: 16)), not 0x0303")
        }
        let random = try reader.readBytes(32, "ClientHello.random")
        let sessionID = try reader.readVector(lengthBytes: 1, max: 32, "legacy_session_id")
        var suiteList = try reader.readSubReader(lengthBytes: 2, min: 2, "cipher_suites")
        guard suiteList.remaining % 2 == 0 else { throw .decodeError("cipher_suites has an odd length") }
        var suites: [UInt16] = []
        while !suiteList.isAtEnd { suites.append(try suiteList.readUInt16("cipher suite")) }
        let compression = try reader.readVector(lengthBytes: 1, min: 1, "legacy_compression_methods")
        guard compression == [0] else {
            throw .illegalParameter("legacy_compression_methods must be exactly the null method")
        }
        guard !reader.isAtEnd else {
            throw TLSAlert(.protocolVersion, "ClientHello without extensions is TLS 1.2 or older")
        }
        let extensions = try ExtensionBlock(reading: &reader, in: "ClientHello")
        try reader.expectEnd("ClientHello")
        return ClientHello(random: random, legacySessionID: sessionID, cipherSuites: suites, extensions: extensions)
    }
}
