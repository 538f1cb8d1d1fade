/// EncryptedExtensions (RFC 8446 §4.3.1): the server's extensions that need no key exchange.
struct EncryptedExtensions {
    var extensions: ExtensionBlock

    func encode() -> [UInt8] { HandshakeMessage.encode(.encryptedExtensions) { extensions.encode(into: &$0) } }

    static func decode(_ body: [UInt8]) throws(TLSAlert) -> EncryptedExtensions {
        var reader = TLSReader(body)
        let extensions = try ExtensionBlock(reading: &reader, in: "EncryptedExtensions")
        try reader.expectEnd("EncryptedExtensions")
        return EncryptedExtensions(extensions: extensions)
    }
}

/// CertificateRequest (RFC 8446 §4.3.2). During the handshake the context is empty; QUIC forbids
/// post-handshake authentication (RFC 9001 §4.4).
struct CertificateRequest {
    var context: [UInt8] = []
    var extensions: ExtensionBlock

    func encode() -> [UInt8] {
        HandshakeMessage.encode(.certificateRequest) { writer in
            writer.writeVector(lengthBytes: 1, context)
            extensions.encode(into: &writer)
        }
    }

    static func decode(_ body: [UInt8]) throws(TLSAlert) -> CertificateRequest {
        var reader = TLSReader(body)
        let context = try reader.readVector(lengthBytes: 1, "certificate_request_context")
        let extensions = try ExtensionBlock(reading: &reader, minLength: 2, in: "CertificateRequest")
        try reader.expectEnd("CertificateRequest")
        return CertificateRequest(context: context, extensions: extensions)
    }
}
