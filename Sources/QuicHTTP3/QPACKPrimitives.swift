/// QPACK's primitives (RFC 9204 §4.1): N-bit prefix integers (RFC 7541 §5.1) and string literals
/// with an H flag and an (N−1)-bit prefix length (RFC 7541 §5.2, RFC 9204 §4.1.2).
public enum QPACKPrimitive {
    /// The largest integer a decoder must accept: 62 bits (RFC 9204 §4.1.1).
    public static let maxInteger: UInt64 = (1 << 62) - 1

    /// Appends `value` as an integer with a `prefixBits`-bit prefix (1...8); `flags` are the bits
    /// of the first byte above the prefix.
    public static func encodeInteger(_ value: UInt64, prefixBits: Int, flags: UInt8 = 0, into output: inout [UInt8]) {
        precondition((1...8).contains(prefixBits), "QPACK prefix must be 1...8 bits")
        let limit = UInt64(1) << UInt64(prefixBits) - 1
        if value < limit {
            output.append(flags | UInt8(value))
            return
        }
        output.append(flags | UInt8(limit))
        var rest = value - limit
        while rest >= 0x80 {
            output.append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        output.append(UInt8(rest))
    }

    /// Appends a string literal whose length has a `prefixBits`-bit prefix (2...8) including the H
    /// bit; `flags` are the bits above it. Uses Huffman coding when it is shorter (RFC 7541 §5.2).
    public static func encodeString<C: Collection>(
        _ bytes: C, prefixBits: Int, flags: UInt8 = 0, huffman: Bool? = nil, into output: inout [UInt8]
    ) where C.Element == UInt8 {
        precondition((2...8).contains(prefixBits), "QPACK string prefix must be 2...8 bits")
        let huffmanLength = Huffman.encodedLength(bytes)
        let useHuffman = huffman ?? (huffmanLength < bytes.count)
        let hBit = UInt8(1) << UInt8(prefixBits - 1)
        if useHuffman {
            encodeInteger(UInt64(huffmanLength), prefixBits: prefixBits - 1, flags: flags | hBit, into: &output)
            Huffman.encode(bytes, into: &output)
        } else {
            encodeInteger(UInt64(bytes.count), prefixBits: prefixBits - 1, flags: flags, into: &output)
            output.append(contentsOf: bytes)
        }
    }
}

/// A bounds-checked cursor over a complete encoded field section. Every read throws instead of
/// trapping, whatever the bytes.
struct QPACKReader {
    let bytes: UnsafeRawBufferPointer
    var offset = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    var isAtEnd: Bool { offset >= bytes.count }

    func peek() throws(QPACKError) -> UInt8 {
        guard offset < bytes.count else { throw QPACKError(.truncated) }
        return bytes[offset]
    }

    /// Reads an integer whose first byte is at the cursor, using its low `prefixBits` bits.
    mutating func readInteger(prefixBits: Int) throws(QPACKError) -> UInt64 {
        guard offset < bytes.count else { throw QPACKError(.truncated) }
        let limit = UInt64(1) << UInt64(prefixBits) - 1
        var value = UInt64(bytes[offset]) & limit
        offset += 1
        if value < limit { return value }
        var shift: UInt64 = 0
        while true {
            guard offset < bytes.count else { throw QPACKError(.truncated) }
            let byte = bytes[offset]
            offset += 1
            let digit = UInt64(byte & 0x7f)
            // 62 bits is the most a decoder must take (RFC 9204 §4.1.1); anything further is
            // refused before it could overflow, which also bounds runs of 0x80 padding bytes.
            guard shift <= 56 else { throw QPACKError(.integerTooLarge) }
            value += digit << shift
            guard value <= QPACKPrimitive.maxInteger else { throw QPACKError(.integerTooLarge) }
            if byte & 0x80 == 0 { return value }
            shift += 7
        }
    }

    /// Reads a string literal whose H bit is bit `prefixBits − 1` of the byte at the cursor.
    /// `budget` is what the field section may still grow by; a longer string is refused before it
    /// is decoded.
    mutating func readString(prefixBits: Int, budget: Int) throws(QPACKError) -> [UInt8] {
        let huffman = try peek() & (UInt8(1) << UInt8(prefixBits - 1)) != 0
        let length = try readInteger(prefixBits: prefixBits - 1)
        guard length <= UInt64(bytes.count - offset) else { throw QPACKError(.truncated) }
        let count = Int(length)
        let slice = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)])
        offset += count
        if !huffman {
            guard count <= budget else { throw QPACKError(.fieldSectionTooLarge) }
            return Array(slice)
        }
        // Each symbol takes 5 bits or more, so the decoded string is at most 8/5 as long.
        var output: [UInt8] = []
        output.reserveCapacity(min(count * 8 / 5, budget + 1))
        do {
            try Huffman.decode(slice, into: &output)
        } catch {
            switch error {
            case .endOfStringSymbol: throw QPACKError(.huffmanEndOfString)
            case .paddingTooLong: throw QPACKError(.huffmanPaddingTooLong)
            case .paddingNotOnes: throw QPACKError(.huffmanPaddingNotOnes)
            }
        }
        guard output.count <= budget else { throw QPACKError(.fieldSectionTooLarge) }
        return output
    }
}
