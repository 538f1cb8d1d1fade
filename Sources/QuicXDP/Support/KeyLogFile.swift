import Glibc
import Synchronization

/// Appends NSS key log lines (SSLKEYLOGFILE format) to a file, one line per secret, flushed at
/// once so Wireshark/tshark can decrypt a capture while it runs.
public final class KeyLogFile: Sendable {
    private let file: Mutex<UnsafeMutablePointer<FILE>?>
    public let path: String

    public init(path: String) throws(DatapathError) {
        guard let handle = fopen(path, "a") else {
            throw DatapathError(.io, "cannot open the key log file \(path) for appending; check the directory and permissions", errno: .current)
        }
        file = Mutex(handle)
        self.path = path
    }

    public func write(_ line: String) {
        file.withLock { handle in
            guard let handle else { return }
            fputs(line + "\n", handle)
            fflush(handle)
        }
    }

    deinit { file.withLock { if let handle = $0 { fclose(handle) } } }
}
