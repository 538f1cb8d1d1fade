import Glibc

/// A point on CLOCK_MONOTONIC in nanoseconds. The engine reads the clock once per loop turn and
/// passes the instant to the handler, which never reads a clock itself (DESIGN.md, sans-IO).
@frozen
public struct MonotonicTime: Comparable, Hashable, Sendable {
    public var nanoseconds: UInt64
    @inlinable public init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }

    @inlinable
    public static func now() -> MonotonicTime {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return MonotonicTime(nanoseconds: UInt64(spec.tv_sec) &* 1_000_000_000 &+ UInt64(spec.tv_nsec))
    }

    @inlinable public static func < (a: MonotonicTime, b: MonotonicTime) -> Bool { a.nanoseconds < b.nanoseconds }

    @inlinable
    public func adding(nanoseconds delta: UInt64) -> MonotonicTime {
        MonotonicTime(nanoseconds: nanoseconds &+ delta)
    }

    /// Whole milliseconds until `later`, rounded up, 0 if already past; the timeout for poll(2).
    @inlinable
    public func milliseconds(until later: MonotonicTime) -> Int32 {
        guard later > self else { return 0 }
        let millis = (later.nanoseconds - nanoseconds + 999_999) / 1_000_000
        return Int32(clamping: millis)
    }
}
