/// Stream bytes addressed by their stream offset: a window [base, base + capacity) of a byte
/// stream held in one allocation. Receive reassembly writes at any offset in the window; sending
/// reads any retained offset. Capacity grows by doubling up to a limit, then stays.
public struct ByteRing: ~Copyable {
    private var storage: UnsafeMutableRawBufferPointer
    /// `capacity - 1` when the capacity is a power of two (positions by masking instead of a
    /// 64-bit division on every write and read), else 0.
    private var mask: UInt64
    /// Offset of the oldest byte retained.
    public private(set) var base: UInt64 = 0
    public let maximumCapacity: Int

    public init(initialCapacity: Int = 4096, maximumCapacity: Int) {
        precondition(initialCapacity > 0 && maximumCapacity >= initialCapacity)
        storage = .allocate(byteCount: initialCapacity, alignment: 16)
        mask = Self.mask(for: initialCapacity)
        self.maximumCapacity = maximumCapacity
    }

    deinit { storage.deallocate() }

    public var capacity: Int { storage.count }

    private static func mask(for capacity: Int) -> UInt64 {
        capacity.nonzeroBitCount == 1 ? UInt64(capacity - 1) : 0
    }

    /// The storage position of stream offset `offset`.
    @inline(__always)
    private func position(_ offset: UInt64) -> Int {
        Int(mask != 0 ? offset & mask : offset % UInt64(capacity))
    }
    /// One past the highest offset the window can hold right now without growing.
    public var windowEnd: UInt64 { base + UInt64(capacity) }

    /// Makes room for offsets up to `end` (exclusive), growing up to the limit; false if the
    /// limit does not allow it. `retained` is the end of the bytes currently in use (to copy).
    public mutating func reserve(upTo end: UInt64, retainedEnd: UInt64) -> Bool {
        guard end > windowEnd else { return true }
        let needed = end - base
        guard needed <= UInt64(maximumCapacity) else { return false }
        var newCapacity = capacity
        while UInt64(newCapacity) < needed { newCapacity *= 2 }
        newCapacity = min(newCapacity, maximumCapacity)
        let bigger = UnsafeMutableRawBufferPointer.allocate(byteCount: newCapacity, alignment: 16)
        // Copy the live bytes [base, retainedEnd) to their positions in the new storage.
        var offset = base
        while offset < retainedEnd {
            let from = Int(offset % UInt64(capacity))
            let to = Int(offset % UInt64(newCapacity))
            let run = min(
                Int(retainedEnd - offset), capacity - from, newCapacity - to)
            (bigger.baseAddress! + to).copyMemory(from: storage.baseAddress! + from, byteCount: run)
            offset += UInt64(run)
        }
        storage.deallocate()
        storage = bigger
        mask = Self.mask(for: newCapacity)
        return true
    }

    /// Copies `bytes` to stream offset `offset` (which must lie in the window).
    public mutating func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) {
        precondition(offset >= base && offset + UInt64(bytes.count) <= windowEnd, "write outside the ring window")
        var copied = 0
        while copied < bytes.count {
            let position = position(offset + UInt64(copied))
            let run = min(bytes.count - copied, capacity - position)
            (storage.baseAddress! + position).copyMemory(from: bytes.baseAddress! + copied, byteCount: run)
            copied += run
        }
    }

    /// Copies `count` bytes from stream offset `offset` to `destination`.
    public func read(at offset: UInt64, count: Int, into destination: UnsafeMutableRawPointer) {
        precondition(offset >= base && offset + UInt64(count) <= windowEnd, "read outside the ring window")
        var copied = 0
        while copied < count {
            let position = position(offset + UInt64(copied))
            let run = min(count - copied, capacity - position)
            (destination + copied).copyMemory(from: storage.baseAddress! + position, byteCount: run)
            copied += run
        }
    }

    /// Forgets bytes below `offset`, sliding the window forward.
    public mutating func advance(to offset: UInt64) {
        if offset > base { base = offset }
    }
}
