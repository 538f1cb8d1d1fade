/// BBR as draft-ietf-ccwg-bbr-06 specifies it (the "BBRv3" algorithm): a model of the path's
/// bottleneck bandwidth (max_bw over two ProbeBW cycles, bounded by the short-term bw_shortterm)
/// and round-trip propagation delay (min_rtt), driven by the delivery-rate samples loss recovery
/// produces (§4.1, `DeliveryRateEstimator`), with the state machine of §5.3 and the pacing rate
/// and cwnd of §5.6. Volumes are bytes, rates bytes per second, as §2 recommends.
///
/// Section numbers in comments refer to draft-ietf-ccwg-bbr-06. Function names follow the
/// draft's pseudocode so the two can be read side by side.
///
/// Deviations, each for a stated reason:
/// - ECN (§3.7 leaves the response open but requires CE to count as congestion): a CE increase
///   is noted like a loss (short-term model, recovery, undo state), and CE-marked volume counts
///   as lost volume in IsInflightTooHigh, so Startup and ProbeBW_UP react to it as to loss.
/// - CheckFullBWReached skips rounds whose sample is unreliable (delivery_rate 0): such a round
///   carries no evidence of a plateau.
/// - Spurious loss recovery (§5.5.11) is not wired: loss recovery does not yet detect it.
public struct BBR: CongestionController {
    public enum State: UInt8, Sendable, CaseIterable {
        case startup, drain, probeBWDown, probeBWCruise, probeBWRefill, probeBWUp, probeRTT
    }

    /// BBR.ack_phase (§2.14).
    public enum AckPhase: UInt8, Sendable {
        case initial, refilling, probeStarting, probeFeedback, probeStopping
    }

    // MARK: Constants (§2)

    /// BBR.StartupPacingGain = 4 ln 2 ≈ 2.77 (§2.5).
    public static let startupPacingGain = 2.77
    /// BBR.DrainPacingGain (§2.5).
    public static let drainPacingGain = 0.5
    /// BBR.DefaultCwndGain (§2.6).
    public static let defaultCwndGain = 2.0
    /// BBR.PacingMarginPercent (§2.5).
    public static let pacingMarginPercent = 1.0
    /// BBR.LossThresh (§2.8).
    public static let lossThreshold = 0.02
    /// BBR.Beta (§2.8).
    public static let beta = 0.7
    /// BBR.Headroom (§2.8).
    public static let headroom = 0.15
    /// ProbeBW_DOWN / ProbeBW_UP gains (§5.3.3.1, §5.3.3.5).
    public static let probeDownPacingGain = 0.9
    public static let probeUpPacingGain = 1.25
    public static let probeUpCwndGain = 2.25
    /// BBR.ProbeRTTCwndGain, BBR.ProbeRTTDuration, BBR.ProbeRTTInterval (§2.16.2).
    public static let probeRTTCwndGain = 0.5
    public static let probeRTTDuration = TimeSpan.milliseconds(200)
    public static let probeRTTInterval = TimeSpan.seconds(5)
    /// BBR.MinRTTFilterLen (§2.16.1).
    public static let minRTTFilterLength = TimeSpan.seconds(10)
    /// BBR.ExtraAckedFilterLen, in rounds (§2.12).
    public static let extraAckedFilterLength: UInt64 = 10
    /// BBRStartupFullLossCnt (§5.3.1.3).
    public static let startupFullLossCount = 6
    /// Rounds without 25 % growth that mean the pipe is full (§5.3.1.2).
    public static let fullBandwidthRounds = 3

    // Stored state: 8-byte fields first, one-byte flags and enums last, no optionals (sentinels
    // instead), so the struct stays small (every connection holds one, whichever controller it
    // selected: SelectedCongestionController).

    // MARK: Output control parameters (§2.4)

    public private(set) var maxDatagramSize: Int
    /// C.cwnd.
    public private(set) var congestionWindow: Int
    /// C.pacing_rate in bytes per second.
    public private(set) var pacingRateBytesPerSecond: Double = 0
    /// C.send_quantum.
    public private(set) var sendQuantum: Int
    public private(set) var pacingGain = BBR.startupPacingGain
    public private(set) var cwndGain = BBR.defaultCwndGain

    // MARK: Rounds (§2.7, §5.5.1)

    public private(set) var roundCount: UInt64 = 0
    var nextRoundDelivered = 0
    var drainStartRound: UInt64 = 0

    // MARK: Bandwidth model (§2.9.1, §2.11)

