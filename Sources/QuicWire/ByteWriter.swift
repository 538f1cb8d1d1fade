/// A cursor that encodes into caller-owned memory (a UMEM frame, a GSO buffer, a stack buffer).
/// Encoders state their size up front (`encodedLength`), so a write that does not fit is a bug in
/// the caller and traps rather than silently truncating a packet.
@frozen
public struct ByteWriter {
    public let buffer: UnsafeMutableRawBufferPointer
    public var offset: Int

    @inlinable
    public init(_ buffer: UnsafeMutableRawBufferPointer, offset: Int = 0) {
        self.buffer = buffer
        self.offset = offset
    }

    @inlinable public var remaining: Int { buffer.count - offset }

    /// The bytes written so far.
    @inlinable public var written: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: buffer[..<offset])
    }

    @inlinable
    public mutating func writeUInt8(_ value: UInt8) {
        precondition(offset < buffer.count, "ByteWriter overflow")
        buffer[offset] = value
        offset += 1
    }

    @inlinable public mutating func writeUInt16(_ value: UInt16) { writeBigEndian(UInt64(value), count: 2) }
    @inlinable public mutating func writeUInt32(_ value: UInt32) { writeBigEndian(UInt64(value), count: 4) }
    @inlinable public mutating func writeUInt64(_ value: UInt64) { writeBigEndian(value, count: 8) }

    @inlinable
    public mutating func writeBigEndian(_ value: UInt64, count: Int) {
        precondition(count <= remaining, "ByteWriter overflow")
        var shift = (count - 1) * 8
        for index in offset..<(offset + count) {
            buffer[index] = UInt8(truncatingIfNeeded: value >> UInt64(shift))
            shift -= 8
        }
        offset += count
    }

    /// Writes `value` in its shortest encoding (RFC 9000 §16).
    @inlinable
    public mutating func writeVarInt(_ value: VarInt) {
        writeVarInt(value.rawValue, length: value.encodedLength)
    }

    @inlinable
    public mutating func writeVarInt(_ value: UInt64) {
        writeVarInt(value, length: VarInt.encodedLength(value))
    }

    /// Writes `value` in exactly `length` (1, 2, 4 or 8) bytes, e.g. a Length placeholder that is
    /// patched once the payload size is known.
    @inlinable
    public mutating func writeVarInt(_ value: UInt64, length: Int) {
        precondition(VarInt.encodedLength(value) <= length, "varint does not fit its forced length")
        let prefix: UInt64
        switch length {
        case 1: prefix = 0
        case 2: prefix = 0x4000
        case 4: prefix = 0x8000_0000
        case 8: prefix = 0xc000_0000_0000_0000
        default: preconditionFailure("varint length must be 1, 2, 4 or 8")
        }
        writeBigEndian(prefix | value, count: length)
    }

    @inlinable
    public mutating func writeBytes(_ bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count <= remaining, "ByteWriter overflow")
        if bytes.count > 0 {
            (buffer.baseAddress! + offset).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        }
        offset += bytes.count
    }

    @inlinable
    public mutating func writeBytes<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        precondition(bytes.count <= remaining, "ByteWriter overflow")
        for byte in bytes {
            buffer[offset] = byte
            offset += 1
        }
    }

    @inlinable
    public mutating func writeZeros(_ count: Int) {
        precondition(count <= remaining, "ByteWriter overflow")
        if count > 0 { (buffer.baseAddress! + offset).initializeMemory(as: UInt8.self, repeating: 0, count: count) }
        offset += count
    }
}

/// Writes `value` as a varint of exactly `length` bytes at `offset` in `buffer` (patching a
/// placeholder written earlier).
@inlinable
public func patchVarInt(_ value: UInt64, length: Int, at offset: Int, in buffer: UnsafeMutableRawBufferPointer) {
    var writer = ByteWriter(buffer, offset: offset)
    writer.writeVarInt(value, length: length)
}
