import QuicWire

/// SplitMix64: a small seeded generator so random round-trip tests are reproducible.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    /// A varint-range value whose encoded length is spread evenly over 1, 2, 4 and 8 bytes.
    mutating func varint() -> UInt64 {
        switch next() % 4 {
        case 0: return next() % (1 << 6)
        case 1: return next() % (1 << 14)
        case 2: return next() % (1 << 30)
        default: return next() % (1 << 62)
        }
    }

    mutating func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8(truncatingIfNeeded: next()) } }
}

func hex(_ text: String) -> [UInt8] {
    var bytes: [UInt8] = []
    var index = text.startIndex
    while index < text.endIndex {
        let next = text.index(index, offsetBy: 2)
        bytes.append(UInt8(text[index..<next], radix: 16)!)
        index = next
    }
    return bytes
}

/// Encodes with `body` into a fresh buffer and returns the bytes written.
func encoded(capacity: Int = 4096, _ body: (inout ByteWriter) -> Void) -> [UInt8] {
    var buffer = [UInt8](repeating: 0xee, count: capacity)
    let count = buffer.withUnsafeMutableBytes { raw -> Int in
        var writer = ByteWriter(raw)
        body(&writer)
        return writer.offset
    }
    return Array(buffer[..<count])
}
