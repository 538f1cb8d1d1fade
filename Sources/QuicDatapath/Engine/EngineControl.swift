import CQuicShim
import Glibc
import Synchronization

/// Stops a running engine from another thread and wakes it if it is blocked in poll(2)
/// (an eventfd in its poll set).
public final class EngineControl: Sendable {
    private let stopFlag = Atomic<Bool>(false)
    let wakeDescriptor: Int32

    public init() {
        wakeDescriptor = eventfd(0, Int32(EFD_NONBLOCK) | Int32(EFD_CLOEXEC))
    }

    deinit { close(wakeDescriptor) }

    public var stopRequested: Bool { stopFlag.load(ordering: .acquiring) }

    public func requestStop() {
        stopFlag.store(true, ordering: .releasing)
        wake()
    }

    /// Wakes a blocked engine (e.g. after an application thread queued work for it).
    public func wake() {
        var one: UInt64 = 1
        _ = write(wakeDescriptor, &one, 8)
    }

    func drainWakeups() {
        var value: UInt64 = 0
        _ = read(wakeDescriptor, &value, 8)
    }
}
