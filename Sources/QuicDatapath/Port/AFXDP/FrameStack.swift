/// Free UMEM frame addresses for transmit, a fixed-capacity stack: pop on `reserve`, push on
/// completion. Preallocated; never grows.
struct FrameStack: ~Copyable {
    private let storage: UnsafeMutablePointer<UInt64>
    let capacity: Int
    private(set) var count = 0

    init(capacity: Int) {
        storage = .allocate(capacity: capacity)
        self.capacity = capacity
    }

    deinit { storage.deallocate() }

    @inline(__always)
    mutating func push(_ address: UInt64) {
        precondition(count < capacity, "a UMEM frame was freed twice")
        storage[count] = address
        count += 1
    }

    @inline(__always)
    mutating func pop() -> UInt64? {
        guard count > 0 else { return nil }
        count -= 1
        return storage[count]
    }

    @inline(__always)
    func peek() -> UInt64? { count > 0 ? storage[count - 1] : nil }
}