    /// BBR.max_bw_filter: the maxima of the current and the previous ProbeBW cycle, indexed by
    /// the parity of BBR.cycle_count (§2.11: one bit of cycle_count is enough).
    var maxBwSlots = (0.0, 0.0)
    public private(set) var cycleCount: UInt64 = 0
    public private(set) var maxBandwidth = 0.0
    /// Infinity when unset.
    public private(set) var bandwidthShortterm = Double.infinity
    /// BBR.bw = min(max_bw, bw_shortterm).
    public private(set) var bandwidth = 0.0
    var bandwidthLatest = 0.0
    var inflightLatest = 0

    // MARK: Volume model (§2.9.2, §2.12, §2.16)

    /// BBR.min_rtt; `.infinite` until the first sample.
    var minRTTValue = TimeSpan.infinite
    var minRTTStamp = Instant.zero
    /// BBR.probe_rtt_min_delay; `.infinite` until the first sample.
    var probeRTTMinDelay = TimeSpan.infinite
    var probeRTTMinStamp = Instant.zero
    /// BBR.probe_rtt_done_stamp; `.zero` is "not set", as in the draft.
    var probeRTTDoneStamp = Instant.zero
    var priorCwnd = 0
    var extraAckedIntervalStart = Instant.zero
    var extraAckedDelivered = 0
    var extraAckedFilter = WindowedMaxFilter()
    public private(set) var extraAcked = 0
    public private(set) var maxInflight = 0
    /// Int.max is infinity.
    public private(set) var inflightLongterm = Int.max
    public private(set) var inflightShortterm = Int.max

    // MARK: Congestion signals (§2.10, §5.5.10.3)

    var lossRoundDelivered = 0
    var lossEventsInRound = 0
    /// CE-marked volume in the current loss round (bytes), counted as lost by IsInflightTooHigh.
    var ecnMarkedInRound = 0

    // MARK: Startup (§2.13)

    var fullBandwidth = 0.0
    var fullBandwidthCount = 0

    // MARK: ProbeBW (§2.14)

    var bandwidthProbeUpAcked = 0
    var probeUpAckedPerIncrement = Int.max
    var bandwidthProbeUpRounds = 0
    var roundsSinceProbeUp: UInt64 = 0
    public private(set) var bandwidthProbeWait = TimeSpan.zero
    var cycleStamp = Instant.zero

    // MARK: Undo (§2.15)

    var undoBandwidthShortterm = Double.infinity
    var undoInflightShortterm = Int.max
    var undoInflightLongterm = Int.max

    // MARK: Transport state mirrored from loss recovery

    /// C.inflight and C.delivered as last reported.
    var inflight = 0
    var delivered = 0
    var recoveryStartTime = Instant.zero
    /// SplitMix64 state for PickProbeWait.
    var random: UInt64
    /// RS.delivery_rate of the last ACK (for tests and qlog); the sample itself is passed down
    /// the per-ACK steps rather than stored.
    public private(set) var lastSampleRate = 0.0

    // MARK: One-byte state

    public private(set) var state = State.startup
    public private(set) var ackPhase = AckPhase.initial
    var undoState: State?
    public private(set) var roundStart = false
    var idleRestart = false
    var probeRTTExpired = false
    var probeRTTRoundDone = false
    var lossRoundStart = false
    var isLossInRound = false
    public private(set) var fullBandwidthReached = false
    var fullBandwidthNow = false
    var isBandwidthProbeSample = false
    var previousProbeTooHigh = false
    var previousProbePrecautionary = false
    var inLossRecovery = false
    var cwndLimitedThisRound = false
    var cwndLimitedLastRound = false
    /// Whether the sender was application-limited at the last ACK.
    var appLimited = false
    var hasSeenRTT = false
    var started = false
    public private(set) var lastSampleAppLimited = false

    public init(maxDatagramSize: Int, seed: UInt64 = 0) {
        self.maxDatagramSize = maxDatagramSize
        congestionWindow = NewReno.initialWindow(maxDatagramSize: maxDatagramSize)
        sendQuantum = 2 * maxDatagramSize
        random = seed
        initPacingRate(smoothedRTT: nil)
    }

    // MARK: Protocol surface

