import COpenSSL
import CQuicShim

/// An X.509 certificate (RFC 5280) as the DER bytes carried in a TLS Certificate message
/// (RFC 8446 §4.4.2). The bytes are parsed only when used.
public struct Certificate: Sendable, Hashable {
    public let der: [UInt8]

    public init(der: [UInt8]) { self.der = der }

    /// Every certificate in PEM text, in order (leaf first for a chain file).
    public static func chain(pem: [UInt8]) throws(CryptoError) -> [Certificate] {
        let chain = try withMemoryBIO(pem) { bio throws(CryptoError) -> [Certificate] in
            var certificates: [Certificate] = []
            while let x509 = PEM_read_bio_X509(bio, nil, refusePassphrase, nil) {
                defer { X509_free(x509) }
                certificates.append(Certificate(der: try X509Certificate.der(of: x509)))
            }
            // The loop ends on end-of-data, which OpenSSL queues as a "no start line" error.
            ERR_clear_error()
            return certificates
        }
        guard !chain.isEmpty else { throw CryptoError("no CERTIFICATE block in the PEM data") }
        return chain
    }

    public static func chain(pem: String) throws(CryptoError) -> [Certificate] { try chain(pem: Array(pem.utf8)) }

    /// Every certificate in a PEM file (configuration time only).
    public static func chain(pemFile path: String) throws(CryptoError) -> [Certificate] {
        do { return try chain(pem: try readFile(path)) } catch {
            throw CryptoError("cannot load certificates from \(path): \(error.message)")
        }
    }

    /// The subject public key, for verifying the peer's CertificateVerify. Throws when the DER
    /// does not parse or the key is of a type QuicXDP does not use.
    public func publicKey() throws(CryptoError) -> PublicKey { try CertificateChain([self]).leafPublicKey() }

    /// Whether the bytes parse as one DER X.509 certificate with nothing after it.
    public var isWellFormed: Bool { (try? X509Certificate(self)) != nil }

    /// The subject name in OpenSSL's one-line form, for logs; nil when the DER does not parse.
    public var subjectDescription: String? {
        guard let x509 = try? X509Certificate(self), let name = X509_get_subject_name(x509.pointer),
            let text = X509_NAME_oneline(name, nil, 0)
        else { return nil }
        defer { quic_openssl_free(text) }
        return String(cString: text)
    }
}

/// A peer's certificate chain parsed once, for both path validation and the leaf's key: parsing
/// is the expensive part (OpenSSL 3 decodes each subject key through its provider decoders).
public final class CertificateChain {
    let certificates: [X509Certificate]

    /// Parses every certificate; throws when one is not DER X.509 or the chain is empty.
    public init(_ chain: [Certificate]) throws(CryptoError) {
        guard !chain.isEmpty else { throw CryptoError("empty certificate chain") }
        var parsed: [X509Certificate] = []
        parsed.reserveCapacity(chain.count)
        for (index, certificate) in chain.enumerated() {
            do { parsed.append(try X509Certificate(certificate)) } catch {
                throw CryptoError("certificate \(index) of the chain does not parse as DER X.509")
            }
        }
        certificates = parsed
    }

    public var count: Int { certificates.count }

    /// The leaf's subject public key; throws for key types QuicXDP does not use.
    public func leafPublicKey() throws(CryptoError) -> PublicKey {
        guard let pointer = X509_get_pubkey(certificates[0].pointer) else {
            throw .openSSL("certificate has no public key")
        }
        return PublicKey(try EVPKey(taking: pointer))
    }
}

/// A parsed certificate owning its OpenSSL X509.
final class X509Certificate {
    let pointer: OpaquePointer

    /// Parses DER, refusing trailing bytes after the certificate.
    init(_ certificate: Certificate) throws(CryptoError) {
        let parsed: OpaquePointer? = certificate.der.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return nil }
            var cursor: UnsafePointer<UInt8>? = base
            guard let x509 = d2i_X509(nil, &cursor, buffer.count) else { return nil }
            guard cursor == base + buffer.count else {
                X509_free(x509)
                return nil
            }
            return x509
        }
        guard let parsed else {
            ERR_clear_error()
            throw CryptoError("certificate DER does not parse")
        }
        pointer = parsed
    }

    deinit { X509_free(pointer) }

    /// A new reference to the same X509 (for a stack that frees what it holds).
    func retained() -> OpaquePointer {
        X509_up_ref(pointer)
        return pointer
    }

    static func der(of x509: OpaquePointer) throws(CryptoError) -> [UInt8] {
        var output: UnsafeMutablePointer<UInt8>? = nil
        let length = i2d_X509(x509, &output)
        guard length > 0, let output else { throw .openSSL("i2d_X509") }
        defer { quic_openssl_free(output) }
        return Array(UnsafeBufferPointer(start: output, count: Int(length)))
    }
}
