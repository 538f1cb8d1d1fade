import Synchronization

/// A bounded lock-free single-producer single-consumer queue: the hand-off between an engine
/// worker and one application thread (Lamport's ring with acquire/release indices, as in the
/// AF_XDP rings themselves). Storage is allocated once; `push`/`pop` never allocate or block.
public final class SPSCQueue<Element>: @unchecked Sendable {
    private let storage: UnsafeMutablePointer<Element>
    private let mask: Int
    /// Next slot the consumer reads (written by the consumer only).
    private let head = Atomic<Int>(0)
    /// Next slot the producer writes (written by the producer only).
    private let tail = Atomic<Int>(0)

    /// `capacity` is rounded up to a power of two.
    public init(capacity: Int) {
        var size = 1
        while size < max(capacity, 2) { size <<= 1 }
        storage = .allocate(capacity: size)
        mask = size - 1
    }

    deinit {
        var index = head.load(ordering: .relaxed)
        let end = tail.load(ordering: .relaxed)
        while index != end {
            (storage + (index & mask)).deinitialize(count: 1)
            index &+= 1
        }
        storage.deallocate()
    }

    public var capacity: Int { mask + 1 }

    /// Producer side. Returns false (and does not take `element`) when full.
    @discardableResult
    public func push(_ element: Element) -> Bool {
        let t = tail.load(ordering: .relaxed)
        if t &- head.load(ordering: .acquiring) > mask { return false }
        (storage + (t & mask)).initialize(to: element)
        tail.store(t &+ 1, ordering: .releasing)
        return true
    }

    /// Consumer side. nil when empty.
    public func pop() -> Element? {
        let h = head.load(ordering: .relaxed)
        if h == tail.load(ordering: .acquiring) { return nil }
        let element = (storage + (h & mask)).move()
        head.store(h &+ 1, ordering: .releasing)
        return element
    }

    /// Approximate (exact from the consumer or producer thread for its own side).
    public var count: Int { tail.load(ordering: .acquiring) &- head.load(ordering: .acquiring) }
}
