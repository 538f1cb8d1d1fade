import COpenSSL

/// A failure inside OpenSSL while setting up keys or parsing key material. Per-packet operations
/// never throw: authentication failure is a `false` the caller acts on (drop the packet).
public struct CryptoError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var fileID: String
    public var line: Int

    public init(_ message: String, fileID: String = #fileID, line: Int = #line) {
        self.message = message
        self.fileID = fileID
        self.line = line
    }

    /// An error that appends OpenSSL's queued error text, emptying the queue.
    static func openSSL(_ what: String, fileID: String = #fileID, line: Int = #line) -> CryptoError {
        var details: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            details.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        let suffix = details.isEmpty ? "" : ": " + details.joined(separator: "; ")
        return CryptoError(what + suffix, fileID: fileID, line: line)
    }

    public var description: String { "\(message) (\(fileID):\(line))" }
}

/// Fills `buffer` with cryptographically secure random bytes (OpenSSL RAND_bytes).
public func secureRandomBytes(_ buffer: UnsafeMutableRawBufferPointer) {
    guard buffer.count > 0 else { return }
    let status = RAND_bytes(buffer.baseAddress!.assumingMemoryBound(to: UInt8.self), Int32(buffer.count))
    precondition(status == 1, "RAND_bytes failed: the system has no entropy source")
}

/// `count` cryptographically secure random bytes.
public func secureRandomBytes(count: Int) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: count)
    bytes.withUnsafeMutableBytes { secureRandomBytes($0) }
    return bytes
}

/// Compares in time independent of where the bytes differ (CRYPTO_memcmp).
public func constantTimeEquals(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
    guard a.count == b.count else { return false }
    guard a.count > 0 else { return true }
    return CRYPTO_memcmp(a.baseAddress, b.baseAddress, a.count) == 0
}
