/// The static Huffman code of HPACK (RFC 7541 §5.2, Appendix B), which QPACK string literals use
/// unmodified (RFC 9204 §4.1.2).
public enum Huffman {
    /// Why a Huffman-coded string was rejected (RFC 7541 §5.2).
    public enum DecodingError: Error, Hashable, Sendable {
        /// The string contains the EOS symbol.
        case endOfStringSymbol
        /// More than 7 bits of padding follow the last symbol.
        case paddingTooLong
        /// The padding is not the most significant bits of EOS (all ones).
        case paddingNotOnes
    }

    /// Bytes that `bytes` occupies once Huffman-coded (padding included).
    public static func encodedLength<C: Sequence>(_ bytes: C) -> Int where C.Element == UInt8 {
        var bits = 0
        for byte in bytes { bits += Int(codes[Int(byte)].length) }
        return (bits + 7) / 8
    }

    /// Appends the Huffman coding of `bytes`, padded with the high bits of EOS (RFC 7541 §5.2).
    public static func encode<C: Sequence>(_ bytes: C, into output: inout [UInt8]) where C.Element == UInt8 {
        var accumulator: UInt64 = 0
        var bitCount = 0
        for byte in bytes {
            let (code, length) = codes[Int(byte)]
            // At most 7 bits are pending before this, so 37 bits fit the accumulator.
            accumulator = accumulator << UInt64(length) | UInt64(code)
            bitCount += Int(length)
            while bitCount >= 8 {
                bitCount -= 8
                output.append(UInt8(truncatingIfNeeded: accumulator >> UInt64(bitCount)))
            }
            accumulator &= (1 << UInt64(bitCount)) - 1
        }
        if bitCount > 0 {
            let padding = 8 - bitCount
            output.append(UInt8(truncatingIfNeeded: accumulator << UInt64(padding) | ((1 << UInt64(padding)) - 1)))
        }
    }

    public static func encode<C: Sequence>(_ bytes: C) -> [UInt8] where C.Element == UInt8 {
        var output: [UInt8] = []
        encode(bytes, into: &output)
        return output
    }

    /// Appends the decoding of `input`. Rejects EOS inside the string, padding longer than 7 bits
    /// and padding that is not all ones (RFC 7541 §5.2).
    public static func decode(_ input: UnsafeRawBufferPointer, into output: inout [UInt8]) throws(DecodingError) {
        // The code is canonical: codes of one length are consecutive integers, and every code of
        // length L is numerically below the L-bit prefixes of longer codes. So a symbol is found
        // by growing the prefix bit by bit until it falls inside its length's range.
        let table = DecodingTable.shared
        var code: UInt32 = 0
        var length = 0
        for byte in input {
            var bit = 7
            while bit >= 0 {
                code = code << 1 | UInt32((byte >> UInt8(bit)) & 1)
                length += 1
                bit -= 1
                // Unreachable for the RFC table (every 30-bit string starts with a code); kept so a
                // bad table could never index past the arrays.
                guard length <= 30 else { throw .endOfStringSymbol }
                let offset = code &- table.firstCode[length]
                if offset < table.count[length] {
                    let symbol = table.symbols[Int(table.firstIndex[length] + offset)]
                    if symbol == 256 { throw .endOfStringSymbol }
                    output.append(UInt8(truncatingIfNeeded: symbol))
                    code = 0
                    length = 0
                }
            }
        }
        // Every 30-bit string starts with a code (the code is complete), so `length` stays < 30.
        if length > 7 { throw .paddingTooLong }
        if code != (1 << UInt32(length)) - 1 { throw .paddingNotOnes }
    }

    public static func decode(_ input: [UInt8]) throws(DecodingError) -> [UInt8] {
        var output: [UInt8] = []
        try withBytes(input) { (raw) throws(DecodingError) in try decode(raw, into: &output) }
        return output
    }

    /// Canonical-code ranges per length, built once from `codes`.
    final class DecodingTable: Sendable {
        static let shared = DecodingTable()

        /// For each length 0...30: the first code, how many codes, and where their symbols start.
        let firstCode: [UInt32]
        let count: [UInt32]
        let firstIndex: [UInt32]
        /// Symbols ordered by (length, code).
        let symbols: [UInt16]

        init() {
            var firstCode = [UInt32](repeating: 0, count: 32)
            var count = [UInt32](repeating: 0, count: 32)
            var firstIndex = [UInt32](repeating: 0, count: 32)
            let ordered = (0...256).sorted { lhs, rhs in
                let (a, b) = (Huffman.codes[lhs], Huffman.codes[rhs])
                return a.length != b.length ? a.length < b.length : a.code < b.code
            }
            var index: UInt32 = 0
            for length in 1...31 {
                let ofLength = ordered.filter { Int(Huffman.codes[$0].length) == length }
                firstIndex[length] = index
                count[length] = UInt32(ofLength.count)
                // A length with no codes gets an empty range; its first code is irrelevant.
                firstCode[length] = ofLength.first.map { Huffman.codes[$0].code } ?? 0
                index += UInt32(ofLength.count)
            }
            self.firstCode = firstCode
            self.count = count
            self.firstIndex = firstIndex
            self.symbols = ordered.map { UInt16($0) }
        }
    }
}
