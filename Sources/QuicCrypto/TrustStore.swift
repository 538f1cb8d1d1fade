import COpenSSL
import CQuicShim

/// Trust anchors and X.509 path validation through OpenSSL's X509_STORE and X509_VERIFY_PARAM
/// (RFC 5280 §6), with host name or IP address matching (RFC 6125). Loading a store reads files;
/// build one per configuration and share it: verification only reads it.
public final class TrustStore: @unchecked Sendable {
    // X509_STORE locks internally; X509_verify_cert on many threads with one store is how
    // OpenSSL's own SSL_CTX uses it.
    private let store: OpaquePointer

    private init(configure: (OpaquePointer) -> Bool, what: String) throws(CryptoError) {
        guard let store = X509_STORE_new() else { throw .openSSL("X509_STORE_new") }
        guard configure(store) else {
            X509_STORE_free(store)
            throw .openSSL(what)
        }
        self.store = store
    }

    deinit { X509_STORE_free(store) }

    /// The system's trust anchors (OpenSSL's default paths; on Debian /etc/ssl/certs from the
    /// ca-certificates package).
    public static func system() throws(CryptoError) -> TrustStore {
        try TrustStore(configure: { X509_STORE_set_default_paths($0) == 1 }, what: "loading the system trust store")
    }

    /// The certificates in a PEM file as the only trust anchors.
    public convenience init(caFile path: String) throws(CryptoError) {
        try self.init(
            configure: { X509_STORE_load_file($0, path) == 1 },
            what: "loading CA certificates from \(path) (is it a readable PEM file?)")
    }

    /// The given certificates as the only trust anchors.
    public convenience init(anchors: [Certificate]) throws(CryptoError) {
        var parsed: [X509Certificate] = []
        for anchor in anchors { parsed.append(try X509Certificate(anchor)) }
        try self.init(
            configure: { store in parsed.allSatisfy { X509_STORE_add_cert(store, $0.pointer) == 1 } },
            what: "adding trust anchors")
    }

    public enum Purpose: Sendable {
        /// The certificate of a server, checked against a name (X509_PURPOSE_SSL_SERVER).
        case serverAuthentication
        /// A client certificate for mutual TLS (X509_PURPOSE_SSL_CLIENT).
        case clientAuthentication
    }

    /// Validates `chain` (leaf first, then intermediates in any order) up to one of the anchors.
    /// `peerName` is a DNS name or an IP address literal matched against the leaf; nil skips the
    /// name check (client certificates). `time` is the validation time in seconds since the epoch,
    /// nil for now. Chains longer than 10 certificates are refused.
    public func verify(
        chain: [Certificate], purpose: Purpose, peerName: String?, time: Int64? = nil
    )
        throws(CertificateVerificationError)
    {
        let parsed: CertificateChain
        do { parsed = try CertificateChain(chain) } catch {
            throw CertificateVerificationError(reason: .malformed, code: 0, message: error.message)
        }
        try verify(chain: parsed, purpose: purpose, peerName: peerName, time: time)
    }

    /// `verify(chain:purpose:peerName:time:)` for a chain parsed once already.
    public func verify(
        chain: CertificateChain, purpose: Purpose, peerName: String?, time: Int64? = nil
    )
        throws(CertificateVerificationError)
    {
        let parsed = chain.certificates
        guard let untrusted = quic_x509_stack_new() else {
            throw CertificateVerificationError(reason: .other, code: 0, message: "out of memory")
        }
        defer { quic_x509_stack_free(untrusted) }
        for intermediate in parsed.dropFirst() { _ = quic_x509_stack_push(untrusted, intermediate.retained()) }
        guard let context = X509_STORE_CTX_new() else {
            throw CertificateVerificationError(reason: .other, code: 0, message: "out of memory")
        }
        defer { X509_STORE_CTX_free(context) }
        guard X509_STORE_CTX_init(context, store, parsed[0].pointer, untrusted) == 1,
            let parameters = X509_STORE_CTX_get0_param(context)
        else { throw CertificateVerificationError(reason: .other, code: 0, message: "X509_STORE_CTX_init failed") }
        X509_STORE_CTX_set_purpose(
            context, purpose == .serverAuthentication ? X509_PURPOSE_SSL_SERVER : X509_PURPOSE_SSL_CLIENT)
        X509_VERIFY_PARAM_set_depth(parameters, 10)
        if let time { X509_VERIFY_PARAM_set_time(parameters, time_t(time)) }
        if let peerName {
            // An address literal is matched against iPAddress entries, anything else as a DNS name.
            if X509_VERIFY_PARAM_set1_ip_asc(parameters, peerName) != 1 {
                ERR_clear_error()
                X509_VERIFY_PARAM_set_hostflags(parameters, UInt32(X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS))
                guard X509_VERIFY_PARAM_set1_host(parameters, peerName, peerName.utf8.count) == 1 else {
                    throw CertificateVerificationError(
                        reason: .hostnameMismatch, code: 0, message: "\(peerName) is not a valid host name")
                }
            }
        }
        let verified = X509_verify_cert(context)
        ERR_clear_error()
        if verified == 1 { return }
        let code = X509_STORE_CTX_get_error(context)
        let message = String(cString: X509_verify_cert_error_string(Int(code)))
        throw CertificateVerificationError(reason: .init(openSSLCode: code), code: code, message: message)
    }
}

/// Why a certificate chain was refused, with OpenSSL's X509_V_ERR code and text.
public struct CertificateVerificationError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Reason: Sendable, Hashable {
        case malformed, expired, notYetValid, untrustedIssuer, hostnameMismatch, badSignature, revoked
        case wrongPurpose, other

        init(openSSLCode code: Int32) {
            switch code {
            case X509_V_ERR_CERT_HAS_EXPIRED: self = .expired
            case X509_V_ERR_CERT_NOT_YET_VALID: self = .notYetValid
            case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
                X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN,
                X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE, X509_V_ERR_CERT_UNTRUSTED, X509_V_ERR_CERT_CHAIN_TOO_LONG:
                self = .untrustedIssuer
            case X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH: self = .hostnameMismatch
            case X509_V_ERR_CERT_SIGNATURE_FAILURE, X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE,
                X509_V_ERR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY:
                self = .badSignature
            case X509_V_ERR_CERT_REVOKED: self = .revoked
            case X509_V_ERR_INVALID_PURPOSE, X509_V_ERR_CERT_REJECTED: self = .wrongPurpose
            case X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD, X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD,
                X509_V_ERR_INVALID_CA, X509_V_ERR_INVALID_EXTENSION:
                self = .malformed
            default: self = .other
            }
        }
    }

    public var reason: Reason
    public var code: Int32
    public var message: String

    public var description: String { "certificate verification failed: \(message) (X509_V_ERR \(code))" }
}