    /// C.InitialCwnd (RFC 9002 §7.2's initial window).
    public var initialWindow: Int { NewReno.initialWindow(maxDatagramSize: maxDatagramSize) }
    /// BBR.min_rtt, nil while infinite.
    public var minRTT: TimeSpan? { minRTTValue == .infinite ? nil : minRTTValue }
    public var slowStartThreshold: Int? { nil }
    public var isInSlowStart: Bool { state == .startup }
    public var pacingRate: UInt64? { UInt64(max(pacingRateBytesPerSecond, 1)) }
    /// HandleProbeRTT calls MarkConnectionAppLimited on every ACK (§5.3.4.3).
    public var marksFlightAppLimited: Bool { state == .probeRTT }
    /// BBR.MinPipeCwnd = 4 * SMSS (§2.8).
    public var minPipeCwnd: Int { 4 * maxDatagramSize }
    /// C.is_cwnd_limited: cwnd was fully used at some point in the last packet-timed round.
    public var isCwndLimited: Bool { cwndLimitedThisRound || cwndLimitedLastRound }
    /// BBR.bdp = BBR.bw * BBR.min_rtt.
    public var bdp: Int { bdpMultiple(bandwidth, gain: 1) }

    /// OnInit's time-dependent part (§5.2.1), at the first event.
    mutating func start(now: Instant) {
        started = true
        minRTTStamp = now
        probeRTTMinStamp = now
        extraAckedIntervalStart = now
    }

    public mutating func onPacketSent(now: Instant, bytes: Int, bytesInFlight: Int) {
        if !started { start(now: now) }
        inflight = bytesInFlight
        // OnTransmit → HandleRestartFromIdle (§5.2.2, §5.4.1).
        if bytesInFlight == bytes && appLimited { handleRestartFromIdle(now: now) }
        if bytesInFlight + maxDatagramSize > congestionWindow { cwndLimitedThisRound = true }
    }

    public mutating func onPacketAcked(_ packet: AckedPacketInfo, now: Instant, rtt: RTTEstimator, isAppLimited: Bool) {
        appLimited = isAppLimited
    }

    /// UpdateOnACK (§5.2.3); GenerateRateSample already ran in the estimator.
    public mutating func onRateSample(_ sample: RateSample, now: Instant, rtt: RTTEstimator, bytesInFlight: Int) {
        if !started { start(now: now) }
        lastSampleRate = sample.deliveryRate
        lastSampleAppLimited = sample.isAppLimited
        inflight = bytesInFlight
        delivered = sample.totalDelivered
        if !hasSeenRTT && rtt.hasSample {
            hasSeenRTT = true
            initPacingRate(smoothedRTT: rtt.smoothedRTT)
        }
        // Leaving loss recovery restores the last known good cwnd (§5.6.4.4); the model bounds
        // applied below cut it back if needed. Recovery ends when a packet sent after it began is
        // acknowledged (RFC 9002 §7.3.2).
        if inLossRecovery && sample.sendTime > recoveryStartTime {
            inLossRecovery = false
            restoreCwnd()
        }
        updateModelAndState(sample, now: now)
        updateControlParameters(sample)
    }

    public mutating func onAckProcessed(now: Instant, rtt: RTTEstimator, bytesInFlight: Int) {
        inflight = bytesInFlight
    }

    /// HandleLostPacket (§5.5.10.2).
    public mutating func onPacketLost(_ packet: LostPacketInfo, now: Instant, bytesInFlight: Int) {
        inflight = bytesInFlight
        delivered = packet.totalDelivered
        noteLoss()
        guard isBandwidthProbeSample else { return }
        let txInFlight = packet.txInFlight
        let lost = packet.lostSinceSent
        if isInflightTooHigh(txInFlight: txInFlight, lost: lost) {
            handleInflightTooHigh(
                txInFlight: inflightAtLoss(size: packet.bytes, txInFlight: txInFlight, lost: lost),
                isAppLimited: packet.isAppLimited, now: now)
        }
    }

    /// Loss detected: OnEnterFastRecovery (§5.6.4.4) once per recovery period.
    public mutating func onCongestionEvent(now: Instant, sentTime: Instant) {
        guard !inLossRecovery || sentTime > recoveryStartTime else { return }
        saveCwnd()
        saveStateUponLoss()
        inLossRecovery = true
        recoveryStartTime = now
    }

    /// CE marks count as congestion (§3.7): see the type's documentation.
    public mutating func onECNCongestion(now: Instant, sentTime: Instant, newlyMarked: UInt64) {
        noteLoss()
        ecnMarkedInRound += Int(clamping: newlyMarked) * maxDatagramSize
        if lossEventsInRound < 15 { lossEventsInRound += 1 }
        onCongestionEvent(now: now, sentTime: sentTime)
    }

