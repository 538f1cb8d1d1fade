/// HyStart++ (RFC 9406 §4): leaves the first slow start when the round's minimum RTT rises,
/// through Conservative Slow Start (CSS), which returns to slow start if the rise was spurious.
///
/// Rounds are packet-timed (§4.2: "windowEnd = SND.NXT", the round ends when windowEnd is
/// acknowledged). QUIC has a packet number space per epoch, so the round marker is a send time
/// instead: a round ends when a packet sent at or after the round's start is acknowledged — the
/// first packet sent after the marker is exactly the one SND.NXT named.
public struct HyStartPlusPlus: Sendable {
    public static let minRTTThreshold = TimeSpan.milliseconds(4)  // MIN_RTT_THRESH
    public static let maxRTTThreshold = TimeSpan.milliseconds(16)  // MAX_RTT_THRESH
    public static let minRTTDivisor: Int64 = 8  // MIN_RTT_DIVISOR
    public static let rttSampleCount = 8  // N_RTT_SAMPLE
    public static let cssGrowthDivisor = 4  // CSS_GROWTH_DIVISOR
    public static let cssRounds = 5  // CSS_ROUNDS
    // L = infinity: every QUIC sender here is paced (§4.3).

    public enum Phase: Sendable, Equatable {
        case slowStart
        case conservativeSlowStart
        /// Left for congestion avoidance (or never to be used again).
        case done
    }

    /// What the caller must do after an ACK.
    public enum Decision: Sendable, Equatable {
        case none
        case enteredCSS
        case resumedSlowStart
        /// CSS_ROUNDS rounds of CSS are over: ssthresh = cwnd.
        case enterCongestionAvoidance
    }

    public private(set) var phase = Phase.slowStart
    /// nil stands for "infinity".
    public private(set) var lastRoundMinRTT: TimeSpan?
    public private(set) var currentRoundMinRTT: TimeSpan?
    public private(set) var samplesThisRound = 0
    public private(set) var cssBaselineMinRTT: TimeSpan?
    public private(set) var cssRoundsCompleted = 0
    /// Packets sent at or after this instant belong to the next round; nil before the first ACK.
    public private(set) var windowEnd: Instant?
    public private(set) var roundCount = 0

    public init() {}

    /// The divisor for cwnd growth: 1 in slow start, CSS_GROWTH_DIVISOR in CSS.
    public var growthDivisor: Int { phase == .conservativeSlowStart ? Self.cssGrowthDivisor : 1 }

    /// One ACK during slow start or CSS. `newestSentTime` is the send time of the most recently
    /// sent packet it acknowledged; `rttSample` the RTT measured from that packet.
    public mutating func onAck(now: Instant, newestSentTime: Instant, rttSample: TimeSpan) -> Decision {
        guard phase != .done else { return .none }
        if windowEnd == nil || newestSentTime >= windowEnd! {
            // The round ended. A partial CSS round counts toward CSS_ROUNDS (§4.2).
            if phase == .conservativeSlowStart && windowEnd != nil {
                cssRoundsCompleted += 1
                if cssRoundsCompleted >= Self.cssRounds {
                    phase = .done
                    return .enterCongestionAvoidance
                }
            }
            lastRoundMinRTT = currentRoundMinRTT
            currentRoundMinRTT = nil
            samplesThisRound = 0
            windowEnd = now
            roundCount += 1
        }
        currentRoundMinRTT = min(currentRoundMinRTT ?? rttSample, rttSample)
        samplesThisRound += 1
        guard samplesThisRound >= Self.rttSampleCount, let current = currentRoundMinRTT else { return .none }
        switch phase {
        case .slowStart:
            guard let last = lastRoundMinRTT else { return .none }
            let threshold = max(Self.minRTTThreshold, min(last / Self.minRTTDivisor, Self.maxRTTThreshold))
            if current >= last + threshold {
                cssBaselineMinRTT = current
                cssRoundsCompleted = 0
                phase = .conservativeSlowStart
                return .enteredCSS
            }
        case .conservativeSlowStart:
            if let baseline = cssBaselineMinRTT, current < baseline {
                cssBaselineMinRTT = nil
                phase = .slowStart
                return .resumedSlowStart
            }
        case .done:
            break
        }
        return .none
    }

    /// Loss or ECN-CE in slow start or CSS ends HyStart++ for the connection (§4.2, §4.3: only
    /// the initial slow start uses it).
    public mutating func finish() { phase = .done }
}
