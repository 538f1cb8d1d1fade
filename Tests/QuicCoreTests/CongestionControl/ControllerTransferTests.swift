@testable import QuicCore
import QuicWire
import Testing

/// The simulated-network transfers of TransferTests, run once per congestion controller: the
/// whole connection (pacing, recovery, ACKs) with NewReno, CUBIC and BBR side by side.
@Suite("Transfers per congestion controller (simulated network)")
struct ControllerTransferTests {
    static let tenMegabytes = 10 * 1024 * 1024

    func transfer(_ algorithm: CongestionControlAlgorithm, seed: UInt64, link: LinkConditions, size: Int) throws -> (TimeSpan?, StreamTransfer, Pair) {
        let pair = Pair(seed: seed, clientToServer: link, serverToClient: link) { client, server in
            client.congestionControl = algorithm
            server.congestionControl = algorithm
        }
        try pair.connect()
        #expect(pair.run(for: .seconds(30)) { pair.isConnected })
        #expect(pair.clientConnection?.recovery.controller.algorithm == algorithm, "the client connection uses \(algorithm)")
        #expect(pair.serverConnection?.recovery.controller.algorithm == algorithm, "the server connection uses \(algorithm)")
        let transfer = StreamTransfer(pair: pair, sizes: [size])
        return (transfer.run(), transfer, pair)
    }

    @Test("10 MB over one stream with 2 % loss both ways, 100 Mbit/s, 20 ms RTT", arguments: CongestionControlAlgorithm.allCases)
    func lossyTransfer(_ algorithm: CongestionControlAlgorithm) throws {
        var link = LinkConditions()
        link.loss = 0.02
        link.bandwidth = 12_500_000
        let (duration, transfer, pair) = try transfer(algorithm, seed: 11, link: link, size: Self.tenMegabytes)
        let stats = try #require(pair.clientConnection?.statistics)
        let elapsed = try #require(duration)
        let goodput = Double(Self.tenMegabytes) * 8 / elapsed.seconds / 1e6
        print(String(format: "goodput %@ 2 %% loss 100 Mbit/s 20 ms: %.2f Mbit/s (%.2f s simulated, %d packets sent, %d lost)", algorithm.rawValue, goodput, elapsed.seconds, stats.packetsSent, stats.packetsLost))
        #expect(transfer.corruptions == 0)
        #expect(transfer.isComplete)
        #expect(stats.packetsLost > 0)
    }

    @Test("10 MB over one clean 100 Mbit/s, 20 ms RTT link", arguments: CongestionControlAlgorithm.allCases)
    func cleanTransfer(_ algorithm: CongestionControlAlgorithm) throws {
        var link = LinkConditions()
        link.bandwidth = 12_500_000
        link.queueLimit = 250_000  // one BDP of buffer at the bottleneck
        let (duration, transfer, pair) = try transfer(algorithm, seed: 10, link: link, size: Self.tenMegabytes)
        let stats = try #require(pair.clientConnection?.statistics)
        let elapsed = try #require(duration)
        let goodput = Double(Self.tenMegabytes) * 8 / elapsed.seconds / 1e6
        print(String(format: "goodput %@ clean 100 Mbit/s 20 ms 1-BDP buffer: %.2f Mbit/s (%.2f s simulated, %d packets sent, %d lost)", algorithm.rawValue, goodput, elapsed.seconds, stats.packetsSent, stats.packetsLost))
        #expect(transfer.corruptions == 0)
        #expect(transfer.isComplete)
        #expect(goodput > 50, "a clean 100 Mbit/s link")
    }
}

/// The harder simulated cases of TransferTests, once per controller.
@Suite("Transfers per congestion controller: many streams, blackhole, bursty loss with reordering (simulated network)")
struct ControllerRobustnessTests {
    func connectedPair(_ algorithm: CongestionControlAlgorithm, seed: UInt64, _ link: LinkConditions) throws -> Pair {
        let pair = Pair(seed: seed, clientToServer: link, serverToClient: link) { client, server in
            client.congestionControl = algorithm
            server.congestionControl = algorithm
        }
        try pair.connect()
        #expect(pair.run(for: .seconds(30)) { pair.isConnected })
        return pair
    }

    @Test("10 MB over 100 concurrent streams with 2 % loss both ways", arguments: CongestionControlAlgorithm.allCases)
    func lossyManyStreams(_ algorithm: CongestionControlAlgorithm) throws {
        var link = LinkConditions()
        link.loss = 0.02
        link.bandwidth = 12_500_000
        let pair = try connectedPair(algorithm, seed: 12, link)
        let transfer = StreamTransfer(pair: pair, sizes: Array(repeating: ControllerTransferTests.tenMegabytes / 100, count: 100))
        let duration = transfer.run()
        print("\(algorithm.rawValue) 100 streams 2 % loss: \(duration.map { String(format: "%.2f s", $0.seconds) } ?? "did not finish")")
        #expect(duration != nil)
        #expect(transfer.corruptions == 0)
        #expect(transfer.isComplete)
    }

    @Test("a 1-second blackhole mid-transfer: recovery resumes and all data arrives", arguments: CongestionControlAlgorithm.allCases)
    func blackhole(_ algorithm: CongestionControlAlgorithm) throws {
        var link = LinkConditions()
        link.bandwidth = 2_500_000
        let pair = try connectedPair(algorithm, seed: 13, link)
        let start = pair.now + .milliseconds(300)
        pair.network.conditions[0].blackholes = [start..<(start + .seconds(1))]
        pair.network.conditions[1].blackholes = [start..<(start + .seconds(1))]
        let transfer = StreamTransfer(pair: pair, sizes: [2 * 1024 * 1024])
        let duration = transfer.run()
        print("\(algorithm.rawValue) 2 MB across a 1 s blackhole at 20 Mbit/s: \(duration.map { String(format: "%.2f s", $0.seconds) } ?? "did not finish")")
        #expect(duration != nil)
        #expect(transfer.corruptions == 0)
        #expect((pair.clientConnection?.statistics.probeTimeouts ?? 0) > 0)
        #expect(pair.clientConnection?.state == .established)
    }

    @Test("bursty loss (Gilbert–Elliott) and reordering: 2 MB arrive intact", arguments: CongestionControlAlgorithm.allCases)
    func burstyReordered(_ algorithm: CongestionControlAlgorithm) throws {
        var link = LinkConditions()
        link.bandwidth = 12_500_000
        // About 1.2 % loss in bursts (mean bad run 2 datagrams). A harsher pattern (exit 0.3, loss
        // 0.8) can drop ten ACKs in a row and leave any controller waiting out PTO backoff.
        link.burstEnter = 0.01
        link.burstExit = 0.5
        link.burstLoss = 0.6
        link.reorder = 0.02
        let pair = try connectedPair(algorithm, seed: 16, link)
        let transfer = StreamTransfer(pair: pair, sizes: [2 * 1024 * 1024])
        let duration = transfer.run()
        print("\(algorithm.rawValue) 2 MB bursty loss + 2 % reordering: \(duration.map { String(format: "%.2f s", $0.seconds) } ?? "did not finish")")
        #expect(duration != nil)
        #expect(transfer.corruptions == 0)
        #expect(transfer.isComplete)
    }
}
