@testable import QuicCore
import QuicWire
import Testing

/// ECN (RFC 9000 §13.4, RFC 9002 §7): marking, counting and reporting, validation of the peer's
/// counts on paths that handle the field correctly and on paths that do not, and the congestion
/// controllers' reaction to CE.
@Suite("ECN: marking, validation, CE reaction (simulated network)")
struct ECNTests {
    static let megabyte = 1 << 20

    func transfer(
        seed: UInt64, link: LinkConditions, size: Int = ECNTests.megabyte, limit: TimeSpan = .seconds(120),
        configure: ((inout ConnectionConfiguration, inout ConnectionConfiguration) -> Void)? = nil
    ) throws -> (Pair, StreamTransfer) {
        let pair = Pair(seed: seed, clientToServer: link, serverToClient: link, configure: configure)
        try pair.connect()
        #expect(pair.run(for: .seconds(60)) { pair.isConnected }, "handshake")
        let transfer = StreamTransfer(pair: pair, sizes: [size])
        #expect(transfer.run(limit: limit) != nil, "transfer completes")
        #expect(transfer.isComplete)
        #expect(transfer.corruptions == 0)
        return (pair, transfer)
    }

    @Test("a path that carries ECN: every datagram is ECT(0), the receiver counts them, both ends validate to capable")
    func cleanPath() throws {
        let (pair, _) = try transfer(seed: 1, link: LinkConditions())
        let client = try #require(pair.clientConnection)
        let server = try #require(pair.serverConnection)
        #expect(client.ecnState == .capable)
        #expect(server.ecnState == .capable)
        // All datagrams carried ECT(0) (none before validation went unmarked: the first ACK of a
        // marked packet validated the path inside the testing period).
        let clientSent = pair.network.sent[0]
        let serverSent = pair.network.sent[1]
        #expect(pair.network.sentECN[0][Int(ECNCodepoint.ect0.rawValue)] == clientSent)
        #expect(pair.network.sentECN[1][Int(ECNCodepoint.ect0.rawValue)] == serverSent)
        // What the server counted in the 1-RTT space is what the client sent there, all ECT(0).
        let counts = server.received[PacketNumberSpace.applicationData.rawValue].ecnCounts
        #expect(counts.ect0 > 700)
        #expect(counts.ect1 == 0 && counts.ce == 0)
        #expect(client.statistics.ecnCongestionEvents == 0)
    }

    @Test("a middlebox that clears the ECN field: counts are missing, validation fails, marking stops after the testing period")
    func bleachingPath() throws {
        var link = LinkConditions()
        link.ecnBleach = 1
        let (pair, _) = try transfer(seed: 2, link: link)
        let client = try #require(pair.clientConnection)
        #expect(client.ecnState == .failed)
        #expect(client.recovery.ecn.failure == .countsMissing)
        #expect(pair.serverConnection?.ecnState == .failed)
        // At most the testing period's ten datagrams were marked, out of hundreds.
        #expect(pair.network.sentECN[0][Int(ECNCodepoint.ect0.rawValue)] <= ECNValidation.testingPackets)
        #expect(pair.network.sentECN[1][Int(ECNCodepoint.ect0.rawValue)] <= ECNValidation.testingPackets)
        #expect(pair.network.sent[0] > 500)
    }

    @Test("the path changes mid-connection and clears ECN on some datagrams: counts grow by less than the marked packets acknowledged, validation fails")
    func partialBleaching() throws {
        let pair = Pair(seed: 3)
        try pair.connect()
        #expect(pair.run(for: .seconds(10)) { pair.isConnected && pair.clientConnection?.ecnState == .capable })
        pair.network.conditions[0].ecnBleach = 0.3
        pair.network.conditions[1].ecnBleach = 0.3
        let transfer = StreamTransfer(pair: pair, sizes: [Self.megabyte])
        #expect(transfer.run() != nil && transfer.isComplete)
        let client = try #require(pair.clientConnection)
        #expect(client.ecnState == .failed)
        #expect(client.recovery.ecn.failure == .countsTooLow)
    }

    @Test("a network that rewrites ECT(0) to ECT(1): the peer reports ECT(1) we never sent, validation fails")
    func remarkingPath() throws {
        var link = LinkConditions()
        link.ecnRemarkToECT1 = true
        let (pair, _) = try transfer(seed: 4, link: link)
        let client = try #require(pair.clientConnection)
        #expect(client.ecnState == .failed)
        #expect(client.recovery.ecn.failure == .countsTooHigh)
    }

    @Test("a middlebox that drops marked datagrams: the testing packets are lost, ECN is abandoned, the connection still works")
    func droppingPath() throws {
        var link = LinkConditions()
        link.ecnDropMarked = true
        let (pair, _) = try transfer(seed: 5, link: link, size: 200_000)
        let client = try #require(pair.clientConnection)
        let server = try #require(pair.serverConnection)
        #expect(client.ecnState == .failed)
        #expect(client.recovery.ecn.failure == .markedPacketsLost)
        #expect(server.ecnState != .capable)
        print("ECN-dropping path: connected and moved 200 kB by \(pair.now - Instant(nanoseconds: 1_000_000_000)) simulated; client sent \(pair.network.sentECN[0][2]) marked datagrams")
    }

