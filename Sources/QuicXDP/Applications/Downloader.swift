import Glibc
import QuicCore
import QuicWire

/// Downloads paths over one connection as concurrent streams (hq-interop: "GET /path\r\n"),
/// writing each body to a file, to standard output, or nowhere. Runs on the worker thread;
/// progress is shared with other threads through `TransferProgress`.
public struct Downloader: QuicApplication {
    public enum Output: Sendable, Equatable {
        case file(String)
        case standardOutput
        case discard
    }

    public struct Request: Sendable, Equatable {
        public var path: String
        public var output: Output
        public init(path: String, output: Output) {
            self.path = path
            self.output = output
        }
    }

    struct Active {
        var index: Int
        var descriptor: Int32
        var received = 0
    }

    public let requests: [Request]
    public let progress: TransferProgress
    let control: EngineControl?
    private var next = 0
    private var active: [StreamID: Active] = [:]
    private var done = 0
    private let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 64)
    /// Start a key update once the handshake is confirmed (RFC 9001 §6).
    public var keyUpdate = false

    /// `control`: the engine to stop once everything is done or the connection ends.
    public init(requests: [Request], progress: TransferProgress, control: EngineControl?) {
        self.requests = requests
        self.progress = progress
        self.control = control
    }

    /// With 0-RTT keys the requests go out in the first flight (RFC 9001 §4.6.1).
    public mutating func connectionStarted(_ handle: ConnectionHandle, _ connection: Connection, now: Instant) {
        progress.startedAt.store(now.nanoseconds, ordering: .relaxed)
        openStreams(connection, now: now)
    }

    public mutating func handle(_ event: ConnectionEvent, on handle: ConnectionHandle, _ connection: Connection, now: Instant) {
        switch event {
        case .handshakeConfirmed:
            if keyUpdate, !connection.initiateKeyUpdate() { progress.note("could not start a key update") }
        case .connected:
            let early: String
            switch connection.earlyDataState {
            case .accepted: early = ", 0-RTT accepted"
            case .rejected: early = ", 0-RTT rejected"
            case .attempted: early = ", 0-RTT attempted"
            case .notAttempted: early = ""
            }
            progress.negotiated = "QUIC \(connection.version), \(connection.cipherSuite.map(String.init(describing:)) ?? "?"), "
                + "\(connection.alpn ?? "no ALPN")\(connection.isResumed ? ", resumed" : "")\(early)"
            openStreams(connection, now: now)
        case .stream(.streamsAvailable):
            openStreams(connection, now: now)
        case .stream(.readable(let id)):
            read(id, connection, now: now)
        case .closed(let reason):
            progress.closeReason = reason.description
            if done < requests.count {
                progress.failed.add(requests.count - done, ordering: .relaxed)
                progress.note("connection ended before all downloads finished: \(reason)")
            }
            for (_, stream) in active {
                if stream.descriptor > 1 { close(stream.descriptor) }
                removeOutput(stream.index)
            }
            active = [:]
            progress.finished.store(true, ordering: .releasing)
            control?.requestStop()
        default:
            break
        }
    }

    private mutating func openStreams(_ connection: Connection, now: Instant) {
        while next < requests.count {
            guard let id = connection.openStream(.bidirectional) else { return }
            let request = requests[next]
            var descriptor: Int32 = -1
            switch request.output {
            case .file(let path):
                descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
                if descriptor < 0 {
                    progress.note("cannot write \(path): \(String(cString: strerror(errno)))")
                    progress.failed.add(1, ordering: .relaxed)
                    done += 1
                    next += 1
                    try? connection.resetStream(id, errorCode: 0)
                    continue
                }
            case .standardOutput:
                descriptor = 1
            case .discard:
                descriptor = -1
            }
            _ = try? connection.write(id, Array("GET \(request.path)\r\n".utf8), fin: true)
            active[id] = Active(index: next, descriptor: descriptor)
            next += 1
        }
        finishIfDone(connection, now: now)
    }

    private mutating func read(_ id: StreamID, _ connection: Connection, now: Instant) {
        guard var stream = active[id] else { return }
        while true {
            let result: (count: Int, fin: Bool)
            do {
                result = try connection.read(id, into: scratch)
            } catch StreamError.resetByPeer(let code) {
                progress.note("\(requests[stream.index].path): the server reset the stream (code \(code)\(code == FileServer.ErrorCode.notFound ? ", not found" : ""))")
                progress.failed.add(1, ordering: .relaxed)
                removeOutput(stream.index)
                complete(id, stream, connection, now: now)
                return
            } catch {
                return
            }
            if result.count > 0 {
                if stream.descriptor >= 0 { writeAll(stream.descriptor, count: result.count) }
                stream.received += result.count
                progress.bytes.add(result.count, ordering: .relaxed)
            }
            if result.fin {
                progress.completed.add(1, ordering: .relaxed)
                complete(id, stream, connection, now: now)
                return
            }
            if result.count == 0 { break }
        }
        active[id] = stream
    }

    /// A failed download leaves no partial file behind.
    private func removeOutput(_ index: Int) {
        if case .file(let path) = requests[index].output { unlink(path) }
    }

    private func writeAll(_ descriptor: Int32, count: Int) {
        var written = 0
        while written < count {
            let result = write(descriptor, scratch.baseAddress! + written, count - written)
            if result < 0 && errno == EINTR { continue }
            guard result > 0 else { return }
            written += result
        }
    }

    private mutating func complete(_ id: StreamID, _ stream: Active, _ connection: Connection, now: Instant) {
        if stream.descriptor > 1 { close(stream.descriptor) }
        active[id] = nil
        done += 1
        openStreams(connection, now: now)
    }

    private mutating func finishIfDone(_ connection: Connection, now: Instant) {
        guard done == requests.count, active.isEmpty else { return }
        progress.endedAt.store(now.nanoseconds, ordering: .relaxed)
        let failed = progress.failed.load(ordering: .relaxed)
        connection.close(errorCode: 0, reason: failed == 0 ? "done" : "done with failures", now: now)
    }
}
