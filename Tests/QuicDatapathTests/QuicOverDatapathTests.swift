import Foundation
import Glibc
import QuicCore
import QuicCrypto
import QuicDatapath
import QuicTLS
import QuicWire
import Testing

/// Serves "GET /N" on each client stream with N bytes of a pattern, on the worker thread.
struct PatternServer: QuicApplication {
    struct Pending { var total: Int; var sent: Int }
    var requests: [StreamID: [UInt8]] = [:]
    var responses: [StreamID: Pending] = [:]
    var scratch = [UInt8](repeating: 0, count: 65536)
    /// Where the server notes the largest datagram size its path MTU discovery reached.
    var result: DownloadResult?

    static func byte(_ offset: Int) -> UInt8 { UInt8(truncatingIfNeeded: offset &* 7 &+ offset >> 9) }

    mutating func handle(_ event: ConnectionEvent, on handle: ConnectionHandle, _ connection: Connection, now: Instant) {
        guard case .stream(.readable(let id)) = event else { return }
        while true {
            guard let (count, fin) = try? scratch.withUnsafeMutableBytes({ try connection.read(id, into: $0) }) else { return }
            requests[id, default: []] += scratch[..<count]
            if fin, let text = String(bytes: requests[id]!, encoding: .utf8), text.hasPrefix("GET /"),
                let size = Int(text.dropFirst(5).trimmingCharacters(in: .whitespacesAndNewlines))
            {
                responses[id] = Pending(total: size, sent: 0)
            }
            if count == 0 || fin { break }
        }
        _ = poll(handle, connection, now: now)
    }

    mutating func poll(_ handle: ConnectionHandle, _ connection: Connection, now: Instant) -> Bool {
        if let result { result.serverMaxDatagramSize = max(result.serverMaxDatagramSize, connection.currentMaxDatagramSize) }
        var more = false
        for (id, pending) in responses {
            var state = pending
            while state.sent < state.total {
                let chunk = min(scratch.count, state.total - state.sent, connection.writableBytes(id))
                if chunk == 0 { break }
                for index in 0..<chunk { scratch[index] = Self.byte(state.sent + index) }
                let taken = (try? scratch.withUnsafeBytes {
                    try connection.write(id, UnsafeRawBufferPointer(rebasing: $0[..<chunk]), fin: state.sent + chunk == state.total)
                }) ?? 0
                state.sent += taken
                if taken < chunk { break }
            }
            if state.sent == state.total { responses[id] = nil } else { responses[id] = state; more = true }
        }
        return more
    }
}

/// Shared result of the client application (read by the test thread after the engine stops).
final class DownloadResult: @unchecked Sendable {
    var received = 0
    var corrupt = 0
    var finished = false
    var closeReason: CloseReason?
    var alpn: String?
    /// The client's view of ECN when the download finished.
    var ecnState: ECNValidation.State?
    var ecnFailure: ECNValidation.Failure?
    var receivedECN = ECNCounts()
    var serverMaxDatagramSize = 0
}

/// Requests "GET /N" once connected and checks every byte of the answer.
struct PatternClient: QuicApplication {
    let size: Int
    let result: DownloadResult
    var stream: StreamID?
    var scratch = [UInt8](repeating: 0, count: 65536)

    mutating func handle(_ event: ConnectionEvent, on handle: ConnectionHandle, _ connection: Connection, now: Instant) {
        switch event {
        case .connected:
            result.alpn = connection.alpn
            guard let id = connection.openStream(.bidirectional) else { return }
            stream = id
            _ = try? connection.write(id, Array("GET /\(size)\r\n".utf8), fin: true)
        case .stream(.readable(let id)) where id == stream:
            while true {
                guard let (count, fin) = try? scratch.withUnsafeMutableBytes({ try connection.read(id, into: $0) }) else { return }
                for index in 0..<count where scratch[index] != PatternServer.byte(result.received + index) { result.corrupt += 1 }
                result.received += count
                if fin {
                    result.ecnState = connection.ecnState
                    result.ecnFailure = connection.ecnFailure
                    result.receivedECN = connection.receivedECNCounts(.applicationData)
                    result.finished = true
                    connection.close(errorCode: 0, reason: "done", now: now)
                }
                if count == 0 || fin { break }
            }
        case .closed(let reason):
            result.closeReason = reason
        default:
            break
        }
    }
}

enum TestPKI {
    static var directory: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("PKI").path
    }

    static func server() throws -> TLSConfiguration {
        var tls = TLSConfiguration(alpn: ["hq-interop"])
        tls.certificateChain = try Certificate.chain(pemFile: directory + "/server-p256-chain.pem")
        tls.privateKey = try PrivateKey(pemFile: directory + "/server-p256.key")
        return tls
    }

    static func client() -> TLSConfiguration {
        var tls = TLSConfiguration(alpn: ["hq-interop"])
        tls.verification = .caFile(directory + "/ca.pem")
        return tls
    }
}

