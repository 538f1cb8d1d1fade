import QuicWire

/// ECN on one path (RFC 9000 §13.4, the sample algorithm of Appendix A.4): mark early packets
/// ECT(0) while `testing`, then validate the peer's ECN counts in ACK frames (§13.4.2.1); keep
/// marking once the path is `capable`, stop for good once it has `failed`.
///
/// Only counts that pass validation are used: a CE increase from a validated ACK is what loss
/// recovery hands to the congestion controller (RFC 9002 §7, Appendix B.7).
public struct ECNValidation: Sendable {
    public enum State: UInt8, Sendable, Equatable, CustomStringConvertible {
        /// Marking, counts not yet confirmed.
        case testing
        /// The testing period ended before any marked packet was acknowledged: not marking,
        /// waiting for an ACK of the marked ones to confirm.
        case unknown
        /// Counts confirmed: marking.
        case capable
        /// Validation failed (or ECN is turned off): never marking on this path.
        case failed

        public var description: String {
            switch self {
            case .testing: return "testing"
            case .unknown: return "unknown"
            case .capable: return "capable"
            case .failed: return "failed"
            }
        }
    }

    /// Why validation failed, for statistics and qlog.
    public enum Failure: UInt8, Sendable, Equatable, CustomStringConvertible {
        case disabled
        /// An ACK newly acknowledged ECT(0) packets but carried no ECN counts (§13.4.2.1): the
        /// path bleaches the field or the peer does not report.
        case countsMissing
        /// ECT(0) + CE grew by less than the ECT(0) packets newly acknowledged (remarking).
        case countsTooLow
        /// A count exceeds what we sent with that codepoint (ECT(1) we never use, or more
        /// ECT(0) than we marked).
        case countsTooHigh
        /// Every packet marked in the testing period was declared lost (§13.4.2).
        case markedPacketsLost

        public var description: String {
            switch self {
            case .disabled: return "disabled"
            case .countsMissing: return "ACK without ECN counts"
            case .countsTooLow: return "ECN counts too low"
            case .countsTooHigh: return "ECN counts too high"
            case .markedPacketsLost: return "all marked packets lost"
            }
        }
    }

    /// §13.4.2 suggests a testing period of ten packets or three PTOs.
    public static let testingPackets = 10
    public static let testingPTOs: Int64 = 3

    public private(set) var state: State
    public private(set) var failure: Failure?
    /// Packets sent with ECT(0), per packet number space (the peer counts per space, §13.4.1).
    private var sentECT0: (UInt64, UInt64, UInt64) = (0, 0, 0)
    /// The last validated counts, per space.
    private var lastCounts: (ECNCounts, ECNCounts, ECNCounts) = (ECNCounts(), ECNCounts(), ECNCounts())
    private var testingSent = 0
    private var testingStart: Instant?
    /// Marked packets of this path that were acknowledged / declared lost.
    private var markedAcked = 0
    private var markedLost = 0

    public init(enabled: Bool) {
        state = enabled ? .testing : .failed
        failure = enabled ? nil : .disabled
    }

    /// The codepoint packets sent now carry.
    @inlinable public var marking: ECNCodepoint { state == .testing || state == .capable ? .ect0 : .notECT }

    /// One packet sent with `marking`.
    mutating func onPacketSent(space: PacketNumberSpace, marked: Bool) {
        guard marked else { return }
        switch space {
        case .initial: sentECT0.0 += 1
        case .handshake: sentECT0.1 += 1
        case .applicationData: sentECT0.2 += 1
        }
    }

    /// One datagram sent: ends the testing period after ten marked datagrams or three PTOs.
    mutating func onDatagramSent(now: Instant, probeTimeout: TimeSpan) {
        guard state == .testing else { return }
        if testingStart == nil { testingStart = now }
        testingSent += 1
        if testingSent >= Self.testingPackets || now - testingStart! >= probeTimeout * Self.testingPTOs {
            state = .unknown
            checkAllMarkedLost()
        }
    }

    /// A marked packet was declared lost.
    mutating func onMarkedPacketLost() {
        markedLost += 1
        checkAllMarkedLost()
    }

    private mutating func checkAllMarkedLost() {
        // Only once the testing period is over is "all of them" a fixed set.
        if state == .unknown, markedAcked == 0, markedLost >= testingSent, testingSent > 0 {
            fail(.markedPacketsLost)
        }
    }

    /// Validates the ECN section of an ACK frame that advanced the largest acknowledged packet
    /// (§13.4.2.1; an ACK that does not advance it is not used, to tolerate reordering).
    /// `newlyAckedECT0` counts the newly acknowledged packets that were sent marked, `onPath` those
    /// of them sent on the current path (nil: all were); only those confirm the path. Returns the
    /// increase of the CE count when the counts are valid, nil otherwise.
    mutating func onAck(space: PacketNumberSpace, counts: ECNCounts?, newlyAckedECT0: Int, onPath: Int? = nil) -> UInt64? {
        let confirming = onPath ?? newlyAckedECT0
        markedAcked += confirming
        guard state != .failed else { return nil }
        guard let counts else {
            if newlyAckedECT0 > 0 { fail(.countsMissing) }
            return nil
        }
        let last: ECNCounts
        let sent: UInt64
        switch space {
        case .initial: (last, sent) = (lastCounts.0, sentECT0.0)
        case .handshake: (last, sent) = (lastCounts.1, sentECT0.1)
        case .applicationData: (last, sent) = (lastCounts.2, sentECT0.2)
        }
        if counts.ect1 > 0 || counts.ect0 > sent {
            fail(.countsTooHigh)
            return nil
        }
        // Counts only grow; a smaller one is a peer error we do not act on (treat as no growth).
        let ect0Increase = counts.ect0 > last.ect0 ? counts.ect0 - last.ect0 : 0
        let ceIncrease = counts.ce > last.ce ? counts.ce - last.ce : 0
        if ect0Increase + ceIncrease < UInt64(newlyAckedECT0) {
            fail(.countsTooLow)
            return nil
        }
        let updated = ECNCounts(ect0: max(counts.ect0, last.ect0), ect1: 0, ce: max(counts.ce, last.ce))
        switch space {
        case .initial: lastCounts.0 = updated
        case .handshake: lastCounts.1 = updated
        case .applicationData: lastCounts.2 = updated
        }
        // Appendix A.4: confirmed once a marked packet is acknowledged with valid counts (we do
        // not wait for the testing period to end when the answer is already in).
        if state != .capable && confirming > 0 { state = .capable }
        return ceIncrease
    }

    /// Validation starts over on a new path (RFC 9000 §13.4.2: "the new path might not have the
    /// same ECN capability", §9.2). The counts sent and reported stay: the peer counts per packet
    /// number space, across paths. Disabled stays disabled.
    func restartedForNewPath() -> ECNValidation {
        guard failure != .disabled else { return self }
        var next = self
        next.state = .testing
        next.failure = nil
        next.testingSent = 0
        next.testingStart = nil
        next.markedAcked = 0
        next.markedLost = 0
        return next
    }

    private mutating func fail(_ reason: Failure) {
        state = .failed
        failure = reason
    }
}
