// TLSBench: handshakes per second of an in-memory TLS 1.3 client+server pair on one thread, and
// the server's CPU per handshake next to the cost of its own public-key operations, all timed in
// the same run. Not a test: numbers depend on the machine and its load.
//
//   swift build -c release --product TLSBench && taskset -c 1 .build/release/TLSBench [PKI dir] [seconds]
import Glibc
import QuicCrypto
import QuicTLS
import QuicWire

func nanoseconds(_ clock: clockid_t) -> UInt64 {
    var now = timespec()
    clock_gettime(clock, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

func fail(_ message: String) -> Never {
    let line = Array("TLSBench: \(message)\n".utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    exit(1)
}

/// `value` with `digits` decimals (no Foundation in this target).
func fixed(_ value: Double, _ digits: Int) -> String {
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let rounded = (value * scale).rounded()
    let whole = Int(rounded / scale)
    guard digits > 0 else { return String(whole) }
    let fraction = Int(abs(rounded) - abs(Double(whole)) * scale)
    let fractionText = String(fraction)
    return (rounded < 0 && whole == 0 ? "-" : "") + String(whole) + "."
        + String(repeating: "0", count: digits - fractionText.count) + fractionText
}

func padded(_ text: String, _ width: Int) -> String { String(repeating: " ", count: max(0, width - text.count)) + text }

let arguments = Array(CommandLine.arguments.dropFirst())
let pki = arguments.first ?? "Tests/PKI"
let duration = UInt64((arguments.count > 1 ? Double(arguments[1]) : nil) ?? 3.0) * 1_000_000_000

var server = TLSConfiguration(alpn: ["h3"])
var client = TLSConfiguration(alpn: ["h3"])
do {
    server.certificateChain = try Certificate.chain(pemFile: pki + "/server-p256-chain.pem")
    server.privateKey = try PrivateKey(pemFile: pki + "/server-p256.key")
} catch {
    fail("\(error) (run from the package root, or pass the directory holding Tests/PKI's files)")
}
server.groups = [.x25519]
server.cipherSuites = [.aes128GCMSHA256]
client.groups = [.x25519]
client.cipherSuites = [.aes128GCMSHA256]
client.verification = .caFile(pki + "/ca.pem")
let transportParameters: [UInt8] = [0x04, 0x04, 0x80, 0x10, 0x00, 0x00, 0x01, 0x02, 0x43, 0xe8]

/// One handshake; returns the server's and the client's thread CPU time in nanoseconds.
func handshake(
    client clientConfiguration: TLSConfiguration, server serverConfiguration: TLSConfiguration
)
    -> (server: UInt64, client: UInt64, resumed: Bool)
{
    var serverTime: UInt64 = 0
    var clientTime: UInt64 = 0
    func onServer<R>(_ body: () throws -> R) rethrows -> R {
        let start = nanoseconds(CLOCK_THREAD_CPUTIME_ID)
        defer { serverTime += nanoseconds(CLOCK_THREAD_CPUTIME_ID) - start }
        return try body()
    }
    func onClient<R>(_ body: () throws -> R) rethrows -> R {
        let start = nanoseconds(CLOCK_THREAD_CPUTIME_ID)
        defer { clientTime += nanoseconds(CLOCK_THREAD_CPUTIME_ID) - start }
        return try body()
    }
    let clientConnection = onClient {
        TLSConnection(
            role: .client, configuration: clientConfiguration, localTransportParameters: transportParameters,
            serverName: "server.test")
    }
    let serverConnection = onServer {
        TLSConnection(role: .server, configuration: serverConfiguration, localTransportParameters: transportParameters)
    }
    do {
        try onClient { try clientConnection.start() }
        var moved = true
        while moved {
            moved = false
            while let (level, data) = onClient({ clientConnection.pollOutput() }) {
                moved = true
                try onServer {
                    try serverConnection.handle(data, at: level)
                    while serverConnection.pollEvent() != nil {}
                }
            }
            while let (level, data) = onServer({ serverConnection.pollOutput() }) {
                moved = true
                try onClient {
                    try clientConnection.handle(data, at: level)
                    while clientConnection.pollEvent() != nil {}
                }
            }
        }
    } catch {
        fail("handshake failed: \(String(reflecting: error))")
    }
    guard clientConnection.isHandshakeComplete, serverConnection.isHandshakeComplete else {
        fail("handshake incomplete")
    }
    return (serverTime, clientTime, clientConnection.isResumed)
}

/// Runs `body` repeatedly for `duration`; the mean wall time per call in nanoseconds.
func timed(_ body: () -> Void) -> Double {
    for _ in 0..<20 { body() }
    let start = nanoseconds(CLOCK_MONOTONIC)
    var count: UInt64 = 0
    while nanoseconds(CLOCK_MONOTONIC) - start < duration / 3 {
        body()
        count += 1
    }
    return Double(nanoseconds(CLOCK_MONOTONIC) - start) / Double(count)
}

struct HandshakeRun {
    var perSecond: Double
    var serverMicroseconds: Double
    var clientMicroseconds: Double
}

func measureHandshakes(client: TLSConfiguration, server: TLSConfiguration, expectResumed: Bool) -> HandshakeRun {
    for _ in 0..<20 { _ = handshake(client: client, server: server) }
    var count: UInt64 = 0
    var serverTotal: UInt64 = 0
    var clientTotal: UInt64 = 0
    let start = nanoseconds(CLOCK_MONOTONIC)
    while nanoseconds(CLOCK_MONOTONIC) - start < duration {
        let result = handshake(client: client, server: server)
        guard result.resumed == expectResumed else {
            fail("resumption \(result.resumed ? "happened" : "failed") unexpectedly")
        }
        serverTotal += result.server
        clientTotal += result.client
        count += 1
    }
    let elapsed = Double(nanoseconds(CLOCK_MONOTONIC) - start)
    return HandshakeRun(
        perSecond: Double(count) / elapsed * 1e9, serverMicroseconds: Double(serverTotal) / Double(count) / 1000,
        clientMicroseconds: Double(clientTotal) / Double(count) / 1000)
}

// Full handshakes.
let full = measureHandshakes(client: client, server: server, expectResumed: false)

// The server's public-key work, timed alone in the same run.
guard let key = server.privateKey else { fail("no key") }
let content =
    [UInt8](repeating: 0x20, count: 64) + Array("TLS 1.3, server CertificateVerify".utf8) + [0]
    + [UInt8](repeating: 0xab, count: 32)
let signNanoseconds = timed { _ = try? key.sign(content, scheme: .ecdsaSecp256r1SHA256) }
let peer = try EphemeralKeyPair(group: .x25519, random: { secureRandomBytes($0) })
let keyShareNanoseconds = timed {
    let pair = try? EphemeralKeyPair(group: .x25519, random: { secureRandomBytes($0) })
    _ = pair?.sharedSecret(peerPublicKey: peer.publicKey)
}
// The client's, for context.
let signature = try key.sign(content, scheme: .ecdsaSecp256r1SHA256)
let publicKey = try server.certificateChain[0].publicKey()
let verifyNanoseconds = timed {
    _ = publicKey.verify(signature: signature, message: content, scheme: .ecdsaSecp256r1SHA256)
}
let store = try TrustStore(caFile: pki + "/ca.pem")
let parseNanoseconds = timed { _ = try? CertificateChain(server.certificateChain) }
let parsedChain = try CertificateChain(server.certificateChain)
let chainNanoseconds = timed {
    _ = try? store.verify(chain: parsedChain, purpose: .serverAuthentication, peerName: "server.test")
}

// Resumed handshakes (psk_dhe_ke, no certificates): each one consumes a ticket and stores the next.
var resumingClient = client
resumingClient.sessionTicketStore = SessionTicketStore()
var resumingServer = server
resumingServer.ticketKeys = TicketKeyRing()
_ = handshake(client: resumingClient, server: resumingServer)
let resumed = measureHandshakes(client: resumingClient, server: resumingServer, expectResumed: true)

func us(_ nanoseconds: Double) -> String { padded(fixed(nanoseconds / 1000, 1), 8) + " µs" }
func f(_ value: Double, _ digits: Int = 1) -> String { fixed(value, digits) }

let serverCrypto = (signNanoseconds + keyShareNanoseconds) / 1000
print("TLSBench: in-memory TLS 1.3 (QUIC) handshakes, one thread, \(f(Double(duration) / 1e9, 0)) s per measurement")
print("  server: ECDSA P-256 certificate (chain of 2), X25519, TLS_AES_128_GCM_SHA256, ALPN h3")
print("  client: verifies the chain against the test CA and the name server.test")
print("")
print("full handshakes/s (client+server):        \(f(full.perSecond, 0))")
print("  server CPU per handshake:               \(us(full.serverMicroseconds * 1000))")
print(
    "    ECDSA P-256 sign alone:               \(us(signNanoseconds))  (\(f(signNanoseconds / 10 / full.serverMicroseconds))% of server CPU)"
)
print(
    "    X25519 keygen + derive alone:         \(us(keyShareNanoseconds))  (\(f(keyShareNanoseconds / 10 / full.serverMicroseconds))%)"
)
print(
    "    everything else (hash, HKDF, codecs): \(us((full.serverMicroseconds - serverCrypto) * 1000))  (server CPU = \(f(full.serverMicroseconds / serverCrypto, 2))× sign + key share)"
)
print("  client CPU per handshake:               \(us(full.clientMicroseconds * 1000))")
print("    ECDSA P-256 verify alone:             \(us(verifyNanoseconds))")
print("    parsing the 2 certificates alone:     \(us(parseNanoseconds))")
print("    X.509 path + name check alone:        \(us(chainNanoseconds))")
print("resumed handshakes/s (PSK + X25519):      \(f(resumed.perSecond, 0))")
print(
    "  server CPU per resumed handshake:       \(us(resumed.serverMicroseconds * 1000))  (\(f(full.serverMicroseconds / resumed.serverMicroseconds, 2)) = full / resumed; it still issues a ticket)"
)
