// An echo server on the QuicXDP embedding API: every stream a client opens is sent back to it.
//
//   swift run EchoServer --cert Tests/PKI/server-p256-chain.pem --key Tests/PKI/server-p256.key [--listen [::]:4433] [--dev IF]
import Foundation
import QuicXDP

func argument(_ name: String) -> String? {
    guard let index = CommandLine.arguments.firstIndex(of: name), index + 1 < CommandLine.arguments.count else { return nil }
    return CommandLine.arguments[index + 1]
}

guard let cert = argument("--cert"), let key = argument("--key") else {
    print("usage: EchoServer --cert CHAIN.pem --key KEY.pem [--listen ADDR:PORT] [--dev IF]")
    exit(2)
}
let listen = argument("--listen") ?? "[::]:4433"
let datapath: DatapathChoice = argument("--dev").map { .afxdp(interface: $0, queues: nil) } ?? .udp

let server: QuicServer
do {
    let tls = try TLSSetup.server(certificate: cert, key: key, alpn: ["echo"])
    server = try QuicServer(listen: listen, configuration: ConnectionConfiguration(tls: tls), datapath: datapath) { print($0) }
} catch {
    print("error: \(error)")
    exit(1)
}
print("echo server on \(listen) (\(server.endpoint.datapath))")

/// Echoes one stream: what arrives goes back, then FIN.
func echo(_ stream: QuicStream) async {
    do {
        while let chunk = try await stream.read() { try await stream.write(chunk) }
        try await stream.finish()
    } catch {
        print("stream \(stream.id): \(error)")
    }
}

while true {
    guard let connection = try? await server.accept() else { break }
    Task {
        while let stream = try? await connection.acceptStream() {
            Task { await echo(stream) }
        }
    }
}
