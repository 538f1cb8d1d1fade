import CLibXDP
import CQuicShim
import Glibc
import Synchronization

/// Routes libbpf's and libxdp's messages: kept (the last lines) so a failed load can quote the verifier,
/// and printed to stderr only with `QUICXDP_VERBOSE=1`.
enum LibbpfLog {
    static let recent = Mutex<[String]>([])

    static func install() {
        _ = installOnce
    }

    private static let installOnce: Void = {
        libbpf_set_print { _, format, arguments in LibbpfLog.record("", format, arguments) }
        _ = libxdp_set_print { _, format, arguments in LibbpfLog.record("libxdp: ", format, arguments) }
    }()

    private static func record(_ prefix: String, _ format: UnsafePointer<CChar>?, _ arguments: CVaListPointer?) -> Int32 {
        guard let format, let arguments else { return 0 }
        var buffer = [CChar](repeating: 0, count: 1024)
        let count = vsnprintf(&buffer, buffer.count, format, arguments)
        guard count >= 0 else { return 0 }
        let line = prefix + String(nulTerminated: buffer)
        LibbpfLog.recent.withLock { lines in
            lines.append(line)
            if lines.count > 64 { lines.removeFirst(lines.count - 64) }
        }
        if getenv("QUICXDP_VERBOSE") != nil { _ = write(2, line, line.utf8.count) }
        return 0
    }

    /// Kept lines that match, oldest first.
    static func lines(where matches: (String) -> Bool) -> [String] {
        recent.withLock { $0.filter(matches) }
    }

    static func clear() { recent.withLock { $0.removeAll() } }

    /// The kept lines, for an error message.
    static func tail(_ count: Int = 12) -> String {
        recent.withLock { $0.suffix(count).joined() }
    }
}
