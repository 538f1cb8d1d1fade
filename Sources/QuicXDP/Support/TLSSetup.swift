import Glibc

/// Writes a line to standard error.
public func printError(_ line: String) {
    let text = line + "\n"
    _ = text.withCString { write(2, $0, strlen($0)) }
}

/// Builds TLS settings from files, with errors that name the file and what to do.
public enum TLSSetup {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// A server's certificate chain and key.
    public static func server(certificate: String, key: String, alpn: [String]) throws(Failure) -> TLSConfiguration {
        var tls = TLSConfiguration(alpn: alpn)
        guard access(certificate, R_OK) == 0 else {
            throw Failure(description: "cannot read the certificate \(certificate); give a PEM chain with --cert")
        }
        guard access(key, R_OK) == 0 else {
            throw Failure(description: "cannot read the private key \(key); give a PEM key with --key")
        }
        do {
            tls.certificateChain = try Certificate.chain(pemFile: certificate)
        } catch {
            throw Failure(description: "\(certificate) is not a PEM certificate chain (\(error.message))")
        }
        do {
            tls.privateKey = try PrivateKey(pemFile: key)
        } catch {
            throw Failure(description: "\(key) is not a usable PEM private key (\(error.message)); encrypted keys are not supported")
        }
        guard let privateKey = tls.privateKey, let leaf = tls.certificateChain.first, privateKey.matches(leaf) else {
            throw Failure(description: "the key in \(key) does not belong to the first certificate in \(certificate)")
        }
        return tls
    }

    /// A client's verification settings: a CA file, the system store, or none (with a warning).
    public static func client(alpn: [String], caFile: String?, insecure: Bool) throws(Failure) -> TLSConfiguration {
        var tls = TLSConfiguration(alpn: alpn)
        if insecure {
            tls.verification = .none
            tls.log = { message in printError(message.hasPrefix("warning:") ? message : "warning: \(message)") }
        } else if let caFile {
            guard access(caFile, R_OK) == 0 else {
                throw Failure(description: "cannot read the CA file \(caFile); give a PEM file with --ca, or --insecure to skip verification")
            }
            tls.verification = .caFile(caFile)
        } else {
            tls.verification = .systemTrustStore
        }
        return tls
    }

    /// The cipher suites for a --cipher choice.
    public static func cipherSuites(_ name: String) -> [CipherSuite]? {
        switch name.lowercased() {
        case "aes128", "aes-128", "aes128gcm": return [.aes128GCMSHA256]
        case "aes256", "aes-256", "aes256gcm": return [.aes256GCMSHA384]
        case "chacha20", "chacha", "chacha20poly1305": return [.chacha20Poly1305SHA256]
        default: return nil
        }
    }
}