    /// Persistent congestion: OnEnterRTO (§5.6.4.4), with RFC 9002 §7.6.2's minimum window in
    /// place of inflight + 1.
    public mutating func onPersistentCongestion(now: Instant) {
        saveCwnd()
        saveStateUponLoss()
        congestionWindow = 2 * maxDatagramSize
        inLossRecovery = true
        recoveryStartTime = now
    }

    public mutating func onMaxDatagramSizeChanged(_ size: Int) {
        maxDatagramSize = size
        congestionWindow = max(congestionWindow, minPipeCwnd)
    }

    // MARK: Per-ACK steps (§5.2.3)

    mutating func updateModelAndState(_ sample: RateSample, now: Instant) {
        updateLatestDeliverySignals(sample)
        updateCongestionSignals(sample)
        updateAckAggregation(sample, now: now)
        checkFullBandwidthReached(sample)
        checkStartupDone(sample)
        checkDrainDone(now: now)
        updateProbeBWCyclePhase(sample, now: now)
        updateMinRTT(sample, now: now)
        checkProbeRTT(sample, now: now)
        advanceLatestDeliverySignals(sample)
        boundBandwidthForModel()
    }

    mutating func updateControlParameters(_ sample: RateSample) {
        setPacingRate()
        setSendQuantum()
        setCwnd(sample)
    }

    // MARK: Round counting (§5.5.1)

    mutating func updateRound(_ sample: RateSample) {
        if sample.priorDelivered >= nextRoundDelivered {
            startRound()
            roundCount += 1
            roundsSinceProbeUp += 1
            roundStart = true
            cwndLimitedLastRound = cwndLimitedThisRound
            cwndLimitedThisRound = false
        } else {
            roundStart = false
        }
    }

    mutating func startRound() { nextRoundDelivered = delivered }

    // MARK: Bandwidth filter (§5.5.5, §5.5.6)

    mutating func updateMaxBandwidth(_ sample: RateSample) {
        updateRound(sample)
        let rate = sample.deliveryRate
        guard rate > 0, rate >= maxBandwidth || !sample.isAppLimited else { return }
        if cycleCount & 1 == 0 {
            maxBwSlots.0 = max(maxBwSlots.0, rate)
        } else {
            maxBwSlots.1 = max(maxBwSlots.1, rate)
        }
        maxBandwidth = max(maxBwSlots.0, maxBwSlots.1)
    }

    /// AdvanceMaxBwFilter: the oldest cycle's slot starts over.
    mutating func advanceMaxBandwidthFilter() {
        cycleCount += 1
        if cycleCount & 1 == 0 { maxBwSlots.0 = 0 } else { maxBwSlots.1 = 0 }
        maxBandwidth = max(maxBwSlots.0, maxBwSlots.1)
    }

    // MARK: Congestion signals (§5.5.10.3)

    mutating func updateLatestDeliverySignals(_ sample: RateSample) {
        lossRoundStart = false
        bandwidthLatest = max(bandwidthLatest, sample.deliveryRate)
        inflightLatest = max(inflightLatest, sample.delivered)
        if sample.priorDelivered >= lossRoundDelivered {
            lossRoundDelivered = delivered
            lossRoundStart = true
        }
    }

    mutating func advanceLatestDeliverySignals(_ sample: RateSample) {
        if lossRoundStart {
            bandwidthLatest = sample.deliveryRate
            inflightLatest = sample.delivered
            ecnMarkedInRound = 0
        }
    }

    mutating func resetCongestionSignals() {
        isLossInRound = false
        bandwidthLatest = 0
        inflightLatest = 0
        ecnMarkedInRound = 0
    }

    mutating func updateCongestionSignals(_ sample: RateSample) {
        updateMaxBandwidth(sample)
        guard lossRoundStart else { return }
        adaptLowerBoundsFromCongestion()
        isLossInRound = false
    }

    mutating func adaptLowerBoundsFromCongestion() {
        guard !isProbingBandwidth, isLossInRound else { return }
        // InitLowerBounds
        if bandwidthShortterm == .infinity { bandwidthShortterm = maxBandwidth }
        if inflightShortterm == .max { inflightShortterm = congestionWindow }
        // LossLowerBounds
        bandwidthShortterm = max(bandwidthLatest, Self.beta * bandwidthShortterm)
        inflightShortterm = max(inflightLatest, Int(Self.beta * Double(inflightShortterm)))
    }

    mutating func resetShortTermModel() {
        bandwidthShortterm = .infinity
        inflightShortterm = .max
    }

