import CAllocCounter
import Glibc

/// Monotonic nanoseconds.
@inline(__always)
public func nanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

public struct Measurement {
    public var nanosecondsPerOperation: Double
    public var allocationsPerOperation: Double
}

/// Heap allocations so far in this process (the CAllocCounter interposer).
public func allocationCount() -> UInt64 { quic_alloc_count() }

/// Fails unless the malloc interposer sees allocations, so the zeros it reports mean something.
public func checkAllocationCounter() -> Double {
    var sink: [UInt8] = []
    let probe = measure(iterations: 1000, rounds: 1) { sink = [UInt8](repeating: UInt8(truncatingIfNeeded: sink.count), count: 64) }
    precondition(probe.allocationsPerOperation >= 1, "the malloc interposer is not counting; allocation figures would be wrong")
    return probe.allocationsPerOperation
}

/// Runs `body` `iterations` times per round for `rounds` rounds and keeps the fastest round, which
/// is the least disturbed by the other processes on a shared machine.
public func measure(iterations: Int, rounds: Int = 7, _ body: () -> Void) -> Measurement {
    for _ in 0..<(iterations / 10) { body() }  // warm up
    var best = Double.infinity
    var allocations = 0.0
    for _ in 0..<rounds {
        let allocationsBefore = quic_alloc_count()
        let start = nanoseconds()
        for _ in 0..<iterations { body() }
        let elapsed = nanoseconds() - start
        let allocated = quic_alloc_count() - allocationsBefore
        best = min(best, Double(elapsed) / Double(iterations))
        allocations = max(allocations, Double(allocated) / Double(iterations))
    }
    return Measurement(nanosecondsPerOperation: best, allocationsPerOperation: allocations)
}

public func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
}

public func format(_ value: Double, decimals: Int = 1) -> String {
    var factor = 1.0
    for _ in 0..<decimals { factor *= 10 }
    let rounded = (value * factor).rounded() / factor
    return String(rounded)
}
