@testable import QuicCore

/// Feeds a controller synthetic acknowledgments directly, one ACK per packet, round by round:
/// a round of `packets` packets is sent from `sendStart` spread over `spread` of the RTT, and
/// each is acknowledged `rtt` after it was sent. The RTT estimator sees the same samples.
struct AckDriver {
    let mss = 1200
    var nextPacketNumber: UInt64 = 0
    var rtt = RTTEstimator()
    /// (time, cwnd) after every ACK.
    private(set) var trace: [(Instant, Int)] = []

    /// Runs one round; returns when the next round starts sending (`sendStart + rtt`).
    @discardableResult
    mutating func round<C: CongestionController>(
        _ controller: inout C, sendStart: Instant, rtt sample: TimeSpan, packets: Int, spread: Double = 0.5,
        appLimited: Bool = false
    ) -> Instant {
        let spacing = TimeSpan(nanoseconds: Int64(Double(sample.nanoseconds) * spread) / Int64(max(packets, 1)))
        for index in 0..<packets {
            let sent = sendStart + spacing * Int64(index)
            let now = sent + sample
            rtt.update(latest: sample, ackDelay: .zero, now: now)
            controller.onPacketAcked(
                AckedPacketInfo(packetNumber: nextPacketNumber, sentTime: sent, bytes: mss), now: now, rtt: rtt,
                isAppLimited: appLimited)
            controller.onAckProcessed(now: now, rtt: rtt, bytesInFlight: (packets - index - 1) * mss)
            nextPacketNumber += 1
            trace.append((now, controller.congestionWindow))
        }
        return sendStart + sample
    }

    /// The cwnd after the last ACK at or before `time`.
    func window(at time: Instant) -> Int? { trace.last { $0.0 <= time }?.1 }
}
