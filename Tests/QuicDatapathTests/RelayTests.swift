import Foundation
import Glibc
import QuicDatapath
import Testing

let relayRootReason: Comment = "needs root: creates network namespaces and veth pairs for client ⇄ relay ⇄ server"

/// The impairment relay (`quicxdp-relay`) on the real kernel: a client, the relay and a server
/// in three namespaces of their own per test, plain UDP sockets at both ends. Serialized,
/// because timing checks (delay, rate) should not share the two cores with each other.
@Suite("quicxdp-relay across namespaces", .serialized, .enabled(if: isRoot, relayRootReason))
struct RelayTests {
    struct Arrival {
        var bytes: [UInt8]
        var source: SocketAddress
        var time: UInt64
    }

    static let port: UInt16 = 4433

    /// The relay between the namespaces, with `impairments` (command-line flags) added.
    func startRelay(_ namespaces: RelayNamespaces, _ impairments: [String]) throws -> ToolProcess {
        try ToolProcess(
            namespace: namespaces.relay,
            arguments: ["--listen", "\(namespaces.relayClientSide):\(Self.port)", "--upstream", "\(namespaces.serverAddress):\(Self.port)"]
                + impairments)
    }

    /// A server socket in the server namespace and a thread that receives (and optionally
    /// echoes) until `count` datagrams arrived or nothing came for `idleMilliseconds`.
    func server(_ namespaces: RelayNamespaces, count: Int, echo: Bool = false, idleMilliseconds: Int = 600) throws -> BackgroundThread<[Arrival]> {
        let socket = try inNamespace(namespaces.serverPath) {
            try PeerSocket(ipv6: false, bindPort: Self.port, receiveTimeoutMilliseconds: idleMilliseconds)
        }
        return try BackgroundThread(namespace: nil) {
            var arrivals: [Arrival] = []
            while arrivals.count < count, let datagram = try? socket.receive() {
                arrivals.append(Arrival(bytes: datagram.bytes, source: datagram.from, time: monotonicNanoseconds()))
                if echo { try? socket.send(datagram.bytes, to: datagram.from) }
            }
            return arrivals
        }
    }

    func clientSocket(_ namespaces: RelayNamespaces, timeoutMilliseconds: Int = 1000) throws -> PeerSocket {
        try inNamespace(namespaces.clientPath) { try PeerSocket(ipv6: false, receiveTimeoutMilliseconds: timeoutMilliseconds) }
    }

    func relayAddress(_ namespaces: RelayNamespaces) -> SocketAddress { SocketAddress(namespaces.relayClientSide, port: Self.port)! }

    /// 1200 bytes: a big-endian sequence number, then a fixed pattern.
    static func datagram(_ sequence: Int) -> [UInt8] {
        var bytes = (0..<1200).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
        withUnsafeBytes(of: UInt32(sequence).bigEndian) { for index in 0..<4 { bytes[index] = $0[index] } }
        return bytes
    }

