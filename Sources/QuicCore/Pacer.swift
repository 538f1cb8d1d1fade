/// Spreads a congestion window over the round trip (RFC 9002 §7.7): a token bucket refilled at
/// N * cwnd / smoothed_rtt with N = 5/4, holding a burst of up to `burstPackets` datagrams.
public struct Pacer: Sendable {
    public static let burstPackets = 10
    var tokens: Int
    var capacity: Int
    var lastRefill: Instant?

    public init(maxDatagramSize: Int) {
        capacity = Pacer.burstPackets * maxDatagramSize
        tokens = capacity
    }

    /// Bytes per second to pace at: the controller's own rate, or 1.25 * cwnd / smoothed_rtt.
    static func rate(congestionWindow: Int, smoothedRTT: TimeSpan, controllerRate: UInt64?) -> UInt64 {
        if let controllerRate { return max(controllerRate, 1) }
        let rttNanoseconds = max(smoothedRTT.nanoseconds, 1)
        return max(UInt64(Int128(congestionWindow) * 5 * 1_000_000_000 / (4 * Int128(rttNanoseconds))), 1)
    }

    /// When a datagram of `bytes` may be sent: nil for now, otherwise the instant to wait for.
    public mutating func nextSendTime(
        bytes: Int, now: Instant, congestionWindow: Int, smoothedRTT: TimeSpan, maxDatagramSize: Int,
        controllerRate: UInt64? = nil
    ) -> Instant? {
        let rate = Pacer.rate(congestionWindow: congestionWindow, smoothedRTT: smoothedRTT, controllerRate: controllerRate)
        // A burst allowance of about 2 ms at the current rate, between 10 and 64 datagrams.
        capacity = min(max(Int(rate / 500), Pacer.burstPackets * maxDatagramSize), 64 * maxDatagramSize)
        if let lastRefill, now > lastRefill {
            let elapsed = UInt64((now - lastRefill).nanoseconds)
            let refill = Int(min(UInt64(Int.max / 2), UInt64(Int128(elapsed) * Int128(rate) / 1_000_000_000)))
            if tokens &+ refill >= capacity {
                tokens = capacity
                self.lastRefill = now
            } else if refill > 0 {
                // Only the time turned into whole bytes is used up; the rest stays for the next
                // call. (Moving `lastRefill` to `now` lost it: a driver calling every microsecond
                // at under a byte per microsecond never refilled, and the connection sent only
                // when something else made it wait longer, one datagram per ACK.)
                tokens += refill
                self.lastRefill = lastRefill + TimeSpan(nanoseconds: Int64(clamping: UInt64(refill) * 1_000_000_000 / rate))
            }
        }
        if lastRefill == nil { lastRefill = now }
        if tokens >= bytes { return nil }
        let missing = UInt64(bytes - tokens)
        let waitNanoseconds = (missing * 1_000_000_000 + rate - 1) / rate
        return now + TimeSpan(nanoseconds: Int64(clamping: waitNanoseconds))
    }

    public mutating func onSent(bytes: Int) { tokens = max(0, tokens - bytes) }
}
