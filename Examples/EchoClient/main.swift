// An echo client on the QuicXDP embedding API: sends a message (or N random bytes) on a stream
// and checks that the same bytes come back.
//
//   swift run EchoClient --ca Tests/PKI/ca.pem [--server 127.0.0.1:4433] [--name server.test] [--bytes N]
import Foundation
import QuicXDP

func argument(_ name: String) -> String? {
    guard let index = CommandLine.arguments.firstIndex(of: name), index + 1 < CommandLine.arguments.count else { return nil }
    return CommandLine.arguments[index + 1]
}

guard let ca = argument("--ca"), let remote = QuicCore.SocketAddress(argument("--server") ?? "127.0.0.1:4433") else {
    print("usage: EchoClient --ca CA.pem [--server ADDR:PORT] [--name SERVER-NAME] [--bytes N]")
    exit(2)
}
let size = Int(argument("--bytes") ?? "") ?? 0
let message: [UInt8] = size > 0 ? (0..<size).map { _ in UInt8.random(in: 0...255) } : Array("hello over QUIC".utf8)

do {
    let tls = try TLSSetup.client(alpn: ["echo"], caFile: ca, insecure: false)
    let client = try QuicClient()
    let connection = try await client.connect(to: remote, serverName: argument("--name") ?? "server.test",
                                              configuration: ConnectionConfiguration(tls: tls))
    let stream = try await connection.openStream()
    let start = Date()
    async let sent: Void = stream.write(message, fin: true)
    let answer = try await stream.readAll(limit: message.count + 1)
    try await sent
    let seconds = Date().timeIntervalSince(start)
    guard answer == message else {
        print("error: \(answer.count) bytes came back and differ from the \(message.count) sent")
        exit(1)
    }
    print(size > 0 ? "echoed \(size) bytes intact in \(String(format: "%.3f", seconds)) s" : "echoed: \(String(decoding: answer, as: UTF8.self))")
    connection.close()
    client.shutdown()
} catch {
    print("error: \(error)")
    exit(1)
}
