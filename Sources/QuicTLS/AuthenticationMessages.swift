import QuicCrypto

/// Certificate (RFC 8446 §4.4.2): X.509 certificates only (no raw public keys), leaf first.
struct CertificateMessage {
    var context: [UInt8] = []
    var entries: [(data: [UInt8], extensions: ExtensionBlock)]

    func encode() -> [UInt8] {
        HandshakeMessage.encode(.certificate) { writer in
            writer.writeVector(lengthBytes: 1, context)
            writer.writeVector(lengthBytes: 3) { list in
                for entry in entries {
                    list.writeVector(lengthBytes: 3, entry.data)
                    entry.extensions.encode(into: &list)
                }
            }
        }
    }

    static func decode(_ body: [UInt8]) throws(TLSAlert) -> CertificateMessage {
        var reader = TLSReader(body)
        let context = try reader.readVector(lengthBytes: 1, "certificate_request_context")
        var list = try reader.readSubReader(lengthBytes: 3, "certificate_list")
        try reader.expectEnd("Certificate")
        var entries: [(data: [UInt8], extensions: ExtensionBlock)] = []
        while !list.isAtEnd {
            let data = try list.readVector(lengthBytes: 3, min: 1, "cert_data")
            entries.append((data, try ExtensionBlock(reading: &list, in: "CertificateEntry")))
        }
        return CertificateMessage(context: context, entries: entries)
    }
}

/// CertificateVerify (RFC 8446 §4.4.3).
struct CertificateVerify {
    var scheme: UInt16
    var signature: [UInt8]

    func encode() -> [UInt8] {
        HandshakeMessage.encode(.certificateVerify) { writer in
            writer.writeUInt16(scheme)
            writer.writeVector(lengthBytes: 2, signature)
        }
    }

    static func decode(_ body: [UInt8]) throws(TLSAlert) -> CertificateVerify {
        var reader = TLSReader(body)
        let scheme = try reader.readUInt16("CertificateVerify.algorithm")
        let signature = try reader.readVector(lengthBytes: 2, min: 1, "CertificateVerify.signature")
        try reader.expectEnd("CertificateVerify")
        return CertificateVerify(scheme: scheme, signature: signature)
    }

    /// What is signed (§4.4.3): 64 spaces, the context string, a zero byte, the transcript hash.
    static func signedContent(transcriptHash: [UInt8], sentBy role: SenderRole) -> [UInt8] {
        let context = role == .server ? "TLS 1.3, server CertificateVerify" : "TLS 1.3, client CertificateVerify"
        return [UInt8](repeating: 0x20, count: 64) + Array(context.utf8) + [0] + transcriptHash
    }
}

/// Which side produced a message, for the CertificateVerify context string.
enum SenderRole { case client, server }

/// Finished (RFC 8446 §4.4.4): verify_data = HMAC(finished_key, transcript hash).
struct Finished {
    var verifyData: [UInt8]

    func encode() -> [UInt8] { HandshakeMessage.encode(.finished) { $0.writeBytes(verifyData) } }

    /// The body must be exactly Hash.length bytes (decode_error otherwise).
    static func decode(_ body: [UInt8], hash: HashAlgorithm) throws(TLSAlert) -> Finished {
        guard body.count == hash.digestLength else {
            throw .decodeError("Finished has \(body.count) bytes, expected \(hash.digestLength)")
        }
        return Finished(verifyData: body)
    }
}
