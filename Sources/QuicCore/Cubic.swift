/// CUBIC (RFC 9438) in bytes, with HyStart++ (RFC 9406) for the first slow start.
///
/// The window is kept as a `Double` so that the per-ACK increments of §4.4/§4.5, often a small
/// fraction of a byte, accumulate instead of rounding away. Recovery follows RFC 9002 §7.3.2:
/// one reduction per recovery period, no growth for packets sent before it began.
public struct Cubic: CongestionController {
    /// β_cubic (§4.6).
    public static let beta = 0.7
    /// C, in segments per second³ (§5.1).
    public static let c = 0.4
    /// α_cubic = 3 (1 − β_cubic) / (1 + β_cubic) (§4.3).
    public static let alphaCubic = 3 * (1 - beta) / (1 + beta)

    public private(set) var maxDatagramSize: Int
    /// cwnd in bytes.
    public private(set) var window: Double
    var ssthresh = Int.max
    /// Fast convergence (§4.7). The RFC says SHOULD, and SHOULD be disabled where a single flow is
    /// alone on the path; on by default like Linux and quinn.
    public var fastConvergence = true
    /// HyStart++ for the initial slow start (§4.10, RFC 9406 §4.3); false: Reno slow start.
    public var useHyStart = true
    /// congestion_recovery_start_time (RFC 9002 Appendix B.2).
    var recoveryStartTime: Instant?

    // CUBIC state (§4.1.2), in bytes and seconds.
    /// W_max.
    public private(set) var wMax: Double = 0
    /// cwnd_prior.
    public private(set) var cwndPrior: Double = 0
    /// K in seconds.
    public private(set) var k: Double = 0
    /// t_epoch: when the current congestion avoidance stage started (shifted forward over
    /// application-limited and idle periods, §4.2 and §5.8); nil until the stage starts.
    public private(set) var epochStart: Instant?
    /// cwnd_epoch.
    public private(set) var cwndEpoch: Double = 0
    /// W_est, the Reno-friendly estimate (§4.3).
    public private(set) var wEst: Double = 0
    /// The additive factor W_est grows by: α_cubic until W_est reaches cwnd_prior, then 1.
    public private(set) var renoAlpha = Cubic.alphaCubic
    public private(set) var hyStart = HyStartPlusPlus()

    /// Since when the window has not grown because the sender was application-limited.
    var appLimitedSince: Instant?
    var lastAckTime: Instant?
    /// Per-ACK accumulation between `onPacketAcked` and `onAckProcessed`.
    var ackedBytes = 0
    var newestSentTime: Instant?

    public init(maxDatagramSize: Int) {
        self.maxDatagramSize = maxDatagramSize
        window = Double(NewReno.initialWindow(maxDatagramSize: maxDatagramSize))
    }

    public var congestionWindow: Int { Int(window) }
    /// kMinimumWindow (RFC 9002 §7.2). RFC 9438 §4.6 allows 1 MSS after an ECN-Echo; QUIC's
    /// minimum of 2 applies to both here.
    public var minimumWindow: Int { 2 * maxDatagramSize }
    public var slowStartThreshold: Int? { ssthresh == .max ? nil : ssthresh }
    public var isInSlowStart: Bool { window < Double(ssthresh) }
    public var pacingRate: UInt64? { nil }

    /// W_cubic(t) in bytes (Figure 1), t in seconds since t_epoch.
    public func wCubic(_ t: Double) -> Double {
        let offset = t - k
        return Self.c * offset * offset * offset * Double(maxDatagramSize) + wMax
    }

    /// K = ∛((W_max − cwnd_epoch) / C), in seconds (Figure 2), window sizes in segments.
    public static func k(wMax: Double, cwndEpoch: Double, maxDatagramSize: Int) -> Double {
        cubeRoot(max(wMax - cwndEpoch, 0) / Double(maxDatagramSize) / c)
    }

    /// ∛x by Newton's method from a power-of-two guess (the core avoids libm).
    static func cubeRoot(_ x: Double) -> Double {
        guard x > 0, x.isFinite else { return 0 }
        var y = Double(sign: .plus, exponent: x.exponent / 3, significand: 1)
        for _ in 0..<64 {
            let next = y - (y * y * y - x) / (3 * y * y)
            if abs(next - y) <= 1e-12 * y { return next }
            y = next
        }
        return y
    }

    func inRecovery(_ sentTime: Instant) -> Bool {
        guard let recoveryStartTime else { return false }
        return sentTime <= recoveryStartTime
    }

    public mutating func onPacketSent(now: Instant, bytes: Int, bytesInFlight: Int) {
        // Restarting after idle: t must not include the idle period (§4.2, §5.8).
        guard bytesInFlight == bytes, let epoch = epochStart, let idleStart = appLimitedSince ?? lastAckTime else { return }
        let start = max(idleStart, epoch)
        if now > start { epochStart = epoch + (now - start) }
        appLimitedSince = nil
    }

