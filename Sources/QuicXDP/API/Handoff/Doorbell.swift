import Synchronization

/// Wakes one parked application task from a worker thread without a lock: the single-waiter
/// pattern of futures-rs' `AtomicWaker`. The task stores its continuation and announces itself
/// with an atomic store; the worker, after publishing work, claims the continuation with a
/// compare-and-swap and resumes it. Whoever wins the swap owns the continuation, so it is
/// resumed exactly once.
///
/// The two sides form Dekker's pattern (each stores, then loads what the other stored), which
/// needs a sequentially consistent fence on both sides; without it a task could park just as
/// the worker decides nobody is parked, and sleep with work waiting.
///
/// One task may be parked at a time; `EventChannel` makes its consumers take turns.
final class Doorbell: @unchecked Sendable {
    private static let idle = 0
    private static let parked = 1
    private let state = Atomic<Int>(Doorbell.idle)
    /// Written by the parking task before it announces itself; read by whoever wins the swap.
    private var continuation: UnsafeContinuation<Void, Never>?

    /// Parks until `ring()`, unless `ready()` is true once the park is visible to producers.
    func park(unless ready: () -> Bool) async {
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
            self.continuation = continuation
            state.store(Doorbell.parked, ordering: .sequentiallyConsistent)
            atomicMemoryFence(ordering: .sequentiallyConsistent)
            if ready() { reclaim() }
        }
    }

    /// Producer side, after publishing work (any thread, any number of producers).
    func ring() {
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        guard state.load(ordering: .sequentiallyConsistent) == Doorbell.parked else { return }
        reclaim()
    }

    private func reclaim() {
        let (won, _) = state.compareExchange(
            expected: Doorbell.parked, desired: Doorbell.idle, ordering: .sequentiallyConsistent)
        guard won, let continuation else { return }
        self.continuation = nil
        continuation.resume()
    }
}

/// A value written once, by any thread, and read without a lock after that (a close reason,
/// the end of a channel). The first `set` wins.
final class WriteOnce<Value: Sendable>: @unchecked Sendable {
    private let state = Atomic<Int>(0)  // 0 unset, 1 being written, 2 set
    private var stored: Value?

    /// Returns false when a value was already set (or is being set).
    @discardableResult
    func set(_ value: Value) -> Bool {
        guard state.compareExchange(expected: 0, desired: 1, ordering: .acquiring).exchanged else { return false }
        stored = value
        state.store(2, ordering: .releasing)
        return true
    }

    var value: Value? { state.load(ordering: .acquiring) == 2 ? stored : nil }
}
