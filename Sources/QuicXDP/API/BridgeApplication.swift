import QuicCore
import QuicDatapath
import QuicWire

/// The embedding API's worker side: applies what application tasks asked for (through its
/// `WorkerMailbox`) to the connections this worker owns, and publishes what happens to them
/// through the connections' channels. Writes complete only when QUIC took the bytes (a writer
/// waits for window); reads stop when a stream's channel is full (a slow reader slows the
/// sender). Nothing here takes a lock an application task holds.
struct BridgeApplication: QuicApplication {
    let bridge: Bridge
    let mailbox: WorkerMailbox
    /// Distinguishes the connections of different workers (queues).
    let queue: UInt32

    struct PendingWrite {
        var bytes: [UInt8]
        var offset: Int
        var fin: Bool
        let continuation: CheckedContinuation<Void, any Error>
    }

    /// Everything the worker keeps for one connection.
    struct Entry {
        let connection: Connection
        let channel: ConnectionChannel
        var streams: [StreamID: StreamChannel] = [:]
        var writes: [StreamID: [PendingWrite]] = [:]
        var openWaiters: [(StreamDirection, CheckedContinuation<StreamChannel, any Error>)] = []
        /// A client's `connect` call, answered when the handshake completes.
        var connectWaiter: CheckedContinuation<ConnectionChannel, any Error>?
        var published = false
    }

