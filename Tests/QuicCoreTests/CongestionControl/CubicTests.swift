@testable import QuicCore
import Testing

/// CUBIC (RFC 9438, the draft-ietf-tcpm-rfc8312bis-15 text) against its equations, on
/// synthetic ACK traces fed straight into the controller.
@Suite("CUBIC (RFC 9438)")
struct CubicTests {
    static let mss = 1200.0

    /// A CUBIC sender that slow-started to exactly `segments` segments (no HyStart++, so the
    /// window is set by the trace alone) and then saw a loss at `lossTime`.
    func afterLossAt(segments: Int, lossTime: Instant, fastConvergence: Bool = false) -> (Cubic, AckDriver) {
        var cubic = Cubic(maxDatagramSize: 1200)
        cubic.useHyStart = false
        cubic.fastConvergence = fastConvergence
        var driver = AckDriver()
        driver.round(&cubic, sendStart: lossTime - .milliseconds(300), rtt: .milliseconds(100), packets: segments - 10)
        #expect(cubic.congestionWindow == segments * 1200, "slow start: + one MSS per acknowledged MSS")
        cubic.onCongestionEvent(now: lossTime, sentTime: lossTime - .milliseconds(1))
        return (cubic, driver)
    }

    @Test("multiplicative decrease: W_max = cwnd, cwnd = ssthresh = β·cwnd, K = ∛((W_max − cwnd_epoch)/C) (§4.6, Figure 2)")
    func decrease() {
        let (cubic, _) = afterLossAt(segments: 100, lossTime: ms(10_000))
        #expect(cubic.wMax == 120_000)
        #expect(cubic.cwndPrior == 120_000)
        #expect(cubic.congestionWindow == 84_000)
        #expect(cubic.slowStartThreshold == 84_000)
        // K = ∛((100 − 70) / 0.4) = ∛75 s.
        #expect(abs(cubic.k - 4.217163326508746) < 1e-9)
        #expect(Cubic.cubeRoot(27) == 3)
        #expect(abs(Cubic.alphaCubic - 0.9 / 1.7) < 1e-12, "α_cubic = 3(1 − β)/(1 + β)")
    }

    @Test("congestion avoidance: cwnd follows C(t − K)³ + W_max through the concave and convex regions (§4.2, §4.4, §4.5)")
    func followsCubicCurve() {
        let lossTime = ms(10_000)
        var (cubic, driver) = afterLossAt(segments: 100, lossTime: lossTime)
        // A full window of packets per 100 ms round, acknowledged evenly over the round. With a
        // 100 ms RTT, W_est grows by 0.53 segments per round (1 once it passes cwnd_prior) and
        // stays below the curve until about 6.5 s.
        var sendStart = lossTime
        while (sendStart - lossTime).seconds < 7.1 {
            sendStart = driver.round(
                &cubic, sendStart: sendStart, rtt: .milliseconds(100), packets: cubic.congestionWindow / 1200, spread: 1)
        }
        var worst = 0.0
        for t in [0.5, 1, 2, 3, cubic.k, 5, 6] {
            let expected = cubic.wCubic(t)
            let actual = Double(driver.window(at: lossTime + TimeSpan(nanoseconds: Int64(t * 1e9)))!)
            let error = abs(actual - expected) / expected
            worst = max(worst, error)
            print(String(format: "CUBIC t=%.3fs: cwnd %.2f segments, W_cubic(t) %.2f segments, error %.2f %%", t, actual / Self.mss, expected / Self.mss, error * 100))
            #expect(error < 0.01, "t = \(t): cwnd \(actual), W_cubic \(expected)")
        }
        print(String(format: "CUBIC curve: worst deviation %.2f %%", worst * 100))
        // At t = K the window is back at W_max, and beyond it the convex region grows past it.
        #expect(abs(Double(driver.window(at: lossTime + TimeSpan(nanoseconds: Int64(cubic.k * 1e9)))!) - 120_000) < 1200)
        #expect(cubic.congestionWindow > 120_000)
        // By 7 s W_est (α = 1 since it passed cwnd_prior at ~5.7 s) has overtaken the curve:
        // the Reno-friendly region takes over and cwnd = W_est.
        #expect(cubic.wEst > cubic.wCubic(7))
        #expect(abs(Double(cubic.congestionWindow) - cubic.wEst) < 1)
        #expect(cubic.renoAlpha == 1)
    }

