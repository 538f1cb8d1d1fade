// Embedding-API benchmarks (not tests): what the hand-off between application tasks and the
// engine's worker thread costs, measured through the public API over the UDP socket on loopback.
//  1. Bulk echo: one stream, N MiB written in 64 KiB chunks and read back concurrently (MiB/s
//     of echoed payload).
//  2. Ping-pong: one stream, a 64-byte message out and back, strictly one at a time (round
//     trips/s): every round trip crosses the hand-off four times (write, server read, server
//     write, client read).
import Foundation
import QuicXDP

let arguments = CommandLine.arguments
func option(_ name: String) -> String? {
    arguments.first { $0.hasPrefix("--\(name)=") }.map { String($0.dropFirst(name.count + 3)) }
}
let megabytes = Int(option("megabytes") ?? "") ?? 32
let pingPongs = Int(option("round-trips") ?? "") ?? 5000
let rounds = Int(option("rounds") ?? "") ?? 3
let pki = option("pki") ?? "Tests/PKI"

func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

func serverConfiguration() throws -> ConnectionConfiguration {
    ConnectionConfiguration(tls: try TLSSetup.server(
        certificate: pki + "/server-p256-chain.pem", key: pki + "/server-p256.key", alpn: ["echo"]))
}

func clientConfiguration() throws -> ConnectionConfiguration {
    ConnectionConfiguration(tls: try TLSSetup.client(alpn: ["echo"], caFile: pki + "/ca.pem", insecure: false))
}

/// A server that echoes every stream of every connection.
func startEchoServer(port: UInt16) throws -> (QuicServer, Task<Void, Never>) {
    let server = try QuicServer(listen: "127.0.0.1:\(port)", configuration: serverConfiguration())
    let serving = Task {
        while let connection = try? await server.accept() {
            Task {
                while let stream = try? await connection.acceptStream() {
                    Task {
                        while let chunk = try? await stream.read() {
                            guard (try? await stream.write(chunk)) != nil else { return }
                        }
                        try? await stream.finish()
                    }
                }
            }
        }
    }
    return (server, serving)
}

func bulkEcho(_ connection: QuicConnection, bytes: Int) async throws -> Double {
    let chunk = [UInt8](repeating: 0x5a, count: 65536)
    let stream = try await connection.openStream()
    let start = ContinuousClock.now
    async let sent: Void = {
        var offset = 0
        while offset < bytes {
            try await stream.write(chunk, fin: offset + chunk.count >= bytes)
            offset += chunk.count
        }
    }()
    var received = 0
    while let data = try await stream.read() { received += data.count }
    try await sent
    let elapsed = ContinuousClock.now - start
    guard received == bytes else { throw QuicError.connectionClosed("echoed \(received) of \(bytes) bytes") }
    return Double(bytes) / 1_048_576 / (Double(elapsed.components.attoseconds) / 1e18 + Double(elapsed.components.seconds))
}

func pingPong(_ connection: QuicConnection, count: Int) async throws -> Double {
    let message = [UInt8](repeating: 0xa5, count: 64)
    let stream = try await connection.openStream()
    let start = ContinuousClock.now
    for _ in 0..<count {
        try await stream.write(message)
        var got = 0
        while got < message.count {
            guard let data = try await stream.read() else { throw QuicError.streamClosed }
            got += data.count
        }
    }
    let elapsed = ContinuousClock.now - start
    try await stream.finish()
    return Double(count) / (Double(elapsed.components.attoseconds) / 1e18 + Double(elapsed.components.seconds))
}

let port = UInt16.random(in: 41000...49000)
do {
    let (server, serving) = try startEchoServer(port: port)
    let client = try QuicClient()
    let connection = try await client.connect(
        to: QuicCore.SocketAddress("127.0.0.1:\(port)")!, serverName: "server.test", configuration: clientConfiguration())
    var bulk: [Double] = []
    var trips: [Double] = []
    for _ in 0..<rounds {
        bulk.append(try await bulkEcho(connection, bytes: megabytes << 20))
        trips.append(try await pingPong(connection, count: pingPongs))
    }
    print("embedding API over the UDP socket on 127.0.0.1 (client and server in one process, median of \(rounds))")
    print("  bulk echo, \(megabytes) MiB in 64 KiB writes   \(String(format: "%8.1f", median(bulk))) MiB/s   (rounds: \(bulk.map { String(format: "%.1f", $0) }.joined(separator: ", ")))")
    print("  ping-pong, 64 B, \(pingPongs) round trips   \(String(format: "%8.0f", median(trips))) round trips/s  (\(String(format: "%.1f", 1e6 / median(trips))) µs each)")
    connection.close()
    client.shutdown()
    server.shutdown()
    serving.cancel()
} catch {
    print("error: \(error)")
    exit(1)
}
