import COpenSSL

/// One AEAD key for one direction of packet protection (RFC 9001 §5.3), sealing or opening in
/// place in caller-owned memory. The OpenSSL context is made once, with the key, and reused for
/// every packet: each operation only sets the nonce.
public final class AEADKey {
    public enum Direction: Sendable { case seal, open }

    public let suite: CipherSuite
    public let direction: Direction
    @usableFromInline let context: OpaquePointer
    /// The static IV in its first 12 bytes; the rest is zero.
    @usableFromInline let iv: (UInt64, UInt64)

    public init(suite: CipherSuite, key: [UInt8], iv: [UInt8], direction: Direction) throws(CryptoError) {
        guard key.count == suite.keyLength, iv.count == suite.ivLength else {
            throw CryptoError("AEAD key or IV has the wrong length for \(suite)")
        }
        guard let context = EVP_CIPHER_CTX_new() else { throw .openSSL("EVP_CIPHER_CTX_new") }
        let status =
            direction == .seal
            ? EVP_EncryptInit_ex(context, suite.aeadCipher, nil, key, nil)
            : EVP_DecryptInit_ex(context, suite.aeadCipher, nil, key, nil)
        guard status == 1 else {
            EVP_CIPHER_CTX_free(context)
            throw .openSSL("AEAD key setup for \(suite)")
        }
        self.suite = suite
        self.direction = direction
        self.context = context
        var ivStorage: (UInt64, UInt64) = (0, 0)
        withUnsafeMutableBytes(of: &ivStorage) { $0.copyBytes(from: iv) }
        self.iv = ivStorage
    }

    deinit { EVP_CIPHER_CTX_free(context) }

    /// The per-packet nonce: the IV with the packet number XORed into its low bytes (§5.3).
    @inlinable
    func withNonce<R>(_ packetNumber: UInt64, _ body: (UnsafePointer<UInt8>) -> R) -> R {
        var nonce = iv
        return withUnsafeMutableBytes(of: &nonce) { raw in
            // Bytes 4..<12 XOR the packet number in network order: one 8-byte XOR.
            let tail = raw.loadUnaligned(fromByteOffset: 4, as: UInt64.self)
            raw.storeBytes(of: tail ^ packetNumber.bigEndian, toByteOffset: 4, as: UInt64.self)
            return body(raw.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
    }

    /// Encrypts `payload` in place and writes the 16-byte tag to `tag`.
    /// `associatedData` is the packet header up to and including the packet number.
    @inlinable
    public func seal(
        packetNumber: UInt64, associatedData: UnsafeRawBufferPointer, payload: UnsafeMutableRawBufferPointer,
        tag: UnsafeMutableRawPointer
    ) {
        precondition(direction == .seal)
        let ok = withNonce(packetNumber) { nonce -> Bool in
            var length: Int32 = 0
            guard EVP_EncryptInit_ex(context, nil, nil, nil, nonce) == 1 else { return false }
            if associatedData.count > 0 {
                guard
                    EVP_EncryptUpdate(
                        context, nil, &length, associatedData.baseAddress!.assumingMemoryBound(to: UInt8.self),
                        Int32(associatedData.count)) == 1
                else { return false }
            }
            if payload.count > 0 {
                let bytes = payload.baseAddress!.assumingMemoryBound(to: UInt8.self)
                guard EVP_EncryptUpdate(context, bytes, &length, bytes, Int32(payload.count)) == 1 else { return false }
            }
            var scratch: UInt64 = 0
            guard
                withUnsafeMutableBytes(of: &scratch, { final in
                    EVP_EncryptFinal_ex(context, final.baseAddress!.assumingMemoryBound(to: UInt8.self), &length)
                }) == 1
            else { return false }
            return EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_GET_TAG, Int32(CipherSuite.tagLength), tag) == 1
        }
        // Only an internal OpenSSL failure can land here; sending an unprotected packet is not an option.
        precondition(ok, "AEAD seal failed inside OpenSSL")
    }

    /// Decrypts `payload` in place; false when the tag does not authenticate (drop the packet).
    @inlinable
    public func open(
        packetNumber: UInt64, associatedData: UnsafeRawBufferPointer, payload: UnsafeMutableRawBufferPointer,
        tag: UnsafeRawPointer
    ) -> Bool {
        precondition(direction == .open)
        return withNonce(packetNumber) { nonce -> Bool in
            var length: Int32 = 0
            guard EVP_DecryptInit_ex(context, nil, nil, nil, nonce) == 1 else { return false }
            if associatedData.count > 0 {
                guard
                    EVP_DecryptUpdate(
                        context, nil, &length, associatedData.baseAddress!.assumingMemoryBound(to: UInt8.self),
                        Int32(associatedData.count)) == 1
                else { return false }
            }
            if payload.count > 0 {
                let bytes = payload.baseAddress!.assumingMemoryBound(to: UInt8.self)
                guard EVP_DecryptUpdate(context, bytes, &length, bytes, Int32(payload.count)) == 1 else { return false }
            }
            guard
                EVP_CIPHER_CTX_ctrl(
                    context, EVP_CTRL_AEAD_SET_TAG, Int32(CipherSuite.tagLength), UnsafeMutableRawPointer(mutating: tag))
                    == 1
            else { return false }
            var scratch: UInt64 = 0
            return withUnsafeMutableBytes(of: &scratch) { final in
                EVP_DecryptFinal_ex(context, final.baseAddress!.assumingMemoryBound(to: UInt8.self), &length)
            } == 1
        }
    }
}
