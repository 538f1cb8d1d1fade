import Testing

@testable import QuicHTTP3

@Suite("QPACK (RFC 9204) with a zero-capacity dynamic table")
struct QPACKTests {
    let decoder = QPACKDecoder()

    @Test("the static table has 99 entries and the indices of Appendix A")
    func staticTable() {
        #expect(QPACKStaticTable.count == 99)
        let known: [(Int, String, String)] = [
            (0, ":authority", ""), (1, ":path", "/"), (2, "age", "0"), (15, ":method", "CONNECT"),
            (17, ":method", "GET"), (23, ":scheme", "https"), (25, ":status", "200"), (27, ":status", "404"),
            (29, "accept", "*/*"), (30, "accept", "application/dns-message"),
            (31, "accept-encoding", "gzip, deflate, br"), (41, "cache-control", "public, max-age=31536000"),
            (52, "content-type", "text/html; charset=utf-8"), (54, "content-type", "text/plain;charset=utf-8"),
            (58, "strict-transport-security", "max-age=31536000; includesubdomains; preload"),
            (63, ":status", "100"), (71, ":status", "500"), (72, "accept-language", ""),
            (73, "access-control-allow-credentials", "FALSE"),
            (85, "content-security-policy", "script-src 'none'; object-src 'none'; base-uri 'none'"),
            (95, "user-agent", ""), (98, "x-frame-options", "sameorigin"),
        ]
        for (index, name, value) in known {
            #expect(QPACKStaticTable.entry(index) == HTTPField(name, value), "index \(index)")
        }
        #expect(QPACKStaticTable.entry(99) == nil)
        #expect(QPACKStaticTable.entry(-1) == nil)
    }

    /// RFC 7541 Appendix C.1: prefix integers (QPACK uses them unmodified, RFC 9204 §4.1.1).
    @Test("prefix integers match RFC 7541 C.1 and round-trip at every prefix size")
    func integers() throws {
        func encode(_ value: UInt64, _ bits: Int, flags: UInt8 = 0) -> [UInt8] {
            var out: [UInt8] = []
            QPACKPrimitive.encodeInteger(value, prefixBits: bits, flags: flags, into: &out)
            return out
        }
        #expect(encode(10, 5) == [0x0a])  // C.1.1
        #expect(encode(1337, 5) == [0x1f, 0x9a, 0x0a])  // C.1.2
        #expect(encode(42, 8) == [0x2a])  // C.1.3
        #expect(encode(30, 5, flags: 0xe0) == [0xfe])
        #expect(encode(31, 5) == [0x1f, 0x00])
        var rng = SeededGenerator(seed: 1)
        for bits in 1...8 {
            let flags = UInt8(truncatingIfNeeded: 0xff << bits)
            let edges: [UInt64] = [
                0, 1, (1 << UInt64(bits)) - 2, (1 << UInt64(bits)) - 1, 1 << UInt64(bits), 127, 128, 16383,
                QPACKPrimitive.maxInteger,
            ]
            for value in edges + (0..<50).map({ _ in rng.next() >> UInt64(2 + rng.below(60)) }) {
                let bytes = encode(value, bits, flags: flags)
                #expect(bytes[0] & flags == flags, "flags kept above a \(bits)-bit prefix")
                try bytes.withUnsafeBytes { (raw) throws in
                    var reader = QPACKReader(raw)
                    #expect(try reader.readInteger(prefixBits: bits) == value)
                    #expect(reader.isAtEnd)
                }
            }
        }
    }

    /// RFC 9204 Appendix B.1: a literal field line with a static name reference.
    @Test("RFC 9204 B.1 decodes to :path /index.html and our encoder produces the same bytes")
    func appendixB1() throws {
        let encoded = hex("0000 510b 2f69 6e64 6578 2e68 746d 6c")
        #expect(try decoder.decode(encoded) == [HTTPField(":path", "/index.html")])
        // "/index.html" Huffman-codes to 8 bytes against 11 raw, so our encoder uses Huffman
        // where B.1 (written for clarity) does not; both decode the same.
        let ours = QPACKEncoder.encode([HTTPField(":path", "/index.html")])
        #expect(ours.prefix(3) == [0x00, 0x00, 0x51])
        #expect(ours[3] & 0x80 != 0)
        #expect(try decoder.decode(ours) == [HTTPField(":path", "/index.html")])
        var forced: [UInt8] = [0x00, 0x00]
        QPACKPrimitive.encodeInteger(1, prefixBits: 4, flags: 0x50, into: &forced)
        QPACKPrimitive.encodeString(Array("/index.html".utf8), prefixBits: 8, huffman: false, into: &forced)
        #expect(forced == encoded)
    }