    mutating func boundBandwidthForModel() { bandwidth = min(maxBandwidth, bandwidthShortterm) }

    mutating func noteLoss() {
        if !isLossInRound {
            lossRoundDelivered = delivered
            saveStateUponLoss()
        }
        isLossInRound = true
    }

    /// IsInflightTooHigh (§5.5.10.2); QUIC always has selective ACKs.
    func isInflightTooHigh(txInFlight: Int, lost: Int) -> Bool {
        Double(lost + ecnMarkedInRound) > Double(txInFlight) * Self.lossThreshold
    }

    mutating func handleInflightTooHigh(txInFlight: Int, isAppLimited: Bool, now: Instant) {
        previousProbeTooHigh = true
        isBandwidthProbeSample = false
        if !isAppLimited {
            inflightLongterm = max(txInFlight, Int(Double(targetInflight) * Self.beta))
        }
        if state == .probeBWUp {
            undoState = .probeBWUp
            startProbeBWDown(now: now)
        }
    }

    /// InflightAtLoss: where within the lost packet the loss rate crossed LossThresh.
    func inflightAtLoss(size: Int, txInFlight: Int, lost: Int) -> Int {
        let inflightPrevious = Double(txInFlight - size)
        let lostPrevious = Double(lost - size)
        let lostPrefix = (Self.lossThreshold * inflightPrevious - lostPrevious) / (1 - Self.lossThreshold)
        return max(Int(inflightPrevious + lostPrefix), 0)
    }

    // MARK: ACK aggregation (§5.5.9)

    mutating func updateAckAggregation(_ sample: RateSample, now: Instant) {
        let interval = now - extraAckedIntervalStart
        var expected = bandwidth * interval.seconds
        if Double(extraAckedDelivered) <= expected {
            extraAckedDelivered = 0
            extraAckedIntervalStart = now
            expected = 0
        }
        extraAckedDelivered += sample.newlyAcked
        let extra = min(max(Double(extraAckedDelivered) - expected, 0), Double(congestionWindow))
        let window = fullBandwidthReached ? Self.extraAckedFilterLength : 1
        extraAcked = extraAckedFilter.update(value: Int(extra), time: roundCount, window: window)
    }

    // MARK: Startup and Drain (§5.3.1, §5.3.2)

    mutating func enterStartup() {
        state = .startup
        pacingGain = Self.startupPacingGain
        cwndGain = Self.defaultCwndGain
    }

    mutating func resetFullBandwidth() {
        fullBandwidth = 0
        fullBandwidthCount = 0
        fullBandwidthNow = false
    }

    mutating func checkFullBandwidthReached(_ sample: RateSample) {
        guard !fullBandwidthNow, roundStart, !sample.isAppLimited, sample.deliveryRate > 0 else { return }
        if sample.deliveryRate >= fullBandwidth * 1.25 {
            resetFullBandwidth()
            fullBandwidth = sample.deliveryRate
            return
        }
        fullBandwidthCount += 1
        fullBandwidthNow = fullBandwidthCount >= Self.fullBandwidthRounds
        if fullBandwidthNow { fullBandwidthReached = true }
    }

    mutating func checkStartupDone(_ sample: RateSample) {
        checkStartupHighLoss(sample)
        if state == .startup && fullBandwidthReached { enterDrain() }
    }

    /// §5.3.1.3: a full round of recovery with more than LossThresh lost over at least
    /// BBRStartupFullLossCnt loss events (as Linux counts them: ACKs that reported losses).
    mutating func checkStartupHighLoss(_ sample: RateSample) {
        guard !fullBandwidthReached else { return }
        if sample.newlyLost > 0 && lossEventsInRound < 15 { lossEventsInRound += 1 }
        if lossRoundStart && inLossRecovery && lossEventsInRound >= Self.startupFullLossCount
            && isInflightTooHigh(txInFlight: sample.txInFlight, lost: sample.lost)
        {
            undoState = .startup
            fullBandwidthReached = true
            inflightLongterm = max(bdp, inflightLatest)
            return
        }
        if lossRoundStart { lossEventsInRound = 0 }
    }

    mutating func enterDrain() {
        state = .drain
        pacingGain = Self.drainPacingGain
        cwndGain = Self.defaultCwndGain
        drainStartRound = roundCount
    }

    mutating func checkDrainDone(now: Instant) {
        if state == .drain && (inflight <= inflight(maxBandwidth, gain: 1) || roundCount > drainStartRound + 3) {
            enterProbeBW(now: now)
        }
    }

