import Glibc
import QuicCore
import QuicHTTP3
import QuicWire

/// Downloads paths over one connection as concurrent streams — hq-interop ("GET /path\r\n")
/// or HTTP/3 (RFC 9114 GET requests) — writing each body to a file, to standard output, or
/// nowhere. Runs on the worker thread; progress is shared with other threads through
/// `TransferProgress`.
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

    public enum ApplicationProtocol: String, Sendable {
        case hq = "hq-interop"
        case h3 = "h3"
    }

    struct Active {
        var index: Int
        var descriptor: Int32
        var received = 0
        var status: Int?
    }

    public let requests: [Request]
    public let applicationProtocol: ApplicationProtocol
    /// The :authority of HTTP/3 requests (host[:port]).
    public let authority: String
    private var http3: HTTP3Connection?
    private var events: [HTTP3Event] = []
    public let progress: TransferProgress
    let control: EngineControl?
    private var next = 0
    private var active: [StreamID: Active] = [:]
    private var done = 0
    private let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 64)
    /// Start a key update once the handshake is confirmed (RFC 9001 §6).
    public var keyUpdate = false

    /// `control`: the engine to stop once everything is done or the connection ends.
    public init(
        requests: [Request], protocol applicationProtocol: ApplicationProtocol = .hq, authority: String = "",
        progress: TransferProgress, control: EngineControl?
    ) {
        self.requests = requests
        self.applicationProtocol = applicationProtocol
        self.authority = authority
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
            let version =
                connection.version == connection.originalVersion
                ? "QUIC \(connection.version)" : "QUIC \(connection.version) (switched from \(connection.originalVersion))"
            let validation =
                (connection.sentAddressToken ? ", address token" : "") + (connection.followedRetry ? ", Retry" : "")
            progress.negotiated = "\(version), \(connection.cipherSuite.map(String.init(describing:)) ?? "?"), "
                + "\(connection.alpn ?? "no ALPN")\(connection.isResumed ? ", resumed" : "")\(early)\(validation)"
            openStreams(connection, now: now)
        case .stream(.streamsAvailable):
            openStreams(connection, now: now)
        case .stream(.readable(let id)):
            read(id, connection, now: now)
        case .closed(let reason):
            // Nothing ever came back: no server there, a closed port (the ICMP error is not
            // trusted, RFC 9000 §14.2.1), or a firewall.
            let noReply = reason == .idleTimeout && connection.statistics.packetsReceived == 0
            progress.closeReason = noReply ? "no reply from the server" : reason.description
            if done < requests.count {
                progress.failed.add(requests.count - done, ordering: .relaxed)
                if noReply {
                    let wait = Int(connection.localIdleTimeout.seconds.rounded())
                    progress.note(
                        "no reply from \(connection.remoteAddress) in \(wait) s: is a QUIC server listening on that address and port? "
                            + "(--timeout SECONDS changes the wait)")
                } else {
                    progress.note("connection ended before all downloads finished: \(reason)")
                }
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

    /// HTTP/3: the control and QPACK streams go first (RFC 9114 §6.2.1).
    private mutating func startHTTP3(_ connection: Connection) -> Bool {
        if http3 != nil { return true }
        var session = HTTP3Connection(role: .client)
        var opened: [(StreamID, HTTP3StreamType)] = []
        for type in HTTP3Connection.localStreamTypes {
            guard let id = connection.openStream(.unidirectional) else { return false }
            opened.append((id, type))
        }
        for (id, type) in opened { _ = try? connection.write(id, session.openLocalStream(type, id: id)) }
        http3 = session
        return true
    }

    private mutating func openStreams(_ connection: Connection, now: Instant) {
        if applicationProtocol == .h3, !startHTTP3(connection) { return }
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
            if var session = http3 {
                _ = try? connection.write(id, session.encodeRequest(stream: id, authority: authority, path: request.path), fin: true)
                http3 = session
            } else {
                _ = try? connection.write(id, Array("GET \(request.path)\r\n".utf8), fin: true)
            }
            active[id] = Active(index: next, descriptor: descriptor)
            next += 1
        }
        finishIfDone(connection, now: now)
    }

    private mutating func read(_ id: StreamID, _ connection: Connection, now: Instant) {
        if http3 != nil {
            readHTTP3(id, connection, now: now)
            return
        }
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
                if stream.descriptor >= 0 { writeAll(stream.descriptor, UnsafeRawBufferPointer(rebasing: scratch[..<result.count])) }
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

    // The session is used in place (not copied): finishing a stream opens the next request,
    // which registers it with the same session.
    private mutating func readHTTP3(_ id: StreamID, _ connection: Connection, now: Instant) {
        guard http3 != nil else { return }
        while true {
            let result: (count: Int, fin: Bool)
            do {
                result = try connection.read(id, into: scratch)
            } catch StreamError.resetByPeer(let code) {
                events = (try? http3!.handleStreamReset(id, errorCode: code)) ?? []
                if let stream = active[id] {
                    progress.note("\(requests[stream.index].path): the server reset the stream (code 0x\(String(code, radix: 16)))")
                    progress.failed.add(1, ordering: .relaxed)
                    removeOutput(stream.index)
                    complete(id, stream, connection, now: now)
                }
                return
            } catch {
                return
            }
            events.removeAll(keepingCapacity: true)
            do {
                try http3!.handleStreamData(id, UnsafeRawBufferPointer(rebasing: scratch[..<result.count]), fin: result.fin, into: &events)
            } catch {
                progress.note("HTTP/3 error \(error.code): \(error.message)")
                connection.close(errorCode: error.code.rawValue, reason: error.message, now: now)
                return
            }
            for event in events { handleHTTP3(event, connection, now: now) }
            if result.count == 0 || result.fin { break }
        }
    }

    private mutating func handleHTTP3(_ event: HTTP3Event, _ connection: Connection, now: Instant) {
        switch event {
        case .response(let id, let fields):
            guard var stream = active[id] else { return }
            let status = Int(fields[":status"] ?? "") ?? 0
            if status >= 200 { stream.status = status }
            active[id] = stream
        case .data(let id, let range):
            guard var stream = active[id], stream.status == 200 else { return }
            let bytes = UnsafeRawBufferPointer(rebasing: scratch[range])
            if stream.descriptor >= 0 { writeAll(stream.descriptor, bytes) }
            stream.received += bytes.count
            progress.bytes.add(bytes.count, ordering: .relaxed)
            active[id] = stream
        case .end(let id):
            guard let stream = active[id] else { return }
            if stream.status == 200 {
                progress.completed.add(1, ordering: .relaxed)
            } else {
                progress.note("\(requests[stream.index].path): status \(stream.status.map(String.init) ?? "missing")")
                progress.failed.add(1, ordering: .relaxed)
                removeOutput(stream.index)
            }
            complete(id, stream, connection, now: now)
        case .streamError(let error):
            guard let id = error.stream, let stream = active[id] else { return }
            progress.note("\(requests[stream.index].path): \(error.code) \(error.message)")
            progress.failed.add(1, ordering: .relaxed)
            removeOutput(stream.index)
            try? connection.resetStream(id, errorCode: error.code.rawValue)
            try? connection.stopSending(id, errorCode: error.code.rawValue)
            complete(id, stream, connection, now: now)
        case .stopReading(let id, let code):
            try? connection.stopSending(id, errorCode: code.rawValue)
        case .reset(let id, let code):
            guard let stream = active[id] else { return }
            progress.note("\(requests[stream.index].path): reset (code 0x\(String(code, radix: 16)))")
            progress.failed.add(1, ordering: .relaxed)
            removeOutput(stream.index)
            complete(id, stream, connection, now: now)
        case .settings, .goaway, .request, .trailers:
            break
        }
    }

    /// A failed download leaves no partial file behind.
    private func removeOutput(_ index: Int) {
        if case .file(let path) = requests[index].output { unlink(path) }
    }

    private func writeAll(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer) {
        var written = 0
        while written < bytes.count {
            let result = write(descriptor, bytes.baseAddress! + written, bytes.count - written)
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
        let statistics = connection.statistics
        let ecn = connection.ecnFailure.map { "failed (\($0))" } ?? "\(connection.ecnState)"
        progress.transport = "ECN \(ecn), key updates \(connection.keyUpdatesInitiated) started "
            + "\(connection.keyUpdatesFollowed) followed, \(statistics.packetsSent) packets sent, \(statistics.packetsLost) lost, "
            + "\(statistics.packetsReceived) received, \(statistics.undecryptablePackets) undecryptable"
        progress.path = "path: " + connection.pathSummary
        let failed = progress.failed.load(ordering: .relaxed)
        // H3_NO_ERROR for HTTP/3 (RFC 9114 §8.1); hq-interop uses 0.
        let code = applicationProtocol == .h3 ? HTTP3ErrorCode.noError.rawValue : 0
        connection.close(errorCode: code, reason: failed == 0 ? "done" : "done with failures", now: now)
    }
}
