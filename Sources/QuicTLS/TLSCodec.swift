/// A bounds-checked reader over a TLS structure (RFC 8446 §3 presentation language). Every read
/// that would pass the end throws decode_error (RFC 8446 §6: a length beyond the message
/// boundary); sub-readers share the bytes without copying.
struct TLSReader {
    private let bytes: [UInt8]
    private(set) var offset: Int
    private let end: Int

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
        offset = 0
        end = bytes.count
    }

    private init(bytes: [UInt8], offset: Int, end: Int) {
        self.bytes = bytes
        self.offset = offset
        self.end = end
    }

    var remaining: Int { end - offset }
    var isAtEnd: Bool { offset == end }

    mutating func readUInt8(_ what: @autoclosure () -> String) throws(TLSAlert) -> UInt8 {
        UInt8(try readInteger(1, what()))
    }

    mutating func readUInt16(_ what: @autoclosure () -> String) throws(TLSAlert) -> UInt16 {
        UInt16(try readInteger(2, what()))
    }

    mutating func readUInt24(_ what: @autoclosure () -> String) throws(TLSAlert) -> Int {
        Int(try readInteger(3, what()))
    }

    mutating func readUInt32(_ what: @autoclosure () -> String) throws(TLSAlert) -> UInt32 {
        UInt32(try readInteger(4, what()))
    }

    mutating func readInteger(_ count: Int, _ what: @autoclosure () -> String) throws(TLSAlert) -> UInt64 {
        guard count <= remaining else { throw .decodeError("truncated \(what())") }
        var value: UInt64 = 0
        for index in offset..<(offset + count) { value = value << 8 | UInt64(bytes[index]) }
        offset += count
        return value
    }

    mutating func readBytes(_ count: Int, _ what: @autoclosure () -> String) throws(TLSAlert) -> [UInt8] {
        guard count >= 0, count <= remaining else { throw .decodeError("truncated \(what())") }
        defer { offset += count }
        return Array(bytes[offset..<(offset + count)])
    }

    /// A length-prefixed field `<min..max>` whose length takes `lengthBytes` bytes.
    mutating func readVector(
        lengthBytes: Int, min: Int = 0, max: Int? = nil, _ what: @autoclosure () -> String
    ) throws(TLSAlert) -> [UInt8] {
        var inner = try readSubReader(lengthBytes: lengthBytes, min: min, max: max, what())
        return inner.readRest()
    }

    /// A reader over a length-prefixed field; this reader moves past it.
    mutating func readSubReader(
        lengthBytes: Int, min: Int = 0, max: Int? = nil, _ what: @autoclosure () -> String
    ) throws(TLSAlert) -> TLSReader {
        let length = Int(try readInteger(lengthBytes, "length of \(what())"))
        guard length >= min, length <= (max ?? Int.max) else {
            throw .decodeError(
                "\(what()) has length \(length), outside \(min)...\(max ?? (1 << (8 * lengthBytes)) - 1)")
        }
        guard length <= remaining else { throw .decodeError("\(what()) runs past the end of its message") }
        defer { offset += length }
        return TLSReader(bytes: bytes, offset: offset, end: offset + length)
    }

    mutating func readRest() -> [UInt8] {
        defer { offset = end }
        return Array(bytes[offset..<end])
    }

    func expectEnd(_ what: @autoclosure () -> String) throws(TLSAlert) {
        guard isAtEnd else { throw .decodeError("\(remaining) unexpected bytes after \(what())") }
    }
}

/// Builds TLS structures; length prefixes are written by `vector`, which patches them once the
/// contents are known. Lengths come from our own data, so an overflow is a bug and traps.
struct TLSWriter {
    private(set) var bytes: [UInt8] = []

    init() {}

    mutating func writeUInt8(_ value: UInt8) { bytes.append(value) }
    mutating func writeUInt16(_ value: UInt16) { writeInteger(UInt64(value), count: 2) }
    mutating func writeUInt24(_ value: Int) { writeInteger(UInt64(value), count: 3) }
    mutating func writeUInt32(_ value: UInt32) { writeInteger(UInt64(value), count: 4) }
    mutating func writeUInt64(_ value: UInt64) { writeInteger(value, count: 8) }

    mutating func writeInteger(_ value: UInt64, count: Int) {
        for index in stride(from: count - 1, through: 0, by: -1) {
            bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(8 * index)))
        }
    }

    mutating func writeBytes(_ data: [UInt8]) { bytes.append(contentsOf: data) }

    /// Writes `body` behind a `lengthBytes`-byte length prefix.
    mutating func writeVector(lengthBytes: Int, _ body: (inout TLSWriter) -> Void) {
        let start = bytes.count
        writeInteger(0, count: lengthBytes)
        body(&self)
        let length = bytes.count - start - lengthBytes
        precondition(length < 1 << (8 * lengthBytes), "TLS vector too long for its length prefix")
        for index in 0..<lengthBytes {
            bytes[start + index] = UInt8(truncatingIfNeeded: length >> (8 * (lengthBytes - 1 - index)))
        }
    }

    mutating func writeVector(lengthBytes: Int, _ data: [UInt8]) {
        writeVector(lengthBytes: lengthBytes) { $0.writeBytes(data) }
    }
}
