import QuicCore
import QuicDatapath
import QuicWire

/// The embedding API's worker side: applies what application tasks asked for (through the
/// `Bridge`) to the connections this worker owns, and publishes what happens to them. Writes
/// complete only when QUIC took the bytes (a writer waits for window); reads stop when the
/// application's buffer for a stream is full (a slow reader slows the sender).
struct BridgeApplication: QuicApplication {
    let bridge: Bridge
    /// Distinguishes the connections of different workers (queues) in the shared state.
    let queue: UInt32
    private var connections: [Int: Connection] = [:]
    private var pendingConnects: [ConnectRequest] = []
    private var connectContinuations: [Int: CheckedContinuation<Int, any Error>] = [:]
    private var nextTag = 0

    struct PendingWrite {
        var bytes: [UInt8]
        var offset: Int
        var fin: Bool
        let continuation: CheckedContinuation<Void, any Error>
    }
    private var writes: [Int: [StreamID: [PendingWrite]]] = [:]
    private var openWaiters: [Int: [(StreamDirection, CheckedContinuation<StreamID, any Error>)]] = [:]
    private let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 64)
    private var now = Instant.zero

    init(bridge: Bridge, queue: UInt32) {
        self.bridge = bridge
        self.queue = queue
    }

    /// Connection IDs in the shared state are never reused (endpoint handles are, once a
    /// connection drains): a serial number per worker, with the queue in the high bits.
    private var ids: [Int: Int] = [:]
    private var nextSerial = 1

    private mutating func key(_ handle: ConnectionHandle) -> Int {
        if let id = ids[handle.index] { return id }
        let id = Int(queue) << 40 | nextSerial
        nextSerial += 1
        ids[handle.index] = id
        return id
    }

    // MARK: Commands from application tasks

    mutating func takeConnectRequests() -> [ConnectRequest]? {
        applyCommands()
        guard !pendingConnects.isEmpty else { return nil }
        defer { pendingConnects = [] }
        return pendingConnects
    }

    mutating func connectRequestCompleted(tag: Int, _ result: Result<ConnectionHandle, TransportFailure>) {
        guard let continuation = connectContinuations.removeValue(forKey: tag) else { return }
        switch result {
        case .success(let handle): continuation.resume(returning: key(handle))
        case .failure(let failure): continuation.resume(throwing: QuicError.connectFailed(failure.description))
        }
    }

    private mutating func applyCommands() {
        guard bridge.hasWork.exchange(false, ordering: .acquiring) else { return }
        let commands = bridge.state.withLock { state -> [Bridge.Command] in
            defer { state.commands = [] }
            return state.commands
        }
        for command in commands { apply(command) }
    }

    private mutating func apply(_ command: Bridge.Command) {
        switch command {
        case .connect(var request, let continuation):
            request.tag = nextTag
            connectContinuations[nextTag] = continuation
            nextTag += 1
            pendingConnects.append(request)
        case .openStream(let id, let direction, let continuation):
            guard let connection = connections[id] else { return continuation.resume(throwing: closedError(id)) }
            if let stream = connection.openStream(direction) {
                bridge.state.withLock { $0.connections[id]?.streams[stream] = Bridge.StreamState() }
                continuation.resume(returning: stream)
            } else {
                openWaiters[id, default: []].append((direction, continuation))
            }
        case .write(let id, let stream, let bytes, let fin, let continuation):
            guard connections[id] != nil else { return continuation.resume(throwing: closedError(id)) }
            writes[id, default: [:]][stream, default: []].append(PendingWrite(bytes: bytes, offset: 0, fin: fin, continuation: continuation))
            flushWrites(id)
        case .resumeReading(let id, let stream):
            readStream(id, stream)
        case .reset(let id, let stream, let code):
            try? connections[id]?.resetStream(stream, errorCode: code)
            failWrites(id, stream, QuicError.streamClosed)
        case .stopSending(let id, let stream, let code):
            try? connections[id]?.stopSending(stream, errorCode: code)
        case .datagram(let id, let bytes, let continuation):
            guard let connection = connections[id] else { return continuation.resume(throwing: closedError(id)) }
            if connection.sendDatagram(bytes) { continuation.resume() } else { continuation.resume(throwing: QuicError.datagramUnsupported) }
        case .close(let id, let code, let reason):
            connections[id]?.close(errorCode: code, reason: reason, now: now)
        }
    }

    private func closedError(_ id: Int) -> QuicError {
        .connectionClosed(bridge.state.withLock { $0.connections[id]?.closed } ?? "gone")
    }

    /// Moves queued application writes into the QUIC stream buffers as far as they go.
    private mutating func flushWrites(_ id: Int) {
        guard let connection = connections[id], var streams = writes[id] else { return }
        var completed: [CheckedContinuation<Void, any Error>] = []
        var failed: [(CheckedContinuation<Void, any Error>, QuicError)] = []
        for (stream, queue) in streams {
            var queue = queue
            while var write = queue.first {
                let remaining = write.bytes.count - write.offset
                let taken: Int
                do {
                    taken = try write.bytes.withUnsafeBytes { raw in
                        try connection.write(stream, UnsafeRawBufferPointer(rebasing: raw[write.offset...]), fin: write.fin)
                    }
                } catch {
                    let reason: QuicError
                    switch error as? StreamError {
                    case .stoppedByPeer(let code)?: reason = .stopSending(code)
                    case .resetByPeer(let code)?: reason = .streamReset(code)
                    default: reason = .streamClosed
                    }
                    failed += queue.map { ($0.continuation, reason) }
                    queue = []
                    break
                }
                write.offset += taken
                if write.offset == write.bytes.count && (taken == remaining) {
                    completed.append(write.continuation)
                    queue.removeFirst()
                } else {
                    queue[0] = write
                    break
                }
            }
            streams[stream] = queue.isEmpty ? nil : queue
        }
        writes[id] = streams.isEmpty ? nil : streams
        for continuation in completed { continuation.resume() }
        for (continuation, error) in failed { continuation.resume(throwing: error) }
    }

    private mutating func failWrites(_ id: Int, _ stream: StreamID, _ error: QuicError) {
        guard let queue = writes[id]?[stream] else { return }
        writes[id]?[stream] = nil
        for write in queue { write.continuation.resume(throwing: error) }
    }

    /// Reads what the application's buffer for the stream has room for. When a waiting reader
    /// takes everything at once, reading goes on (the buffer is empty again), so a full buffer
    /// never leaves the stream paused with nothing for the reader.
    private mutating func readStream(_ id: Int, _ stream: StreamID) {
        while readStreamOnce(id, stream) {}
    }

    /// One pass; returns whether another pass is due.
    private mutating func readStreamOnce(_ id: Int, _ stream: StreamID) -> Bool {
        guard let connection = connections[id] else { return false }
        var room = bridge.state.withLock { state -> Int in
            Bridge.inboundLimit - (state.connections[id]?.streams[stream]?.inbound.count ?? 0)
        }
        var collected: [UInt8] = []
        var fin = false
        var streamError: QuicError?
        while room > 0 {
            let result: (count: Int, fin: Bool)
            do {
                result = try connection.read(stream, into: UnsafeMutableRawBufferPointer(rebasing: scratch[..<min(room, scratch.count)]))
            } catch {
                if case .resetByPeer(let code) = error { streamError = .streamReset(code) }
                break
            }
            collected.append(contentsOf: UnsafeRawBufferPointer(rebasing: scratch[..<result.count]))
            room -= result.count
            if result.fin {
                fin = true
                break
            }
            if result.count == 0 { break }
        }
        let filled = room <= 0 && !fin
        let outcome = bridge.state.withLock { state -> ((CheckedContinuation<[UInt8]?, any Error>, Result<[UInt8]?, any Error>)?, Bool) in
            var streamState = state.connections[id]?.streams[stream] ?? Bridge.StreamState()
            streamState.inbound += collected
            streamState.inboundFin = streamState.inboundFin || fin
            if let streamError { streamState.inboundError = streamError }
            var handoff: (CheckedContinuation<[UInt8]?, any Error>, Result<[UInt8]?, any Error>)?
            if let reader = streamState.reader {
                if !streamState.inbound.isEmpty {
                    handoff = (reader, .success(streamState.inbound))
                    streamState.inbound = []
                    streamState.reader = nil
                } else if let error = streamState.inboundError {
                    handoff = (reader, .failure(error))
                    streamState.reader = nil
                } else if streamState.inboundFin {
                    handoff = (reader, .success(nil))
                    streamState.reader = nil
                }
            }
            // Paused only while the buffer really is full; if the reader emptied it, read on.
            streamState.readPaused = filled && streamState.inbound.count >= Bridge.inboundLimit / 2
            state.connections[id]?.streams[stream] = streamState
            return (handoff, filled && !streamState.readPaused)
        }
        if let (continuation, result) = outcome.0 { continuation.resume(with: result) }
        return outcome.1
    }

    // MARK: Connection events

    mutating func connectionStarted(_ handle: ConnectionHandle, _ connection: Connection, now: Instant) {
        self.now = now
        let id = key(handle)
        connections[id] = connection
        bridge.state.withLock { state in
            if state.connections[id] == nil { state.connections[id] = Bridge.ConnectionState() }
        }
    }

    mutating func connectionEnded(_ handle: ConnectionHandle) {
        let id = key(handle)
        finish(id, reason: "connection ended")
        connections[id] = nil
        ids[handle.index] = nil
        bridge.retire(id)
    }

    mutating func poll(_ handle: ConnectionHandle, _ connection: Connection, now: Instant) -> Bool {
        self.now = now
        flushWrites(key(handle))
        return writes[key(handle)] != nil
    }

    mutating func handle(_ event: ConnectionEvent, on handle: ConnectionHandle, _ connection: Connection, now: Instant) {
        self.now = now
        let id = key(handle)
        switch event {
        case .connected:
            let alpn = connection.alpn
            let (waiters, acceptor) = bridge.state.withLock { state -> ([CheckedContinuation<Void, any Error>], CheckedContinuation<Int, any Error>?) in
                state.connections[id, default: Bridge.ConnectionState()].established = true
                state.connections[id]?.alpn = alpn
                let waiters = state.connections[id]?.establishedWaiters ?? []
                state.connections[id]?.establishedWaiters = []
                guard connection.role == .server else { return (waiters, nil) }
                if !state.acceptWaiters.isEmpty { return (waiters, state.acceptWaiters.removeFirst()) }
                state.incoming.append(id)
                return (waiters, nil)
            }
            for waiter in waiters { waiter.resume() }
            acceptor?.resume(returning: id)
        case .stream(.opened(let stream)):
            let waiter = bridge.state.withLock { state -> CheckedContinuation<StreamID, any Error>? in
                if state.connections[id]?.streams[stream] == nil { state.connections[id]?.streams[stream] = Bridge.StreamState() }
                if let first = state.connections[id]?.streamWaiters.first {
                    state.connections[id]?.streamWaiters.removeFirst()
                    return first
                }
                state.connections[id]?.incomingStreams.append(stream)
                return nil
            }
            waiter?.resume(returning: stream)
        case .stream(.readable(let stream)):
            readStream(id, stream)
        case .stream(.writable):
            flushWrites(id)
        case .stream(.stopped(let stream, let code)):
            failWrites(id, stream, .stopSending(code))
        case .stream(.streamsAvailable):
            let waiting = openWaiters.removeValue(forKey: id) ?? []
            for (direction, continuation) in waiting { apply(.openStream(connection: id, direction, continuation)) }
        case .stream(.finished):
            break
        case .datagramReceived:
            while let datagram = connection.readDatagram() {
                let waiter = bridge.state.withLock { state -> CheckedContinuation<[UInt8], any Error>? in
                    if let first = state.connections[id]?.datagramWaiters.first {
                        state.connections[id]?.datagramWaiters.removeFirst()
                        return first
                    }
                    if (state.connections[id]?.datagrams.count ?? 0) < 256 { state.connections[id]?.datagrams.append(datagram) }
                    return nil
                }
                waiter?.resume(returning: datagram)
            }
        case .closed(let reason):
            finish(id, reason: reason.description)
        case .handshakeConfirmed, .zeroRTTRejected, .sessionTicketReceived:
            break
        }
    }

    /// The connection is over: every waiter on it fails with the reason.
    private mutating func finish(_ id: Int, reason: String) {
        let waiters = bridge.state.withLock { state -> [any ResumableWaiter] in
            guard var connection = state.connections[id] else { return [] }
            if connection.closed == nil { connection.closed = reason }
            var waiters: [any ResumableWaiter] = connection.establishedWaiters.map { WaiterBox($0) }
            waiters += connection.streamWaiters.map { WaiterBox($0) }
            waiters += connection.datagramWaiters.map { WaiterBox($0) }
            for (stream, var streamState) in connection.streams {
                if let reader = streamState.reader, streamState.inbound.isEmpty {
                    waiters.append(WaiterBox(reader))
                    streamState.reader = nil
                    connection.streams[stream] = streamState
                }
            }
            connection.establishedWaiters = []
            connection.streamWaiters = []
            connection.datagramWaiters = []
            state.connections[id] = connection
            return waiters
        }
        let error = QuicError.connectionClosed(reason)
        for waiter in waiters { waiter.fail(error) }
        for (_, queue) in writes[id] ?? [:] { for write in queue { write.continuation.resume(throwing: error) } }
        writes[id] = nil
        for (_, continuation) in openWaiters.removeValue(forKey: id) ?? [] { continuation.resume(throwing: error) }
    }
}
