import CAllocCounter
import Glibc

/// Monotonic nanoseconds.
@inline(__always)
func nanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

struct Measurement {
    var nanosecondsPerOperation: Double
    var allocationsPerOperation: Double
}

/// Runs `body` `iterations` times per round for `rounds` rounds and keeps the fastest round, which
/// is the least disturbed by the other processes on a shared machine.
func measure(iterations: Int, rounds: Int = 7, _ body: () -> Void) -> Measurement {
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

func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
}

func format(_ value: Double, decimals: Int = 1) -> String {
    var factor = 1.0
    for _ in 0..<decimals { factor *= 10 }
    let rounded = (value * factor).rounded() / factor
    return String(rounded)
}
