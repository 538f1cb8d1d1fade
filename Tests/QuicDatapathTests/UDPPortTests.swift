import Glibc
import QuicDatapath
import Testing

/// Records what it receives and, when asked, sends a prepared burst.
struct RecordingHandler: DatagramHandler, ~Copyable {
    var received: [(bytes: [UInt8], source: SocketAddress, destination: SocketAddress, ecn: ECN)] = []
    var burst: [(bytes: [UInt8], to: SocketAddress)] = []
    var burstECN = ECN.notECT
    var burstSource: SocketAddress?

    mutating func handle(_ batch: ReceivedBatch, now: MonotonicTime) {
        for datagram in batch {
            received.append((Array(UnsafeRawBufferPointer(datagram.payload)), datagram.source, datagram.destination, datagram.ecn))
        }
    }

    mutating func pollTransmits<Queue: TransmitQueue & ~Copyable>(into queue: inout Queue, now: MonotonicTime) {
        while !burst.isEmpty {
            guard let space = queue.reserve() else { return }
            let item = burst.removeFirst()
            space.copyBytes(from: item.bytes)
            queue.commit(length: item.bytes.count, to: item.to, from: burstSource, ecn: burstECN)
        }
    }

    func nextTimeout() -> MonotonicTime? { nil }
    mutating func handleTimeout(now: MonotonicTime) {}
    var wantsToTransmit: Bool { !burst.isEmpty }
}

/// Drives one engine turn at a time on the calling thread (deterministic for assertions).
func turn<P: DatapathPort & ~Copyable, H: DatagramHandler & ~Copyable>(_ port: inout P, _ handler: inout H) throws {
    var statistics = EngineStatistics()
    _ = try PollEngine.turn(port: &port, handler: &handler, now: .now(), configuration: .init(), statistics: &statistics)
}

/// Turns until `condition` or two seconds pass.
func turn<P: DatapathPort & ~Copyable, H: DatagramHandler & ~Copyable>(
    _ port: inout P, _ handler: inout H, until condition: (borrowing H) -> Bool
) throws {
    let deadline = MonotonicTime.now().adding(nanoseconds: 2_000_000_000)
    while !condition(handler) && MonotonicTime.now() < deadline {
        try turn(&port, &handler)
        usleep(200)
    }
}

/// The UDP-socket port on loopback (no root needed): dual-stack echo, PKTINFO, ECN both ways,
/// GSO on send and GRO on receive.
@Suite struct UDPPortTests {
    @Test("dual-stack: IPv4 and IPv6 peers on one [::] socket, with PKTINFO and ECN")
    func dualStackPacketInfoAndECN() throws {
        var port = try UDPPort(port: 0)
        let dualStack = port.dualStack
        #expect(dualStack)
        var handler = RecordingHandler()
        let v4 = try PeerSocket(ipv6: false)
        let v6 = try PeerSocket(ipv6: true)
        v4.setECN(.ect0)
        v6.setECN(.ect1)
        try v4.send([0x41, 1, 2, 3], to: SocketAddress(.v4(0x7f00_0001), port: port.localPort))
        try v6.send([0x41, 4, 5, 6], to: SocketAddress(IPAddress("::1")!, port: port.localPort))
        try turn(&port, &handler) { $0.received.count >= 2 }
        try #require(handler.received.count == 2)
        let first = handler.received.first { $0.bytes == [0x41, 1, 2, 3] }
        let second = handler.received.first { $0.bytes == [0x41, 4, 5, 6] }
        #expect(first?.destination == SocketAddress(.v4(0x7f00_0001), port: port.localPort))
        #expect(first?.source.address == .v4(0x7f00_0001))
        #expect(first?.ecn == .ect0)
        #expect(second?.destination == SocketAddress(IPAddress("::1")!, port: port.localPort))
        #expect(second?.ecn == .ect1)

        // Replies carry ECN through IP_TOS / IPV6_TCLASS control messages.
        handler.burstECN = .ce
        handler.burst = [([0x41, 9], first!.source), ([0x41, 8], second!.source)]
        try turn(&port, &handler)
        let reply4 = try v4.receive()
        let reply6 = try v6.receive()
        #expect(reply4.bytes == [0x41, 9] && reply4.ecn == .ce)
        #expect(reply6.bytes == [0x41, 8] && reply6.ecn == .ce)
    }

    @Test("GSO: equal-sized datagrams to one peer leave in one sendmmsg message and arrive separately, each with the run's ECN mark and source")
    func gsoCoalescesOnSend() throws {
        var port = try UDPPort(port: 0)
        let gso = port.gsoEnabled
        try #require(gso, "kernel without UDP_SEGMENT")
        var handler = RecordingHandler()
        // Three control messages on one GSO message: UDP_SEGMENT, IP_TOS and IP_PKTINFO. (All
        // but the first were once lost, so GSO runs left unmarked.)
        handler.burstECN = .ect0
        handler.burstSource = SocketAddress(.v4(0x7f00_0001), port: port.localPort)
        let peer = try PeerSocket(ipv6: false)
        let peerPort = try localPort(of: peer.fd)
        let destination = SocketAddress(.v4(0x7f00_0001), port: peerPort)
        var burst: [([UInt8], SocketAddress)] = (0..<10).map { i in ([0x40] + [UInt8](repeating: UInt8(i), count: 999), destination) }
        burst.append(([0x40] + [UInt8](repeating: 0xee, count: 499), destination)) // shorter last segment
        handler.burst = burst
        let before = port.counters
        try turn(&port, &handler)
        let after = port.counters
        #expect(after.sentDatagrams - before.sentDatagrams == 11)
        #expect(after.sentMessages - before.sentMessages == 1, "one GSO message for 11 datagrams")
        for expected in burst {
            let datagram = try peer.receive()
            #expect(datagram.bytes == expected.0)
            #expect(datagram.ecn == .ect0, "a GSO segment lost its ECN mark")
        }
    }

