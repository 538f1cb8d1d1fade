import QuicWire
import Testing

@Suite("Variable-length integers (RFC 9000 §16, Appendix A.1)")
struct VarIntTests {
    /// RFC 9000 Appendix A.1's examples, including the non-minimal two-byte 37.
    static let examples: [(String, UInt64)] = [
        ("c2197c5eff14e88c", 151_288_809_941_952_652), ("9d7f3e7d", 494_878_333), ("7bbd", 15293), ("25", 37),
        ("4025", 37),
    ]

    @Test("decodes the RFC examples", arguments: examples)
    func rfcExamples(encoding: String, value: UInt64) throws {
        let bytes = hex(encoding)
        var reader = ByteReader(UnsafeRawBufferPointer(start: nil, count: 0))
        let decoded = try bytes.withUnsafeBytes { raw in
            reader = ByteReader(raw)
            return try reader.readVarIntValue()
        }
        #expect(decoded == value)
        #expect(reader.offset == bytes.count)
    }

    static let boundaries: [(UInt64, Int)] = [
        (0, 1), (63, 1), (64, 2), (16383, 2), (16384, 4), ((1 << 30) - 1, 4), (1 << 30, 8), ((1 << 62) - 1, 8),
    ]

    @Test("encodes the shortest form", arguments: boundaries)
    func shortest(value: UInt64, length: Int) throws {
        let bytes = encoded { $0.writeVarInt(value) }
        #expect(bytes.count == length)
        #expect(VarInt.encodedLength(value) == length)
        let back = try bytes.withUnsafeBytes { raw in
            var reader = ByteReader(raw)
            return try reader.readVarIntValue()
        }
        #expect(back == value)
    }

    @Test("the RFC's 8- and 4-byte examples are what we encode")
    func encodeExamples() {
        #expect(encoded { $0.writeVarInt(151_288_809_941_952_652) } == hex("c2197c5eff14e88c"))
        #expect(encoded { $0.writeVarInt(494_878_333) } == hex("9d7f3e7d"))
        #expect(encoded { $0.writeVarInt(15293) } == hex("7bbd"))
        #expect(encoded { $0.writeVarInt(37) } == hex("25"))
    }

    @Test("range checks")
    func range() {
        #expect(VarInt(rawValue: 1 << 62) == nil)
        #expect(VarInt(-1) == nil)
        #expect(VarInt(UInt64(1 << 62) - 1) == VarInt.max)
    }

    @Test("a truncated varint is an error, not a trap", arguments: ["40", "80ffff", "c0000000000000", ""])
    func truncated(encoding: String) {
        let bytes = hex(encoding)
        #expect(throws: WireError(.frameEncodingError, .truncated)) {
            try bytes.withUnsafeBytes { raw in
                var reader = ByteReader(raw)
                _ = try reader.readVarIntValue()
            }
        }
    }

    @Test("random values round-trip in every length")
    func random() throws {
        var rng = SeededGenerator(seed: 1)
        for _ in 0..<10_000 {
            let value = rng.varint()
            let bytes = encoded { $0.writeVarInt(value) }
            let back = try bytes.withUnsafeBytes { raw in
                var reader = ByteReader(raw)
                return try reader.readVarIntValue()
            }
            #expect(back == value)
        }
    }
}

@Suite("Packet numbers (RFC 9000 §17.1, Appendix A.2, A.3)")
struct PacketNumberTests {
    @Test("Appendix A.3: largest 0xa82f30ea, 16-bit 0x9b32 decodes to 0xa82f9b32")
    func decodeExample() {
        #expect(PacketNumberCoding.decode(truncated: 0x9b32, length: 2, largestProcessed: 0xa82f_30ea) == 0xa82f_9b32)
    }

    @Test("Appendix A.2: largest acked 0xabe8b3; 0xac5c02 needs 2 bytes, 0xace8fe needs 3")
    func encodeExample() {
        #expect(PacketNumberCoding.encodedLength(for: 0xac5c02, largestAcknowledged: 0xabe8b3) == 2)
        #expect(PacketNumberCoding.encodedLength(for: 0xace8fe, largestAcknowledged: 0xabe8b3) == 3)
    }

    @Test("edge cases: the first packet, wrap-around near the window edges")
    func edges() {
        #expect(PacketNumberCoding.encodedLength(for: 0, largestAcknowledged: nil) == 1)
        #expect(PacketNumberCoding.decode(truncated: 0, length: 1, largestProcessed: nil) == 0)
        // 128 unacknowledged packets still fit one byte (log2(128) + 1 = 8 bits).
        #expect(PacketNumberCoding.encodedLength(for: 128, largestAcknowledged: 0) == 1)
        #expect(PacketNumberCoding.encodedLength(for: 129, largestAcknowledged: 0) == 2)
        // Just below and above a byte boundary.
        #expect(PacketNumberCoding.decode(truncated: 0x00, length: 1, largestProcessed: 0xff) == 0x100)
        #expect(PacketNumberCoding.decode(truncated: 0xff, length: 1, largestProcessed: 0x100) == 0xff)
    }

    @Test("random: what the sender encodes, the receiver recovers")
    func random() {
        var rng = SeededGenerator(seed: 2)
        for _ in 0..<20_000 {
            let largestAcked = rng.next() % (1 << 40)
            let packetNumber = largestAcked + 1 + rng.next() % (1 << UInt64(rng.next() % 30))
            let length = PacketNumberCoding.encodedLength(for: packetNumber, largestAcknowledged: largestAcked)
            let truncated = packetNumber & ((1 << UInt64(8 * length)) - 1)
            // The receiver may have processed anything from the largest acked up to the packet before.
            let largestProcessed = largestAcked + rng.next() % (packetNumber - largestAcked)
            let decoded = PacketNumberCoding.decode(truncated: truncated, length: length, largestProcessed: largestProcessed)
            #expect(decoded == packetNumber, "pn \(packetNumber) len \(length) acked \(largestAcked) processed \(largestProcessed)")
            if decoded != packetNumber { break }
        }
    }
}
