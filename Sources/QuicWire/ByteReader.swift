/// A bounds-checked cursor over received bytes. Every read checks the remaining length first and
/// throws `WireError` instead of trapping; views it returns point into the same memory.
@frozen
public struct ByteReader {
    public let bytes: UnsafeRawBufferPointer
    public var offset: Int

    @inlinable
    public init(_ bytes: UnsafeRawBufferPointer, offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    @inlinable public var remaining: Int { bytes.count - offset }
    @inlinable public var isAtEnd: Bool { offset >= bytes.count }

    @inlinable
    public func peekUInt8() throws(WireError) -> UInt8 {
        guard offset < bytes.count else { throw .truncated }
        return bytes[offset]
    }

    @inlinable
    public mutating func readUInt8() throws(WireError) -> UInt8 {
        guard offset < bytes.count else { throw .truncated }
        defer { offset += 1 }
        return bytes[offset]
    }

    @inlinable
    public mutating func readUInt16() throws(WireError) -> UInt16 {
        UInt16(truncatingIfNeeded: try readBigEndian(2))
    }

    @inlinable
    public mutating func readUInt32() throws(WireError) -> UInt32 {
        UInt32(truncatingIfNeeded: try readBigEndian(4))
    }

    @inlinable
    public mutating func readUInt64() throws(WireError) -> UInt64 {
        try readBigEndian(8)
    }

    /// Reads an unsigned big-endian integer of `count` (1...8) bytes.
    @inlinable
    public mutating func readBigEndian(_ count: Int) throws(WireError) -> UInt64 {
        guard count <= remaining else { throw .truncated }
        var value: UInt64 = 0
        for index in offset..<(offset + count) { value = value << 8 | UInt64(bytes[index]) }
        offset += count
        return value
    }

    /// Reads a variable-length integer in any of its valid encodings (RFC 9000 §16).
    @inlinable
    public mutating func readVarInt() throws(WireError) -> VarInt {
        VarInt(unchecked: try readVarIntValue())
    }

    // Always inlined: three per STREAM frame, and the optimizer left it a call once the load
    // switch made it larger.
    @inlinable @inline(__always)
    public mutating func readVarIntValue() throws(WireError) -> UInt64 {
        guard offset < bytes.count else { throw .truncated }
        let first = bytes[offset]
        let length = 1 << Int(first >> 6)
        guard length <= remaining else { throw .truncated }
        // One big-endian load of the whole encoding, the two length bits masked off.
        let value: UInt64
        switch length {
        case 1: value = UInt64(first)
        case 2: value = UInt64(UInt16(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self)) & 0x3fff)
        case 4: value = UInt64(UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) & 0x3fff_ffff)
        default: value = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) & 0x3fff_ffff_ffff_ffff
        }
        offset += length
        return value
    }

    /// A view of the next `count` bytes; the reader moves past them.
    @inlinable
    public mutating func readBytes(_ count: Int) throws(WireError) -> UnsafeRawBufferPointer {
        guard count >= 0, count <= remaining else { throw WireError(.frameEncodingError, .lengthPastEnd) }
        defer { offset += count }
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)])
    }

    /// A view of everything left; the reader moves to the end.
    @inlinable
    public mutating func readRest() -> UnsafeRawBufferPointer {
        defer { offset = bytes.count }
        return UnsafeRawBufferPointer(rebasing: bytes[offset...])
    }

    @inlinable
    public mutating func skip(_ count: Int) throws(WireError) {
        guard count >= 0, count <= remaining else { throw WireError(.frameEncodingError, .lengthPastEnd) }
        offset += count
    }
}