    @Test("the encoder picks indexed, name-reference or literal lines")
    func encoderChoices() throws {
        // :method GET is static 17 → 0xd1; :status 200 is 25 → 0xd9.
        #expect(QPACKEncoder.encode([HTTPField(":method", "GET")]) == [0, 0, 0xd1])
        #expect(QPACKEncoder.encode([HTTPField(":status", "200")]) == [0, 0, 0xd9])
        // :authority (0) with a value: 0101 0000, then the Huffman-coded value (C.4.1 bytes).
        #expect(
            QPACKEncoder.encode([HTTPField(":authority", "www.example.com")]) == [0, 0, 0x50, 0x8c]
                + hex("f1e3 c2e5 f23a 6ba0 ab90 f4ff"))
        // A name not in the table: 0010 H NameLen(3+). "custom-key" Huffman-codes to 8 bytes:
        // 0x20 | 0x08 | 7, then the continuation 8 − 7 = 1.
        let custom = QPACKEncoder.encode([HTTPField("custom-key", "custom-value")])
        #expect(custom == [0, 0, 0x2f, 0x01] + hex("25a8 49e9 5ba9 7d7f") + [0x89] + hex("25a8 49e9 5bb8 e8b4 bf"))
        // Uppercase names are lowercased before encoding (RFC 9114 §4.2).
        #expect(
            try decoder.decode(QPACKEncoder.encode([HTTPField("User-Agent", "x")])) == [HTTPField("user-agent", "x")])
        // A short value whose Huffman form is not shorter stays raw: "/" is 6 bits → 1 byte = 1 raw.
        #expect(QPACKEncoder.encode([HTTPField(":path", "/a")]).suffix(3) == [0x02, 0x2f, 0x61])
    }

    @Test("random field lists round-trip, including non-UTF-8 values")
    func randomRoundTrips() throws {
        var rng = SeededGenerator(seed: 9204)
        let names = QPACKStaticTable.count
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        for _ in 0..<300 {
            var fields: [HTTPField] = []
            for _ in 0..<rng.below(20) {
                switch rng.below(3) {
                case 0: fields.append(QPACKStaticTable.entry(rng.below(names))!)
                case 1:
                    var field = QPACKStaticTable.entry(rng.below(names))!
                    field.rawValue = rng.bytes(rng.below(300))
                    fields.append(field)
                default:
                    let name = String(
                        decoding: (0..<(1 + rng.below(40))).map { _ in alphabet[rng.below(alphabet.count)] },
                        as: UTF8.self)
                    fields.append(HTTPField(name: name, rawValue: rng.bytes(rng.below(100))))
                }
            }
            #expect(try decoder.decode(QPACKEncoder.encode(fields)) == fields)
        }
    }

    /// Each malformed section with the reason it must be refused for.
    static let malformed: [(String, [UInt8], QPACKError.Reason)] = [
        ("empty input: no prefix", [], .truncated),
        ("prefix without Delta Base", [0x00], .truncated),
        ("Required Insert Count 1 (§4.5.1.1, MaxEntries 0)", [0x01, 0x00], .nonZeroRequiredInsertCount),
        ("Sign bit with RIC 0 makes Base negative (§4.5.1.2)", [0x00, 0x80], .negativeBase),
        ("truncated prefix integer: 6-bit index continues past the end", [0x00, 0x00, 0xff], .truncated),
        ("truncated continuation byte", [0x00, 0x00, 0xff, 0x80], .truncated),
        ("integer beyond 62 bits", [0x00, 0x00, 0xff] + [UInt8](repeating: 0xff, count: 9) + [0x01], .integerTooLarge),
        (
            "a non-minimal integer padded with 0x80 bytes past 62 bits",
            [0x00, 0x00, 0xff] + [UInt8](repeating: 0x80, count: 9) + [0x00], .integerTooLarge
        ),
        ("static index 99, past the table (§3.1)", [0x00, 0x00, 0xff, 0x24], .invalidStaticIndex(99)),
        ("name reference to static index 200", [0x00, 0x00, 0x5f, 0xb9, 0x01, 0x00], .invalidStaticIndex(200)),
        ("indexed dynamic reference (T=0, §4.5.2)", [0x00, 0x00, 0x80], .dynamicTableReference),
        ("name reference into the dynamic table (T=0, §4.5.4)", [0x00, 0x00, 0x40, 0x00], .dynamicTableReference),
        ("post-Base index (§4.5.3)", [0x00, 0x00, 0x10], .postBaseReference),
        ("post-Base name reference (§4.5.5)", [0x00, 0x00, 0x00, 0x00], .postBaseReference),
        ("string length past the end", [0x00, 0x00, 0x51, 0x05, 0x61], .truncated),
        ("literal name cut short", [0x00, 0x00, 0x23, 0x61, 0x62], .truncated),
        ("value missing after a literal name", [0x00, 0x00, 0x21, 0x61], .truncated),
        ("Huffman value with EOS", [0x00, 0x00, 0x51, 0x84, 0xff, 0xff, 0xff, 0xff], .huffmanEndOfString),
        ("Huffman value with 8 bits of padding", [0x00, 0x00, 0x51, 0x81, 0xff], .huffmanPaddingTooLong),
        ("Huffman value with zero padding", [0x00, 0x00, 0x51, 0x81, 0x00], .huffmanPaddingNotOnes),
        ("Huffman name with zero padding", [0x00, 0x00, 0x29, 0x00, 0x00], .huffmanPaddingNotOnes),
    ]

    @Test("malformed sections are refused with QPACK_DECOMPRESSION_FAILED", arguments: malformed)
    func rejectsMalformed(name: String, bytes: [UInt8], reason: QPACKError.Reason) {
        #expect(throws: QPACKError(reason), "\(name)") { try decoder.decode(bytes) }
        #expect(QPACKError(reason).code == .qpackDecompressionFailed)
    }

    @Test("sections beyond SETTINGS_MAX_FIELD_SECTION_SIZE are refused, at the limit accepted")
    func boundsSectionSize() throws {
        let limited = QPACKDecoder(maxFieldSectionSize: 100)
        // 32 + 4 + 64 = 100 exactly.
        let atLimit = [HTTPField("name", String(repeating: "v", count: 64))]
        #expect(try limited.decode(QPACKEncoder.encode(atLimit)) == atLimit)
        let over = [HTTPField("name", String(repeating: "v", count: 65))]
        #expect(throws: QPACKError(.fieldSectionTooLarge)) { try limited.decode(QPACKEncoder.encode(over)) }
        // Many small static lines add up too: 3 × (":method" 7 + "GET" 3 + 32) = 126.
        #expect(throws: QPACKError(.fieldSectionTooLarge)) { try limited.decode([0, 0, 0xd1, 0xd1, 0xd1]) }
        // A huge Huffman string is refused, not decoded without bound.
        let big = [HTTPField("x", String(repeating: "a", count: 10_000))]
        #expect(throws: QPACKError(.fieldSectionTooLarge)) { try limited.decode(QPACKEncoder.encode(big)) }
        #expect(QPACKError(.fieldSectionTooLarge).code == .excessiveLoad)
    }

    @Test("no input traps the decoder: every truncation and random bytes either decode or throw")
    func neverTraps() {
        var rng = SeededGenerator(seed: 42)
        let valid = QPACKEncoder.encode(
            getRequest + [HTTPField("user-agent", "quicxdp"), HTTPField("x-custom", "ünïcode")])
        for cut in 0..<valid.count { _ = try? decoder.decode(Array(valid[..<cut])) }
        for _ in 0..<5000 {
            var bytes = [0, 0] + rng.bytes(rng.below(40))
            if rng.below(4) == 0 { bytes = rng.bytes(rng.below(40)) }
            _ = try? decoder.decode(bytes)
        }
    }

    /// Field sections captured from aioquic 1.7.2 (its QPACK is ls-qpack through pylsqpack 1.0.0):
    /// the HEADERS payloads of a GET and its response, with Required Insert Count 0.
    @Test("field sections from aioquic/ls-qpack decode")
    func aioquicSections() throws {
        let request = hex("0000d1d7508aa0e41d139d09b8d34cb3518860d5485f2bce9a685f5089198fdad31180aeeae2")
        #expect(
            try decoder.decode(request) == [
                HTTPField(":method", "GET"), HTTPField(":scheme", "https"), HTTPField(":authority", "localhost:4433"),
                HTTPField(":path", "/index.html"), HTTPField("user-agent", "aioquic/1.7.2"),
            ])
        let response = hex("0000d95f4d89198fdad31180aeeae25f1d87497ca589d34d1f540135")
        #expect(
            try decoder.decode(response) == [
                HTTPField(":status", "200"), HTTPField("server", "aioquic/1.7.2"),
                HTTPField("content-type", "text/html"),
                HTTPField("content-length", "5"),
            ])
    }
}
