@testable import QuicCore
import QuicWire
import Testing

/// BBR (draft-ietf-ccwg-bbr-06) on a fake path of fixed bandwidth and RTT: LossRecovery,
/// the delivery-rate estimator, the pacer and BBR run for real; only the wire is simulated.
@Suite("BBR (draft-ietf-ccwg-bbr-06)")
struct BBRTests {
    struct Record {
        var time: Instant
        var state: BBR.State
        var round: UInt64
        var roundStart: Bool
        var maxBandwidth: Double
        var bandwidth: Double
        var pacingRate: Double
        var pacingGain: Double
        var cwnd: Int
        var inflight: Int
        var sampleRate: Double
        var sampleAppLimited: Bool
        var fullBandwidth: Double
        var probeRTTMinStamp: Instant
    }

    /// Runs BBR alone on the path for `duration`, recording its state after every ACK.
    func run(
        bandwidth: Double, rtt: Int64, bufferBDPs: Double = 2, duration: TimeSpan, seed: UInt64 = 1,
        drop: @escaping (UInt64) -> Bool = { _ in false }
    ) -> (FakePath<BBR>, [Record]) {
        let bdp = bandwidth * Double(rtt) / 1000
        var path = FakePath(
            controller: BBR(maxDatagramSize: 1200, seed: seed), bandwidth: bandwidth, baseRTT: .milliseconds(rtt),
            bufferBytes: Int(bdp * bufferBDPs))
        path.drop = drop
        var records: [Record] = []
        path.run(until: path.now + duration) { path in
            let bbr = path.controller
            records.append(
                Record(
                    time: path.now, state: bbr.state, round: bbr.roundCount, roundStart: bbr.roundStart,
                    maxBandwidth: bbr.maxBandwidth, bandwidth: bbr.bandwidth, pacingRate: bbr.pacingRateBytesPerSecond,
                    pacingGain: bbr.pacingGain, cwnd: bbr.congestionWindow, inflight: path.recovery.bytesInFlight,
                    sampleRate: bbr.lastSampleRate, sampleAppLimited: bbr.lastSampleAppLimited,
                    fullBandwidth: bbr.fullBandwidth, probeRTTMinStamp: bbr.probeRTTMinStamp))
        }
        return (path, records)
    }

