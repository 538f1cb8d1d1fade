/// A point on a monotonic clock, in nanoseconds from an arbitrary origin. The core never reads a
/// clock: every input carries the instant it happens at (DESIGN.md, "The sans-IO contract").
@frozen
public struct Instant: Comparable, Hashable, Sendable, CustomStringConvertible {
    public var nanoseconds: UInt64

    @inlinable public init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }

    public static let zero = Instant(nanoseconds: 0)
    /// Later than any real instant; "no timer".
    public static let distantFuture = Instant(nanoseconds: .max)

    @inlinable public static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.nanoseconds < rhs.nanoseconds }

    @inlinable
    public static func + (lhs: Instant, rhs: TimeSpan) -> Instant {
        if rhs.nanoseconds >= 0 {
            let (sum, overflow) = lhs.nanoseconds.addingReportingOverflow(UInt64(rhs.nanoseconds))
            return overflow ? .distantFuture : Instant(nanoseconds: sum)
        }
        let magnitude = UInt64(-rhs.nanoseconds)
        return Instant(nanoseconds: lhs.nanoseconds > magnitude ? lhs.nanoseconds - magnitude : 0)
    }

    @inlinable public static func - (lhs: Instant, rhs: TimeSpan) -> Instant { lhs + TimeSpan(nanoseconds: -rhs.nanoseconds) }

    /// The span from `rhs` to `lhs` (negative when `lhs` is earlier).
    @inlinable
    public static func - (lhs: Instant, rhs: Instant) -> TimeSpan {
        lhs >= rhs
            ? TimeSpan(nanoseconds: Int64(clamping: lhs.nanoseconds - rhs.nanoseconds))
            : TimeSpan(nanoseconds: -Int64(clamping: rhs.nanoseconds - lhs.nanoseconds))
    }

    public var description: String { "\(Double(nanoseconds) / 1e6)ms" }
}

/// A signed length of time in nanoseconds.
@frozen
public struct TimeSpan: Comparable, Hashable, Sendable, AdditiveArithmetic, CustomStringConvertible {
    public var nanoseconds: Int64

    @inlinable public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }

    public static let zero = TimeSpan(nanoseconds: 0)
    public static let infinite = TimeSpan(nanoseconds: .max)

    @inlinable public static func nanoseconds(_ value: Int64) -> TimeSpan { TimeSpan(nanoseconds: value) }
    @inlinable public static func microseconds(_ value: Int64) -> TimeSpan { TimeSpan(nanoseconds: value * 1_000) }
    @inlinable public static func milliseconds(_ value: Int64) -> TimeSpan { TimeSpan(nanoseconds: value * 1_000_000) }
    @inlinable public static func seconds(_ value: Int64) -> TimeSpan { TimeSpan(nanoseconds: value * 1_000_000_000) }

    @inlinable public var microseconds: Int64 { nanoseconds / 1_000 }
    @inlinable public var milliseconds: Int64 { nanoseconds / 1_000_000 }
    @inlinable public var seconds: Double { Double(nanoseconds) / 1e9 }

    @inlinable public static func < (lhs: TimeSpan, rhs: TimeSpan) -> Bool { lhs.nanoseconds < rhs.nanoseconds }
    @inlinable public static func + (lhs: TimeSpan, rhs: TimeSpan) -> TimeSpan {
        TimeSpan(nanoseconds: lhs.nanoseconds &+ rhs.nanoseconds)
    }
    @inlinable public static func - (lhs: TimeSpan, rhs: TimeSpan) -> TimeSpan {
        TimeSpan(nanoseconds: lhs.nanoseconds &- rhs.nanoseconds)
    }
    @inlinable public static func * (lhs: TimeSpan, rhs: Int64) -> TimeSpan {
        TimeSpan(nanoseconds: lhs.nanoseconds.multipliedReportingOverflow(by: rhs).overflow ? .max : lhs.nanoseconds * rhs)
    }
    @inlinable public static func / (lhs: TimeSpan, rhs: Int64) -> TimeSpan { TimeSpan(nanoseconds: lhs.nanoseconds / rhs) }
    /// Multiplies by a ratio, e.g. kTimeThreshold = 9/8.
    @inlinable public func scaled(_ numerator: Int64, _ denominator: Int64) -> TimeSpan {
        TimeSpan(nanoseconds: Int64(clamping: Int128(nanoseconds) * Int128(numerator) / Int128(denominator)))
    }

    public var description: String { "\(Double(nanoseconds) / 1e6)ms" }
}
