/// NewReno as RFC 9002 §7 and Appendix B describe it: slow start, congestion avoidance, one
/// window reduction per recovery period, persistent congestion.
public struct NewReno: CongestionController {
    public private(set) var maxDatagramSize: Int
    public private(set) var congestionWindow: Int
    var ssthresh: Int = .max
    /// congestion_recovery_start_time; nil when not in (or never in) recovery.
    var recoveryStartTime: Instant?
    /// Bytes acknowledged in congestion avoidance not yet turned into window (RFC 3465 §2.1).
    var bytesAckedInAvoidance = 0

    /// kLossReductionFactor = 1/2 (RFC 9002 §7.3.2).
    public static let lossReductionNumerator = 1
    public static let lossReductionDenominator = 2

    public init(maxDatagramSize: Int) {
        self.maxDatagramSize = maxDatagramSize
        congestionWindow = NewReno.initialWindow(maxDatagramSize: maxDatagramSize)
    }

    /// kInitialWindow = min(10 * max_datagram_size, max(14720, 2 * max_datagram_size)) (§7.2).
    public static func initialWindow(maxDatagramSize: Int) -> Int {
        min(10 * maxDatagramSize, max(14720, 2 * maxDatagramSize))
    }

    /// kMinimumWindow = 2 * max_datagram_size (§7.2).
    public var minimumWindow: Int { 2 * maxDatagramSize }
    public var slowStartThreshold: Int? { ssthresh == .max ? nil : ssthresh }
    public var isInSlowStart: Bool { congestionWindow < ssthresh }
    public var pacingRate: UInt64? { nil }

    func inRecovery(_ sentTime: Instant) -> Bool {
        guard let recoveryStartTime else { return false }
        return sentTime <= recoveryStartTime
    }

    public mutating func onPacketSent(now: Instant, bytes: Int, bytesInFlight: Int) {}

    public mutating func onPacketAcked(_ packet: AckedPacketInfo, now: Instant, rtt: RTTEstimator, isAppLimited: Bool) {
        guard !isAppLimited, !inRecovery(packet.sentTime) else { return }
        if congestionWindow < ssthresh {
            congestionWindow += packet.bytes
        } else {
            // Integer congestion avoidance: one max_datagram_size per window acknowledged.
            bytesAckedInAvoidance += packet.bytes
            if bytesAckedInAvoidance >= congestionWindow {
                bytesAckedInAvoidance -= congestionWindow
                congestionWindow += maxDatagramSize
            }
        }
    }

    public mutating func onAckProcessed(now: Instant, rtt: RTTEstimator, bytesInFlight: Int) {}

    public mutating func onCongestionEvent(now: Instant, sentTime: Instant) {
        guard !inRecovery(sentTime) else { return }
        recoveryStartTime = now
        ssthresh = congestionWindow * NewReno.lossReductionNumerator / NewReno.lossReductionDenominator
        congestionWindow = max(ssthresh, minimumWindow)
        bytesAckedInAvoidance = 0
    }

    public mutating func onPersistentCongestion(now: Instant) {
        congestionWindow = minimumWindow
        recoveryStartTime = nil
        bytesAckedInAvoidance = 0
    }

    public mutating func onMaxDatagramSizeChanged(_ size: Int) {
        maxDatagramSize = size
        congestionWindow = max(congestionWindow, minimumWindow)
    }
}
