import QuicCore
import Testing

@Suite("Pacer (RFC 9002 §7.7)")
struct PacerTests {
    /// Drives the pacer the way a busy-polling engine does: a call every `step` microseconds,
    /// sending whenever it allows. Returns the datagrams sent in `duration` microseconds.
    static func datagramsSent(stepMicroseconds step: Int64, durationMicroseconds duration: Int64, congestionWindow: Int) -> Int {
        var pacer = Pacer(maxDatagramSize: 1472)
        var sent = 0
        var now = Instant(nanoseconds: 1_000_000_000)
        let end = now + .microseconds(duration)
        while now < end {
            if pacer.nextSendTime(
                bytes: 1472, now: now, congestionWindow: congestionWindow, smoothedRTT: .milliseconds(20), maxDatagramSize: 1472) == nil
            {
                pacer.onSent(bytes: 1472)
                sent += 1
            } else {
                now = now + .microseconds(step)
            }
        }
        return sent
    }

    @Test("polled every microsecond, below a byte per microsecond, the pacer still sends at its rate (1.25 cwnd per RTT)",
          arguments: [1, 3, 50, 1000] as [Int64])
    func rateHoldsWhateverThePollingInterval(step: Int64) {
        // cwnd 7360 bytes over 20 ms: 460 kB/s paced, 0.46 bytes per microsecond.
        let sent = Self.datagramsSent(stepMicroseconds: step, durationMicroseconds: 1_000_000, congestionWindow: 7360)
        // One second: the 10-datagram burst, then 460,000 / 1472 = 312 more.
        #expect(sent >= 300 && sent <= 330, "\(sent) datagrams in a second, polled every \(step) µs")
    }
}
