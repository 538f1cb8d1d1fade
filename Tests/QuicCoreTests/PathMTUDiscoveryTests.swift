@testable import QuicCore
import QuicWire
import Testing

/// DPLPMTUD (RFC 8899, RFC 9000 §14.3, §14.4): probes of growing size once the handshake is done,
/// over simulated paths whose MTU drops larger datagrams silently (no ICMP), the search result,
/// probe losses kept away from congestion control, black-hole fallback and the raise timer.
@Suite("DPLPMTUD (RFC 8899, RFC 9000 §14.3)")
struct PathMTUDiscoveryTests {
    func connectedPair(
        seed: UInt64, mtu: Int?, bandwidth: UInt64? = nil,
        configure: ((inout ConnectionConfiguration, inout ConnectionConfiguration) -> Void)? = nil
    ) throws -> Pair {
        var link = LinkConditions()
        link.pathMTU = mtu
        link.bandwidth = bandwidth
        return try Pair.established(seed: seed, link: link, configure: configure)
    }

    @Test("a 1500-byte path: both ends reach 1472-byte datagrams right after the handshake; bulk data then leaves at that size and never above")
    func fullEthernetPath() throws {
        let pair = try connectedPair(seed: 800, mtu: 1500)
        let client = try #require(pair.clientConnection)
        let server = try #require(pair.serverConnection)
        let confirmed = pair.now
        #expect(pair.run(for: .seconds(3)) { client.currentMaxDatagramSize == 1472 && server.currentMaxDatagramSize == 1472 })
        print("PMTUD 1500-byte path: 1472 reached \(pair.now - confirmed) after confirmation (RTT 20 ms)")
        #expect(pair.now - confirmed < .milliseconds(500))
        #expect(client.pathMTUDiscovery.phase == .complete && server.pathMTUDiscovery.phase == .complete)

        let started = pair.now
        let upload = StreamTransfer(pair: pair, sizes: [1 << 20])
        #expect(upload.run() != nil && upload.isComplete && upload.corruptions == 0)
        let sizes = pair.datagrams(from: .client, after: started).map(\.size)
        #expect(sizes.max() == 1472)
        // Bulk data goes in full datagrams: most of them are exactly 1472 bytes.
        #expect(sizes.count { $0 == 1472 } > 600)
        #expect(pair.network.droppedTooBig == [0, 0])
        #expect(client.statistics.mtuProbesLost == 0)
    }

    @Test("a 1280-byte path (IPv6 minimum): the search settles between 1236 and 1252 bytes, data flows, and the lost probes never reduce the congestion window")
    func minimumPathProbeLossIsNoCongestion() throws {
        let pair = try connectedPair(seed: 801, mtu: 1280) { client, server in
            client.congestionControl = .newReno
            server.congestionControl = .newReno
        }
        let client = try #require(pair.clientConnection)
        let upload = StreamTransfer(pair: pair, sizes: [3 << 20])
        #expect(upload.run() != nil && upload.isComplete && upload.corruptions == 0)
        // The search goes on with the connection idle: lost probes are found by PTO probes.
        #expect(pair.run(for: .seconds(10)) { client.pathMTUDiscovery.phase == .complete })
        let size = client.currentMaxDatagramSize
        print("PMTUD 1280-byte path: settled at \(size) (limit 1252), \(client.statistics.mtuProbesSent) probes, \(client.statistics.mtuProbesLost) lost, \(pair.network.droppedTooBig[0]) client datagrams dropped as too big, phase \(client.pathMTUDiscovery.phase)")
        #expect(size <= 1252 && size >= 1252 - PathMTUDiscovery.minimumStep)
        #expect(client.pathMTUDiscovery.phase == .complete)
        // Only probes were too big; every one of them was declared lost...
        #expect(pair.network.droppedTooBig[0] == client.statistics.mtuProbesLost)
        #expect(client.statistics.mtuProbesLost >= 3 * PathMTUDiscovery.maxProbes)
        #expect(client.statistics.packetsLost == client.statistics.mtuProbesLost)
        // ...and none of those losses was a congestion event: NewReno never left slow start
        // (RFC 9000 §14.4). Had they counted, ssthresh would be set.
        #expect(client.recovery.controller.slowStartThreshold == nil)
        #expect(client.recovery.controller.isInSlowStart)
    }

