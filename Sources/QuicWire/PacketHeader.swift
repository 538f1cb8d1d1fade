/// A packet's header as received, before header protection is removed (RFC 9000 §17): its type,
/// connection IDs and where its packet number and end lie in the datagram. Views point into the
/// datagram.
public struct PacketHeader {
    public var type: PacketType
    /// The wire version of a long-header packet; nil for 1-RTT packets.
    public var version: QuicVersion?
    public var destinationCID: ConnectionID
    /// Empty for 1-RTT packets.
    public var sourceCID: ConnectionID
    /// The token of an Initial or Retry packet (empty otherwise).
    public var token: UnsafeRawBufferPointer
    /// The version list of a Version Negotiation packet (a multiple of 4 bytes).
    public var supportedVersions: UnsafeRawBufferPointer
    /// The first byte as received (its low bits are still masked for protected packets).
    public var firstByte: UInt8
    /// Offset of the first byte in the datagram.
    public var start: Int
    /// Offset of the protected packet number (protected types only).
    public var packetNumberOffset: Int
    /// Offset one past the packet's last byte; the next coalesced packet starts here.
    public var end: Int

    /// Parses the packet at `start` in `datagram`. A 1-RTT packet's connection ID length is not
    /// on the wire: `shortHeaderCIDLength` is the length this endpoint issues.
    ///
    /// Throws for anything that is not a well-formed packet of a supported version; the caller
    /// drops such packets (RFC 9000 §5.2). Packets with the fixed bit clear are rejected unless the
    /// peer advertised grease_quic_bit (RFC 9287), which `acceptZeroFixedBit` says.
    ///
    /// Inlinable, and so is the 1-RTT case (nearly every packet); long headers are parsed out of
    /// line.
    @inlinable
    public static func parse(
        _ datagram: UnsafeRawBufferPointer, at start: Int = 0, shortHeaderCIDLength: Int,
        acceptZeroFixedBit: Bool = false
    ) throws(WireError) -> PacketHeader {
        guard start < datagram.count else { throw .truncated }
        if datagram[start] & 0x80 == 0 {
            return try parseShortHeader(
                datagram, at: start, shortHeaderCIDLength: shortHeaderCIDLength, acceptZeroFixedBit: acceptZeroFixedBit)
        }
        return try parseLongHeader(datagram, at: start, acceptZeroFixedBit: acceptZeroFixedBit)
    }

    /// `parse` for a first byte with the high bit set.
    @usableFromInline
    static func parseLongHeader(
        _ datagram: UnsafeRawBufferPointer, at start: Int, acceptZeroFixedBit: Bool
    ) throws(WireError) -> PacketHeader {
        var reader = ByteReader(datagram, offset: start)
        let first = try reader.readUInt8()
        let empty = UnsafeRawBufferPointer(start: nil, count: 0)

        let version = QuicVersion(rawValue: try reader.readUInt32())
        let dcid = try reader.readConnectionIDWithLength()
        let scid = try reader.readConnectionIDWithLength()

        if version == .negotiation {
            let list = reader.readRest()
            guard list.count % 4 == 0 else { throw WireError(.protocolViolation, .invalidPacket) }
            return PacketHeader(
                type: .versionNegotiation, version: version, destinationCID: dcid, sourceCID: scid, token: empty,
                supportedVersions: list, firstByte: first, start: start, packetNumberOffset: datagram.count,
                end: datagram.count)
        }
        guard version.isSupported else { throw WireError(.protocolViolation, .unsupportedVersion) }
        guard first & 0x40 != 0 || acceptZeroFixedBit else { throw WireError(.protocolViolation, .fixedBitZero) }

        let type = PacketType.longHeaderType(bits: first >> 4, version: version)
        var token = empty
        switch type {
        case .retry:
            // Retry: the token runs to the 16-byte integrity tag at the end of the datagram.
            guard reader.remaining >= RetryPacket.integrityTagLength else { throw .truncated }
            token = try reader.readBytes(reader.remaining - RetryPacket.integrityTagLength)
            return PacketHeader(
                type: .retry, version: version, destinationCID: dcid, sourceCID: scid, token: token,
                supportedVersions: empty, firstByte: first, start: start, packetNumberOffset: datagram.count,
                end: datagram.count)
        case .initial:
            let tokenLength = try reader.readVarIntValue()
            guard tokenLength <= UInt64(reader.remaining) else { throw WireError(.protocolViolation, .lengthPastEnd) }
            token = try reader.readBytes(Int(tokenLength))
        default:
            break
        }
        let length = try reader.readVarIntValue()
        guard length <= UInt64(reader.remaining) else { throw WireError(.protocolViolation, .lengthPastEnd) }
        let packetNumberOffset = reader.offset
        return PacketHeader(
            type: type, version: version, destinationCID: dcid, sourceCID: scid, token: token,
            supportedVersions: empty, firstByte: first, start: start, packetNumberOffset: packetNumberOffset,
            end: packetNumberOffset + Int(length))
    }

