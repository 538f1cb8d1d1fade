import Foundation
import Glibc
import Testing

/// `quicxdp serve --preferred-address` and `quicxdp get --migrate-to` on the real kernel: the
/// server in namespace A (10.200.0.1), the client in B (10.200.0.2), each with a second address
/// on its veth, the UDP socket datapath on both (AF_XDP too for the server with a preferred address). Each test downloads an 8 MB file of random
/// bytes, compares it byte for byte, and reads where the connection ended from both sides: get's
/// "path:" summary and the server's "connection closed" log line (serve --verbose).
@Suite("quicxdp serve/get: preferred address and migration across namespaces", .serialized, .enabled(if: isRoot, rootReason))
struct ToolPathTests {
    static let port: UInt16 = 4433
    static let pki = packageRoot + "/Tests/PKI"
    static let fileSize = 8_000_000

    /// A --root with big.bin (random bytes) and an empty output folder; both removed by `remove()`.
    struct Files {
        let root: URL
        let output: URL
        let content: Data

        init() throws {
            let base = FileManager.default.temporaryDirectory.appendingPathComponent("qx-paths-\(UUID().uuidString)")
            root = base.appendingPathComponent("root")
            output = base.appendingPathComponent("out")
            try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
            var bytes = [UInt8](repeating: 0, count: ToolPathTests.fileSize)
            var generator = SystemRandomNumberGenerator()
            for index in stride(from: 0, to: bytes.count, by: 8) {
                withUnsafeBytes(of: generator.next() as UInt64) { word in
                    for offset in 0..<min(8, bytes.count - index) { bytes[index + offset] = word[offset] }
                }
            }
            content = Data(bytes)
            try content.write(to: root.appendingPathComponent("big.bin"))
        }

        var downloaded: Data? { try? Data(contentsOf: output.appendingPathComponent("big.bin")) }

        func remove() { try? FileManager.default.removeItem(at: root.deletingLastPathComponent()) }
    }

    /// `quicxdp serve --verbose` in namespace A on the UDP socket (or AF_XDP on A's veth, the XDP
    /// program loaded and unloaded by serve), listening on any address.
    func serve(_ pair: NamespacePair, _ files: Files, _ extra: [String] = [], datapath: String = "udp") throws -> ToolProcess {
        let datapathOptions = datapath == "afxdp" ? ["--datapath", "afxdp", "--dev", pair.interfaceA] : ["--datapath", "udp"]
        return try ToolProcess(
            namespace: pair.namespaceA, executable: quicxdpBinary,
            arguments: [
                "serve", "--listen", ":\(Self.port)"] + datapathOptions + ["--cert", Self.pki + "/server-p256-chain.pem",
                "--key", Self.pki + "/server-p256.key", "--root", files.root.path, "--verbose",
            ] + extra,
            readyWhen: "ready:")
    }

    /// `quicxdp get` of big.bin in namespace B. The test certificate names 127.0.0.1 and
    /// server.test, not the namespace addresses, so verification is off (paths are the subject).
    func get(_ pair: NamespacePair, _ files: Files, _ extra: [String] = []) throws -> (status: Int32, output: String) {
        try run(
            pair.command(
                inA: false,
                [
                    quicxdpBinary, "get", "https://\(pair.addressA4):\(Self.port)/big.bin", "--insecure", "--datapath", "udp",
                    "--output", files.output.path,
                ] + extra))
    }

    /// What one download showed: get's exit status and output, the server's "connection closed"
    /// line, and whether the file arrived byte for byte.
    struct Outcome {
        let status: Int32
        let output: String
        let closed: String
        let intact: Bool
    }

    /// In a fresh namespace pair with `address` added on the server's side (or the client's):
    /// serve, download big.bin once, stop the server, remove everything.
    func download(
        _ tag: String, adding address: String, onServer: Bool, serve serveOptions: [String] = [], get getOptions: [String] = [],
        serverDatapath: String = "udp"
    ) throws -> Outcome
    {
        try withNamespacePair(tag) { pair in
            let (namespace, interface) = onServer ? (pair.namespaceA, pair.interfaceA) : (pair.namespaceB, pair.interfaceB)
            try run(["ip", "-n", namespace, "addr", "add", address + "/24", "dev", interface], check: true)
            let files = try Files()
            defer { files.remove() }
            let server = try serve(pair, files, serveOptions, datapath: serverDatapath)
            let result = try get(pair, files, getOptions)
            let log = server.stop()
            let closed = log.split(separator: "\n").last { $0.hasPrefix("connection closed") }.map(String.init)
            return Outcome(
                status: result.status, output: result.output, closed: closed ?? "(no 'connection closed' line in: \(log))",
                intact: files.downloaded == files.content)
        }
    }

    @Test("serve --preferred-address (UDP socket and AF_XDP server): get moves to the preferred address after the handshake; the file arrives intact; both ends report the preferred address and 1472-byte datagrams (veth MTU 1500)",
          arguments: ["udp", "afxdp"])
    func preferredAddress(serverDatapath: String) throws {
        let preferred = "10.200.0.11"
        let outcome = try download(
            serverDatapath == "udp" ? "pref" : "prefx", adding: preferred, onServer: true, serve: ["--preferred-address", preferred],
            serverDatapath: serverDatapath)
        #expect(outcome.status == 0, "\(outcome.output)")
        #expect(outcome.intact, "the downloaded file differs from the served one")
        #expect(outcome.output.contains("\(Self.fileSize) bytes"), "\(outcome.output)")
        #expect(
            outcome.output.contains("path: peer \(preferred):\(Self.port) (the server's preferred address), 1 path migration"),
            "\(outcome.output)")
        #expect(
            outcome.closed.contains("peer 10.200.0.2:") && outcome.closed.contains("local \(preferred):\(Self.port) (our preferred address)"),
            "\(outcome.closed)")
        // DPLPMTUD on the veth: 1500 - 20 (IPv4) - 8 (UDP).
        #expect(
            outcome.output.contains("datagrams up to 1472 bytes") && outcome.closed.contains("datagrams up to 1472 bytes"),
            "\(outcome.output)\n\(outcome.closed)")
    }

    @Test("get --migrate-to: the client moves to its second address after 1 MB; the file arrives intact; the server ends on the new address")
    func migrateTo() throws {
        let second = "10.200.0.12"
        let outcome = try download("migr", adding: second, onServer: false, get: ["--migrate-to", second, "--migrate-after", "1000000"])
        #expect(outcome.status == 0, "\(outcome.output)")
        #expect(outcome.intact, "the downloaded file differs from the served one")
        #expect(outcome.output.contains("migrating to local address \(second):"), "\(outcome.output)")
        #expect(outcome.output.contains("path: peer 10.200.0.1:\(Self.port), local \(second):"), "\(outcome.output)")
        #expect(outcome.closed.contains("peer \(second):") && outcome.closed.contains("1 path migration,"), "\(outcome.closed)")
    }
}
