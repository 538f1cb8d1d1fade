import QuicWire

/// The keys protecting packets in one direction at one encryption level: the AEAD key, which
/// changes on key update, and the header-protection key, which does not (RFC 9001 §6).
public struct PacketProtectionKeys {
    public let aead: AEADKey
    public let headerProtection: HeaderProtectionKey
    /// The traffic secret these keys came from; the next generation derives from it.
    public let secret: [UInt8]
    public let version: QuicVersion

    public var suite: CipherSuite { aead.suite }

    public init(suite: CipherSuite, secret: [UInt8], version: QuicVersion, direction: AEADKey.Direction)
        throws(CryptoError)
    {
        let material = PacketKeyMaterial(suite: suite, secret: secret, version: version)
        aead = try AEADKey(suite: suite, key: material.key, iv: material.iv, direction: direction)
        headerProtection = try HeaderProtectionKey(suite: suite, key: material.headerProtectionKey)
        self.secret = secret
        self.version = version
    }

    init(aead: AEADKey, headerProtection: HeaderProtectionKey, secret: [UInt8], version: QuicVersion) {
        self.aead = aead
        self.headerProtection = headerProtection
        self.secret = secret
        self.version = version
    }

    /// The keys after a key update (RFC 9001 §6.1): a new AEAD key and IV from the next secret,
    /// the same header-protection key.
    public func nextGeneration() throws(CryptoError) -> PacketProtectionKeys {
        let next = KeyUpdate.nextSecret(secret, suite: suite, version: version)
        let material = PacketKeyMaterial(suite: suite, secret: next, version: version)
        let aead = try AEADKey(suite: suite, key: material.key, iv: material.iv, direction: self.aead.direction)
        return PacketProtectionKeys(aead: aead, headerProtection: headerProtection, secret: next, version: version)
    }
}

/// A packet's first byte and packet number after header protection was removed.
@frozen
public struct UnmaskedHeader: Sendable, Hashable {
    public var firstByte: UInt8
    public var packetNumberLength: Int
    public var truncatedPacketNumber: UInt64
    /// Offset of the first payload byte in the packet.
    public var payloadOffset: Int

    @inlinable
    public init(firstByte: UInt8, packetNumberLength: Int, truncatedPacketNumber: UInt64, payloadOffset: Int) {
        self.firstByte = firstByte
        self.packetNumberLength = packetNumberLength
        self.truncatedPacketNumber = truncatedPacketNumber
        self.payloadOffset = payloadOffset
    }
}

/// Whole-packet protection (RFC 9001 §5.3–§5.4) in place on caller-owned memory.
public enum PacketProtection {
    public static let tagLength = CipherSuite.tagLength

    /// Protects a packet laid out in `packet` (from its first byte): header up to and including a
    /// `packetNumberLength`-byte packet number at `packetNumberOffset`, then plaintext payload,
    /// then 16 bytes of room for the tag, which end `packet`. Encrypts the payload, writes the tag,
    /// then masks the first byte and packet number.
    @inlinable
    public static func protect(
        packet: UnsafeMutableRawBufferPointer, packetNumberOffset: Int, packetNumberLength: Int,
        packetNumber: UInt64, keys: PacketProtectionKeys
    ) {
        let payloadStart = packetNumberOffset + packetNumberLength
        let tagStart = packet.count - tagLength
        precondition(tagStart >= payloadStart, "packet has no room for the AEAD tag")
        // The sample starts 4 bytes after the packet number's start (§5.4.2); senders pad short
        // payloads so that it exists.
        precondition(packetNumberOffset + 4 + HeaderProtectionKey.sampleLength <= packet.count, "packet too short to sample")
        keys.aead.seal(
            packetNumber: packetNumber,
            associatedData: UnsafeRawBufferPointer(rebasing: packet[..<payloadStart]),
            payload: UnsafeMutableRawBufferPointer(rebasing: packet[payloadStart..<tagStart]),
            tag: packet.baseAddress! + tagStart)
        applyMask(
            keys.headerProtection.mask(sample: packet.baseAddress! + packetNumberOffset + 4),
            packet: packet, packetNumberOffset: packetNumberOffset, packetNumberLength: packetNumberLength)
    }

