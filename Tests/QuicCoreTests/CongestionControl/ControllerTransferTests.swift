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
        if case .bbr = pair.clientConnection?.recovery.controller {} else if algorithm == .bbr {
            Issue.record("the client connection is not using BBR")
        }
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
