@testable import QuicCore
import QuicWire
import Testing

/// Stream transfers over the simulated network, each byte checked on arrival.
@Suite("Transfers under loss (simulated network)")
struct TransferTests {
    static let tenMegabytes = 10 * 1024 * 1024

    func connectedPair(seed: UInt64, _ conditions: LinkConditions = LinkConditions(), both: Bool = true,
                       configure: ((inout ConnectionConfiguration, inout ConnectionConfiguration) -> Void)? = nil) throws -> Pair {
        let pair = Pair(seed: seed, clientToServer: conditions, serverToClient: both ? conditions : LinkConditions(), configure: configure)
        try pair.connect()
        #expect(pair.run(for: .seconds(30)) { pair.isConnected })
        return pair
    }

    @Test("10 MB over one stream, no loss, 100 Mbit/s")
    func clean() throws {
        var link = LinkConditions()
        link.bandwidth = 12_500_000
        let pair = try connectedPair(seed: 10, link)
        let transfer = StreamTransfer(pair: pair, sizes: [Self.tenMegabytes])
        let duration = try #require(transfer.run())
        let stats = try #require(pair.clientConnection?.statistics)
        print("clean 10 MB: \(duration) simulated, \(stats.packetsSent) packets, \(stats.streamBytesSent) stream bytes sent, \(stats.streamBytesRetransmitted) retransmitted, \(stats.probeTimeouts) PTOs, server sent \(pair.serverConnection!.statistics.packetsSent) packets, received \(transfer.receivedBytes.values.reduce(0, +))")
        #expect(transfer.corruptions == 0)
        // 10 MiB at 100 Mbit/s is 0.84 s; slow start and ACK clocking add a little.
        #expect(duration < .seconds(3), "took \(duration)")
        #expect(pair.clientConnection?.statistics.packetsLost == 0)
    }

    @Test("10 MB over one stream with 2 % loss both ways")
    func lossyOneStream() throws {
        var link = LinkConditions()
        link.loss = 0.02
        link.bandwidth = 12_500_000
        let pair = try connectedPair(seed: 11, link)
        let transfer = StreamTransfer(pair: pair, sizes: [Self.tenMegabytes])
        let duration = transfer.run()
        #expect(duration != nil)
        let stats = try #require(pair.clientConnection?.statistics)
        print("2 % loss 10 MB: \(String(describing: duration)) simulated, \(stats.packetsSent) packets sent, \(stats.packetsLost) lost, \(stats.streamBytesRetransmitted) bytes retransmitted")
        #expect(transfer.corruptions == 0)
        #expect(transfer.isComplete)
        #expect(stats.packetsLost > 0, "the loss pattern must have cost packets")
    }

    @Test("10 MB over 100 concurrent streams with 2 % loss both ways")
    func lossyManyStreams() throws {
        var link = LinkConditions()
        link.loss = 0.02
        link.bandwidth = 12_500_000
        let pair = try connectedPair(seed: 12, link)
        let transfer = StreamTransfer(pair: pair, sizes: Array(repeating: Self.tenMegabytes / 100, count: 100))
        #expect(transfer.run() != nil)
        #expect(transfer.corruptions == 0)
        #expect(transfer.isComplete)
    }

    @Test("a 1-second blackhole mid-transfer: recovery resumes and all data arrives")
    func blackhole() throws {
        var link = LinkConditions()
        link.bandwidth = 2_500_000
        let pair = try connectedPair(seed: 13, link)
        let start = pair.now + .milliseconds(300)
        pair.network.conditions[0].blackholes = [start..<(start + .seconds(1))]
        pair.network.conditions[1].blackholes = [start..<(start + .seconds(1))]
        let transfer = StreamTransfer(pair: pair, sizes: [2 * 1024 * 1024])
        #expect(transfer.run() != nil)
        #expect(transfer.corruptions == 0)
        #expect((pair.clientConnection?.statistics.probeTimeouts ?? 0) > 0, "the blackhole must have fired PTOs")
        #expect(pair.clientConnection?.state == .established)
    }

    @Test("1 % corrupted datagrams: corrupted packets fail authentication and are re-sent")
    func corruption() throws {
        var link = LinkConditions()
        link.corrupt = 0.01
        link.bandwidth = 12_500_000
        let pair = try connectedPair(seed: 14, link)
        let transfer = StreamTransfer(pair: pair, sizes: [2 * 1024 * 1024])
        #expect(transfer.run() != nil)
        #expect(transfer.corruptions == 0)
        let undecryptable = (pair.serverConnection?.statistics.undecryptablePackets ?? 0) + (pair.clientConnection?.statistics.undecryptablePackets ?? 0)
        #expect(undecryptable > 0, "corruption must have been detected")
    }

    @Test("tiny flow-control windows (1000-byte streams, 4000-byte connection) still move 200 kB")
    func tinyWindows() throws {
        let pair = try connectedPair(seed: 15) { _, server in
            server.streams.initialStreamWindow = 1000
            server.streams.maximumStreamWindow = 1000
            server.streams.initialMaxData = 4000
            server.streams.maximumData = 4000
        }
        let transfer = StreamTransfer(pair: pair, sizes: [100_000, 50_000, 50_000])
        #expect(transfer.run() != nil)
        #expect(transfer.corruptions == 0)
        #expect(transfer.isComplete)
    }

    @Test("same seed, same trace; another seed, another trace")
    func determinism() throws {
        func trace(_ seed: UInt64) throws -> [String] {
            var link = LinkConditions()
            link.loss = 0.05
            link.reorder = 0.05
            let pair = try connectedPair(seed: seed, link)
            let transfer = StreamTransfer(pair: pair, sizes: [300_000, 100_000])
            transfer.run()
            return pair.network.trace.map { "\($0.0.nanoseconds) \($0.1) \($0.2) \($0.3)" }
        }
        let first = try trace(77)
        let second = try trace(77)
        #expect(first.count > 100)
        #expect(first == second)
        #expect(try trace(78) != first)
    }
}

@Suite("Handshakes under loss (simulated network)")
struct LossyHandshakeTests {
    @Test("30 % bursty loss both ways: 50 handshakes all complete")
    func burstyLoss() throws {
        var completed = 0
        for seed in UInt64(100)..<150 {
            var link = LinkConditions()
            link.loss = 0.15
            link.burstEnter = 0.1
            link.burstExit = 0.4
            link.burstLoss = 0.9
            let pair = Pair(seed: seed, clientToServer: link, serverToClient: link)
            try pair.connect()
            if pair.run(for: .seconds(120), until: { pair.isConnected && pair.clientConnection?.handshakeConfirmed == true }) {
                completed += 1
            }
            // The measured loss rate of the pattern, so the test states what it exercised.
            let sent = pair.network.sent[0] + pair.network.sent[1]
            let dropped = pair.network.dropped[0] + pair.network.dropped[1]
            if seed == 100 { print("bursty pattern (seed 100): \(dropped) of \(sent) datagrams dropped") }
        }
        #expect(completed == 50)
    }
}
