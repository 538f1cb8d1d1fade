import Testing

@testable import QuicHTTP3

@Suite("Huffman code (RFC 7541 §5.2, Appendix B)")
struct HuffmanTests {
    /// RFC 7541 Appendix C.4 (requests with Huffman coding) and C.6 (responses with Huffman
    /// coding): each string literal's value and its Huffman-coded bytes, as printed there.
    static let vectors: [(String, String)] = [
        ("www.example.com", "f1e3 c2e5 f23a 6ba0 ab90 f4ff"),  // C.4.1
        ("no-cache", "a8eb 1064 9cbf"),  // C.4.2
        ("custom-key", "25a8 49e9 5ba9 7d7f"),  // C.4.3
        ("custom-value", "25a8 49e9 5bb8 e8b4 bf"),  // C.4.3
        ("302", "6402"),  // C.6.1
        ("private", "aec3 771a 4b"),  // C.6.1
        ("Mon, 21 Oct 2013 20:13:21 GMT", "d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff"),  // C.6.1
        ("https://www.example.com", "9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3"),  // C.6.1
        ("307", "640e ff"),  // C.6.2
        ("gzip", "9bd9 ab"),  // C.6.3
        (
            "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",  // C.6.3
            "94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07"
        ),
    ]

    @Test("RFC 7541 C.4/C.6 strings encode to the printed bytes", arguments: vectors)
    func encodesVector(text: String, encoded: String) {
        #expect(Huffman.encode(Array(text.utf8)) == hex(encoded))
        #expect(Huffman.encodedLength(Array(text.utf8)) == hex(encoded).count)
    }

    @Test("RFC 7541 C.4/C.6 bytes decode to the printed strings", arguments: vectors)
    func decodesVector(text: String, encoded: String) throws {
        #expect(try Huffman.decode(hex(encoded)) == Array(text.utf8))
    }

    @Test("every byte value round-trips, alone and in random strings")
    func roundTrips() throws {
        for byte in 0...255 {
            let input = [UInt8(byte)]
            #expect(try Huffman.decode(Huffman.encode(input)) == input)
        }
        var rng = SeededGenerator(seed: 7541)
        for _ in 0..<500 {
            let input = rng.bytes(rng.below(200))
            #expect(try Huffman.decode(Huffman.encode(input)) == input)
        }
        #expect(try Huffman.decode([]) == [])
    }

    /// The table must be the canonical code for its lengths (codes of one length consecutive, in
    /// symbol order, shortest first; RFC 7541 Appendix B is such a code), complete (Kraft sum 1),
    /// with EOS (256) as 30 ones. Together with the C.4/C.6 vectors this pins the transcription.
    @Test("the code table is canonical, complete, and EOS is 30 ones")
    func canonical() {
        let table = Huffman.codes
        #expect(table.count == 257)
        let order = (0...256).sorted { (table[$0].length, $0) < (table[$1].length, $1) }
        var expected: UInt64 = 0
        var previousLength = table[order[0]].length
        for (position, symbol) in order.enumerated() {
            if position > 0 { expected = (expected + 1) << UInt64(table[symbol].length - previousLength) }
            previousLength = table[symbol].length
            #expect(UInt64(table[symbol].code) == expected, "symbol \(symbol)")
        }
        let kraft = table.reduce(0.0) { $0 + 1.0 / Double(UInt64(1) << UInt64($1.length)) }
        #expect(kraft == 1.0)
        #expect(table[256].code == 0x3fff_ffff && table[256].length == 30)
        // Spot checks against the printed appendix.
        #expect(table[Int(UInt8(ascii: "0"))] == (0x0, 5))
        #expect(table[Int(UInt8(ascii: " "))] == (0x14, 6))
        #expect(table[0] == (0x1ff8, 13))
        #expect(table[255] == (0x3ff_ffee, 26))
    }

    @Test("EOS inside a string is an error (RFC 7541 §5.2)")
    func rejectsEOS() {
        // 'a' (00011) then EOS (30 ones) then 5 bits of padding: 35 + 5 = 40 bits.
        let bits = "00011" + String(repeating: "1", count: 30) + "11111"
        #expect(throws: Huffman.DecodingError.endOfStringSymbol) { try Huffman.decode(bitsToBytes(bits)) }
        // EOS alone, padded with 2 ones.
        #expect(throws: Huffman.DecodingError.endOfStringSymbol) { try Huffman.decode(hex("ffff ffff")) }
    }

    @Test("padding longer than 7 bits is an error (RFC 7541 §5.2)")
    func rejectsLongPadding() {
        // "a" as 00011 + 111 is valid; a whole extra 0xff byte makes 11 bits of padding.
        #expect((try? Huffman.decode(bitsToBytes("00011111"))) == Array("a".utf8))
        #expect(throws: Huffman.DecodingError.paddingTooLong) {
            try Huffman.decode(bitsToBytes("00011111" + "11111111"))
        }
        #expect(throws: Huffman.DecodingError.paddingTooLong) { try Huffman.decode([0xff]) }
    }

    @Test("padding that is not all ones is an error (RFC 7541 §5.2)")
    func rejectsZeroPadding() {
        // 'a' then 110: the padding is not a prefix of EOS.
        #expect(throws: Huffman.DecodingError.paddingNotOnes) { try Huffman.decode(bitsToBytes("00011110")) }
        // '0' (00000) then 000.
        #expect(throws: Huffman.DecodingError.paddingNotOnes) { try Huffman.decode([0x00]) }
    }

    func bitsToBytes(_ bits: String) -> [UInt8] {
        precondition(bits.count % 8 == 0)
        let digits = Array(bits)
        return stride(from: 0, to: digits.count, by: 8).map { UInt8(String(digits[$0..<($0 + 8)]), radix: 2)! }
    }
}