    @Test("the path MTU drops from 1500 to 1400 mid-transfer: black-hole detection falls back to 1200, the search finds the new size, both transfers finish intact")
    func blackHoleMidTransfer() throws {
        let pair = try connectedPair(seed: 802, mtu: 1500, bandwidth: 5_000_000)
        let client = try #require(pair.clientConnection)
        let server = try #require(pair.serverConnection)
        #expect(pair.run(for: .seconds(2)) { client.currentMaxDatagramSize == 1472 && server.currentMaxDatagramSize == 1472 })
        let upload = StreamTransfer(pair: pair, sizes: [3 << 20])
        let download = DownloadTransfer(pair: pair, size: 3 << 20)
        let dropAt = pair.now + .milliseconds(400)
        var dropped = false
        var detectedAt: Instant?
        let done = pair.run(for: .seconds(120)) {
            upload.pump()
            download.pump()
            if !dropped && pair.now >= dropAt {
                dropped = true
                pair.network.conditions[0].pathMTU = 1400
                pair.network.conditions[1].pathMTU = 1400
            }
            if dropped && detectedAt == nil && server.statistics.mtuBlackHoles > 0 && client.statistics.mtuBlackHoles > 0 {
                detectedAt = pair.now
            }
            return upload.isComplete && download.isComplete
        }
        #expect(done)
        #expect(upload.corruptions == 0 && download.corruptions == 0)
        let detection = try #require(detectedAt) - dropAt
        print("PMTUD black hole: MTU 1500 → 1400 at +0.4 s; both sides detected it within \(detection); settled at client \(client.currentMaxDatagramSize), server \(server.currentMaxDatagramSize); black holes client \(client.statistics.mtuBlackHoles) server \(server.statistics.mtuBlackHoles); lost packets client \(client.statistics.packetsLost) server \(server.statistics.packetsLost)")
        #expect(detection < .seconds(3))
        for connection in [client, server] {
            #expect(connection.currentMaxDatagramSize <= 1372 && connection.currentMaxDatagramSize >= 1372 - PathMTUDiscovery.minimumStep)
            #expect(connection.closeReason == nil)
        }
        // After detection, only probes were too big for the path.
        let late = pair.log.filter { $0.time > detectedAt! && $0.size > 1372 }
        #expect(late.count <= 2 * 3 * PathMTUDiscovery.maxProbes)
    }

    @Test("after a search completes below the maximum, the raise timer starts another: the path grows from 1280 to 1500 and the size follows")
    func raiseTimer() throws {
        let pair = try connectedPair(seed: 803, mtu: 1280) { client, server in
            client.pmtuRaiseInterval = .seconds(3)
            server.pmtuRaiseInterval = .seconds(3)
        }
        let client = try #require(pair.clientConnection)
        #expect(pair.run(for: .seconds(5)) { client.pathMTUDiscovery.phase == .complete })
        let settled = client.currentMaxDatagramSize
        let settledAt = pair.now
        #expect(settled <= 1252)
        pair.network.conditions[0].pathMTU = 1500
        pair.network.conditions[1].pathMTU = 1500
        // Probes go out with traffic (RFC 8899 §5.1.1 lets an idle sender skip them): a PING
        // every 200 ms.
        var grown = false
        for _ in 0..<40 where !grown {
            client.ping()
            grown = pair.run(for: .milliseconds(200)) { client.currentMaxDatagramSize == 1472 }
        }
        print("PMTUD raise timer (3 s): \(settled) → \(client.currentMaxDatagramSize) after \(pair.now - settledAt)")
        #expect(grown)
        #expect(pair.now - settledAt >= .seconds(3))
        // Before the timer, no probe was sent above the settled size.
        #expect(!pair.log.contains { $0.side == .client && $0.time > settledAt && $0.time < settledAt + .milliseconds(2900) && $0.size > settled })
    }

    @Test("PMTUD off: every datagram stays at or below the 1200-byte base")
    func disabled() throws {
        let pair = try connectedPair(seed: 804, mtu: 1500) { client, server in
            client.pathMTUDiscovery = false
            server.pathMTUDiscovery = false
        }
        let upload = StreamTransfer(pair: pair, sizes: [500_000])
        #expect(upload.run() != nil && upload.isComplete)
        #expect(pair.log.map(\.size).max() == 1200)
        #expect(pair.clientConnection?.statistics.mtuProbesSent == 0)
    }

