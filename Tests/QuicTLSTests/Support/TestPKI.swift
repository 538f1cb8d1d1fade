import Foundation
import QuicCrypto
import QuicTLS
import Synchronization

/// The test certificates in Tests/PKI (made by Tests/PKI/make-certs.sh), found from this file.
enum TestPKI {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("PKI")

    static func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    static func chain(_ name: String) throws -> [Certificate] { try Certificate.chain(pemFile: path(name + ".pem")) }

    static func key(_ name: String) throws -> PrivateKey { try PrivateKey(pemFile: path(name + ".key")) }

    /// 2027-01-01T00:00:00Z in milliseconds: inside every certificate's validity except
    /// expired.pem (one day from 2026-11-26).
    static let validTime: UInt64 = 1_798_761_600_000
    /// 2026-01-01T00:00:00Z: before any certificate was issued.
    static let beforeIssuance: UInt64 = 1_767_225_600_000

    /// The certificate and key files for each signature scheme's server.
    static func serverFiles(for scheme: SignatureScheme) -> (chain: String, key: String) {
        switch scheme {
        case .ecdsaSecp256r1SHA256: return ("server-p256-chain", "server-p256")
        case .ecdsaSecp384r1SHA384: return ("server-p384", "server-p384")
        case .rsaPSSRSAESHA256: return ("server-rsa", "server-rsa")
        case .ed25519: return ("server-ed25519", "server-ed25519")
        }
    }
}

/// A wall clock tests move by hand.
final class TestClock: Sendable {
    private let milliseconds: Mutex<UInt64>

    init(_ start: UInt64 = TestPKI.validTime) { milliseconds = Mutex(start) }

    var now: UInt64 { milliseconds.withLock { $0 } }

    func advance(by delta: UInt64) { milliseconds.withLock { $0 += delta } }

    var function: @Sendable () -> UInt64 { { self.now } }
}

/// Collects key log lines and log messages from a configuration's callbacks.
final class LineCollector: Sendable {
    private let storage = Mutex<[String]>([])
    var lines: [String] { storage.withLock { $0 } }
    var sink: @Sendable (String) -> Void { { line in self.storage.withLock { $0.append(line) } } }
}

enum TestConfiguration {
    static func server(
        scheme: SignatureScheme = .ecdsaSecp256r1SHA256, alpn: [String] = ["h3"], clock: TestClock = TestClock()
    ) throws -> TLSConfiguration {
        let files = TestPKI.serverFiles(for: scheme)
        var configuration = TLSConfiguration(alpn: alpn)
        configuration.certificateChain = try TestPKI.chain(files.chain)
        configuration.privateKey = try TestPKI.key(files.key)
        configuration.verification = .caFile(TestPKI.path("ca.pem"))
        configuration.wallClock = clock.function
        return configuration
    }

    static func client(alpn: [String] = ["h3"], clock: TestClock = TestClock()) -> TLSConfiguration {
        var configuration = TLSConfiguration(alpn: alpn)
        configuration.verification = .caFile(TestPKI.path("ca.pem"))
        configuration.wallClock = clock.function
        return configuration
    }
}

/// A seeded random source (SplitMix64) for reproducible handshakes.
final class SeededRandom: Sendable {
    private let state: Mutex<UInt64>

    init(seed: UInt64) { state = Mutex(seed) }

    var function: @Sendable (UnsafeMutableRawBufferPointer) -> Void { { self.fill($0) } }

    func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        state.withLock { state in
            for index in 0..<buffer.count {
                state &+= 0x9e37_79b9_7f4a_7c15
                var z = state
                z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
                z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
                buffer[index] = UInt8(truncatingIfNeeded: z ^ (z >> 31))
            }
        }
    }
}