    @Test("Startup: the bandwidth estimate doubles per round, paced at 2.77 × bw; it exits after 3 rounds without 25 % growth, at the bottleneck rate")
    func startup() throws {
        let bottleneck = 12_500_000.0  // 100 Mbit/s, BDP 500 kB at 40 ms
        let (_, records) = run(bandwidth: bottleneck, rtt: 40, duration: .milliseconds(1500))
        let startup = records.filter { $0.state == .startup }
        let perRound = startup.filter(\.roundStart).map(\.maxBandwidth)
        var ratios: [Double] = []
        // The first round's sample is one packet over one RTT; growth is measured from the second.
        let measured = perRound.dropFirst()
        for (previous, next) in zip(measured, measured.dropFirst()) where next < 0.75 * bottleneck {
            ratios.append(next / previous)
        }
        print("BBR Startup max_bw per round (MB/s): \(perRound.map { String(format: "%.2f", $0 / 1e6) }.joined(separator: " ")); growth \(ratios.map { String(format: "%.2f×", $0) }.joined(separator: " "))")
        #expect(ratios.count >= 3)
        for ratio in ratios { #expect(ratio > 1.6 && ratio < 3.0, "per-round growth \(ratio)") }
        // Once the estimate outgrows the initial pacing rate, pacing_rate = 2.77 · bw · 0.99.
        let late = startup.last!
        #expect(abs(late.pacingRate - 2.77 * 0.99 * late.bandwidth) <= 1)

        // The plateau: the last three round starts in Startup brought < 25 % over the baseline.
        let exitIndex = try #require(records.firstIndex { $0.state != .startup })
        #expect(records[exitIndex].state == .drain)
        let roundStarts = records[..<exitIndex].filter(\.roundStart).suffix(3)
        let baseline = records[exitIndex - 1].fullBandwidth
        #expect(roundStarts.count == 3)
        for record in roundStarts { #expect(record.sampleRate < baseline * 1.25) }
        let estimate = records[exitIndex].maxBandwidth
        print(String(format: "BBR left Startup in round %d with max_bw %.2f MB/s (bottleneck %.2f)", records[exitIndex].round, estimate / 1e6, bottleneck / 1e6))
        #expect(estimate > 0.9 * bottleneck && estimate < 1.02 * bottleneck)
    }

    @Test("Drain at gain 0.5 until inflight ≤ BDP, then ProbeBW cycles DOWN → CRUISE → REFILL → UP → DOWN with pacing_rate = gain × bw × 0.99")
    func drainAndProbeBW() throws {
        let bottleneck = 1_250_000.0  // 10 Mbit/s, BDP 50 kB at 40 ms
        let (path, records) = run(bandwidth: bottleneck, rtt: 40, duration: .seconds(12))
        let drain = records.filter { $0.state == .drain }
        #expect(!drain.isEmpty)
        #expect(drain.allSatisfy { $0.pacingGain == 0.5 })
        let drainRounds = (drain.last!.round - drain.first!.round)
        #expect(drainRounds <= 3, "Drain took \(drainRounds) rounds")
        // Drain ends in ProbeBW_DOWN, which may move on to CRUISE within the same ACK (inflight
        // is already at or below the BDP).
        let afterDrain = try #require(records.firstIndex { $0.state != .startup && $0.state != .drain })
        #expect(records[afterDrain - 1].state == .drain)
        #expect(records[afterDrain].state == .probeBWDown || records[afterDrain].state == .probeBWCruise)

        // The state sequence after Startup/Drain, without repeats.
        var sequence: [BBR.State] = []
        for record in records[afterDrain...] where sequence.last != record.state { sequence.append(record.state) }
        print("BBR states: \(sequence.map { "\($0)" }.joined(separator: " → "))")
        let legal: [BBR.State: Set<BBR.State>] = [
            .probeBWDown: [.probeBWCruise, .probeBWRefill, .probeRTT],
            .drain: [.probeBWDown, .probeBWCruise],
            .probeBWCruise: [.probeBWRefill, .probeRTT],
            .probeBWRefill: [.probeBWUp, .probeRTT],
            .probeBWUp: [.probeBWDown, .probeRTT],
            .probeRTT: [.probeBWCruise],
        ]
        for (from, to) in zip(sequence, sequence.dropFirst()) {
            #expect(legal[from]?.contains(to) == true, "\(from) → \(to)")
        }
        let cycle: [BBR.State] = [.probeBWDown, .probeBWCruise, .probeBWRefill, .probeBWUp, .probeBWDown]
        let found = (0...(sequence.count - cycle.count)).contains { Array(sequence[$0..<($0 + cycle.count)]) == cycle }
        #expect(found, "a full ProbeBW cycle")
        let gains: [BBR.State: Double] = [.probeBWDown: 0.9, .probeBWCruise: 1, .probeBWRefill: 1, .probeBWUp: 1.25, .probeRTT: 1, .drain: 0.5]
        for record in records[afterDrain...] {
            #expect(record.pacingGain == gains[record.state])
            #expect(abs(record.pacingRate - record.pacingGain * record.bandwidth * 0.99) <= 1)
        }
        // Utilization over the steady state.
        let delivered = Double(path.bytesDelivered)
        let goodput = delivered / 12
        print(String(format: "BBR 10 Mbit/s 40 ms: %.2f MB/s delivered over 12 s (%.1f %% of the bottleneck, Startup included), %d dropped at the bottleneck", goodput / 1e6, goodput / bottleneck * 100, path.droppedAtBottleneck))
        #expect(goodput > 0.85 * bottleneck)
    }

    @Test("ProbeRTT: entered when min_rtt has not been refreshed for 5 s, cwnd held at max(BDP/2, 4 MSS) for ≥ 200 ms and a round, then back to ProbeBW_CRUISE")
    func probeRTT() throws {
        let bottleneck = 1_250_000.0
        let (path, records) = run(bandwidth: bottleneck, rtt: 40, duration: .seconds(12))
        let entry = try #require(records.firstIndex { $0.state == .probeRTT })
        let stamp = records[entry - 1].probeRTTMinStamp
        let waited = records[entry].time - stamp
        print("BBR entered ProbeRTT \(waited) after the last min_rtt sample")
        #expect(waited > .seconds(5) && waited < .seconds(5) + .milliseconds(100))
        let exit = try #require(records[entry...].firstIndex { $0.state != .probeRTT })
        let held = records[exit].time - records[entry].time
        #expect(held >= .milliseconds(200), "ProbeRTT lasted \(held)")
        #expect(records[exit].state == .probeBWCruise)
        let bdp = Double(path.bdp)
        let cap = max(Int(0.5 * records[entry].bandwidth * 0.040 * 1.03), 4 * 1200)
        for record in records[(entry + 1)..<exit] { #expect(record.cwnd <= cap, "cwnd \(record.cwnd) in ProbeRTT, BDP \(bdp)") }
        #expect(records[exit].cwnd > cap, "cwnd restored")
        #expect(records[(entry + 1)..<exit].contains { $0.inflight <= cap }, "inflight drained to the ProbeRTT cwnd")
    }

    @Test("a shallow buffer: Startup ends on loss (≥ 6 loss events, > 2 % lost in a round) and sets inflight_longterm")
    func startupHighLoss() throws {
        let (path, records) = run(bandwidth: 1_250_000, rtt: 40, bufferBDPs: 0.3, duration: .seconds(3))
        let exitIndex = try #require(records.firstIndex { $0.state != .startup })
        #expect(path.droppedAtBottleneck > 0)
        #expect(records[exitIndex].state == .drain)
        let bbr = path.controller
        #expect(bbr.inflightLongterm != .max)
        print("BBR shallow buffer: left Startup in round \(records[exitIndex].round), inflight_longterm \(bbr.inflightLongterm) (BDP \(path.bdp)), \(path.droppedAtBottleneck) drops")
    }

    @Test("2 % random loss: BBR keeps most of the bottleneck (LossThresh is per probe, not per packet)")
    func randomLoss() {
        var state: UInt64 = 42
        let drop: (UInt64) -> Bool = { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return (state >> 33) % 1000 < 20
        }
        let (path, _) = run(bandwidth: 1_250_000, rtt: 40, duration: .seconds(10), drop: drop)
        let goodput = Double(path.bytesDelivered) / 10
        print(String(format: "BBR 10 Mbit/s 40 ms with 2 %% random loss: %.2f MB/s (%.1f %% of the bottleneck)", goodput / 1e6, goodput / 1_250_000 * 100))
        #expect(goodput > 0.5 * 1_250_000)
    }
}

@Suite("Delivery rate samples (draft-ietf-ccwg-bbr-06 §4.1)")
struct DeliveryRateTests {
    @Test("a flight sent in one burst and acknowledged at the bottleneck rate samples that rate; the newest packet decides")
    func burst() throws {
        var estimator = DeliveryRateEstimator()
        var snapshots: [DeliverySnapshot] = []
        var inflight = 0
        for _ in 0..<10 {
            snapshots.append(estimator.onPacketSent(now: ms(1000), bytes: 1000, bytesInFlight: inflight))
            inflight += 1000
        }
        #expect(snapshots[0].deliveredTime == ms(1000) && snapshots[9].txInFlight == 10_000)
        // Acknowledged one per millisecond from 1050 ms: 1000 bytes/ms after the first.
        var last: RateSample?
        for index in 0..<10 {
            estimator.beginAck()
            let now = ms(1050 + Int64(index))
            estimator.onPacketAcked(snapshots[index], packetNumber: UInt64(index), sentTime: ms(1000), bytes: 1000, now: now)
            last = estimator.finishAck(minRTT: .milliseconds(50))
        }
        let sample = try #require(last)
        // interval = max(send_elapsed 0, ack_elapsed 59 ms): 10 000 bytes over 59 ms.
        #expect(sample.delivered == 10_000)
        #expect(sample.interval == .milliseconds(59))
        #expect(abs(sample.deliveryRate - 10_000 / 0.059) < 1)
        #expect(sample.rtt == .milliseconds(59))
        #expect(sample.txInFlight == 10_000)
    }

    @Test("an interval shorter than min_rtt yields no rate; an app-limited mark covers the next round only")
    func appLimited() throws {
        var estimator = DeliveryRateEstimator()
        let first = estimator.onPacketSent(now: ms(1000), bytes: 1000, bytesInFlight: 0)
        estimator.beginAck()
        estimator.onPacketAcked(first, packetNumber: 0, sentTime: ms(1000), bytes: 1000, now: ms(1010))
        let short = estimator.finishAck(minRTT: .milliseconds(50))
        #expect(short?.deliveryRate == 0)
        estimator.markAppLimited(bytesInFlight: 0)
        let second = estimator.onPacketSent(now: ms(1020), bytes: 1000, bytesInFlight: 0)
        #expect(second.isAppLimited)
        estimator.beginAck()
        estimator.onPacketAcked(second, packetNumber: 1, sentTime: ms(1020), bytes: 1000, now: ms(1080))
        let finished = estimator.finishAck(minRTT: .milliseconds(50))
        let sample = try #require(finished)
        #expect(sample.isAppLimited)
        #expect(!estimator.isAppLimited, "the bubble was acknowledged")
        let third = estimator.onPacketSent(now: ms(1090), bytes: 1000, bytesInFlight: 0)
        #expect(!third.isAppLimited)
    }
}

@Suite("ECN-CE reaches every controller through loss recovery (RFC 9002 Appendix B.7)")
struct ECNCongestionTests {
    func ackWithCE<C: CongestionController>(_ controller: C) throws -> LossRecovery<C> {
        // ECN on, so the four packets go out marked ECT(0) and the counts below validate.
        var recovery = LossRecovery(controller: controller, isServer: true, ecn: true)
        recovery.handshakeConfirmed = true
        for number in 0..<4 {
            recovery.onPacketSent(
                space: .applicationData, packetNumber: UInt64(number), firstFrame: recovery.frameCursor(.applicationData),
                now: ms(1000), bytes: 1200, ackEliciting: true, inFlight: true)
        }
        try withAck([0...3], ecn: ECNCounts(ect0: 3, ect1: 0, ce: 1)) { ack in
            try recovery.onAckReceived(ack, space: .applicationData, ackDelay: .zero, now: ms(1050), isAppLimited: false) { _, _, _ in }
        }
        return recovery
    }

    @Test("NewReno halves, CUBIC multiplies by β_cubic, BBR notes congestion and enters recovery")
    func ceIncrease() throws {
        #expect(try ackWithCE(NewReno(maxDatagramSize: 1200)).congestionWindow == 6000)
        var cubic = Cubic(maxDatagramSize: 1200)
        cubic.useHyStart = false
        let cubicRecovery = try ackWithCE(cubic)
        #expect(cubicRecovery.controller.slowStartThreshold == 8400)
        #expect(cubicRecovery.controller.hyStart.phase == .done)
        let bbr = try ackWithCE(BBR(maxDatagramSize: 1200)).controller
        #expect(bbr.inLossRecovery)
        #expect(bbr.ecnMarkedInRound == 1200 || bbr.lossRoundStart, "CE volume counted until the loss round ends")
    }
}

@Suite("BBR with an application-limited sender")
struct BBRAppLimitedTests {
    @Test("app-limited samples do not lower max_bw (§5.5.4); restarting from idle paces at bw (§5.4)")
    func appLimited() {
        let bottleneck = 1_250_000.0
        var path = FakePath(controller: BBR(maxDatagramSize: 1200, seed: 3), bandwidth: bottleneck, baseRTT: .milliseconds(40), bufferBytes: 100_000)
        let bulkEnd = path.now + .seconds(3)
        // Bulk for 3 s, then data only during 1 ms of every 10 ms: about one packet per 10 ms.
        path.hasData = { now in now < bulkEnd || (now.nanoseconds / 1_000_000) % 10 == 0 }
        path.run(until: bulkEnd)
        let estimate = path.controller.maxBandwidth
        #expect(estimate > 0.9 * bottleneck)
        var appLimitedSamples = 0
        var lowest = Double.infinity
        path.run(until: bulkEnd + .seconds(2)) { path in
            if path.controller.lastSampleAppLimited { appLimitedSamples += 1 }
            lowest = min(lowest, path.controller.maxBandwidth)
        }
        print(String(format: "BBR app-limited: max_bw %.2f MB/s after bulk, lowest %.2f MB/s over 2 s of sparse sending (%d app-limited samples)", estimate / 1e6, lowest / 1e6, appLimitedSamples))
        #expect(appLimitedSamples > 50)
        #expect(lowest >= estimate * 0.99, "app-limited samples never lowered the estimate")
        #expect(path.controller.state != .startup)
    }
}
