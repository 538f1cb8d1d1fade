import COpenSSL
import QuicCrypto
import QuicWire

/// The baseline: the same OpenSSL EVP calls QuicCrypto makes, written directly, on the same
/// bytes. AEAD: set nonce, AAD, in-place update, final, tag; header protection: one AES-ECB block
/// (or five ChaCha20 bytes) for the mask, XORed into the first byte and packet number.
public final class RawEVPPacketProtection {
    let aead: OpaquePointer
    let headerProtection: OpaquePointer
    /// The IV in the first 12 bytes, on the stack-friendly tuple QuicCrypto also uses.
    let iv: (UInt64, UInt64)
    let isChaCha: Bool
    let sealing: Bool

    public init(suite: CipherSuite, material: PacketKeyMaterial, sealing: Bool) {
        aead = EVP_CIPHER_CTX_new()!
        headerProtection = EVP_CIPHER_CTX_new()!
        var ivStorage: (UInt64, UInt64) = (0, 0)
        withUnsafeMutableBytes(of: &ivStorage) { $0.copyBytes(from: material.iv) }
        iv = ivStorage
        isChaCha = suite == .chacha20Poly1305SHA256
        self.sealing = sealing
        let aeadCipher: OpaquePointer
        let hpCipher: OpaquePointer
        switch suite {
        case .aes128GCMSHA256: (aeadCipher, hpCipher) = (EVP_aes_128_gcm(), EVP_aes_128_ecb())
        case .aes256GCMSHA384: (aeadCipher, hpCipher) = (EVP_aes_256_gcm(), EVP_aes_256_ecb())
        case .chacha20Poly1305SHA256: (aeadCipher, hpCipher) = (EVP_chacha20_poly1305(), EVP_chacha20())
        }
        if sealing {
            precondition(EVP_EncryptInit_ex(aead, aeadCipher, nil, material.key, nil) == 1)
        } else {
            precondition(EVP_DecryptInit_ex(aead, aeadCipher, nil, material.key, nil) == 1)
        }
        precondition(EVP_EncryptInit_ex(headerProtection, hpCipher, nil, material.headerProtectionKey, nil) == 1)
        if !isChaCha { EVP_CIPHER_CTX_set_padding(headerProtection, 0) }
    }

    deinit {
        EVP_CIPHER_CTX_free(aead)
        EVP_CIPHER_CTX_free(headerProtection)
    }

    /// Calls `body` with the nonce for `packetNumber` (IV XOR packet number), built on the stack.
    @inline(__always)
    func withNonce<R>(_ packetNumber: UInt64, _ body: (UnsafePointer<UInt8>) -> R) -> R {
        var nonce = iv
        return withUnsafeMutableBytes(of: &nonce) { raw in
            let tail = raw.loadUnaligned(fromByteOffset: 4, as: UInt64.self)
            raw.storeBytes(of: tail ^ packetNumber.bigEndian, toByteOffset: 4, as: UInt64.self)
            return body(raw.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
    }

    @inline(__always)
    func mask(_ sample: UnsafePointer<UInt8>, _ out: UnsafeMutablePointer<UInt8>) {
        var length: Int32 = 0
        if isChaCha {
            EVP_EncryptInit_ex(headerProtection, nil, nil, nil, sample)
            out.initialize(repeating: 0, count: 5)
            EVP_EncryptUpdate(headerProtection, out, &length, out, 5)
        } else {
            EVP_EncryptUpdate(headerProtection, out, &length, sample, 16)
        }
    }

    /// Protects a short-header packet in `packet` (header ends at `payloadStart`, tag room at the end).
    public func protect(_ packet: UnsafeMutablePointer<UInt8>, count: Int, pnOffset: Int, pnLength: Int, packetNumber: UInt64) {
        let payloadStart = pnOffset + pnLength
        let tagStart = count - 16
        var length: Int32 = 0
        withNonce(packetNumber) { nonce in _ = EVP_EncryptInit_ex(aead, nil, nil, nil, nonce) }
        EVP_EncryptUpdate(aead, nil, &length, packet, Int32(payloadStart))
        EVP_EncryptUpdate(aead, packet + payloadStart, &length, packet + payloadStart, Int32(tagStart - payloadStart))
        var scratch = (UInt64(0), UInt64(0))
        withUnsafeMutableBytes(of: &scratch) { final in
            _ = EVP_EncryptFinal_ex(aead, final.baseAddress!.assumingMemoryBound(to: UInt8.self), &length)
            // The 16-byte tag goes to its place in the packet.
            _ = EVP_CIPHER_CTX_ctrl(aead, EVP_CTRL_AEAD_GET_TAG, 16, packet + tagStart)
            let maskBytes = final.baseAddress!.assumingMemoryBound(to: UInt8.self)
            mask(packet + pnOffset + 4, maskBytes)
            packet[0] ^= maskBytes[0] & 0x1f
            for index in 0..<pnLength { packet[pnOffset + index] ^= maskBytes[1 + index] }
        }
    }

    /// Removes header protection and opens; false if it does not authenticate.
    public func unprotect(_ packet: UnsafeMutablePointer<UInt8>, count: Int, pnOffset: Int, packetNumber: UInt64) -> Bool {
        unprotect(packet, count: count, pnOffset: pnOffset) { _, _ in packetNumber }
    }

    /// Removes header protection and opens, recovering the packet number from the truncated one
    /// with `decode(truncated, length)`; false if it does not authenticate.
    public func unprotect(
        _ packet: UnsafeMutablePointer<UInt8>, count: Int, pnOffset: Int, decode: (UInt64, Int) -> UInt64
    ) -> Bool {
        var scratch = (UInt64(0), UInt64(0))
        return withUnsafeMutableBytes(of: &scratch) { raw -> Bool in
            let maskBytes = raw.baseAddress!.assumingMemoryBound(to: UInt8.self)
            mask(packet + pnOffset + 4, maskBytes)
            packet[0] ^= maskBytes[0] & 0x1f
            let pnLength = Int(packet[0] & 0x03) + 1
            var truncated: UInt64 = 0
            for index in 0..<pnLength {
                packet[pnOffset + index] ^= maskBytes[1 + index]
                truncated = truncated << 8 | UInt64(packet[pnOffset + index])
            }
            let packetNumber = decode(truncated, pnLength)
            let payloadStart = pnOffset + pnLength
            let tagStart = count - 16
            var length: Int32 = 0
            withNonce(packetNumber) { nonce in _ = EVP_DecryptInit_ex(aead, nil, nil, nil, nonce) }
            EVP_DecryptUpdate(aead, nil, &length, packet, Int32(payloadStart))
            EVP_DecryptUpdate(aead, packet + payloadStart, &length, packet + payloadStart, Int32(tagStart - payloadStart))
            EVP_CIPHER_CTX_ctrl(aead, EVP_CTRL_AEAD_SET_TAG, 16, packet + tagStart)
            return EVP_DecryptFinal_ex(aead, maskBytes, &length) == 1
        }
    }
}