    // MARK: ProbeBW (§5.3.3)

    mutating func enterProbeBW(now: Instant) {
        cwndGain = Self.defaultCwndGain
        startProbeBWDown(now: now)
    }

    mutating func startProbeBWDown(now: Instant) {
        resetCongestionSignals()
        probeUpAckedPerIncrement = .max
        pickProbeWait()
        cycleStamp = now
        ackPhase = .probeStopping
        startRound()
        state = .probeBWDown
        pacingGain = Self.probeDownPacingGain
        cwndGain = Self.defaultCwndGain
    }

    mutating func startProbeBWCruise() {
        state = .probeBWCruise
        pacingGain = 1
        cwndGain = Self.defaultCwndGain
    }

    mutating func startProbeBWRefill() {
        resetShortTermModel()
        bandwidthProbeUpRounds = 0
        bandwidthProbeUpAcked = 0
        previousProbePrecautionary = false
        ackPhase = .refilling
        startRound()
        state = .probeBWRefill
        pacingGain = 1
        cwndGain = Self.defaultCwndGain
    }

    mutating func startProbeBWUp(_ sample: RateSample) {
        ackPhase = .probeStarting
        startRound()
        resetFullBandwidth()
        fullBandwidth = sample.deliveryRate
        state = .probeBWUp
        pacingGain = Self.probeUpPacingGain
        cwndGain = Self.probeUpCwndGain
        raiseInflightLongtermSlope()
    }

    mutating func updateProbeBWCyclePhase(_ sample: RateSample, now: Instant) {
        guard fullBandwidthReached else { return }
        if adaptLongTermModel(sample, now: now) { return }
        guard isInProbeBWState else { return }
        switch state {
        case .probeBWDown:
            if isTimeToProbeBandwidth(now: now) { return }
            if isTimeToCruise { startProbeBWCruise() }
        case .probeBWCruise:
            _ = isTimeToProbeBandwidth(now: now)
        case .probeBWRefill:
            if roundStart {
                isBandwidthProbeSample = true
                startProbeBWUp(sample)
            }
        case .probeBWUp:
            if isTimeToGoDown(sample) {
                previousProbeTooHigh = false
                startProbeBWDown(now: now)
            }
        case .startup, .drain, .probeRTT:
            break
        }
    }

    public var isInProbeBWState: Bool {
        switch state {
        case .probeBWDown, .probeBWCruise, .probeBWRefill, .probeBWUp: return true
        case .startup, .drain, .probeRTT: return false
        }
    }

    var isProbingBandwidth: Bool { state == .startup || state == .probeBWRefill || state == .probeBWUp }

    var isTimeToCruise: Bool {
        if inflight > inflightWithHeadroom { return false }
        if inflight > inflight(maxBandwidth, gain: 1) { return false }
        return true
    }

    mutating func isTimeToGoDown(_ sample: RateSample) -> Bool {
        if previousProbeTooHigh && inflight >= inflightLongterm {
            previousProbePrecautionary = true
            return true
        }
        if isCwndLimited && congestionWindow >= inflightLongterm {
            resetFullBandwidth()
            fullBandwidth = sample.deliveryRate
        } else if fullBandwidthNow {
            return true
        }
        return false
    }

    func hasElapsedInPhase(_ interval: TimeSpan, now: Instant) -> Bool { now > cycleStamp + interval }

    var inflightWithHeadroom: Int {
        guard inflightLongterm != .max else { return .max }
        let room = max(maxDatagramSize, Int(Self.headroom * Double(inflightLongterm)))
        return max(inflightLongterm - room, minPipeCwnd)
    }

    mutating func raiseInflightLongtermSlope() {
        let growthThisRound = 1 << bandwidthProbeUpRounds
        bandwidthProbeUpRounds = min(bandwidthProbeUpRounds + 1, 30)
        probeUpAckedPerIncrement = max(congestionWindow / growthThisRound, maxDatagramSize)
    }

    mutating func probeInflightLongtermUpward(_ sample: RateSample) {
        guard isCwndLimited, congestionWindow >= inflightLongterm else { return }
        bandwidthProbeUpAcked += sample.newlyAcked
        if bandwidthProbeUpAcked >= probeUpAckedPerIncrement {
            let delta = bandwidthProbeUpAcked / probeUpAckedPerIncrement
            bandwidthProbeUpAcked -= delta * probeUpAckedPerIncrement
            inflightLongterm += delta * maxDatagramSize
        }
        if roundStart { raiseInflightLongtermSlope() }
    }

