import Synchronization

/// A lock-free multi-producer single-consumer queue: the hand-off from application tasks (any
/// number, on any thread of Swift's cooperative pool) to one engine worker.
///
/// Producers push nodes onto an atomic list head with a compare-and-swap (Treiber's stack);
/// the consumer takes the whole list with one atomic exchange and reverses it, so it sees each
/// producer's elements in the order they were pushed. Taking everything at once is what makes
/// this simple and safe: the consumer never pops single nodes, so there is no ABA problem and
/// no node is freed while a producer might still read it. The consumer never waits for a
/// producer (unlike Vyukov's queue, where a producer caught between its two stores makes the
/// queue look empty), and `push` reports whether the queue was empty, which is exactly when
/// the worker needs a wakeup.
///
/// A queue can be closed: later pushes are refused (the caller fails the element), and the
/// consumer gets what was queued before.
///
/// Push allocates one node: producers are application tasks, off the per-packet path.
public final class MPSCQueue<Element>: @unchecked Sendable {
    @usableFromInline
    struct Node {
        var next: UnsafeMutablePointer<Node>?
        var element: Element
    }

    public enum PushResult: Sendable, Equatable {
        /// Queued; `wasEmpty` is true when it is the only element (the consumer may be asleep).
        case queued(wasEmpty: Bool)
        /// The queue was closed; the element was not taken.
        case closed
    }

    /// The newest node, nil when empty, or `closedMarker` after `close()`.
    private let head = Atomic<UnsafeMutableRawPointer?>(nil)
    /// A unique address that no node can have: the queue's own object.
    private var closedMarker: UnsafeMutableRawPointer { Unmanaged.passUnretained(self).toOpaque() }

    public init() {}

    deinit {
        var node = head.load(ordering: .acquiring)
        if node == closedMarker { node = nil }
        Self.free(node?.assumingMemoryBound(to: Node.self))
    }

    /// Producer side, from any thread. When the queue is closed nothing is kept: the caller
    /// still holds `element` and fails it.
    @discardableResult
    public func push(_ element: Element) -> PushResult {
        let node = UnsafeMutablePointer<Node>.allocate(capacity: 1)
        node.initialize(to: Node(next: nil, element: element))
        var current = head.load(ordering: .relaxed)
        while true {
            if current == closedMarker {
                node.deinitialize(count: 1)
                node.deallocate()
                return .closed
            }
            node.pointee.next = current?.assumingMemoryBound(to: Node.self)
            // Sequentially consistent: a producer that then checks whether the worker sleeps
            // must not have that load ordered before this publication (see EngineSleep).
            let (exchanged, original) = head.compareExchange(
                expected: current, desired: UnsafeMutableRawPointer(node),
                successOrdering: .sequentiallyConsistent, failureOrdering: .relaxed)
            if exchanged { return .queued(wasEmpty: current == nil) }
            current = original
        }
    }

    /// Consumer side: whether anything is queued (a closed queue counts as empty).
    public var isEmpty: Bool {
        let current = head.load(ordering: .sequentiallyConsistent)
        return current == nil || current == closedMarker
    }

    /// Consumer side: calls `body` with every queued element, oldest first, and returns the
    /// count. Elements pushed meanwhile wait for the next call.
    @discardableResult
    public func drain(_ body: (Element) -> Void) -> Int {
        var current = head.load(ordering: .acquiring)
        while true {
            guard let taken = current, taken != closedMarker else { return 0 }
            // A compare-and-swap, not an exchange: a closed queue must stay closed.
            let (exchanged, original) = head.compareExchange(
                expected: taken, desired: nil, successOrdering: .acquiring, failureOrdering: .acquiring)
            if exchanged { return Self.consume(taken.assumingMemoryBound(to: Node.self), body) }
            current = original
        }
    }

    /// Closes the queue (from any thread): later pushes are refused. Returns what was still
    /// queued, oldest first, through `body`.
    @discardableResult
    public func close(_ body: (Element) -> Void) -> Int {
        let taken = head.exchange(closedMarker, ordering: .acquiringAndReleasing)
        if taken == closedMarker { return 0 }
        return Self.consume(taken?.assumingMemoryBound(to: Node.self), body)
    }

    public var isClosed: Bool { head.load(ordering: .acquiring) == closedMarker }

    /// Reverses the taken list (newest first) into push order and hands each element out.
    private static func consume(_ newest: UnsafeMutablePointer<Node>?, _ body: (Element) -> Void) -> Int {
        var reversed: UnsafeMutablePointer<Node>?
        var node = newest
        while let current = node {
            node = current.pointee.next
            current.pointee.next = reversed
            reversed = current
        }
        var count = 0
        while let current = reversed {
            reversed = current.pointee.next
            let element = current.move().element
            current.deallocate()
            body(element)
            count += 1
        }
        return count
    }

    private static func free(_ newest: UnsafeMutablePointer<Node>?) {
        var node = newest
        while let current = node {
            node = current.pointee.next
            current.deinitialize(count: 1)
            current.deallocate()
        }
    }
}
