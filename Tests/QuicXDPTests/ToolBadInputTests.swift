import Foundation
import QuicXDP
import Testing

/// `quicxdp serve` and `quicxdp get` on loopback (UDP socket, no root needed) given bad input:
/// each failure ends with a message that names the problem, a non-zero exit status, and the
/// server keeps serving what is good.
@Suite("quicxdp serve/get: bad input", .serialized)
struct ToolBadInputTests {
    static let pki = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("PKI").path
    /// The `quicxdp` binary built next to the test bundle.
    static let binary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        .appendingPathComponent("quicxdp").path
    /// Below the ephemeral range, so no client socket holds it.
    static let basePort = Int.random(in: 20000...31000)

    /// Runs the tool to completion: exit status and combined output.
    static func tool(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// A `quicxdp serve` in the background, serving a.txt from a fresh --root; `stop()` ends it
    /// (SIGTERM, by PID).
    final class Server {
        let process = Process()
        let root: URL

        init(port: Int, host: String = "127.0.0.1", _ extra: [String] = [], certificate: String = "server-p256-chain.pem",
             key: String = "server-p256.key") throws {
            root = FileManager.default.temporaryDirectory.appendingPathComponent("qx-tool-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
            try Data("hello, file\n".utf8).write(to: root.appendingPathComponent("a.txt"))
            process.executableURL = URL(fileURLWithPath: ToolBadInputTests.binary)
            process.arguments = [
                "serve", "--listen", "\(host):\(port)", "--cert", "\(ToolBadInputTests.pki)/\(certificate)",
                "--key", "\(ToolBadInputTests.pki)/\(key)", "--root", root.path, "--datapath", "udp",
            ] + extra
            let log = Pipe()
            process.standardOutput = log
            process.standardError = log
            try process.run()
            var seen = ""
            let deadline = Date().addingTimeInterval(10)
            while !seen.contains("ready:") && Date() < deadline && process.isRunning {
                seen += String(decoding: log.fileHandleForReading.availableData, as: UTF8.self)
            }
            guard seen.contains("ready:") else {
                stop()
                throw ToolFailure("serve did not start: \(seen)")
            }
        }

        func stop() {
            if process.isRunning {
                kill(process.processIdentifier, SIGTERM)
                process.waitUntilExit()
            }
            try? FileManager.default.removeItem(at: root)
        }
    }

    static func withServer<T>(
        port: Int, host: String = "127.0.0.1", _ extra: [String] = [], certificate: String = "server-p256-chain.pem",
        key: String = "server-p256.key", _ body: () throws -> T
    ) throws -> T {
        let server = try Server(port: port, host: host, extra, certificate: certificate, key: key)
        defer { server.stop() }
        return try body()
    }

    struct ToolFailure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    func get(_ urls: [String], _ extra: [String] = []) throws -> (status: Int32, output: String) {
        try Self.tool(["get"] + urls + ["--ca", "\(Self.pki)/ca.pem", "--output", "-"] + extra)
    }

    @Test("a URL that is not https:// is refused before anything is sent (exit 64, names the URL)")
    func badURL() throws {
        let result = try get(["htp:/nowhere"])
        #expect(result.status == 64)
        #expect(result.output.contains("'htp:/nowhere' is not an https:// URL"), "\(result.output)")
    }

    @Test("nothing listens on the port: get gives up after --timeout, says there was no reply and what to check, exit 1")
    func noServer() throws {
        let started = Date()
        let result = try get(["https://127.0.0.1:\(Self.basePort + 7)/a.txt"], ["--datapath", "udp", "--timeout", "2"])
        #expect(result.status == 1)
        #expect(result.output.contains("no reply from 127.0.0.1:\(Self.basePort + 7) in 2 s"), "\(result.output)")
        #expect(result.output.contains("is a QUIC server listening"), "\(result.output)")
        // Its own timeout, not the 30-second default.
        #expect(Date().timeIntervalSince(started) < 15)
        let bad = try get(["https://127.0.0.1:\(Self.basePort + 7)/a.txt"], ["--timeout", "0"])
        #expect(bad.status == 64)
        #expect(bad.output.contains("--timeout 0 is not between 1 and 600 seconds"), "\(bad.output)")
    }

    @Test("no common ALPN: the server ends the handshake with no_application_protocol (CRYPTO_ERROR 0x178) and get says why")
    func unknownALPN() throws {
        try Self.withServer(port: Self.basePort, ["--alpn", "hq-interop"]) {
            let result = try get(["https://127.0.0.1:\(Self.basePort)/a.txt"], ["--alpn", "h3"])
            #expect(result.status == 1)
            #expect(result.output.contains("alert 120") && result.output.contains("none of the client's protocols"), "\(result.output)")
        }
    }

    @Test("a certificate the client cannot verify: untrusted issuer, wrong name — each named, exit 1")
    func badCertificates() throws {
        try Self.withServer(port: Self.basePort + 1) {
            let untrusted = try Self.tool(
                ["get", "https://127.0.0.1:\(Self.basePort + 1)/a.txt", "--ca", "\(Self.pki)/self-signed.pem", "--output", "-"])
            #expect(untrusted.status == 1)
            #expect(untrusted.output.contains("certificate verification failed: unable to get local issuer certificate"), "\(untrusted.output)")
        }
        // The certificate names server.test and 127.0.0.1: a server on 127.0.0.2 presents it for
        // the wrong name.
        try Self.withServer(port: Self.basePort + 9, host: "127.0.0.2") {
            let wrongName = try get(["https://127.0.0.2:\(Self.basePort + 9)/a.txt"])
            #expect(wrongName.status == 1)
            #expect(wrongName.output.contains("certificate verification failed") && wrongName.output.contains("mismatch"), "\(wrongName.output)")
        }
        // Expiry is checked in QuicTLSTests (CertificateFailureTests) at a chosen verification time:
        // Tests/PKI/expired.pem is valid for one day after it is made, so it is no use here.
    }

    @Test("a missing file: HTTP/3 answers 404, hq-interop resets the stream with 404; the other file still arrives; exit 1",
          arguments: ["h3", "hq-interop"])
    func missingFile(alpn: String) throws {
        let port = Self.basePort + 3 + (alpn == "h3" ? 0 : 1)
        try Self.withServer(port: port) {
            let result = try get(["https://127.0.0.1:\(port)/missing.txt", "https://127.0.0.1:\(port)/a.txt"], ["--alpn", alpn])
            #expect(result.status == 1)
            #expect(result.output.contains("hello, file"), "the good file is delivered: \(result.output)")
            #expect(result.output.contains("1 of 2 downloaded"), "\(result.output)")
            if alpn == "h3" {
                #expect(result.output.contains("/missing.txt: status 404"), "\(result.output)")
            } else {
                #expect(result.output.contains("/missing.txt: the server reset the stream (code 404"), "\(result.output)")
            }
        }
    }

    @Test("a path that leaves --root is not served (404), and the server goes on serving")
    func traversal() throws {
        try Self.withServer(port: Self.basePort + 5) {
            let result = try get(["https://127.0.0.1:\(Self.basePort + 5)/../../../etc/passwd"], ["--alpn", "hq-interop"])
            #expect(result.status == 1)
            #expect(!result.output.contains("root:"), "\(result.output)")
            #expect(try get(["https://127.0.0.1:\(Self.basePort + 5)/a.txt"]).status == 0)
        }
    }

    @Test("a malformed hq-interop request gets its stream reset with an error; the connection and the server go on")
    func malformedRequest() async throws {
        let port = Self.basePort + 6
        let server = try Server(port: port)
        defer { server.stop() }
        do {
            var configuration = ConnectionConfiguration(
                tls: try TLSSetup.client(alpn: ["hq-interop"], caFile: Self.pki + "/ca.pem", insecure: false))
            configuration.maxIdleTimeout = .seconds(5)
            let client = try QuicClient()
            defer { client.shutdown() }
            let connection = try await client.connect(
                to: QuicCore.SocketAddress("127.0.0.1:\(port)")!, serverName: "server.test", configuration: configuration)
            let bad = try await connection.openStream()
            try await bad.write(Array("BREW /coffee HTCPCP/1.0\r\n".utf8), fin: true)
            await #expect(throws: QuicError.self) { _ = try await bad.readAll(limit: 1 << 16) }
            // The same connection still serves a good request.
            let good = try await connection.openStream()
            try await good.write(Array("GET /a.txt\r\n".utf8), fin: true)
            #expect(try await good.readAll(limit: 1 << 16) == Array("hello, file\n".utf8))
            connection.close()
        }
    }

    @Test("path options: --migrate-to that is no IP address, not one of this host's, of the other family or with AF_XDP; --preferred-address that is no IP address or with --listen on one address — each named with its fix, exit 64, nothing sent")
    func pathOptionErrors() throws {
        let url = ["https://127.0.0.1:\(Self.basePort + 10)/a.txt"]
        let notAnIP = try get(url, ["--migrate-to", "notanip"])
        #expect(notAnIP.status == 64 && notAnIP.output.contains("--migrate-to 'notanip' is not an IP address; give an IPv4 or IPv6 address of this host"), "\(notAnIP.output)")
        // 192.0.2.0/24 is TEST-NET-1: configured nowhere here.
        let foreign = try get(url, ["--migrate-to", "192.0.2.7", "--datapath", "udp"])
        #expect(foreign.status == 64 && foreign.output.contains("--migrate-to 192.0.2.7 is not an address of this host; add it first (ip addr add"), "\(foreign.output)")
        let otherFamily = try get(url, ["--migrate-to", "::1", "--datapath", "udp"])
        #expect(otherFamily.status == 64 && otherFamily.output.contains("are of different IP families"), "\(otherFamily.output)")
        let afxdp = try get(url, ["--migrate-to", "127.0.0.2", "--datapath", "afxdp", "--dev", "lo"])
        #expect(afxdp.status == 64 && afxdp.output.contains("--migrate-to works only on the UDP socket datapath") && afxdp.output.contains("use --datapath udp"), "\(afxdp.output)")

        func serve(_ extra: [String], listen: String = ":\(Self.basePort + 11)") throws -> (status: Int32, output: String) {
            try Self.tool(["serve", "--listen", listen, "--cert", "\(Self.pki)/server-p256-chain.pem", "--key", "\(Self.pki)/server-p256.key"] + extra)
        }
        let notAnAddress = try serve(["--preferred-address", "nope", "--datapath", "udp"])
        #expect(notAnAddress.status == 64 && notAnAddress.output.contains("--preferred-address 'nope' is not an IP address"), "\(notAnAddress.output)")
        let boundListen = try serve(["--preferred-address", "127.0.0.2", "--datapath", "udp"], listen: "127.0.0.1:\(Self.basePort + 11)")
        #expect(boundListen.status == 64 && boundListen.output.contains("--preferred-address needs --listen on any address (e.g. --listen :\(Self.basePort + 11))"), "\(boundListen.output)")
    }

    @Test("serve: a port in use, no such interface, a missing or wrong certificate, a key of another certificate, a bad --listen — each named")
    func serveErrors() throws {
        try Self.withServer(port: Self.basePort + 7) {
            let busy = try Self.tool([
                "serve", "--listen", "127.0.0.1:\(Self.basePort + 7)", "--cert", "\(Self.pki)/server-p256-chain.pem",
                "--key", "\(Self.pki)/server-p256.key", "--datapath", "udp",
            ])
            #expect(busy.status == 1 && busy.output.contains("already in use"), "\(busy.output)")
        }
        func serve(_ extra: [String], cert: String = "server-p256-chain.pem", key: String = "server-p256.key") throws -> (Int32, String) {
            try Self.tool(["serve", "--listen", "127.0.0.1:\(Self.basePort + 8)", "--cert", cert.hasPrefix("/") ? cert : "\(Self.pki)/\(cert)",
                           "--key", "\(Self.pki)/\(key)"] + extra)
        }
        let noInterface = try serve(["--dev", "nosuchif0", "--datapath", "afxdp"])
        #expect(noInterface.0 == 1 && noInterface.1.contains("no such interface 'nosuchif0'") && noInterface.1.contains("ip link"), "\(noInterface.1)")
        let missing = try serve(["--datapath", "udp"], cert: "/nonexistent/chain.pem")
        #expect(missing.0 == 1 && missing.1.contains("cannot read the certificate /nonexistent/chain.pem"), "\(missing.1)")
        let notACertificate = try serve(["--datapath", "udp"], cert: "server-p256.key")
        #expect(notACertificate.0 == 1 && notACertificate.1.contains("is not a PEM certificate chain"), "\(notACertificate.1)")
        let otherKey = try serve(["--datapath", "udp"], key: "server-rsa.key")
        #expect(otherKey.0 == 1 && otherKey.1.contains("does not belong to the first certificate"), "\(otherKey.1)")
        let badListen = try Self.tool(["serve", "--listen", "nonsense", "--cert", "\(Self.pki)/server-p256-chain.pem",
                                       "--key", "\(Self.pki)/server-p256.key"])
        #expect(badListen.status == 64 && badListen.output.contains("'nonsense' is not ADDRESS:PORT"), "\(badListen.output)")
    }
}
