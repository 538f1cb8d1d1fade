/// Round-trip time estimation (RFC 9002 §5, Appendix A.7 UpdateRtt).
public struct RTTEstimator: Sendable {
    /// kInitialRtt (RFC 9002 §6.2.2).
    public static let initialRTT = TimeSpan.milliseconds(333)
    /// kGranularity (RFC 9002 §6.1.2).
    public static let granularity = TimeSpan.milliseconds(1)

    public private(set) var latestRTT: TimeSpan = .zero
    public private(set) var smoothedRTT: TimeSpan
    public private(set) var rttVariance: TimeSpan
    public private(set) var minRTT: TimeSpan = .zero
    /// When the first sample arrived; nil before.
    public private(set) var firstSampleTime: Instant?

    public init(initialRTT: TimeSpan = RTTEstimator.initialRTT) {
        smoothedRTT = initialRTT
        rttVariance = initialRTT / 2
    }

    public var hasSample: Bool { firstSampleTime != nil }

    /// Takes an RTT sample (RFC 9002 §5.3). `ackDelay` is the peer's reported delay, already
    /// limited to max_ack_delay once the handshake is confirmed.
    public mutating func update(latest: TimeSpan, ackDelay: TimeSpan, now: Instant) {
        latestRTT = latest
        guard firstSampleTime != nil else {
            minRTT = latest
            smoothedRTT = latest
            rttVariance = latest / 2
            firstSampleTime = now
            return
        }
        minRTT = Swift.min(minRTT, latest)
        var adjusted = latest
        if latest >= minRTT + ackDelay { adjusted = latest - ackDelay }
        let deviation = smoothedRTT > adjusted ? smoothedRTT - adjusted : adjusted - smoothedRTT
        rttVariance = (rttVariance * 3 + deviation) / 4
        smoothedRTT = (smoothedRTT * 7 + adjusted) / 8
    }

    /// The probe timeout before backoff: smoothed_rtt + max(4 * rttvar, kGranularity) (§6.2.1),
    /// without max_ack_delay.
    public var probeTimeout: TimeSpan { smoothedRTT + Swift.max(rttVariance * 4, RTTEstimator.granularity) }

    /// Back to the initial state, for a new path (RFC 9000 §9.4).
    public mutating func reset(initialRTT: TimeSpan = RTTEstimator.initialRTT) { self = RTTEstimator(initialRTT: initialRTT) }
}
