import COpenSSL

// Reading key and certificate material into OpenSSL: configuration time only, never per packet.

/// A memory BIO over `bytes` for the duration of `body`.
func withMemoryBIO<R>(_ bytes: [UInt8], _ body: (OpaquePointer) throws(CryptoError) -> R) throws(CryptoError) -> R {
    let result: Result<R, CryptoError> = bytes.withUnsafeBytes { raw in
        guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else {
            return .failure(.openSSL("BIO_new_mem_buf"))
        }
        defer { BIO_free(bio) }
        do throws(CryptoError) { return .success(try body(bio)) } catch { return .failure(error) }
    }
    return try result.get()
}

/// The contents of a file, read through OpenSSL's BIO so QuicCrypto needs no Foundation.
func readFile(_ path: String) throws(CryptoError) -> [UInt8] {
    guard let bio = BIO_new_file(path, "rb") else { throw .openSSL("cannot open \(path)") }
    defer { BIO_free(bio) }
    var contents: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 16384)
    while true {
        let count = BIO_read(bio, &chunk, Int32(chunk.count))
        if count <= 0 { break }
        contents.append(contentsOf: chunk[..<Int(count)])
        guard contents.count <= 16 << 20 else { throw CryptoError("\(path) is larger than 16 MiB; not a PEM file") }
    }
    return contents
}

/// PEM pass-phrase callback that refuses: without it OpenSSL would prompt on the terminal.
let refusePassphrase: @convention(c) (UnsafeMutablePointer<CChar>?, Int32, Int32, UnsafeMutableRawPointer?) -> Int32 =
    { _, _, _, _ in 0 }
