/// Where an encoded header's variable parts lie, so the packet can be finished and protected.
@frozen
public struct EncodedHeader: Sendable, Hashable {
    /// Offset of the packet's first byte.
    public var start: Int
    /// Offset of the 2-byte Length field of a long header; nil for short headers.
    public var lengthOffset: Int?
    public var packetNumberOffset: Int
    public var packetNumberLength: Int

    @inlinable
    public init(start: Int, lengthOffset: Int?, packetNumberOffset: Int, packetNumberLength: Int) {
        self.start = start
        self.lengthOffset = lengthOffset
        self.packetNumberOffset = packetNumberOffset
        self.packetNumberLength = packetNumberLength
    }

    /// The first payload byte.
    @inlinable public var payloadOffset: Int { packetNumberOffset + packetNumberLength }

    /// Long headers reserve a 2-byte Length field, so a packet can carry at most this many bytes of
    /// packet number, payload and AEAD tag.
    public static let maxLongHeaderLength = (1 << 14) - 1

    /// Writes the Length field of a long header: everything after it up to `packetEnd`, which
    /// includes the AEAD tag the protector will append.
    @inlinable
    public func patchLength(packetEnd: Int, in buffer: UnsafeMutableRawBufferPointer) {
        guard let lengthOffset else { return }
        patchVarInt(UInt64(packetEnd - packetNumberOffset), length: 2, at: lengthOffset, in: buffer)
    }
}

/// Encoders for the headers this endpoint sends (RFC 9000 §17.2, §17.3; RFC 9369 §3.2).
public enum HeaderEncoder {
    /// Writes an Initial, 0-RTT or Handshake header with a 2-byte Length placeholder and the
    /// truncated packet number. The reserved bits are zero (§17.2).
    @inlinable
    public static func encodeLong(
        type: PacketType, version: QuicVersion, destinationCID: ConnectionID, sourceCID: ConnectionID,
        token: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0),
        packetNumber: UInt64, packetNumberLength: Int, into writer: inout ByteWriter
    ) -> EncodedHeader {
        precondition(type == .initial || type == .zeroRTT || type == .handshake)
        precondition((1...4).contains(packetNumberLength))
        let start = writer.offset
        writer.writeUInt8(0xc0 | type.longHeaderBits(version: version) << 4 | UInt8(packetNumberLength - 1))
        writer.writeUInt32(version.rawValue)
        writer.writeConnectionIDWithLength(destinationCID)
        writer.writeConnectionIDWithLength(sourceCID)
        if type == .initial {
            writer.writeVarInt(UInt64(token.count))
            writer.writeBytes(token)
        }
        let lengthOffset = writer.offset
        writer.writeVarInt(0, length: 2)
        let packetNumberOffset = writer.offset
        writer.writeBigEndian(packetNumber, count: packetNumberLength)
        return EncodedHeader(
            start: start, lengthOffset: lengthOffset, packetNumberOffset: packetNumberOffset,
            packetNumberLength: packetNumberLength)
    }

    /// Bytes a long header takes with these fields (the Length field counted as 2 bytes).
    @inlinable
    public static func longHeaderLength(
        type: PacketType, destinationCID: ConnectionID, sourceCID: ConnectionID, tokenLength: Int,
        packetNumberLength: Int
    ) -> Int {
        var length = 1 + 4 + 1 + destinationCID.length + 1 + sourceCID.length + 2 + packetNumberLength
        if type == .initial { length += VarInt.encodedLength(UInt64(tokenLength)) + tokenLength }
        return length
    }

    /// Writes a 1-RTT header (§17.3.1): fixed bit, spin bit, key phase, packet number length.
    @inlinable
    public static func encodeShort(
        destinationCID: ConnectionID, spin: Bool = false, keyPhase: Bool, packetNumber: UInt64,
        packetNumberLength: Int, into writer: inout ByteWriter
    ) -> EncodedHeader {
        precondition((1...4).contains(packetNumberLength))
        let start = writer.offset
        writer.writeUInt8(0x40 | (spin ? 0x20 : 0) | (keyPhase ? 0x04 : 0) | UInt8(packetNumberLength - 1))
        writer.writeConnectionID(destinationCID)
        let packetNumberOffset = writer.offset
        writer.writeBigEndian(packetNumber, count: packetNumberLength)
        return EncodedHeader(
            start: start, lengthOffset: nil, packetNumberOffset: packetNumberOffset,
            packetNumberLength: packetNumberLength)
    }
}

/// First-byte bits of a header once protection is removed.
public enum HeaderBits {
    /// Long header reserved bits (§17.2), which must be zero after protection is removed.
    public static let longReserved: UInt8 = 0x0c
    /// Short header reserved bits (§17.3.1).
    public static let shortReserved: UInt8 = 0x18
    public static let shortKeyPhase: UInt8 = 0x04
    public static let shortSpin: UInt8 = 0x20

    @inlinable public static func isLongHeader(_ first: UInt8) -> Bool { first & 0x80 != 0 }

    /// Checks the reserved bits of a first byte whose protection is removed: non-zero is a
    /// PROTOCOL_VIOLATION once the packet has been decrypted (RFC 9000 §17.2, §17.3.1).
    @inlinable
    public static func checkReservedBits(_ first: UInt8) throws(WireError) {
        let reserved = isLongHeader(first) ? longReserved : shortReserved
        guard first & reserved == 0 else { throw WireError(.protocolViolation, .reservedBits) }
    }
    @inlinable public static func packetNumberLength(_ first: UInt8) -> Int { Int(first & 0x03) + 1 }
}