    @Test("Reno-friendly region at a small RTT: cwnd = W_est, growing α_cubic MSS per RTT, then 1 MSS once W_est ≥ cwnd_prior (§4.3)")
    func renoFriendly() {
        let lossTime = ms(10_000)
        var (cubic, driver) = afterLossAt(segments: 100, lossTime: lossTime)
        let rtt = TimeSpan.milliseconds(5)
        var sendStart = lossTime
        var growth: [(alpha: Double, bytes: Int)] = []
        for _ in 0..<120 {
            let before = cubic.congestionWindow
            let alpha = cubic.renoAlpha
            sendStart = driver.round(&cubic, sendStart: sendStart, rtt: rtt, packets: cubic.congestionWindow / 1200, spread: 1)
            growth.append((alpha, cubic.congestionWindow - before))
            let t = (sendStart - lossTime).seconds
            #expect(cubic.wCubic(t) < cubic.wEst, "t = \(t): the curve is below W_est")
            #expect(abs(Double(cubic.congestionWindow) - cubic.wEst) < 1, "cwnd is W_est in the Reno-friendly region")
        }
        let early = growth[2..<20].map(\.bytes)
        let late = growth.suffix(20).map(\.bytes)
        #expect(growth[2].alpha == Cubic.alphaCubic)
        #expect(growth.last!.alpha == 1, "W_est reached cwnd_prior, α became 1")
        for bytes in early { #expect(abs(Double(bytes) - Cubic.alphaCubic * Self.mss) < 0.03 * Self.mss, "\(bytes) bytes per RTT") }
        for bytes in late { #expect(abs(Double(bytes) - Self.mss) < 0.03 * Self.mss, "\(bytes) bytes per RTT") }
        print("CUBIC Reno-friendly: \(early.first!) bytes/RTT with α_cubic, \(late.last!) bytes/RTT with α = 1")
    }

    @Test("fast convergence: a loss below W_max lowers W_max to cwnd·(1 + β)/2 (§4.7)")
    func fastConvergence() {
        for enabled in [true, false] {
            let lossTime = ms(10_000)
            var (cubic, driver) = afterLossAt(segments: 100, lossTime: lossTime, fastConvergence: enabled)
            var sendStart = lossTime
            while cubic.congestionWindow < 90 * 1200 {
                sendStart = driver.round(&cubic, sendStart: sendStart, rtt: .milliseconds(100), packets: cubic.congestionWindow / 1200)
            }
            let window = cubic.window
            #expect(window < cubic.wMax)
            cubic.onCongestionEvent(now: sendStart + .milliseconds(1), sentTime: sendStart)
            let expectedWMax = enabled ? window * 1.7 / 2 : window
            #expect(abs(cubic.wMax - expectedWMax) < 1e-6)
            #expect(cubic.congestionWindow == Int(window * 0.7))
            let expectedK = Cubic.cubeRoot((expectedWMax - cubic.window) / Self.mss / 0.4)
            #expect(abs(cubic.k - expectedK) < 1e-9)
            print(String(format: "CUBIC fast convergence %@: W_max %.1f segments, K %.3f s", enabled ? "on" : "off", cubic.wMax / Self.mss, cubic.k))
        }
    }

    @Test("one reduction per recovery period; no growth from packets sent before it (RFC 9002 §7.3.2)")
    func recoveryPeriod() {
        let lossTime = ms(10_000)
        var (cubic, _) = afterLossAt(segments: 100, lossTime: lossTime)
        cubic.onCongestionEvent(now: lossTime + .milliseconds(5), sentTime: lossTime - .milliseconds(2))
        #expect(cubic.congestionWindow == 84_000)
        var rtt = RTTEstimator()
        rtt.update(latest: .milliseconds(100), ackDelay: .zero, now: lossTime)
        cubic.onPacketAcked(AckedPacketInfo(packetNumber: 1, sentTime: lossTime - .milliseconds(3), bytes: 1200), now: lossTime + .milliseconds(50), rtt: rtt, isAppLimited: false)
        cubic.onAckProcessed(now: lossTime + .milliseconds(50), rtt: rtt, bytesInFlight: 0)
        #expect(cubic.congestionWindow == 84_000)
    }

    @Test("application-limited time is left out of t (§4.2, §5.8): the curve resumes where it paused")
    func appLimitedPause() {
        let lossTime = ms(10_000)
        var (cubic, driver) = afterLossAt(segments: 100, lossTime: lossTime)
        var sendStart = lossTime
        for _ in 0..<10 {
            sendStart = driver.round(&cubic, sendStart: sendStart, rtt: .milliseconds(100), packets: cubic.congestionWindow / 1200, spread: 1)
        }
        let windowBefore = cubic.congestionWindow
        let epochBefore = cubic.epochStart!
        // Two seconds with little to send: every ACK is application-limited.
        let pauseStart = sendStart
        for _ in 0..<20 { sendStart = driver.round(&cubic, sendStart: sendStart, rtt: .milliseconds(100), packets: 5, appLimited: true) }
        #expect(cubic.congestionWindow == windowBefore, "no growth while application-limited")
        sendStart = driver.round(&cubic, sendStart: sendStart, rtt: .milliseconds(100), packets: cubic.congestionWindow / 1200, spread: 1)
        let shift = cubic.epochStart! - epochBefore
        #expect(abs(shift.seconds - 2.0) < 0.11, "t_epoch moved by the paused time, \(shift)")
        // One round later the window is where ~1.1 s of congestion avoidance puts it, not ~3.1 s.
        let t = (driver.trace.last!.0 - cubic.epochStart!).seconds
        #expect(t < 1.3)
        #expect(abs(Double(cubic.congestionWindow) - cubic.wCubic(t)) / cubic.wCubic(t) < 0.01)
        #expect(Double(cubic.congestionWindow) < cubic.wCubic(t + 2) * 0.95)
        _ = pauseStart
    }

    @Test("persistent congestion: minimum window, slow start to ssthresh, then K = 0 and W_max = cwnd_epoch (§4.8)")
    func afterPersistentCongestion() {
        let lossTime = ms(10_000)
        var (cubic, driver) = afterLossAt(segments: 100, lossTime: lossTime)
        cubic.onPersistentCongestion(now: lossTime + .milliseconds(10))
        #expect(cubic.congestionWindow == 2400)
        #expect(cubic.slowStartThreshold == 84_000)
        var sendStart = lossTime + .milliseconds(20)
        while cubic.isInSlowStart {
            sendStart = driver.round(&cubic, sendStart: sendStart, rtt: .milliseconds(100), packets: cubic.congestionWindow / 1200)
        }
        // The stage began at the first ACK that found cwnd at ssthresh.
        #expect(cubic.k == 0)
        #expect(cubic.wMax == cubic.cwndEpoch)
        #expect(cubic.cwndEpoch == 84_000)
        #expect(cubic.wEst >= cubic.cwndEpoch)
    }
}

@Suite("HyStart++ (RFC 9406)")
struct HyStartTests {
    /// Rounds of slow start with the given RTTs; returns the CUBIC controller and the window
    /// after each round.
    func slowStart(rtts: [Int64]) -> (Cubic, [Int], [HyStartPlusPlus.Phase]) {
        var cubic = Cubic(maxDatagramSize: 1200)
        var driver = AckDriver()
        var sendStart = ms(10_000)
        var windows: [Int] = []
        var phases: [HyStartPlusPlus.Phase] = []
        for rtt in rtts {
            sendStart = driver.round(&cubic, sendStart: sendStart, rtt: .milliseconds(rtt), packets: cubic.congestionWindow / 1200)
            windows.append(cubic.congestionWindow)
            phases.append(cubic.hyStart.phase)
        }
        return (cubic, windows, phases)
    }

    @Test("a round whose min RTT rises by ≥ max(4 ms, min(last/8, 16 ms)) enters CSS; CSS grows by 1/CSS_GROWTH_DIVISOR; a lower RTT resumes slow start")
    func falseExitResumesSlowStart() {
        // 50 ms, 50 ms, then 60 ms ≥ 50 + 6.25 ms: CSS after N_RTT_SAMPLE = 8 samples.
        let (cubic, windows, phases) = slowStart(rtts: [50, 50, 60, 50, 50])
        #expect(phases[0] == .slowStart && phases[1] == .slowStart)
        #expect(phases[2] == .conservativeSlowStart)
        // Round 3: 40 ACKs; the first 8 grow by one MSS, the other 32 by MSS/4.
        #expect(windows[1] == 48_000)
        #expect(windows[2] == 48_000 + 8 * 1200 + 32 * 300)
        // Round 4 at 50 ms < the CSS baseline of 60 ms: back to slow start after 8 samples.
        #expect(phases[3] == .slowStart)
        #expect(windows[3] == windows[2] + 8 * 300 + (windows[2] / 1200 - 8) * 1200)
        #expect(cubic.slowStartThreshold == nil, "still the first slow start")
        #expect(cubic.hyStart.cssBaselineMinRTT == nil)
    }

    @Test("RTT inflation that persists for CSS_ROUNDS rounds (the partial first one included) ends slow start: ssthresh = cwnd, K = 0, W_max = cwnd")
    func persistentRiseEntersAvoidance() {
        let (cubic, _, phases) = slowStart(rtts: [50, 50, 60, 60, 60, 60, 60, 60])
        #expect(phases[2] == .conservativeSlowStart)
        #expect(phases[3...6].allSatisfy { $0 == .conservativeSlowStart })
        #expect(phases[7] == .done, "the round that began CSS plus four more make five")
        #expect(cubic.slowStartThreshold != nil)
        #expect(!cubic.isInSlowStart)
        #expect(cubic.k == 0)
        #expect(cubic.wMax == cubic.cwndEpoch)
        #expect(cubic.cwndPrior == cubic.cwndEpoch)
    }

    @Test("RttThresh is clamped to [MIN_RTT_THRESH, MAX_RTT_THRESH]")
    func thresholdClamp() {
        func exits(last: Int64, current: Int64) -> Bool {
            var hystart = HyStartPlusPlus()
            var now = ms(1000)
            for rtt in [last, current] {
                let sent = now
                now = now + .milliseconds(rtt)
                for index in 0..<8 {
                    if hystart.onAck(now: now + .microseconds(Int64(index)), newestSentTime: sent + .microseconds(Int64(index)), rttSample: .milliseconds(rtt)) == .enteredCSS { return true }
                }
            }
            return false
        }
        #expect(!exits(last: 200, current: 215), "200/8 = 25 ms is clamped to 16 ms")
        #expect(exits(last: 200, current: 216))
        #expect(!exits(last: 20, current: 23), "20/8 = 2.5 ms is raised to 4 ms")
        #expect(exits(last: 20, current: 24))
        #expect(exits(last: 80, current: 90) && !exits(last: 80, current: 89), "80/8 = 10 ms in between")
    }

    @Test("on a path with a deep buffer, HyStart++ leaves slow start on queueing delay before any loss; Reno slow start overflows the buffer")
    func fakePathExitBeforeLoss() {
        func run(hyStart: Bool) -> (ssthresh: Int?, drops: Int, cwnd: Int, bdp: Int) {
            var cubic = Cubic(maxDatagramSize: 1200)
            cubic.useHyStart = hyStart
            // 20 BDPs of buffer: slow start doubling per round detects nothing before it fills.
            var path = FakePath(controller: cubic, bandwidth: 1_250_000, baseRTT: .milliseconds(40), bufferBytes: 1_000_000)
            path.run(until: path.now + .seconds(3))
            return (path.controller.slowStartThreshold, path.droppedAtBottleneck, path.controller.congestionWindow, path.bdp)
        }
        let with = run(hyStart: true)
        let without = run(hyStart: false)
        print("10 Mbit/s, 40 ms, 20-BDP buffer: HyStart++ ssthresh \(with.ssthresh.map(String.init) ?? "-") (BDP \(with.bdp)), \(with.drops) drops; Reno slow start \(without.drops) drops, ssthresh \(without.ssthresh.map(String.init) ?? "-")")
        #expect(with.drops == 0)
        #expect(with.ssthresh != nil)
        #expect(with.ssthresh! < 20 * with.bdp)
        #expect(without.drops > 0)
    }
}
