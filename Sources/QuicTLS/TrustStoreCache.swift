import QuicCrypto
import Synchronization

/// One loaded trust store per verification setting for the whole process: loading the system
/// store or a CA file reads files, which a handshake must not do each time.
enum TrustStoreCache {
    private static let stores = Mutex<[CertificateVerification: TrustStore]>([:])

    /// The store for `verification`, loading it on first use; nil for `.none`.
    static func store(for verification: CertificateVerification) throws(CryptoError) -> TrustStore? {
        if verification == .none { return nil }
        if let cached = stores.withLock({ $0[verification] }) { return cached }
        let loaded: TrustStore
        switch verification {
        case .systemTrustStore: loaded = try TrustStore.system()
        case .caFile(let path): loaded = try TrustStore(caFile: path)
        case .none: return nil
        }
        return stores.withLock { stores in
            if let raced = stores[verification] { return raced }
            stores[verification] = loaded
            return loaded
        }
    }
}
