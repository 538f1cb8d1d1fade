/// A view of bytes inside a received packet or a caller's buffer, compared by content. Frames
/// carry these instead of copies (STREAM, CRYPTO, DATAGRAM data, tokens, reasons); a view is valid
/// only while the memory it points into is.
@frozen
public struct ByteView: Equatable, CustomStringConvertible {
    public let bytes: UnsafeRawBufferPointer

    @inlinable public init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }
    @inlinable public static var empty: ByteView { ByteView(UnsafeRawBufferPointer(start: nil, count: 0)) }

    @inlinable public var count: Int { bytes.count }
    @inlinable public var isEmpty: Bool { bytes.isEmpty }

    @inlinable
    public static func == (lhs: ByteView, rhs: ByteView) -> Bool {
        guard lhs.count == rhs.count else { return false }
        if lhs.count == 0 { return true }
        return memcmpEqual(lhs.bytes.baseAddress!, rhs.bytes.baseAddress!, lhs.count)
    }

    /// A copy (allocates; for tests and slow paths).
    public var array: [UInt8] { Array(bytes) }

    public var description: String { "\(count) bytes" }
}

@inlinable
func memcmpEqual(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ count: Int) -> Bool {
    var index = 0
    while index < count {
        if a.load(fromByteOffset: index, as: UInt8.self) != b.load(fromByteOffset: index, as: UInt8.self) { return false }
        index += 1
    }
    return true
}
