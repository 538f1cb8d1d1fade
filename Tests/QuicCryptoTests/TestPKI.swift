import Foundation
import QuicCrypto

/// The test certificates in Tests/PKI (made by Tests/PKI/make-certs.sh), found next to this file.
enum TestPKI {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("PKI")

    static func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    static func chain(_ name: String) throws -> [Certificate] { try Certificate.chain(pemFile: path(name + ".pem")) }

    static func key(_ name: String) throws -> PrivateKey { try PrivateKey(pemFile: path(name + ".key")) }

    /// 2027-01-01T00:00:00Z: inside every certificate's validity except expired.pem (one day
    /// from 2026-11-26).
    static let validTime: Int64 = 1_798_761_600
    /// 2026-01-01T00:00:00Z: before any certificate was issued.
    static let beforeIssuance: Int64 = 1_767_225_600
}
