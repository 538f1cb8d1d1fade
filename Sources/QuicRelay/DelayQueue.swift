/// Datagrams waiting for their release time: a pool of fixed-size slots the kernel receives
/// straight into, and a binary min-heap ordered by (release time, arrival sequence), so equal
/// release times keep arrival order. Nothing allocates after `init`.
final class DelayQueue {
    struct Entry {
        var at: UInt64
        var sequence: UInt64
        var slot: Int32
        var length: Int32
        /// The ECN field the datagram arrived with.
        var ecn: UInt8
    }

    let slotSize: Int
    let capacity: Int
    /// capacity × slotSize bytes; pages are touched only as slots are used.
    let storage: UnsafeMutableRawPointer
    private let freeSlots: UnsafeMutablePointer<Int32>
    private(set) var freeCount: Int
    private let heap: UnsafeMutablePointer<Entry>
    private(set) var count = 0
    private var nextSequence: UInt64 = 0

    init(capacity: Int, slotSize: Int) {
        self.capacity = capacity
        self.slotSize = slotSize
        storage = UnsafeMutableRawPointer.allocate(byteCount: capacity * slotSize, alignment: 64)
        freeSlots = .allocate(capacity: capacity)
        // Lowest slots on top of the stack, so a light load stays in a few pages.
        for index in 0..<capacity { freeSlots[index] = Int32(capacity - 1 - index) }
        freeCount = capacity
        heap = .allocate(capacity: capacity)
    }

    deinit {
        storage.deallocate()
        freeSlots.deallocate()
        heap.deallocate()
    }

    @inline(__always)
    func buffer(_ slot: Int32) -> UnsafeMutableRawPointer { storage + Int(slot) * slotSize }

    @inline(__always)
    func takeSlot() -> Int32? {
        guard freeCount > 0 else { return nil }
        freeCount -= 1
        return freeSlots[freeCount]
    }

    @inline(__always)
    func releaseSlot(_ slot: Int32) {
        freeSlots[freeCount] = slot
        freeCount += 1
    }

    /// Queues a datagram held in `slot` for release at `at`.
    @inline(__always)
    func push(slot: Int32, length: Int, ecn: UInt8, at: UInt64) {
        nextSequence += 1
        push(Entry(at: at, sequence: nextSequence, slot: slot, length: Int32(length), ecn: ecn))
    }

    /// Puts an entry back (a send that could not complete), keeping its place in the order.
    func push(_ entry: Entry) {
        var index = count
        count += 1
        while index > 0 {
            let parent = (index - 1) / 2
            if !Self.before(entry, heap[parent]) { break }
            heap[index] = heap[parent]
            index = parent
        }
        heap[index] = entry
    }

    var nextRelease: UInt64? { count > 0 ? heap[0].at : nil }

    /// The earliest entry if it is due by `now`.
    @inline(__always)
    func popDue(now: UInt64) -> Entry? {
        guard count > 0, heap[0].at <= now else { return nil }
        let top = heap[0]
        count -= 1
        if count > 0 {
            let last = heap[count]
            var index = 0
            while true {
                let left = 2 * index + 1
                if left >= count { break }
                var child = left
                if left + 1 < count && Self.before(heap[left + 1], heap[left]) { child = left + 1 }
                if !Self.before(heap[child], last) { break }
                heap[index] = heap[child]
                index = child
            }
            heap[index] = last
        }
        return top
    }

    @inline(__always)
    static func before(_ a: Entry, _ b: Entry) -> Bool { a.at < b.at || (a.at == b.at && a.sequence < b.sequence) }
}