    public mutating func onPacketAcked(_ packet: AckedPacketInfo, now: Instant, rtt: RTTEstimator, isAppLimited: Bool) {
        newestSentTime = max(newestSentTime ?? packet.sentTime, packet.sentTime)
        if isAppLimited {
            // RFC 9002 §7.8, RFC 9438 §5.8: no growth while application-limited.
            if appLimitedSince == nil { appLimitedSince = now }
            return
        }
        guard !inRecovery(packet.sentTime) else { return }
        ackedBytes += packet.bytes
    }

    public mutating func onAckProcessed(now: Instant, rtt: RTTEstimator, bytesInFlight: Int) {
        defer {
            ackedBytes = 0
            newestSentTime = nil
            lastAckTime = now
        }
        if ackedBytes > 0, let pausedSince = appLimitedSince {
            // The application-limited period is over; t resumes where it stopped.
            if let epoch = epochStart, now > pausedSince { epochStart = epoch + (now - max(pausedSince, epoch)) }
            appLimitedSince = nil
        }
        if isInSlowStart {
            let hyStartActive = useHyStart && ssthresh == .max && hyStart.phase != .done
            if ackedBytes > 0 { window += Double(ackedBytes / (hyStartActive ? hyStart.growthDivisor : 1)) }
            if hyStartActive, let sent = newestSentTime {
                if hyStart.onAck(now: now, newestSentTime: sent, rttSample: now - sent) == .enterCongestionAvoidance {
                    // RFC 9406 §4.2: ssthresh = cwnd; RFC 9438 §4.10: no loss, so W_max is
                    // undefined: cwnd_prior = cwnd, K = 0, W_max = cwnd.
                    ssthresh = max(congestionWindow, minimumWindow)
                    startEpochWithoutReduction(now: now)
                }
            }
            return
        }
        guard ackedBytes > 0 else { return }
        if epochStart == nil { startEpochWithoutReduction(now: now) }
        congestionAvoidance(now: now, smoothedRTT: rtt.smoothedRTT)
    }

    /// A congestion avoidance stage that did not begin with a reduction: after HyStart++ left
    /// slow start (§4.10) or after the slow start that follows a timeout (§4.8).
    mutating func startEpochWithoutReduction(now: Instant) {
        epochStart = now
        cwndEpoch = window
        cwndPrior = window
        wMax = window
        k = 0
        wEst = window
        renoAlpha = Self.alphaCubic
    }

    /// One ACK of `ackedBytes` in congestion avoidance (§4.2–§4.5).
    mutating func congestionAvoidance(now: Instant, smoothedRTT: TimeSpan) {
        guard let epoch = epochStart else { return }
        let t = (now - epoch).seconds
        let acked = Double(ackedBytes)
        // The Reno-friendly estimate (Figure 4, in bytes).
        wEst += renoAlpha * acked * Double(maxDatagramSize) / window
        if wEst >= cwndPrior { renoAlpha = 1 }
        if wCubic(t) < wEst {
            // Reno-friendly region (§4.3).
            window = max(window, wEst)
        } else {
            // Concave (§4.4) or convex (§4.5): grow by (target − cwnd) / cwnd per segment.
            let target = min(max(wCubic(t + smoothedRTT.seconds), window), 1.5 * window)
            window += (target - window) * acked / window
        }
    }

    public mutating func onCongestionEvent(now: Instant, sentTime: Instant) {
        guard !inRecovery(sentTime) else { return }
        recoveryStartTime = now
        hyStart.finish()
        // Fast convergence (§4.7) before the reduction (§4.6).
        if fastConvergence && window < wMax {
            wMax = window * (1 + Self.beta) / 2
        } else {
            wMax = window
        }
        cwndPrior = window
        // Figure 5 with cwnd in place of flight_size: QUIC does not grow cwnd while
        // application-limited (RFC 9002 §7.8), which §4.6 requires for this choice.
        ssthresh = max(Int(window * Self.beta), minimumWindow)
        window = Double(ssthresh)
        epochStart = now
        cwndEpoch = window
        wEst = window
        renoAlpha = Self.alphaCubic
        k = Self.k(wMax: wMax, cwndEpoch: cwndEpoch, maxDatagramSize: maxDatagramSize)
        appLimitedSince = nil
    }

    /// RFC 9002 §7.6.2 collapses the window; RFC 9438 §4.8: ssthresh keeps the β_cubic reduction
    /// of the congestion event that preceded it, and the next congestion avoidance stage starts
    /// with K = 0 and W_max = cwnd_epoch.
    public mutating func onPersistentCongestion(now: Instant) {
        window = Double(minimumWindow)
        recoveryStartTime = nil
        epochStart = nil
        appLimitedSince = nil
        hyStart.finish()
    }

    public mutating func onMaxDatagramSizeChanged(_ size: Int) {
        maxDatagramSize = size
        window = max(window, Double(minimumWindow))
    }
}
