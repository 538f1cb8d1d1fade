/// The Internet checksum (RFC 1071): one's complement sum of 16-bit big-endian words.
/// Used for the IPv4 header (RFC 791) and UDP over IPv4/IPv6 (RFC 768, RFC 8200 §8.1) when the
/// device does not compute them (the software path of the checksum offload).
@frozen
public struct InternetChecksum {
    @usableFromInline var sum: UInt64 = 0

    @inlinable public init() {}

    /// Adds `count` bytes at `p`; only the last call may pass an odd count.
    @inlinable
    public mutating func add(_ p: UnsafeRawPointer, count: Int) {
        var offset = 0
        var acc = sum
        // 8 bytes at a time: sums of big-endian 16-bit words are the byte-swapped sums of
        // native words, so add native 32-bit halves and swap once at the end.
        while offset + 8 <= count {
            let word = p.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
            acc &+= (word & 0xffff_ffff) &+ (word >> 32)
            offset += 8
        }
        while offset + 2 <= count {
            acc &+= UInt64(p.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
            offset += 2
        }
        if offset < count {
            acc &+= UInt64(p.load(fromByteOffset: offset, as: UInt8.self))
        }
        sum = acc
    }

    /// Adds a 16-bit value given in host order.
    @inlinable
    public mutating func add(word: UInt16) { sum &+= UInt64(word.bigEndian) }

    /// The checksum, in network byte order, ready to store with `storeBytes`.
    @inlinable
    public var finalized: UInt16 {
        var folded = sum
        while folded >> 16 != 0 { folded = (folded & 0xffff) &+ (folded >> 16) }
        return ~UInt16(truncatingIfNeeded: folded)
    }
}