    @Test("GSO runs split on a change of peer or a larger datagram")
    func gsoRunsSplit() throws {
        var port = try UDPPort(port: 0)
        var handler = RecordingHandler()
        let a = try PeerSocket(ipv6: false)
        let b = try PeerSocket(ipv6: false)
        let toA = SocketAddress(.v4(0x7f00_0001), port: try localPort(of: a.fd))
        let toB = SocketAddress(.v4(0x7f00_0001), port: try localPort(of: b.fd))
        handler.burst = [([1, 1, 1], toA), ([2, 2, 2], toA), ([3, 3, 3], toB), ([4, 4, 4, 4], toB)]
        let before = port.counters
        try turn(&port, &handler)
        let sent = port.counters.sentMessages - before.sentMessages
        let expected: UInt64 = port.gsoEnabled ? 3 : 4
        #expect(sent == expected)
        #expect(try a.receive().bytes == [1, 1, 1])
        #expect(try a.receive().bytes == [2, 2, 2])
        #expect(try b.receive().bytes == [3, 3, 3])
        #expect(try b.receive().bytes == [4, 4, 4, 4])
    }

    @Test("GRO: a coalesced receive is split back into the original datagrams")
    func groSplitsOnReceive() throws {
        var receiver = try UDPPort(port: 0)
        let gro = receiver.groEnabled
        try #require(gro, "kernel without UDP_GRO")
        var sender = try UDPPort(port: 0)
        var recorder = RecordingHandler()
        var burstHandler = RecordingHandler()
        let destination = SocketAddress(.v4(0x7f00_0001), port: receiver.localPort)
        let burst: [([UInt8], SocketAddress)] = (0..<20).map { i in ([0x40, UInt8(i)] + [UInt8](repeating: UInt8(i), count: 1198), destination) }
            + [([0x40, 0xff, 1, 2, 3], destination)]
        burstHandler.burst = burst
        try turn(&sender, &burstHandler)
        try turn(&receiver, &recorder) { $0.received.count >= burst.count }
        #expect(recorder.received.map(\.bytes) == burst.map(\.0))
        // On loopback a GSO send reaches a UDP_GRO socket still coalesced.
        let counters = receiver.counters
        #expect(counters.coalescedBuffers >= 1)
        #expect(counters.receivedBuffers < UInt64(burst.count))
    }

    @Test("echo engine on a thread, blocking when idle")
    func echoEngine() throws {
        let ready = PortBox()
        let engine = try EngineRunner<EngineStatistics>(namespace: nil) { control, started in
            var port = try UDPPort(port: 0)
            ready.port = port.localPort
            started()
            var handler = EchoHandler()
            return try PollEngine.run(port: &port, handler: &handler, control: control)
        }
        let client = try PeerSocket(ipv6: true)
        for i in 0..<20 {
            let payload: [UInt8] = [0x40] + [UInt8](repeating: UInt8(i), count: 100 + i)
            try client.send(payload, to: SocketAddress(IPAddress("::1")!, port: ready.port))
            #expect(try client.receive().bytes == payload)
        }
        usleep(300_000) // idle long enough to go to sleep
        let statistics = try engine.stop()
        #expect(statistics.received == 20 && statistics.transmitted == 20)
        #expect(statistics.sleeps >= 1, "an idle engine blocks in poll(2)")
    }

    @Test("a handler with more to send later (window, pacing) lets the engine sleep between turns, not spin on a writable socket")
    func waitingHandlerDoesNotSpin() throws {
        let engine = try EngineRunner<EngineStatistics>(namespace: nil) { control, started in
            var port = try UDPPort(port: 0)
            started()
            var handler = WaitingHandler()
            return try PollEngine.run(port: &port, handler: &handler, control: control)
        }
        usleep(300_000)
        let statistics = try engine.stop()
        // Asking poll(2) for POLLOUT on an always-writable socket returned at once: tens of
        // thousands of "sleeps" in 300 ms. Sleeping up to 1 ms each allows at most ~300.
        #expect(statistics.sleeps >= 20 && statistics.sleeps <= 400, "\(statistics.sleeps) sleeps in 300 ms")
    }
}

/// Wants to transmit (its connections have more once the window or pacing allows) but commits
/// nothing now, and has no timer.
struct WaitingHandler: DatagramHandler {
    mutating func handle(_ batch: ReceivedBatch, now: MonotonicTime) {}
    mutating func pollTransmits<Queue: TransmitQueue & ~Copyable>(into queue: inout Queue, now: MonotonicTime) {}
    func nextTimeout() -> MonotonicTime? { nil }
    mutating func handleTimeout(now: MonotonicTime) {}
    var wantsToTransmit: Bool { true }
}

final class PortBox: @unchecked Sendable { var port: UInt16 = 0 }

func localPort(of fd: Int32) throws -> UInt16 {
    var storage = sockaddr_in6()
    var length = socklen_t(MemoryLayout<sockaddr_in6>.size)
    let status = withUnsafeMutablePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
    guard status == 0 else { throw Errno.current }
    return withUnsafeBytes(of: &storage) { SocketAddress(sockaddr: $0.baseAddress!)!.port }
}