    @Test("the peer's max_udp_payload_size caps the search")
    func peerLimit() throws {
        let pair = try connectedPair(seed: 805, mtu: 1500) { _, server in server.maxUDPPayloadSize = 1350 }
        let client = try #require(pair.clientConnection)
        #expect(pair.run(for: .seconds(2)) { client.pathMTUDiscovery.phase == .complete })
        #expect(client.currentMaxDatagramSize == 1350)
        #expect(pair.datagrams(from: .client).map(\.size).max() == 1350)
    }

    // MARK: The state machine alone

    @Test("search: the maximum first, then a binary search; a size fails after three lost probes; it stops within 16 bytes")
    func searchOrder() {
        var discovery = PathMTUDiscovery(base: 1200)
        discovery.start(maximum: 1472)
        let now = Instant(nanoseconds: 1_000_000_000)
        var probes: [Int] = []
        while let size = discovery.probeSize(now: now), probes.count < 40 {
            probes.append(size)
            discovery.onProbeSent(size: size)
            if size <= 1252 {
                _ = discovery.onProbeAcknowledged(size: size, now: now)
            } else {
                discovery.onProbeLost(size: size, now: now)
            }
        }
        #expect(probes == [1472, 1472, 1472, 1336, 1336, 1336, 1268, 1268, 1268, 1234, 1251])
        #expect(discovery.current == 1251 && discovery.phase == .complete)
        // One probe at a time.
        var single = PathMTUDiscovery(base: 1200)
        single.start(maximum: 1472)
        single.onProbeSent(size: 1472)
        let none = single.probeSize(now: now)
        #expect(none == nil)
    }

    @Test("black hole: three loss bursts above the base with no acknowledgment of a full-size packet in between; one such acknowledgment resets the count")
    func blackHoleRule() {
        let now = Instant(nanoseconds: 1_000_000_000)
        var discovery = PathMTUDiscovery(base: 1200)
        discovery.start(maximum: 1472)
        discovery.onProbeSent(size: 1472)
        let grown = discovery.onProbeAcknowledged(size: 1472, now: now)
        #expect(grown == 1472)
        let r1 = discovery.onPacketsLost(largest: 1472, now: now)
        #expect(!r1)
        let r2 = discovery.onPacketsLost(largest: 1472, now: now)
        #expect(!r2)
        discovery.onAcknowledged(largest: 1472)
        let r3 = discovery.onPacketsLost(largest: 1472, now: now)
        #expect(!r3)
        let r4 = discovery.onPacketsLost(largest: 1472, now: now)
        #expect(!r4)
        // Small acknowledgments do not prove the size, small losses do not count.
        discovery.onAcknowledged(largest: 1200)
        let r5 = discovery.onPacketsLost(largest: 1100, now: now)
        #expect(!r5)
        let r6 = discovery.onPacketsLost(largest: 1472, now: now)
        #expect(r6)
        #expect(discovery.current == 1200 && discovery.phase == .searching)
        // The search restarts below the size that stopped working.
        let next = discovery.probeSize(now: now)
        #expect(next == 1336)
    }

    @Test("raise timer: a search that ended below the maximum starts again once PMTU_RAISE_TIMER expires")
    func raiseRule() {
        let now = Instant(nanoseconds: 1_000_000_000)
        var discovery = PathMTUDiscovery(base: 1200, raiseInterval: .seconds(600))
        discovery.start(maximum: 1472)
        for _ in 0..<PathMTUDiscovery.maxProbes {
            discovery.onProbeSent(size: 1472)
            discovery.onProbeLost(size: 1472, now: now)
        }
        discovery.onProbeSent(size: 1336)
        _ = discovery.onProbeAcknowledged(size: 1336, now: now)
        discovery.onProbeSent(size: 1404)
        _ = discovery.onProbeAcknowledged(size: 1404, now: now)
        discovery.onProbeSent(size: 1438)
        _ = discovery.onProbeAcknowledged(size: 1438, now: now)
        discovery.onProbeSent(size: 1455)
        _ = discovery.onProbeAcknowledged(size: 1455, now: now)
        #expect(discovery.phase == .complete && discovery.current == 1455)
        let early = discovery.probeSize(now: now + .seconds(599))
        let due = discovery.probeSize(now: now + .seconds(600))
        #expect(early == nil && due == 1472)
    }
}