    /// AdaptLongTermModel; true when it already decided a state transition. The "too high"
    /// branch on ACKs follows §5.5.10.2's text ("an ACK covers data sent in one of the
    /// accelerating phases ... and the loss rate over the past round trip exceeds the queue
    /// pressure objective"); per-packet losses take the same path in `onPacketLost`.
    mutating func adaptLongTermModel(_ sample: RateSample, now: Instant) -> Bool {
        if ackPhase == .probeStarting && roundStart { ackPhase = .probeFeedback }
        if ackPhase == .probeStopping && roundStart {
            isBandwidthProbeSample = false
            ackPhase = .initial
            if isInProbeBWState && !sample.isAppLimited { advanceMaxBandwidthFilter() }
            if isInProbeBWState && previousProbePrecautionary && !previousProbeTooHigh {
                startProbeBWRefill()
                return true
            }
        }
        if isInflightTooHigh(txInFlight: sample.txInFlight, lost: sample.lost) {
            if isBandwidthProbeSample {
                handleInflightTooHigh(txInFlight: sample.txInFlight, isAppLimited: sample.isAppLimited, now: now)
            }
            return false
        }
        guard inflightLongterm != .max else { return false }
        if sample.txInFlight > inflightLongterm { inflightLongterm = sample.txInFlight }
        if state == .probeBWUp { probeInflightLongtermUpward(sample) }
        return false
    }

    // MARK: Time scale for probing (§5.3.3.8)

    mutating func isTimeToProbeBandwidth(now: Instant) -> Bool {
        if hasElapsedInPhase(bandwidthProbeWait, now: now) || isRenoCoexistenceProbeTime {
            startProbeBWRefill()
            return true
        }
        return false
    }

    mutating func pickProbeWait() {
        roundsSinceProbeUp = nextRandom() & 1
        bandwidthProbeWait = .seconds(2) + TimeSpan(nanoseconds: Int64(nextRandom() % 1_000_000_000))
    }

    var isRenoCoexistenceProbeTime: Bool {
        let renoRounds = UInt64(max(targetInflight / maxDatagramSize, 0))
        return roundsSinceProbeUp >= min(renoRounds, 63)
    }

    /// TargetInflight: the BDP, unless congestion cut cwnd.
    var targetInflight: Int { min(bdp, congestionWindow) }

