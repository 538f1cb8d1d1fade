import Synchronization

/// Counters a worker thread updates and another thread reads (progress bars, summaries).
public final class TransferProgress: Sendable {
    public let bytes = Atomic<Int>(0)
    public let completed = Atomic<Int>(0)
    public let failed = Atomic<Int>(0)
    public let finished = Atomic<Bool>(false)
    /// Monotonic nanoseconds when the connection started and when the last download ended.
    public let startedAt = Atomic<UInt64>(0)
    public let endedAt = Atomic<UInt64>(0)

    /// Seconds from the connection's start to the last byte, once known.
    public var transferSeconds: Double? {
        let start = startedAt.load(ordering: .relaxed)
        let end = endedAt.load(ordering: .relaxed)
        guard start > 0, end >= start else { return nil }
        return Double(end - start) / 1e9
    }
    private let messages = Mutex<[String]>([])
    private let closeDescription = Mutex<String?>(nil)
    private let connectionDescription = Mutex<String?>(nil)
    private let transportDescription = Mutex<String?>(nil)
    private let pathDescription = Mutex<String?>(nil)

    public init() {}

    public func note(_ message: String) { messages.withLock { $0.append(message) } }
    public var notes: [String] { messages.withLock { $0 } }

    /// What the handshake settled: version, cipher suite, ALPN, resumption and 0-RTT.
    public var negotiated: String? {
        get { connectionDescription.withLock { $0 } }
        set { connectionDescription.withLock { $0 = newValue } }
    }

    /// What the connection's transport did by the end: ECN, key updates, packets.
    public var transport: String? {
        get { transportDescription.withLock { $0 } }
        set { transportDescription.withLock { $0 = newValue } }
    }

    /// The path the connection ended on (`Connection.pathSummary`).
    public var path: String? {
        get { pathDescription.withLock { $0 } }
        set { pathDescription.withLock { $0 = newValue } }
    }

    public var closeReason: String? {
        get { closeDescription.withLock { $0 } }
        set { closeDescription.withLock { $0 = newValue } }
    }
}
