import QuicDatapath
import Synchronization

/// Where an `EventChannel`'s items wait between producer and consumer. Consumer-side calls
/// come from one task at a time (the channel's consumer lock).
protocol HandoffBuffer<Item>: Sendable {
    associatedtype Item
    /// Consumer side.
    func popFirst() -> Item?
    /// Consumer side: true when an item may be taken now.
    var hasItems: Bool { get }
}

/// A bounded single-producer ring (one worker produces): stream data and datagrams.
final class RingBuffer<Item>: HandoffBuffer, @unchecked Sendable {
    let ring: SPSCQueue<Item>
    init(capacity: Int) { ring = SPSCQueue(capacity: capacity) }
    /// Producer side; false when full.
    func push(_ item: Item) -> Bool { ring.push(item) }
    func popFirst() -> Item? { ring.pop() }
    var hasItems: Bool { ring.count > 0 }
    var isFull: Bool { ring.count >= ring.capacity }
    /// One slot left: kept for a last push (see `StreamChannel.room`).
    var isNearlyFull: Bool { ring.count >= ring.capacity - 1 }
}

/// An unbounded list any number of workers push to: accepted connections (every worker of an
/// endpoint produces) and incoming streams (bounded by the stream limit we grant the peer).
final class ListBuffer<Item>: HandoffBuffer, @unchecked Sendable {
    let queue = MPSCQueue<Item>()
    /// Taken from `queue` but not yet handed out; consumer side only.
    private var taken: [Item] = []
    private var next = 0

    func push(_ item: Item) { queue.push(item) }

    func popFirst() -> Item? {
        if next == taken.count {
            taken.removeAll(keepingCapacity: true)
            next = 0
            queue.drain { taken.append($0) }
            if taken.isEmpty { return nil }
        }
        defer { next += 1 }
        return taken[next]
    }

    var hasItems: Bool { next < taken.count || !queue.isEmpty }
}

/// How a channel ended: its producer finished it, or it failed (the error is thrown to every
/// consumer once the items queued before it are taken).
enum ChannelEnd: Sendable {
    case finished
    case failed(QuicError)
}

/// Worker → application tasks. The worker pushes into a lock-free buffer and rings a doorbell;
/// consumers (any number of tasks) take items in order. Consumers take turns through a mutex
/// that only they use, never the worker, so the worker never waits for an application thread:
/// its side is a ring push, a fence and, when a task is parked, one compare-and-swap and a
/// continuation resume.
///
/// One consumer at a time is parked on the doorbell; others wait behind it and are resumed
/// (from the application side) to try again when it wakes.
final class EventChannel<Buffer: HandoffBuffer>: @unchecked Sendable where Buffer.Item: Sendable {
    typealias Item = Buffer.Item
    let buffer: Buffer
    private let doorbell = Doorbell()
    private let end = WriteOnce<ChannelEnd>()
    private let consumers = Mutex(Consumers())

    private struct Consumers: ~Copyable {
        /// Part of an item a consumer split off and left for the next one.
        var front: Item?
        var parkerActive = false
        var waiting: [UnsafeContinuation<Void, Never>] = []
    }

    private enum Step { case item(Item), end(ChannelEnd), park, retry }

    init(_ buffer: Buffer) { self.buffer = buffer }

    // MARK: Producer side (worker)

    /// Wakes a parked consumer after items were pushed into `buffer`.
    func notify() { doorbell.ring() }

    /// Ends the channel after the items already pushed; the first end wins.
    func finish(_ how: ChannelEnd) {
        if end.set(how) { doorbell.ring() }
    }

    var isEnded: Bool { end.value != nil }

    // MARK: Consumer side (application tasks)

    /// The next item, nil once the channel finished; throws the error it failed with.
    /// `split` may keep part of an item for the next call (a read with a length limit).
    func receive(split: (Item) -> (Item, rest: Item?) = { ($0, nil) }) async throws(QuicError) -> Item? {
        while true {
            let step = consumers.withLock { state -> Step in
                if let item = state.front.take() ?? buffer.popFirst() {
                    let (taken, rest) = split(item)
                    state.front = rest
                    return .item(taken)
                }
                // The end is read before the buffer is looked at again: items pushed before
                // the end are visible once the end is.
                if let how = end.value {
                    if let item = buffer.popFirst() {
                        let (taken, rest) = split(item)
                        state.front = rest
                        return .item(taken)
                    }
                    return .end(how)
                }
                if state.parkerActive { return .retry }
                state.parkerActive = true
                return .park
            }
            switch step {
            case .item(let item): return item
            case .end(.finished): return nil
            case .end(.failed(let error)): throw error
            case .park:
                await doorbell.park { buffer.hasItems || end.value != nil }
                let others = consumers.withLock { state -> [UnsafeContinuation<Void, Never>] in
                    state.parkerActive = false
                    defer { state.waiting = [] }
                    return state.waiting
                }
                for other in others { other.resume() }
            case .retry:
                // Wait behind the parked consumer; re-check under the lock so its wakeup is not missed.
                await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
                    let queued = consumers.withLock { state -> Bool in
                        guard state.parkerActive else { return false }
                        state.waiting.append(continuation)
                        return true
                    }
                    if !queued { continuation.resume() }
                }
            }
        }
    }
}