    mutating func nextRandom() -> UInt64 {
        random &+= 0x9e37_79b9_7f4a_7c15
        var z = random
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    // MARK: ProbeRTT (§5.3.4)

    mutating func updateMinRTT(_ sample: RateSample, now: Instant) {
        probeRTTExpired = now > probeRTTMinStamp + Self.probeRTTInterval
        if let rtt = sample.rtt, rtt < probeRTTMinDelay || probeRTTExpired {
            probeRTTMinDelay = rtt
            probeRTTMinStamp = now
        }
        let minRTTExpired = now > minRTTStamp + Self.minRTTFilterLength
        if probeRTTMinDelay != .infinite && (probeRTTMinDelay < minRTTValue || minRTTExpired) {
            minRTTValue = probeRTTMinDelay
            minRTTStamp = probeRTTMinStamp
        }
    }

    mutating func checkProbeRTT(_ sample: RateSample, now: Instant) {
        if state != .probeRTT && probeRTTExpired && !idleRestart {
            enterProbeRTT()
            saveCwnd()
            probeRTTDoneStamp = .zero
            ackPhase = .probeStopping
            startRound()
        }
        if state == .probeRTT { handleProbeRTT(now: now) }
        if sample.delivered > 0 { idleRestart = false }
    }

    mutating func enterProbeRTT() {
        state = .probeRTT
        pacingGain = 1
        cwndGain = Self.probeRTTCwndGain
    }

    mutating func handleProbeRTT(now: Instant) {
        // MarkConnectionAppLimited: `marksFlightAppLimited` asks loss recovery to do it.
        if probeRTTDoneStamp == .zero && inflight <= probeRTTCwnd {
            probeRTTDoneStamp = now + Self.probeRTTDuration
            probeRTTRoundDone = false
            startRound()
        } else if probeRTTDoneStamp != .zero {
            if roundStart { probeRTTRoundDone = true }
            if probeRTTRoundDone { checkProbeRTTDone(now: now) }
        }
    }

    mutating func checkProbeRTTDone(now: Instant) {
        guard probeRTTDoneStamp != .zero, now > probeRTTDoneStamp else { return }
        probeRTTMinStamp = now
        restoreCwnd()
        exitProbeRTT(now: now)
    }

    mutating func exitProbeRTT(now: Instant) {
        resetShortTermModel()
        if fullBandwidthReached {
            startProbeBWDown(now: now)
            startProbeBWCruise()
        } else {
            enterStartup()
        }
    }

    var probeRTTCwnd: Int { max(bdpMultiple(bandwidth, gain: Self.probeRTTCwndGain), minPipeCwnd) }

    // MARK: Restart from idle (§5.4)

    mutating func handleRestartFromIdle(now: Instant) {
        idleRestart = true
        extraAckedIntervalStart = now
        if isInProbeBWState {
            setPacingRate(gain: 1)
        } else if state == .probeRTT {
            checkProbeRTTDone(now: now)
        }
    }

    // MARK: Undo state (§5.5.11.1)

    mutating func saveStateUponLoss() {
        saveCwnd()
        undoState = nil
        undoBandwidthShortterm = bandwidthShortterm
        undoInflightShortterm = inflightShortterm
        undoInflightLongterm = inflightLongterm
    }

    mutating func saveCwnd() {
        if !inLossRecovery && state != .probeRTT {
            priorCwnd = congestionWindow
        } else {
            priorCwnd = max(priorCwnd, congestionWindow)
        }
    }

    mutating func restoreCwnd() { congestionWindow = max(congestionWindow, priorCwnd) }

    // MARK: Pacing rate and send quantum (§5.6.2, §5.6.3)

    mutating func initPacingRate(smoothedRTT: TimeSpan?) {
        let rtt = smoothedRTT.map { max($0, .microseconds(1)) } ?? .milliseconds(1)
        let nominal = Double(initialWindow) / rtt.seconds
        pacingRateBytesPerSecond = Self.startupPacingGain * nominal
    }

    mutating func setPacingRate(gain: Double) {
        let rate = gain * bandwidth * (100 - Self.pacingMarginPercent) / 100
        // No estimate (both max_bw slots empty) must not stop the sender: keep the last rate.
        guard rate > 0 else { return }
        if fullBandwidthReached || rate > pacingRateBytesPerSecond { pacingRateBytesPerSecond = rate }
    }

    mutating func setPacingRate() { setPacingRate(gain: pacingGain) }

    mutating func setSendQuantum() {
        let quantum = Int(pacingRateBytesPerSecond / 1000)
        sendQuantum = max(min(quantum, 64 * 1024), 2 * maxDatagramSize)
    }

    // MARK: Congestion window (§5.6.4)

    /// BDPMultiple: C.InitialCwnd until there is an RTT sample.
    func bdpMultiple(_ bandwidth: Double, gain: Double) -> Int {
        guard let minRTT else { return initialWindow }
        return Int(gain * bandwidth * minRTT.seconds)
    }

    /// QuantizationBudget; for QUIC the offload budget is the send quantum (§5.5.8.2).
    func quantizationBudget(_ cap: Int) -> Int {
        var cap = max(cap, sendQuantum)
        cap = max(cap, minPipeCwnd)
        if state == .probeBWUp { cap += 2 * maxDatagramSize }
        return cap
    }

    func inflight(_ bandwidth: Double, gain: Double) -> Int { quantizationBudget(bdpMultiple(bandwidth, gain: gain)) }

    mutating func updateMaxInflight() {
        maxInflight = quantizationBudget(bdpMultiple(bandwidth, gain: cwndGain) + extraAcked)
    }

    mutating func setCwnd(_ sample: RateSample) {
        updateMaxInflight()
        if fullBandwidthReached {
            congestionWindow = min(congestionWindow + sample.newlyAcked, maxInflight)
        } else if congestionWindow < maxInflight || delivered < initialWindow {
            congestionWindow += sample.newlyAcked
        }
        congestionWindow = max(congestionWindow, minPipeCwnd)
        // BoundCwndForProbeRTT
        if state == .probeRTT { congestionWindow = min(congestionWindow, probeRTTCwnd) }
        boundCwndForModel()
    }

    mutating func boundCwndForModel() {
        var cap = Int.max
        if isInProbeBWState && state != .probeBWCruise {
            cap = inflightLongterm
        } else if state == .probeRTT || state == .probeBWCruise {
            cap = inflightWithHeadroom
        }
        cap = min(cap, inflightShortterm)
        cap = max(cap, minPipeCwnd)
        congestionWindow = min(congestionWindow, cap)
    }
}