/// QUIC end to end through the real kernel: the server runs on an AF_XDP socket behind the
/// loaded XDP program in namespace A, the client on the UDP-socket port in namespace B; 4 MB are
/// downloaded and checked byte for byte, over IPv4 and IPv6.
@Suite(.enabled(if: isRoot, rootReason))
struct QuicOverDatapathTests {
    static let port: UInt16 = 4433
    static let size = 4 * 1024 * 1024

    @Test("QUIC download: AF_XDP server, UDP-port client", arguments: [false, true])
    func download(ipv6: Bool) throws {
        try withNamespacePair(ipv6 ? "q6" : "q4") { pair in
            let interface = pair.interfaceA
            try pair.inA { _ = try XDPLoader.load(interface: interface, ports: [Self.port]) }
            let serverTLS = try TestPKI.server()
            let result = DownloadResult()
            let server = try EngineRunner<EngineStatistics>(namespace: pair.pathA) { control, ready in
                var port = try AFXDPPort(interface: interface, queue: 0, defaultSourcePort: Self.port)
                let endpoint = Endpoint(
                    configuration: EndpointConfiguration(
                        server: ConnectionConfiguration(tls: serverTLS), idGenerator: QuicLBConnectionIDGenerator(serverID: 1)))
                var handler = QuicHandler(endpoint: endpoint, application: PatternServer(result: result))
                ready()
                return try PollEngine.run(port: &port, handler: &handler, control: control)
            }
            let serverAddress = QuicCore.SocketAddress(SocketAddress(IPAddress(ipv6 ? pair.addressA6 : pair.addressA4)!, port: Self.port))
            let clientTLS = TestPKI.client()
            let client = try EngineRunner<Void>(namespace: pair.pathB) { control, ready in
                var port = try UDPPort(port: 0)
                var handler = QuicHandler(
                    endpoint: Endpoint(configuration: EndpointConfiguration(idGenerator: QuicLBConnectionIDGenerator(serverID: 2))),
                    application: PatternClient(size: Self.size, result: result))
                _ = try handler.connect(
                    to: serverAddress, serverName: "server.test", configuration: ConnectionConfiguration(tls: clientTLS),
                    now: Instant(MonotonicTime.now()))
                ready()
                _ = try PollEngine.run(port: &port, handler: &handler, control: control)
            }
            let deadline = Date().addingTimeInterval(30)
            while !result.finished && result.closeReason == nil && Date() < deadline { usleep(20_000) }
            try client.stop()
            let serverStatistics = try server.stop()
            #expect(result.finished, "download did not finish: \(String(describing: result.closeReason))")
            #expect(result.received == Self.size)
            #expect(result.corrupt == 0)
            #expect(result.alpn == "hq-interop")
            // DPLPMTUD from the AF_XDP server reaches the veth's 1500-byte MTU less the IP and UDP
            // headers of the family in use.
            #expect(result.serverMaxDatagramSize == (ipv6 ? 1452 : 1472), "server PMTU \(result.serverMaxDatagramSize)")
            // ECN through the real kernel both ways: the server's AF_XDP frames carry ECT(0) in
            // the IP header and the client's UDP socket reads it (IP_TOS/IPV6_TCLASS); the
            // client's marks reach the server's AF_XDP parser, whose ACK counts validate them.
            #expect(result.receivedECN.ect0 > 1000, "ECT(0) datagrams the client received: \(result.receivedECN)")
            #expect(result.receivedECN.ce == 0 && result.receivedECN.ect1 == 0)
            #expect(result.ecnState == .capable, "ECN \(String(describing: result.ecnState)): \(String(describing: result.ecnFailure))")
            let stats = try pair.inA { try XDPMaps(pinnedFor: interface).readStats() }
            // Everything the server's engine received came through the XDP redirect, none through
            // the kernel. (The client acknowledges once per received batch, so it sends few.) The
            // client's last datagrams (its CONNECTION_CLOSE) may still sit in the socket's ring
            // when the server's engine stops, so the engine can have read a few less.
            #expect(serverStatistics.received > 20)
            #expect(serverStatistics.received <= stats.redirected && stats.redirected - serverStatistics.received <= 4,
                    "redirected \(stats.redirected), engine received \(serverStatistics.received)")
            #expect(stats.passedNoSocket == 0)
            try pair.inA { _ = try XDPLoader.unload(interface: interface) }
        }
    }
}