    private var entries: [Int: Entry] = [:]
    private var pendingConnects: [ConnectRequest] = []
    private var connectContinuations: [Int: CheckedContinuation<ConnectionChannel, any Error>] = [:]
    /// Connect calls whose connection started (tag known) before `connectionStarted` ran.
    private var startedConnects: [Int: CheckedContinuation<ConnectionChannel, any Error>] = [:]
    private var nextTag = 0
    private let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 64)
    private var now = Instant.zero

    init(bridge: Bridge, queue: UInt32, control: EngineControl) {
        self.bridge = bridge
        self.queue = queue
        mailbox = WorkerMailbox(control: control)
        bridge.register(mailbox)
    }

    /// Connection IDs are never reused (endpoint handles are, once a connection drains): a
    /// serial number per worker, with the queue in the high bits.
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

    mutating func willSleep() -> Bool { mailbox.workerWillSleep() }
    mutating func didWake() { mailbox.workerDidWake() }

    mutating func takeConnectRequests() -> [ConnectRequest]? {
        applyCommands()
        guard !pendingConnects.isEmpty else { return nil }
        defer { pendingConnects = [] }
        return pendingConnects
    }

    mutating func connectRequestCompleted(tag: Int, _ result: Result<ConnectionHandle, TransportFailure>) {
        guard let continuation = connectContinuations.removeValue(forKey: tag) else { return }
        switch result {
        case .success(let handle):
            // `connectionStarted` for it comes next; the call is answered on `.connected`.
            startedConnects[handle.index] = continuation
        case .failure(let failure):
            continuation.resume(throwing: QuicError.connectFailed(failure.description))
        }
    }

    private mutating func applyCommands() {
        guard !mailbox.commands.isEmpty else { return }
        var commands: [WorkerMailbox.Command] = []
        mailbox.commands.drain { commands.append($0) }
        for command in commands { apply(command) }
    }

    private mutating func apply(_ command: WorkerMailbox.Command) {
        switch command {
        case .connect(var request, let continuation):
            request.tag = nextTag
            connectContinuations[nextTag] = continuation
            nextTag += 1
            pendingConnects.append(request)
        case .openStream(let channel, let direction, let continuation):
            guard let entry = entries[channel.id] else { return continuation.resume(throwing: closedError(channel)) }
            if let stream = entry.connection.openStream(direction) {
                continuation.resume(returning: streamChannel(channel.id, stream))
            } else {
                entries[channel.id]?.openWaiters.append((direction, continuation))
            }
        case .write(let channel, let stream, let bytes, let fin, let continuation):
            guard entries[channel.id] != nil else { return continuation.resume(throwing: closedError(channel)) }
            entries[channel.id]?.writes[stream, default: []].append(
                PendingWrite(bytes: bytes, offset: 0, fin: fin, continuation: continuation))
            flushWrites(channel.id)
        case .resumeReading(let channel, let stream):
            readStream(channel.id, stream)
        case .reset(let channel, let stream, let code):
            try? entries[channel.id]?.connection.resetStream(stream, errorCode: code)
            failWrites(channel.id, stream, QuicError.streamClosed)
        case .stopSending(let channel, let stream, let code):
            try? entries[channel.id]?.connection.stopSending(stream, errorCode: code)
        case .datagram(let channel, let bytes, let continuation):
            guard let entry = entries[channel.id] else { return continuation.resume(throwing: closedError(channel)) }
            if entry.connection.sendDatagram(bytes) {
                continuation.resume()
            } else {
                continuation.resume(throwing: QuicError.datagramUnsupported)
            }
        case .close(let channel, let code, let reason):
            entries[channel.id]?.connection.close(errorCode: code, reason: reason, now: now)
        }
    }

    /// A command for a connection this worker no longer has: it ended, and said why.
    private func closedError(_ channel: ConnectionChannel) -> QuicError {
        .connectionClosed(channel.closeReason.value ?? "connection ended")
    }

    /// The stream's channel, made on first use (opened by either side, or first readable).
    private mutating func streamChannel(_ id: Int, _ stream: StreamID) -> StreamChannel {
        if let channel = entries[id]?.streams[stream] { return channel }
        let channel = StreamChannel(id: stream)
        entries[id]?.streams[stream] = channel
        return channel
    }

    /// Moves queued application writes into the QUIC stream buffers as far as they go.
    private mutating func flushWrites(_ id: Int) {
        guard let entry = entries[id], !entry.writes.isEmpty else { return }
        var streams = entry.writes
        var completed: [CheckedContinuation<Void, any Error>] = []
        var failed: [(CheckedContinuation<Void, any Error>, QuicError)] = []
        for (stream, queue) in streams {
            var queue = queue
            while var write = queue.first {
                let remaining = write.bytes.count - write.offset
                let taken: Int
                do {
                    taken = try write.bytes.withUnsafeBytes { raw in
                        try entry.connection.write(stream, UnsafeRawBufferPointer(rebasing: raw[write.offset...]), fin: write.fin)
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
                if write.offset == write.bytes.count && taken == remaining {
                    completed.append(write.continuation)
                    queue.removeFirst()
                } else {
                    queue[0] = write
                    break
                }
            }
            streams[stream] = queue.isEmpty ? nil : queue
        }
        entries[id]?.writes = streams
        for continuation in completed { continuation.resume() }
        for (continuation, error) in failed { continuation.resume(throwing: error) }
    }

    private mutating func failWrites(_ id: Int, _ stream: StreamID, _ error: QuicError) {
        guard let queue = entries[id]?.writes[stream] else { return }
        entries[id]?.writes[stream] = nil
        for write in queue { write.continuation.resume(throwing: error) }
    }

    /// Moves received bytes from QUIC into the stream's channel while it has room; pauses
    /// (leaving the rest in QUIC, whose flow control then holds the sender back) when it has not.
    private mutating func readStream(_ id: Int, _ stream: StreamID) {
        guard let connection = entries[id]?.connection else { return }
        let channel = streamChannel(id, stream)
        guard !channel.inbound.isEnded else { return }
        var delivered = false
        reading: while true {
            let room = channel.room
            if room <= 0 {
                if channel.pause() { continue }
                break
            }
            var chunk: [UInt8] = []
            var end: ChannelEnd?
            while chunk.count < room {
                let result: (count: Int, fin: Bool)
                do {
                    let limit = min(room - chunk.count, scratch.count)
                    result = try connection.read(stream, into: UnsafeMutableRawBufferPointer(rebasing: scratch[..<limit]))
                } catch {
                    if case .resetByPeer(let code) = error { end = .failed(.streamReset(code)) }
                    break
                }
                chunk.append(contentsOf: UnsafeRawBufferPointer(rebasing: scratch[..<result.count]))
                if result.fin {
                    end = .finished
                    break
                }
                if result.count == 0 { break }
            }
            if !chunk.isEmpty {
                channel.buffered.add(chunk.count, ordering: .sequentiallyConsistent)
                // `room` said the ring has a free slot, and only this worker pushes.
                _ = channel.inbound.buffer.push(chunk)
                delivered = true
            }
            if let end {
                channel.inbound.finish(end)
                // The readers hold the channel; the worker no longer needs it.
                entries[id]?.streams[stream] = nil
                return
            }
            if chunk.count < room { break reading }  // QUIC has nothing more for now
        }
        if delivered { channel.inbound.notify() }
    }

    // MARK: Connection events

    mutating func connectionStarted(_ handle: ConnectionHandle, _ connection: Connection, now: Instant) {
        self.now = now
        let id = key(handle)
        var entry = Entry(connection: connection, channel: ConnectionChannel(id: id, mailbox: mailbox))
        entry.connectWaiter = startedConnects.removeValue(forKey: handle.index)
        entries[id] = entry
    }

    mutating func connectionEnded(_ handle: ConnectionHandle) {
        let id = key(handle)
        finish(id, error: .connectionClosed("connection ended"), reason: "connection ended")
        entries[id] = nil
        ids[handle.index] = nil
    }

    mutating func poll(_ handle: ConnectionHandle, _ connection: Connection, now: Instant) -> Bool {
        self.now = now
        let id = key(handle)
        flushWrites(id)
        return entries[id].map { !$0.writes.isEmpty } ?? false
    }

    mutating func handle(_ event: ConnectionEvent, on handle: ConnectionHandle, _ connection: Connection, now: Instant) {
        self.now = now
        let id = key(handle)
        guard let entry = entries[id] else { return }
        switch event {
        case .connected:
            entry.channel.alpn.set(connection.alpn ?? "")
            guard !entry.published else { break }
            entries[id]?.published = true
            if let waiter = entry.connectWaiter {
                entries[id]?.connectWaiter = nil
                waiter.resume(returning: entry.channel)
            } else if connection.role == .server {
                bridge.incoming.buffer.push(entry.channel)
                bridge.incoming.notify()
            }
        case .stream(.opened(let stream)):
            entry.channel.incomingStreams.buffer.push(streamChannel(id, stream))
            entry.channel.incomingStreams.notify()
        case .stream(.readable(let stream)):
            readStream(id, stream)
        case .stream(.writable):
            flushWrites(id)
        case .stream(.stopped(let stream, let code)):
            failWrites(id, stream, .stopSending(code))
        case .stream(.streamsAvailable):
            let waiting = entry.openWaiters
            entries[id]?.openWaiters = []
            for (direction, continuation) in waiting { apply(.openStream(connection: entry.channel, direction, continuation)) }
        case .stream(.finished):
            break
        case .datagramReceived:
            var delivered = false
            while let datagram = connection.readDatagram() {
                // Full: dropped, as the network may drop it (RFC 9221 §5).
                delivered = entry.channel.datagrams.buffer.push(datagram) || delivered
            }
            if delivered { entry.channel.datagrams.notify() }
        case .closed(let reason):
            finish(id, error: .connectionClosed(reason.description), reason: reason.description)
        case .handshakeConfirmed, .zeroRTTRejected, .sessionTicketReceived:
            break
        }
    }

    /// The connection is over: every channel of it ends with `error` after what it holds, and
    /// every waiting call fails.
    private mutating func finish(_ id: Int, error: QuicError, reason: String) {
        guard let entry = entries[id] else { return }
        entry.channel.closeReason.set(reason)
        entry.channel.incomingStreams.finish(.failed(error))
        entry.channel.datagrams.finish(.failed(error))
        for (stream, channel) in entry.streams {
            // What the peer sent before closing stays readable, then the close (or the FIN).
            channel.inbound.finish(drainRemainder(entry.connection, stream, into: channel) ?? .failed(error))
        }
        entries[id]?.streams = [:]
        for (_, queue) in entry.writes { for write in queue { write.continuation.resume(throwing: error) } }
        entries[id]?.writes = [:]
        for (_, continuation) in entry.openWaiters { continuation.resume(throwing: error) }
        entries[id]?.openWaiters = []
        if let waiter = entry.connectWaiter {
            entries[id]?.connectWaiter = nil
            waiter.resume(throwing: error)
        }
    }

    /// The connection closed: moves everything QUIC still holds for the stream into its channel
    /// as one last chunk (the budget no longer applies; QUIC's flow control bounded it, and the
    /// ring kept a slot for it). Returns the stream's end if QUIC had it.
    private func drainRemainder(_ connection: Connection, _ stream: StreamID, into channel: StreamChannel) -> ChannelEnd? {
        guard !channel.inbound.isEnded else { return nil }
        var chunk: [UInt8] = []
        var end: ChannelEnd?
        while true {
            let result: (count: Int, fin: Bool)
            do {
                result = try connection.read(stream, into: scratch)
            } catch {
                if case .resetByPeer(let code) = error { end = .failed(.streamReset(code)) }
                break
            }
            chunk.append(contentsOf: UnsafeRawBufferPointer(rebasing: scratch[..<result.count]))
            if result.fin { end = .finished }
            if result.fin || result.count == 0 { break }
        }
        if !chunk.isEmpty {
            channel.buffered.add(chunk.count, ordering: .sequentiallyConsistent)
            _ = channel.inbound.buffer.push(chunk)
        }
        return end
    }

    /// The engine stopped: connections end with `endpointStopped`, and so does every command
    /// queued or sent later.
    mutating func engineStopped() {
        mailbox.close()
        for id in Array(entries.keys) { finish(id, error: .endpointStopped, reason: "the endpoint was shut down") }
        for (_, continuation) in connectContinuations { continuation.resume(throwing: QuicError.endpointStopped) }
        connectContinuations = [:]
        for (_, continuation) in startedConnects { continuation.resume(throwing: QuicError.endpointStopped) }
        startedConnects = [:]
        scratch.deallocate()
    }
}