    static func sequence(_ bytes: [UInt8]) -> Int {
        Int(bytes.prefix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
    }

    /// Binomial check: |observed − n·p| within `sigmas` standard deviations.
    static func binomial(_ observed: Int, n: Int, p: Double, sigmas: Double = 4.5) -> Bool {
        let mean = Double(n) * p
        let deviation = (Double(n) * p * (1 - p)).squareRoot()
        return abs(Double(observed) - mean) <= sigmas * deviation
    }

    @Test("datagrams arrive intact, and the round trip is 2 × --delay")
    func delay() throws {
        try withRelayNamespaces("rdly") { namespaces in
            let relay = try startRelay(namespaces, ["--delay", "20ms"])
            defer { relay.stop() }
            let server = try server(namespaces, count: 50, echo: true)
            let client = try clientSocket(namespaces)
            var rtts: [Double] = []
            for sequence in 0..<50 {
                let payload = Self.datagram(sequence)
                let start = monotonicNanoseconds()
                try client.send(payload, to: relayAddress(namespaces))
                let reply = try client.receive()
                rtts.append(Double(monotonicNanoseconds() - start) / 1e6)
                #expect(reply.bytes == payload, "the echo came back intact")
                #expect(reply.from == relayAddress(namespaces), "replies come from the relay's listening address")
            }
            _ = try server.join()
            rtts.sort()
            let median = rtts[rtts.count / 2]
            print(String(format: "relay --delay 20ms: RTT min %.2f ms, median %.2f ms, max %.2f ms", rtts.first!, median, rtts.last!))
            #expect(rtts.first! >= 40)
            #expect(median < 43, "2 × 20 ms plus little")
        }
    }

    @Test("--loss 10% drops about 10 % of 2000 datagrams (binomial tolerance), and the relay counts each drop")
    func loss() throws {
        try withRelayNamespaces("rlos") { namespaces in
            // Datagram by datagram here (the other tests use the default UDP GSO sends).
            let relay = try startRelay(namespaces, ["--loss", "10%", "--no-gso", "--seed", "\(UInt64.random(in: 1...1000))"])
            defer { relay.stop() }
            let server = try server(namespaces, count: 2000)
            let client = try clientSocket(namespaces)
            for sequence in 0..<2000 {
                try client.send(Self.datagram(sequence), to: relayAddress(namespaces))
                if sequence % 50 == 49 { usleep(2000) }
            }
            let arrivals = try server.join()
            relay.stop()
            let lost = 2000 - arrivals.count
            print("relay --loss 10%: \(lost) of 2000 lost")
            #expect(Self.binomial(lost, n: 2000, p: 0.1), "\(lost) lost")
            #expect(relay.counter("c->s", "loss") == UInt64(lost), "every missing datagram is a counted loss")
            #expect(arrivals.allSatisfy { $0.bytes == Self.datagram(Self.sequence($0.bytes)) })
        }
    }

    @Test("--rate 10mbit paces a burst out at 1.25 MB/s")
    func rate() throws {
        try withRelayNamespaces("rrat") { namespaces in
            let relay = try startRelay(namespaces, ["--rate", "10mbit", "--queue", "4MB"])
            defer { relay.stop() }
            let server = try server(namespaces, count: 1000)
            let client = try clientSocket(namespaces)
            for sequence in 0..<1000 { try client.send(Self.datagram(sequence), to: relayAddress(namespaces)) }
            let arrivals = try server.join()
            #expect(arrivals.count == 1000)
            let seconds = Double(arrivals.last!.time - arrivals.first!.time) / 1e9
            let rate = Double((arrivals.count - 1) * 1200) / seconds
            print(String(format: "relay --rate 10mbit: %d datagrams at %.3f MB/s (%.2f Mbit/s of UDP payload)", arrivals.count, rate / 1e6, rate * 8 / 1e6))
            #expect(abs(rate - 1_250_000) / 1_250_000 < 0.05)
        }
    }

    @Test("--corrupt 5% flips exactly one byte in about 5 % of datagrams")
    func corrupt() throws {
        try withRelayNamespaces("rcor") { namespaces in
            let relay = try startRelay(namespaces, ["--corrupt", "5%", "--seed", "\(UInt64.random(in: 1...1000))"])
            defer { relay.stop() }
            let server = try server(namespaces, count: 1000, echo: true)
            let client = try clientSocket(namespaces)
            let payload = (0..<1200).map { UInt8(truncatingIfNeeded: $0) }
            // In windows of 20, each sent once the server's echoes of the last came back: a
            // free-running burst overflowed socket buffers when the relay was not scheduled for
            // a while on a loaded machine (954 of 1000 arrived once), which is not the relay's doing.
            for _ in 0..<50 {
                for _ in 0..<20 { try client.send(payload, to: relayAddress(namespaces)) }
                for _ in 0..<20 { _ = try? client.receive() }
            }
            let arrivals = try server.join()
            relay.stop()
            #expect(arrivals.count == 1000)
            var corrupted = 0
            for arrival in arrivals where arrival.bytes != payload {
                corrupted += 1
                let differences = zip(arrival.bytes, payload).filter { $0 != $1 }.count
                #expect(differences == 1 && arrival.bytes.count == payload.count)
            }
            print("relay --corrupt 5%: \(corrupted) of 1000 corrupted")
            #expect(Self.binomial(corrupted, n: 1000, p: 0.05))
            #expect(relay.counter("c->s", "corrupt") == UInt64(corrupted))
        }
    }

    @Test("--duplicate 5% delivers about 5 % of datagrams twice")
    func duplicate() throws {
        try withRelayNamespaces("rdup") { namespaces in
            let relay = try startRelay(namespaces, ["--duplicate", "5%", "--seed", "\(UInt64.random(in: 1...1000))"])
            defer { relay.stop() }
            let server = try server(namespaces, count: 2000)
            let client = try clientSocket(namespaces)
            for sequence in 0..<1000 {
                try client.send(Self.datagram(sequence), to: relayAddress(namespaces))
                if sequence % 50 == 49 { usleep(2000) }
            }
            let arrivals = try server.join()
            relay.stop()
            let distinct = Set(arrivals.map { Self.sequence($0.bytes) })
            let duplicates = arrivals.count - distinct.count
            print("relay --duplicate 5%: \(duplicates) duplicates among \(arrivals.count) arrivals")
            #expect(distinct.count == 1000)
            #expect(Self.binomial(duplicates, n: 1000, p: 0.05))
            #expect(relay.counter("c->s", "dup") == UInt64(duplicates))
        }
    }

    @Test("--blackhole 300ms:300ms: everything inside a down window is dropped, everything outside arrives")
    func blackhole() throws {
        try withRelayNamespaces("rblk") { namespaces in
            let relay = try startRelay(namespaces, ["--blackhole", "300ms:300ms"])
            defer { relay.stop() }
            let server = try server(namespaces, count: 240, idleMilliseconds: 1000)
            let client = try clientSocket(namespaces)
            let start = monotonicNanoseconds()
            for sequence in 0..<240 {
                // One datagram every 10 ms, on an absolute schedule.
                let due = start + UInt64(sequence) * 10_000_000
                let now = monotonicNanoseconds()
                if due > now { usleep(UInt32((due - now) / 1000)) }
                try client.send(Self.datagram(sequence), to: relayAddress(namespaces))
            }
            let arrivals = try server.join()
            relay.stop()
            let received = Set(arrivals.map { Self.sequence($0.bytes) })
            // Runs of missing sequence numbers: the down windows.
            var gaps: [Int] = []
            var run = 0
            for sequence in 0..<240 {
                if received.contains(sequence) {
                    if run > 0 { gaps.append(run) }
                    run = 0
                } else {
                    run += 1
                }
            }
            print("relay --blackhole 300ms:300ms: \(received.count) of 240 arrived; missing runs \(gaps) (+\(run) at the end)")
            #expect(received.count >= 96 && received.count <= 144, "about half")
            #expect(gaps.count >= 3)
            for gap in gaps.dropFirst() { #expect(gap >= 27 && gap <= 33, "a 300 ms window at 10 ms spacing drops ~30, got \(gap)") }
            #expect(relay.counter("c->s", "blackhole") == UInt64(240 - received.count))
        }
    }

    @Test("--rebind-port 300ms: the server sees the source port change; its replies still reach the client")
    func rebindPort() throws {
        try withRelayNamespaces("rrbp") { namespaces in
            let relay = try startRelay(namespaces, ["--rebind-port", "300ms"])
            defer { relay.stop() }
            let server = try server(namespaces, count: 75, echo: true)
            let client = try clientSocket(namespaces, timeoutMilliseconds: 500)
            let replies = try BackgroundThread<[UInt64]>(namespace: nil) {
                var times: [UInt64] = []
                while let _ = try? client.receive() { times.append(monotonicNanoseconds()) }
                return times
            }
            let start = monotonicNanoseconds()
            for sequence in 0..<75 {
                try client.send(Self.datagram(sequence), to: relayAddress(namespaces))
                usleep(20_000)
            }
            let arrivals = try server.join()
            let replyTimes = try replies.join()
            relay.stop()
            let ports = arrivals.reduce(into: [UInt16]()) { ports, arrival in
                if ports.last != arrival.source.port { ports.append(arrival.source.port) }
            }
            print("relay --rebind-port 300ms: server saw source ports \(ports) from \(Set(arrivals.map { "\($0.source.address)" }))")
            #expect(ports.count >= 4, "1.5 s at one rebinding per 300 ms")
            #expect(Set(ports).count == ports.count, "each rebinding is a new port")
            #expect(arrivals.allSatisfy { "\($0.source.address)" == namespaces.relayServerSide })
            #expect(replyTimes.contains { $0 > start + 1_200_000_000 }, "replies reach the client after the later rebindings")
            #expect((relay.counter("c->s", "rx") ?? 0) == 75)
            #expect(relay.output.contains("rebinds="))
        }
    }

    @Test("--rebind-addr: the server sees the relay's source address change")
    func rebindAddress() throws {
        try withRelayNamespaces("rrba") { namespaces in
            let relay = try startRelay(
                namespaces, ["--upstream-bind", namespaces.relayServerSide, "--rebind-addr", namespaces.relayServerSideAlternate, "--rebind-addr-interval", "400ms"])
            defer { relay.stop() }
            let server = try server(namespaces, count: 50)
            let client = try clientSocket(namespaces)
            for sequence in 0..<50 {
                try client.send(Self.datagram(sequence), to: relayAddress(namespaces))
                usleep(20_000)
            }
            let arrivals = try server.join()
            let addresses = arrivals.reduce(into: [String]()) { seen, arrival in
                let address = "\(arrival.source.address)"
                if seen.last != address { seen.append(address) }
            }
            print("relay --rebind-addr: server saw \(addresses)")
            #expect(addresses.first == namespaces.relayServerSide)
            #expect(addresses.contains(namespaces.relayServerSideAlternate))
        }
    }

    @Test("replies go to the most recent client address")
    func followsClient() throws {
        try withRelayNamespaces("rcli") { namespaces in
            let relay = try startRelay(namespaces, [])
            defer { relay.stop() }
            let server = try server(namespaces, count: 10, echo: true)
            let first = try clientSocket(namespaces, timeoutMilliseconds: 300)
            let second = try clientSocket(namespaces, timeoutMilliseconds: 300)
            for sequence in 0..<5 {
                try first.send(Self.datagram(sequence), to: relayAddress(namespaces))
                #expect(Self.sequence(try first.receive().bytes) == sequence)
            }
            for sequence in 5..<10 {
                try second.send(Self.datagram(sequence), to: relayAddress(namespaces))
                #expect(Self.sequence(try second.receive().bytes) == sequence)
            }
            #expect((try? first.receive()) == nil, "nothing more for the old address")
            _ = try server.join()
            relay.stop()
            #expect(relay.output.contains("client_changes=2"))
        }
    }
}