    /// Parses the 1-RTT packet (short header, RFC 9000 §17.3.1) at `start`: what `parse` does for
    /// a first byte with the high bit clear.
    @inlinable
    static func parseShortHeader(
        _ datagram: UnsafeRawBufferPointer, at start: Int, shortHeaderCIDLength: Int, acceptZeroFixedBit: Bool = false
    ) throws(WireError) -> PacketHeader {
        var reader = ByteReader(datagram, offset: start)
        let first = try reader.readUInt8()
        guard first & 0x40 != 0 || acceptZeroFixedBit else { throw WireError(.protocolViolation, .fixedBitZero) }
        let dcid = try reader.readConnectionID(length: shortHeaderCIDLength)
        let empty = UnsafeRawBufferPointer(start: nil, count: 0)
        return PacketHeader(
            type: .oneRTT, version: nil, destinationCID: dcid, sourceCID: .empty, token: empty,
            supportedVersions: empty, firstByte: first, start: start, packetNumberOffset: reader.offset,
            end: datagram.count)
    }

    @usableFromInline
    init(
        type: PacketType, version: QuicVersion?, destinationCID: ConnectionID, sourceCID: ConnectionID,
        token: UnsafeRawBufferPointer, supportedVersions: UnsafeRawBufferPointer, firstByte: UInt8, start: Int,
        packetNumberOffset: Int, end: Int
    ) {
        self.type = type
        self.version = version
        self.destinationCID = destinationCID
        self.sourceCID = sourceCID
        self.token = token
        self.supportedVersions = supportedVersions
        self.firstByte = firstByte
        self.start = start
        self.packetNumberOffset = packetNumberOffset
        self.end = end
    }

    /// The versions listed in a Version Negotiation packet.
    public var versions: [QuicVersion] {
        var reader = ByteReader(supportedVersions)
        var result: [QuicVersion] = []
        while let raw = try? reader.readUInt32() { result.append(QuicVersion(rawValue: raw)) }
        return result
    }
}

/// Iterates the packets coalesced in one datagram (RFC 9000 §12.2). Iteration stops at the first
/// packet that cannot be parsed; `error` then says why (the rest of the datagram is dropped).
public struct CoalescedPackets: IteratorProtocol {
    public let datagram: UnsafeRawBufferPointer
    public let shortHeaderCIDLength: Int
    public private(set) var offset = 0
    public private(set) var error: WireError?

    public init(_ datagram: UnsafeRawBufferPointer, shortHeaderCIDLength: Int) {
        self.datagram = datagram
        self.shortHeaderCIDLength = shortHeaderCIDLength
    }

    public mutating func next() -> PacketHeader? {
        guard offset < datagram.count, error == nil else { return nil }
        do {
            let header = try PacketHeader.parse(datagram, at: offset, shortHeaderCIDLength: shortHeaderCIDLength)
            offset = header.end
            return header
        } catch {
            self.error = error
            return nil
        }
    }
}
