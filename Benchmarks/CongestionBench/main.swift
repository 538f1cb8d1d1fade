// Congestion-control benchmark (not a test), per controller behind `SelectedCongestionController`:
//  1. the controller alone: one send and one ACK's worth of hooks (onPacketSent, onPacketAcked,
//     onRateSample, onAckProcessed) through the enum's switch dispatch;
//  2. a whole ACK cycle through LossRecovery: two packets sent, one ACK frame for both decoded and
//     processed (loss detection, the delivery-rate estimator, the controller, the timer).
// Each prints ns per operation, heap allocations per operation (the per-packet path must not
// allocate) and the ratio to NewReno measured in the same run.
import CAllocCounter
import Foundation
import Glibc
import QuicCore
import QuicWire

@inline(__always)
func nanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

/// Fastest of 7 rounds of `iterations` after a warm-up, and the most allocations seen per call.
func measure(iterations: Int, _ body: () -> Void) -> (nanoseconds: Double, allocations: Double) {
    for _ in 0..<(iterations / 4) { body() }
    var best = Double.infinity
    var allocations = 0.0
    for _ in 0..<7 {
        let before = quic_alloc_count()
        let start = nanoseconds()
        for _ in 0..<iterations { body() }
        best = min(best, Double(nanoseconds() - start) / Double(iterations))
        allocations = max(allocations, Double(quic_alloc_count() - before) / Double(iterations))
    }
    return (best, allocations)
}

struct Cycle {
    var recovery: LossRecovery<SelectedCongestionController>
    var now = Instant(nanoseconds: 1_000_000_000)
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 8)

    init(_ algorithm: CongestionControlAlgorithm) {
        recovery = LossRecovery(controller: SelectedCongestionController(algorithm, maxDatagramSize: 1200, seed: 1), isServer: true)
        recovery.handshakeConfirmed = true
    }

    /// Two packets out 10 µs apart, one ACK for both 20 ms later (simulated time).
    mutating func step() {
        var largest: UInt64 = 0
        for _ in 0..<2 {
            largest = recovery.nextPacketNumber(.applicationData)
            recovery.onPacketSent(
                space: .applicationData, packetNumber: largest, firstFrame: recovery.frameCursor(.applicationData), now: now,
                bytes: 1200, ackEliciting: true, inFlight: true)
            now = now + .microseconds(10)
        }
        var writer = ByteWriter(buffer)
        AckFrame.encode(ranges: CollectionOfOne((largest - 1)...largest), ackDelay: 0, ecnCounts: nil, into: &writer)
        var reader = FrameReader(payload: UnsafeRawBufferPointer(rebasing: buffer[..<writer.offset]), packetType: .oneRTT)
        guard case .ack(let ack)? = try? reader.next() else { fatalError("not an ACK") }
        try! recovery.onAckReceived(
            ack, space: .applicationData, ackDelay: .zero, now: now + .milliseconds(20), isAppLimited: false
        ) { _, _, _ in }
    }
}

func row(_ algorithm: CongestionControlAlgorithm, _ result: (nanoseconds: Double, allocations: Double), baseline: Double) {
    let name = algorithm.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0)
    print("  \(name) \(String(format: "%8.1f", result.nanoseconds))   \(String(format: "%15.3f", result.allocations))   \(String(format: "%5.2f", result.nanoseconds / baseline))x")
}

#if DEBUG
print("(debug build: use `swift run -c release CongestionBench` for numbers)")
#endif
print("1. The controller alone: one send + one ACK's hooks through SelectedCongestionController (fastest of 7 × 1,000,000)")
print("  controller     ns/op   allocations/op   ratio to NewReno")
var baseline = 0.0
for algorithm in CongestionControlAlgorithm.allCases {
    var controller = SelectedCongestionController(algorithm, maxDatagramSize: 1200, seed: 1)
    var rtt = RTTEstimator()
    var now = Instant(nanoseconds: 1_000_000_000)
    rtt.update(latest: .milliseconds(20), ackDelay: .zero, now: now)
    var sample = RateSample()
    sample.deliveryRate = 12_500_000
    sample.delivered = 250_000
    sample.newlyAcked = 1200
    sample.rtt = .milliseconds(20)
    var number: UInt64 = 0
    let result = measure(iterations: 1_000_000) {
        controller.onPacketSent(now: now, bytes: 1200, bytesInFlight: 24_000)
        controller.onPacketAcked(AckedPacketInfo(packetNumber: number, sentTime: now - .milliseconds(20), bytes: 1200), now: now, rtt: rtt, isAppLimited: false)
        sample.priorDelivered = Int(number) * 1200
        sample.totalDelivered = sample.priorDelivered + 24_000
        sample.sendTime = now - .milliseconds(20)
        controller.onRateSample(sample, now: now, rtt: rtt, bytesInFlight: 22_800)
        controller.onAckProcessed(now: now, rtt: rtt, bytesInFlight: 22_800)
        number += 1
        now = now + .microseconds(10)
    }
    if algorithm == .newReno { baseline = result.nanoseconds }
    row(algorithm, result, baseline: baseline)
}

print("2. A whole ACK cycle through LossRecovery: 2 packets sent, 1 ACK frame decoded and processed (fastest of 7 × 200,000)")
print("  controller     ns/op   allocations/op   ratio to NewReno")
for algorithm in CongestionControlAlgorithm.allCases {
    var cycle = Cycle(algorithm)
    let result = measure(iterations: 200_000) { cycle.step() }
    if algorithm == .newReno { baseline = result.nanoseconds }
    row(algorithm, result, baseline: baseline)
}