    @Test("ECN off on one side: it sends nothing marked, still counts and reports what it receives, so the other side validates")
    func oneSideDisabled() throws {
        let (pair, _) = try transfer(seed: 6, link: LinkConditions()) { client, _ in client.ecn = false }
        #expect(pair.network.sentECN[0][Int(ECNCodepoint.ect0.rawValue)] == 0)
        #expect(pair.clientConnection?.ecnState == .failed)
        #expect(pair.clientConnection?.recovery.ecn.failure == .disabled)
        #expect(pair.serverConnection?.ecnState == .capable)
        #expect(pair.serverConnection?.received[PacketNumberSpace.applicationData.rawValue].ecnCounts == ECNCounts())
    }

    @Test("CE marks at a 100 Mbit/s bottleneck: the sender backs off on CE, loses no packet and keeps the queue short", arguments: CongestionControlAlgorithm.allCases)
    func ceReaction(_ algorithm: CongestionControlAlgorithm) throws {
        var link = LinkConditions()
        link.bandwidth = 12_500_000
        link.queueLimit = 400_000
        link.ceMarkQueueBytes = 25_000
        var results: [Bool: (lost: Int, ceAcks: Int, marked: Int, maxQueue: Int, meanQueue: Int, duration: TimeSpan)] = [:]
        for ecn in [true, false] {
            let (pair, _) = try transfer(seed: 7, link: link, size: 5 * Self.megabyte) { client, server in
                client.congestionControl = algorithm
                server.congestionControl = algorithm
                client.ecn = ecn
                server.ecn = ecn
            }
            let stats = try #require(pair.clientConnection?.statistics)
            results[ecn] = (
                stats.packetsLost, stats.ecnCongestionEvents, pair.network.ceMarked[0], pair.network.maxQueued[0], pair.network.meanQueue(.client),
                pair.now - Instant(nanoseconds: 1_000_000_000)
            )
        }
        let on = try #require(results[true]), off = try #require(results[false])
        print("\(algorithm) 5 MB at 100 Mbit/s, 20 ms RTT, CE above 25 kB queued, tail drop above 400 kB: ECN on: \(on.lost) lost, \(on.marked) CE marks, \(on.ceAcks) ACKs with CE growth, queue mean \(on.meanQueue) B max \(on.maxQueue) B, \(on.duration); ECN off: \(off.lost) lost, queue mean \(off.meanQueue) B max \(off.maxQueue) B, \(off.duration)")
        #expect(on.ceAcks > 0)
        #expect(on.marked > 0)
        #expect(on.lost == 0, "the AQM marked instead of dropping; the sender must have slowed before the queue overflowed")
        #expect(off.ceAcks == 0)
        #expect(on.meanQueue * 2 < off.meanQueue, "reacting to CE keeps the queue at least twice as short on average")
        if algorithm != .bbr {
            // Loss-based controllers fill any queue until it overflows; BBR does not need to.
            #expect(off.lost > 0, "without ECN the same queue overflows")
        }
    }

    // MARK: The validator alone

    @Test("validator: reordered or repeated ACKs never fail it; CE growth is reported; a count above what was sent fails it")
    func validatorRules() {
        var ecn = ECNValidation(enabled: true)
        for _ in 0..<4 { ecn.onPacketSent(space: .applicationData, marked: true) }
        // Valid: two marked packets acknowledged, ECT(0) up by two.
        #expect(ecn.onAck(space: .applicationData, counts: ECNCounts(ect0: 2), newlyAckedECT0: 2) == 0)
        #expect(ecn.state == .capable)
        // One more acknowledged with CE: the increase is returned.
        #expect(ecn.onAck(space: .applicationData, counts: ECNCounts(ect0: 2, ce: 1), newlyAckedECT0: 1) == 1)
        // Counts lower than before (a stale frame) with nothing newly acknowledged: no failure.
        #expect(ecn.onAck(space: .applicationData, counts: ECNCounts(ect0: 1), newlyAckedECT0: 0) == 0)
        #expect(ecn.state == .capable)
        // More ECT(0) than ever sent: failure.
        #expect(ecn.onAck(space: .applicationData, counts: ECNCounts(ect0: 9, ce: 1), newlyAckedECT0: 1) == nil)
        #expect(ecn.state == .failed && ecn.failure == .countsTooHigh)
        #expect(ecn.marking == .notECT)
    }

    @Test("validator: counts are per packet number space; the testing period ends after ten datagrams; all testing packets lost fails it")
    func validatorTesting() {
        var ecn = ECNValidation(enabled: true)
        let now = Instant(nanoseconds: 1_000_000_000)
        ecn.onPacketSent(space: .initial, marked: true)
        // An Initial-space ACK reporting one ECT(0) is fine; the same in another space is not.
        #expect(ecn.onAck(space: .handshake, counts: ECNCounts(ect0: 1), newlyAckedECT0: 0) == nil)
        #expect(ecn.failure == .countsTooHigh)

        var testing = ECNValidation(enabled: true)
        for index in 0..<ECNValidation.testingPackets {
            #expect(testing.marking == .ect0)
            testing.onPacketSent(space: .applicationData, marked: true)
            testing.onDatagramSent(now: now + .milliseconds(Int64(index)), probeTimeout: .seconds(1))
        }
        #expect(testing.state == .unknown)
        #expect(testing.marking == .notECT)
        for _ in 0..<(ECNValidation.testingPackets - 1) { testing.onMarkedPacketLost() }
        #expect(testing.state == .unknown)
        testing.onMarkedPacketLost()
        #expect(testing.state == .failed && testing.failure == .markedPacketsLost)

        // Three PTOs also end the testing period.
        var slow = ECNValidation(enabled: true)
        slow.onDatagramSent(now: now, probeTimeout: .milliseconds(100))
        slow.onDatagramSent(now: now + .milliseconds(301), probeTimeout: .milliseconds(100))
        #expect(slow.state == .unknown)
    }
}
