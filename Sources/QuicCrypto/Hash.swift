import COpenSSL

/// The hash functions TLS 1.3 cipher suites use (RFC 8446 §B.4).
public enum HashAlgorithm: Sendable, Hashable {
    case sha256, sha384

    public var digestLength: Int { self == .sha256 ? 32 : 48 }

    var evp: OpaquePointer { self == .sha256 ? EVP_sha256() : EVP_sha384() }

    /// The digest of `data`.
    public func hash(_ data: UnsafeRawBufferPointer) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: digestLength)
        var length: UInt32 = 0
        let status = output.withUnsafeMutableBufferPointer { out in
            EVP_Digest(data.baseAddress, data.count, out.baseAddress, &length, evp, nil)
        }
        precondition(status == 1 && Int(length) == digestLength, "EVP_Digest failed")
        return output
    }

    public func hash(_ data: [UInt8]) -> [UInt8] { data.withUnsafeBytes { hash($0) } }

    /// HMAC(key, data) (RFC 2104).
    public func hmac(key: UnsafeRawBufferPointer, data: UnsafeRawBufferPointer) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: digestLength)
        var length: UInt32 = 0
        // HMAC treats a NULL key pointer as "no key"; give it a valid pointer even when empty.
        let keyPointer = key.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!
        var empty: UInt8 = 0
        let result = withUnsafePointer(to: &empty) { emptyPointer in
            let dataPointer = data.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? emptyPointer
            return output.withUnsafeMutableBufferPointer { out in
                HMAC(evp, keyPointer, Int32(key.count), dataPointer, data.count, out.baseAddress, &length)
            }
        }
        precondition(result != nil && Int(length) == digestLength, "HMAC failed")
        return output
    }

    public func hmac(key: [UInt8], data: [UInt8]) -> [UInt8] {
        key.withUnsafeBytes { k in data.withUnsafeBytes { d in hmac(key: k, data: d) } }
    }
}

/// A running hash over a handshake transcript (RFC 8446 §4.4.1) whose intermediate values can be
/// read without ending it.
public final class TranscriptHash {
    public let algorithm: HashAlgorithm
    private let context: OpaquePointer

    public init(_ algorithm: HashAlgorithm) {
        self.algorithm = algorithm
        guard let context = EVP_MD_CTX_new() else { fatalError("EVP_MD_CTX_new: out of memory") }
        self.context = context
        precondition(EVP_DigestInit_ex(context, algorithm.evp, nil) == 1, "EVP_DigestInit_ex failed")
    }

    /// A copy with the same state, for a hash that must fork (e.g. when the suite's hash is not yet
    /// known, or to compute over a truncated ClientHello).
    public func copy() -> TranscriptHash {
        let other = TranscriptHash(algorithm)
        precondition(EVP_MD_CTX_copy_ex(other.context, context) == 1, "EVP_MD_CTX_copy_ex failed")
        return other
    }

    public func update(_ data: UnsafeRawBufferPointer) {
        guard data.count > 0 else { return }
        precondition(EVP_DigestUpdate(context, data.baseAddress, data.count) == 1, "EVP_DigestUpdate failed")
    }

    public func update(_ data: [UInt8]) { data.withUnsafeBytes { update($0) } }

    /// The hash of everything so far; the transcript continues.
    public func current() -> [UInt8] {
        guard let copy = EVP_MD_CTX_new() else { fatalError("EVP_MD_CTX_new: out of memory") }
        defer { EVP_MD_CTX_free(copy) }
        precondition(EVP_MD_CTX_copy_ex(copy, context) == 1, "EVP_MD_CTX_copy_ex failed")
        var output = [UInt8](repeating: 0, count: algorithm.digestLength)
        var length: UInt32 = 0
        precondition(EVP_DigestFinal_ex(copy, &output, &length) == 1, "EVP_DigestFinal_ex failed")
        return output
    }

    deinit { EVP_MD_CTX_free(context) }
}
