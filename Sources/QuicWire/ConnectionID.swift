/// A QUIC connection ID (RFC 9000 §5.1): 0 to 20 bytes, stored inline so that routing and
/// comparison never allocate.
@frozen
public struct ConnectionID: Hashable, Sendable, CustomStringConvertible {
    public static let maxLength = 20

    // 24 bytes of inline storage, of which the first `length` are used and the rest are zero, so
    // the synthesised equality and hashing over the words are correct.
    @usableFromInline var words: (UInt64, UInt64, UInt64)
    @usableFromInline var storedLength: UInt8

    /// Computed, not a stored global: reading a global goes through a lazy-initialization check.
    @inlinable public static var empty: ConnectionID { ConnectionID() }

    @inlinable public init() {
        words = (0, 0, 0)
        storedLength = 0
    }

    /// Copies `bytes`; nil if longer than 20 bytes.
    @inlinable
    public init?(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count <= ConnectionID.maxLength else { return nil }
        self.init()
        storedLength = UInt8(bytes.count)
        // Whole words by unaligned loads (the usual 8-byte ID is one load; a memcpy call cost more
        // than the copy), the tail byte by byte. Same bytes in memory as a plain copy.
        let count = bytes.count
        guard count > 0, let source = bytes.baseAddress else { return }
        if count >= 8 { words.0 = source.loadUnaligned(as: UInt64.self) }
        if count >= 16 { words.1 = source.loadUnaligned(fromByteOffset: 8, as: UInt64.self) }
        let whole = count & ~7
        if whole < count {
            withUnsafeMutableBytes(of: &words) { target in
                for index in whole..<count { target[index] = source.load(fromByteOffset: index, as: UInt8.self) }
            }
        }
    }

    /// Copies `bytes`; nil if longer than 20 bytes.
    public init?<C: Collection>(bytes: C) where C.Element == UInt8 {
        guard bytes.count <= ConnectionID.maxLength else { return nil }
        self.init()
        storedLength = UInt8(bytes.count)
        withUnsafeMutableBytes(of: &words) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
    }

    @inlinable public var length: Int { Int(storedLength) }
    @inlinable public var isEmpty: Bool { storedLength == 0 }

    /// Calls `body` with a view of the ID's bytes.
    @inlinable
    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        var copy = words
        let count = length
        return try Swift.withUnsafeBytes(of: &copy) { (raw) throws(E) -> R in
            try body(UnsafeRawBufferPointer(rebasing: raw[..<count]))
        }
    }

    /// Byte at `index` (0 ..< length).
    @inlinable
    public subscript(index: Int) -> UInt8 {
        precondition(index >= 0 && index < length)
        return Swift.withUnsafeBytes(of: words) { $0[index] }
    }

    /// The bytes as an array (allocates; for tests, logs and configuration).
    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

    public var description: String {
        bytes.map { byte in (byte < 16 ? "0" : "") + String(byte, radix: 16) }.joined()
    }

    @inlinable
    public static func == (lhs: ConnectionID, rhs: ConnectionID) -> Bool {
        lhs.storedLength == rhs.storedLength && lhs.words.0 == rhs.words.0 && lhs.words.1 == rhs.words.1
            && lhs.words.2 == rhs.words.2
    }

    /// A cheap, unkeyed hash of the ID's bytes. Not resistant to chosen keys: use it only for
    /// IDs this endpoint generated at random (routing tables); anything a peer picks belongs in a
    /// `Dictionary`, whose SipHash is keyed.
    @inlinable
    public var unkeyedHash: UInt64 {
        var x = words.0 ^ (words.1 &* 0x9e37_79b9_7f4a_7c15) ^ (words.2 &* 0xbf58_476d_1ce4_e5b9) ^ UInt64(storedLength)
        x ^= x >> 29
        x &*= 0x94d0_49bb_1331_11eb
        x ^= x >> 32
        return x
    }

    @inlinable
    public func hash(into hasher: inout Hasher) {
        hasher.combine(storedLength)
        hasher.combine(words.0)
        hasher.combine(words.1)
        hasher.combine(words.2)
    }
}

extension ByteReader {
    /// Reads a length-prefixed connection ID (one length byte, RFC 9000 §17.2); lengths over 20
    /// are rejected as the version-1 rules require.
    @inlinable
    public mutating func readConnectionIDWithLength() throws(WireError) -> ConnectionID {
        let length = Int(try readUInt8())
        guard length <= ConnectionID.maxLength else {
            throw WireError(.protocolViolation, .invalidConnectionIDLength)
        }
        return try readConnectionID(length: length)
    }

    @inlinable
    public mutating func readConnectionID(length: Int) throws(WireError) -> ConnectionID {
        guard length <= ConnectionID.maxLength else {
            throw WireError(.protocolViolation, .invalidConnectionIDLength)
        }
        guard length <= remaining else { throw .truncated }
        return ConnectionID(try readBytes(length))!
    }
}

extension ByteWriter {
    @inlinable
    public mutating func writeConnectionID(_ id: ConnectionID) {
        id.withUnsafeBytes { writeBytes($0) }
    }

    /// One length byte, then the ID (long headers, NEW_CONNECTION_ID).
    @inlinable
    public mutating func writeConnectionIDWithLength(_ id: ConnectionID) {
        writeUInt8(UInt8(id.length))
        writeConnectionID(id)
    }
}

/// A stateless reset token (RFC 9000 §10.3): 16 bytes, stored inline.
@frozen
public struct StatelessResetToken: Hashable, Sendable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64

    @inlinable public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// Reads 16 bytes; nil if `bytes` is not 16 long.
    @inlinable
    public init?(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count == 16 else { return nil }
        var reader = ByteReader(bytes)
        high = try! reader.readUInt64()
        low = try! reader.readUInt64()
    }

    public init?(bytes: [UInt8]) {
        guard let token = bytes.withUnsafeBytes({ StatelessResetToken($0) }) else { return nil }
        self = token
    }

    public var bytes: [UInt8] {
        var out = [UInt8](repeating: 0, count: 16)
        out.withUnsafeMutableBytes { raw in
            var writer = ByteWriter(raw)
            writer.writeUInt64(high)
            writer.writeUInt64(low)
        }
        return out
    }

    public var description: String {
        bytes.map { byte in (byte < 16 ? "0" : "") + String(byte, radix: 16) }.joined()
    }
}

extension ByteReader {
    @inlinable
    public mutating func readStatelessResetToken() throws(WireError) -> StatelessResetToken {
        StatelessResetToken(high: try readUInt64(), low: try readUInt64())
    }
}

extension ByteWriter {
    @inlinable
    public mutating func writeStatelessResetToken(_ token: StatelessResetToken) {
        writeUInt64(token.high)
        writeUInt64(token.low)
    }
}