    /// Removes header protection in place (RFC 9001 §5.4.1) and returns the first byte and
    /// truncated packet number; nil when the packet is too short to hold a sample (drop it).
    @inlinable
    public static func removeHeaderProtection(
        packet: UnsafeMutableRawBufferPointer, packetNumberOffset: Int, key: HeaderProtectionKey
    ) -> UnmaskedHeader? {
        guard packetNumberOffset + 4 + HeaderProtectionKey.sampleLength <= packet.count else { return nil }
        let mask = key.mask(sample: packet.baseAddress! + packetNumberOffset + 4)
        let isLong = packet[0] & 0x80 != 0
        packet[0] ^= UInt8(truncatingIfNeeded: mask >> 32) & (isLong ? 0x0f : 0x1f)
        let length = Int(packet[0] & 0x03) + 1
        var truncated: UInt64 = 0
        for index in 0..<length {
            let position = packetNumberOffset + index
            packet[position] ^= UInt8(truncatingIfNeeded: mask >> UInt64(24 - 8 * index))
            truncated = truncated << 8 | UInt64(packet[position])
        }
        return UnmaskedHeader(
            firstByte: packet[0], packetNumberLength: length, truncatedPacketNumber: truncated,
            payloadOffset: packetNumberOffset + length)
    }

    /// Decrypts the payload of a packet whose header protection is already removed. On success
    /// the plaintext is in `packet[payloadOffset ..< packet.count - 16]`; false means the packet
    /// does not authenticate and must be dropped.
    @inlinable
    public static func openPayload(
        packet: UnsafeMutableRawBufferPointer, payloadOffset: Int, packetNumber: UInt64, key: AEADKey
    ) -> Bool {
        let tagStart = packet.count - tagLength
        guard tagStart >= payloadOffset else { return false }
        return key.open(
            packetNumber: packetNumber,
            associatedData: UnsafeRawBufferPointer(rebasing: packet[..<payloadOffset]),
            payload: UnsafeMutableRawBufferPointer(rebasing: packet[payloadOffset..<tagStart]),
            tag: packet.baseAddress! + tagStart)
    }

    /// Removes header protection, recovers the full packet number and decrypts, all in place.
    /// nil means drop the packet (too short, or it does not authenticate).
    @inlinable
    public static func unprotect(
        packet: UnsafeMutableRawBufferPointer, packetNumberOffset: Int, largestProcessed: UInt64?,
        keys: PacketProtectionKeys
    ) -> UnprotectedPacket? {
        guard let header = removeHeaderProtection(packet: packet, packetNumberOffset: packetNumberOffset, key: keys.headerProtection)
        else { return nil }
        let packetNumber = PacketNumberCoding.decode(
            truncated: header.truncatedPacketNumber, length: header.packetNumberLength, largestProcessed: largestProcessed)
        guard openPayload(packet: packet, payloadOffset: header.payloadOffset, packetNumber: packetNumber, key: keys.aead)
        else { return nil }
        return UnprotectedPacket(
            firstByte: header.firstByte, packetNumber: packetNumber,
            payload: header.payloadOffset..<(packet.count - tagLength))
    }

    @inlinable
    static func applyMask(
        _ mask: UInt64, packet: UnsafeMutableRawBufferPointer, packetNumberOffset: Int, packetNumberLength: Int
    ) {
        let isLong = packet[0] & 0x80 != 0
        packet[0] ^= UInt8(truncatingIfNeeded: mask >> 32) & (isLong ? 0x0f : 0x1f)
        for index in 0..<packetNumberLength {
            packet[packetNumberOffset + index] ^= UInt8(truncatingIfNeeded: mask >> UInt64(24 - 8 * index))
        }
    }
}

/// A decrypted packet: its first byte (unmasked), full packet number and where the plaintext
/// payload lies in the packet.
@frozen
public struct UnprotectedPacket: Sendable, Hashable {
    public var firstByte: UInt8
    public var packetNumber: UInt64
    public var payload: Range<Int>

    @inlinable
    public init(firstByte: UInt8, packetNumber: UInt64, payload: Range<Int>) {
        self.firstByte = firstByte
        self.packetNumber = packetNumber
        self.payload = payload
    }
}
