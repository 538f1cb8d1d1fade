import Testing
@testable import QuicRelay

/// The relay's parsing and impairment model, without sockets or root.
@Suite("Relay options and link model")
struct RelayUnitTests {
    @Test("durations, rates, probabilities, sizes, burst loss, blackhole windows and addresses parse as documented")
    func units() throws {
        #expect(try RelayUnits.duration("20ms") == 20_000_000)
        #expect(try RelayUnits.duration("1.5s") == 1_500_000_000)
        #expect(try RelayUnits.duration("500us") == 500_000)
        #expect(try RelayUnits.duration("0") == 0)
        #expect(throws: RelayUnits.ParseError.self) { try RelayUnits.duration("20") }
        #expect(try RelayUnits.rate("100mbit") == 12_500_000)
        #expect(try RelayUnits.rate("1gbit") == 125_000_000)
        #expect(try RelayUnits.rate("512kbit") == 64_000)
        #expect(throws: RelayUnits.ParseError.self) { try RelayUnits.rate("100MB") }
        #expect(try RelayUnits.probability("2%") == 0.02)
        #expect(try RelayUnits.probability("0.1%") == 0.001)
        #expect(try RelayUnits.probability("0.5") == 0.5)
        #expect(throws: RelayUnits.ParseError.self) { try RelayUnits.probability("120%") }
        #expect(try RelayUnits.size("256KB") == 262_144)
        let burst = try RelayUnits.burstLoss("0.1,0.4,0.9")
        #expect(burst == Impairments.BurstLoss(enter: 0.1, exit: 0.4, loss: 0.9))
        #expect(abs(burst.expectedLoss - 0.18) < 1e-12)
        #expect(try RelayUnits.blackhole("2s:1s") == Impairments.Blackhole(up: 2_000_000_000, down: 1_000_000_000))
        let v4 = try RelayUnits.address("10.0.1.1:4433")
        #expect(v4.description == "10.0.1.1:4433" && v4.port == 4433 && !v4.isIPv6)
        let v6 = try RelayUnits.address("[fd00::1]:443")
        #expect(v6.description == "[fd00::1]:443" && v6.isIPv6)
        #expect(try RelayUnits.address("10.0.2.3", defaultPort: 0).port == 0)
        #expect(throws: RelayUnits.ParseError.self) { try RelayUnits.address("example.com:443") }
    }

    func judge(_ impairments: Impairments, count: Int, spacing: UInt64 = 1_000_000, seed: UInt64 = 7) -> [LinkModel.Verdict] {
        var link = LinkModel(impairments: impairments, seed: seed, epoch: 0)
        return (0..<count).map { link.judge(size: 1200, now: UInt64($0) * spacing) }
    }

    @Test("uniform loss drops about the configured share; bursty loss matches the Gilbert–Elliott long-run rate")
    func lossModels() {
        var uniform = Impairments()
        uniform.loss = 0.1
        let drops = judge(uniform, count: 100_000).filter { $0 == .drop(.loss) }.count
        #expect(abs(Double(drops) / 100_000 - 0.1) < 0.005)
        var bursty = Impairments()
        bursty.burst = Impairments.BurstLoss(enter: 0.1, exit: 0.4, loss: 0.9)
        let verdicts = judge(bursty, count: 100_000)
        let burstDrops = verdicts.filter { $0 == .drop(.burst) }.count
        #expect(abs(Double(burstDrops) / 100_000 - 0.18) < 0.01)
        // Losses come in runs: the mean run is far longer than uniform loss at that rate gives.
        var runs = 0
        var previousDropped = false
        for verdict in verdicts {
            let dropped = verdict == .drop(.burst)
            if dropped && !previousDropped { runs += 1 }
            previousDropped = dropped
        }
        let meanRun = Double(burstDrops) / Double(runs)
        #expect(meanRun > 1.8, "mean burst length \(meanRun)")
    }

    @Test("delay, jitter bounds, the rate's serialization and tail drop, blackhole windows")
    func timing() {
        var delayed = Impairments()
        delayed.delay = 20_000_000
        delayed.jitter = 2_000_000
        for (index, verdict) in judge(delayed, count: 1000).enumerated() {
            guard case .deliver(let at, _, _, _, _) = verdict else { Issue.record("dropped"); continue }
            let delay = Int64(at) - Int64(index) * 1_000_000
            #expect(delay >= 18_000_000 && delay <= 22_000_000)
        }
        // 1200-byte datagrams arriving all at once into 9.6 Mbit/s: 1 ms apart, queue of 10.
        var rated = Impairments()
        rated.rate = 1_200_000
        rated.queueLimit = 12_000
        let burst = judge(rated, count: 20, spacing: 0)
        let departures = burst.compactMap { verdict -> UInt64? in
            if case .deliver(let at, _, _, _, _) = verdict { return at }
            return nil
        }
        #expect(departures.count == 10)
        #expect(departures == (1...10).map { UInt64($0) * 1_000_000 })
        #expect(burst.suffix(10).allSatisfy { $0 == .drop(.queue) })
        var blackhole = Impairments()
        blackhole.blackhole = Impairments.Blackhole(up: 2_000_000_000, down: 1_000_000_000)
        let link = LinkModel(impairments: blackhole, seed: 1, epoch: 0)
        #expect(!link.isBlackedOut(at: 1_999_999_999))
        #expect(link.isBlackedOut(at: 2_000_000_000))
        #expect(link.isBlackedOut(at: 2_999_999_999))
        #expect(!link.isBlackedOut(at: 3_000_000_000))
        #expect(link.isBlackedOut(at: 5_500_000_000))
    }

    @Test("the delay queue releases in (time, arrival) order")
    func delayQueueOrder() {
        let queue = DelayQueue(capacity: 64, slotSize: 64)
        let times: [UInt64] = [50, 10, 30, 10, 40, 20, 10]
        for (index, time) in times.enumerated() {
            let slot = queue.takeSlot()!
            queue.push(slot: slot, length: index, ecn: 0, at: time)
        }
        #expect(queue.popDue(now: 5) == nil)
        var released: [(UInt64, Int32)] = []
        while let entry = queue.popDue(now: 100) { released.append((entry.at, entry.length)) }
        #expect(released.map(\.0) == [10, 10, 10, 20, 30, 40, 50])
        #expect(released.prefix(3).map(\.1) == [1, 3, 6], "equal times keep arrival order")
    }
}
