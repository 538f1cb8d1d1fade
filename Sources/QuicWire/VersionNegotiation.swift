/// Version Negotiation packets (RFC 9000 §17.2.1, §6).
public enum VersionNegotiation {
    /// Writes a Version Negotiation packet answering a client packet whose invariant header
    /// carried `clientDestinationCID` and `clientSourceCID`: the IDs are echoed swapped (§17.2.1).
    /// `unusedBits` fills the seven arbitrary bits of the first byte; a reserved greasing version
    /// is listed alongside the real ones when `greaseVersion` is given (§6.3).
    @inlinable
    public static func encode(
        clientDestinationCID: UnsafeRawBufferPointer, clientSourceCID: UnsafeRawBufferPointer,
        supported: [QuicVersion], greaseVersion: QuicVersion? = nil, unusedBits: UInt8,
        into writer: inout ByteWriter
    ) {
        writer.writeUInt8(0x80 | (unusedBits & 0x7f))
        writer.writeUInt32(QuicVersion.negotiation.rawValue)
        writer.writeUInt8(UInt8(clientSourceCID.count))
        writer.writeBytes(clientSourceCID)
        writer.writeUInt8(UInt8(clientDestinationCID.count))
        writer.writeBytes(clientDestinationCID)
        if let greaseVersion { writer.writeUInt32(greaseVersion.rawValue) }
        for version in supported { writer.writeUInt32(version.rawValue) }
    }

    /// Bytes the packet `encode` writes.
    @inlinable
    public static func encodedLength(
        clientDestinationCIDLength: Int, clientSourceCIDLength: Int, versionCount: Int
    ) -> Int {
        1 + 4 + 1 + clientSourceCIDLength + 1 + clientDestinationCIDLength + 4 * versionCount
    }
}

/// Retry packets (RFC 9000 §17.2.5); the integrity tag itself is computed in QuicCrypto.
public enum RetryPacket {
    public static let integrityTagLength = 16

    /// Writes a Retry packet up to (not including) its integrity tag and returns where it started.
    @inlinable
    @discardableResult
    public static func encodeWithoutTag(
        version: QuicVersion, destinationCID: ConnectionID, sourceCID: ConnectionID,
        token: UnsafeRawBufferPointer, unusedBits: UInt8, into writer: inout ByteWriter
    ) -> Int {
        let start = writer.offset
        writer.writeUInt8(0xc0 | PacketType.retry.longHeaderBits(version: version) << 4 | (unusedBits & 0x0f))
        writer.writeUInt32(version.rawValue)
        writer.writeConnectionIDWithLength(destinationCID)
        writer.writeConnectionIDWithLength(sourceCID)
        writer.writeBytes(token)
        return start
    }

    /// Writes the Retry pseudo-packet the integrity tag covers (RFC 9001 §5.8): the original
    /// destination connection ID, length-prefixed, then the Retry packet without its tag.
    @inlinable
    public static func encodePseudoPacket(
        originalDestinationCID: ConnectionID, retryWithoutTag: UnsafeRawBufferPointer, into writer: inout ByteWriter
    ) {
        writer.writeConnectionIDWithLength(originalDestinationCID)
        writer.writeBytes(retryWithoutTag)
    }
}

/// Stateless resets (RFC 9000 §10.3).
public enum StatelessReset {
    /// A stateless reset must look like a short-header packet and be at least this long (§10.3).
    public static let minimumLength = 21

    /// The token a stateless reset would carry: the last 16 bytes of the datagram.
    @inlinable
    public static func candidateToken(in datagram: UnsafeRawBufferPointer) -> StatelessResetToken? {
        guard datagram.count >= minimumLength, datagram[0] & 0x80 == 0 else { return nil }
        return StatelessResetToken(UnsafeRawBufferPointer(rebasing: datagram[(datagram.count - 16)...]))
    }
}
