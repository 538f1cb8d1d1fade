/// The version-independent view of a packet (RFC 8999 §5): enough to route it and to answer an
/// unknown version with Version Negotiation. Connection IDs here may be up to 255 bytes, because
/// other versions allow that (RFC 9000 §17.2).
public struct InvariantHeader {
    public var isLongHeader: Bool
    /// The version of a long-header packet; nil for short headers.
    public var version: QuicVersion?
    public var destinationCID: UnsafeRawBufferPointer
    /// Empty for short headers.
    public var sourceCID: UnsafeRawBufferPointer

    /// Parses the invariant fields at the start of `datagram`. A short header's destination
    /// connection ID has no length on the wire, so the receiver supplies the length it issues.
    public static func parse(_ datagram: UnsafeRawBufferPointer, shortHeaderCIDLength: Int) throws(WireError)
        -> InvariantHeader
    {
        var reader = ByteReader(datagram)
        let first = try reader.readUInt8()
        if first & 0x80 == 0 {
            let dcid = try reader.readBytes(shortHeaderCIDLength)
            return InvariantHeader(
                isLongHeader: false, version: nil, destinationCID: dcid, sourceCID: UnsafeRawBufferPointer(start: nil, count: 0))
        }
        let version = QuicVersion(rawValue: try reader.readUInt32())
        let dcid = try reader.readBytes(Int(try reader.readUInt8()))
        let scid = try reader.readBytes(Int(try reader.readUInt8()))
        return InvariantHeader(isLongHeader: true, version: version, destinationCID: dcid, sourceCID: scid)
    }
}
