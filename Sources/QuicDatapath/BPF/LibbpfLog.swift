import CLibXDP
import CQuicShim
import Glibc
import Synchronization

/// Routes libbpf's messages: kept (the last lines) so a failed load can quote the verifier,
/// and printed to stderr only with `QUICXDP_VERBOSE=1`.
enum LibbpfLog {
    static let recent = Mutex<[String]>([])

    static func install() {
        _ = installOnce
    }

    private static let installOnce: Void = {
        libbpf_set_print { level, format, arguments in
            guard let format, let arguments else { return 0 }
            var buffer = [CChar](repeating: 0, count: 1024)
            let count = vsnprintf(&buffer, buffer.count, format, arguments)
            guard count >= 0 else { return 0 }
            let line = String(nulTerminated: buffer)
            LibbpfLog.recent.withLock { lines in
                lines.append(line)
                if lines.count > 64 { lines.removeFirst(lines.count - 64) }
            }
            if getenv("QUICXDP_VERBOSE") != nil { _ = write(2, buffer, strlen(buffer)) }
            return 0
        }
    }()

    static func clear() { recent.withLock { $0.removeAll() } }

    /// The kept lines, for an error message.
    static func tail(_ count: Int = 12) -> String {
        recent.withLock { $0.suffix(count).joined() }
    }
}
