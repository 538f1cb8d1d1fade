import Foundation
import QuicCrypto
import QuicTLS

/// A self-signed Ed25519 certificate for "localhost", made once per test process with the
/// openssl command line tool (`openssl req -x509 -newkey ed25519 ...`). Ed25519 signatures are
/// deterministic, which keeps simulated handshakes reproducible byte for byte.
final class TestCertificates: Sendable {
    static let shared = TestCertificates()

    let directory: String
    let certificatePath: String
    let keyPath: String
    let chain: [Certificate]
    let key: PrivateKey
    /// A wall-clock time inside the certificate's validity, fixed so runs are identical.
    let wallClock: UInt64

    private init() {
        let directory = NSTemporaryDirectory() + "quicxdp-core-tests-\(getpid())"
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        self.directory = directory
        certificatePath = directory + "/cert.pem"
        keyPath = directory + "/key.pem"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = [
            "req", "-x509", "-newkey", "ed25519", "-nodes", "-keyout", keyPath, "-out", certificatePath, "-days", "30",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try! process.run()
        process.waitUntilExit()
        precondition(process.terminationStatus == 0, "openssl could not make a test certificate; is the openssl package installed?")
        chain = try! Certificate.chain(pemFile: certificatePath)
        key = try! PrivateKey(pemFile: keyPath)
        wallClock = UInt64(Date().timeIntervalSince1970 * 1000)
    }

    /// TLS settings for a server or client, with randomness from `random`.
    func tls(server: Bool, alpn: [String] = ["test"], random: @escaping @Sendable (UnsafeMutableRawBufferPointer) -> Void)
        -> TLSConfiguration
    {
        var configuration = TLSConfiguration(alpn: alpn)
        if server {
            configuration.certificateChain = chain
            configuration.privateKey = key
        } else {
            configuration.verification = .caFile(certificatePath)
        }
        configuration.signatureAlgorithms = [.ed25519]
        let clock = wallClock
        configuration.wallClock = { clock }
        configuration.random = random
        return configuration
    }
}
