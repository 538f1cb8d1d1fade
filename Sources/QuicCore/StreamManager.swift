import QuicWire

/// Local stream and flow-control settings: what we advertise and how far windows may grow.
public struct StreamLimits: Sendable, Hashable {
    /// Connection receive window advertised at first (initial_max_data).
    public var initialMaxData: UInt64 = 1 << 21
    /// The connection window may grow up to this.
    public var maximumData: UInt64 = 1 << 25
    /// Per-stream receive window advertised at first.
    public var initialStreamWindow: UInt64 = 1 << 19
    /// A stream window may grow up to this.
    public var maximumStreamWindow: UInt64 = 1 << 24
    public var maxStreamsBidi: UInt64 = 128
    public var maxStreamsUni: UInt64 = 16
    /// Bytes a stream buffers for sending (written, not yet acknowledged).
    public var sendBufferSize: Int = 1 << 20

    public init() {}
}

/// Things that happen to streams, for the application (polled after each input).
public enum StreamEvent: Sendable, Hashable {
    /// The peer opened a stream.
    case opened(StreamID)
    /// Data, the end, or a reset can be read.
    case readable(StreamID)
    /// Buffer space or flow control credit opened up after a write was limited.
    case writable(StreamID)
    /// Everything written, and the FIN, was acknowledged.
    case finished(StreamID)
    /// The peer asked us to stop sending (STOP_SENDING); the stream was reset in answer.
    case stopped(StreamID, errorCode: UInt64)
    /// More locally initiated streams may be opened (MAX_STREAMS).
    case streamsAvailable(StreamDirection)
}

/// Why a stream call failed.
public enum StreamError: Error, Sendable, Hashable {
    case unknownStream
    /// Writing to a receive-only stream or reading from a send-only one.
    case wrongDirection
    /// The stream limit the peer set does not allow another stream now.
    case limitReached
    /// The stream was finished or reset by this side.
    case closed
    /// The peer reset the stream with this application error code.
    case resetByPeer(UInt64)
    /// The peer asked us to stop sending with this code.
    case stoppedByPeer(UInt64)
}

/// One stream: its sending half, receiving half, or both.
final class StreamEntry {
    let id: StreamID
    let send: SendStream?
    let recv: RecvStream?
    // See StreamManager on @exclusivity(unchecked).
    @exclusivity(unchecked) var queuedForSending = false
    @exclusivity(unchecked) var queuedForControl = false
    @exclusivity(unchecked) var maxStreamDataPending = false
    @exclusivity(unchecked) var streamDataBlockedPending = false
    @exclusivity(unchecked) var readableNotified = false
    @exclusivity(unchecked) var writeBlocked = false

    init(id: StreamID, send: SendStream?, recv: RecvStream?) {
        self.id = id
        self.send = send
        self.recv = recv
    }

    /// Both halves are done and the entry can go.
    var isClosed: Bool {
        let sendDone = send.map { $0.isFullyAcknowledged || $0.resetState == .acknowledged } ?? true
        let recvDone = recv.map { $0.isFinished } ?? true
        return sendDone && recvDone
    }
}

/// All streams of a connection, stream limits and connection-level flow control
/// (RFC 9000 §2–§4, §19.4–§19.14).
final class StreamManager {
    // Performance: every stored `var` below is `@exclusivity(unchecked)`. The object is owned by
    // one worker thread and used only from it, so Swift's dynamic exclusivity checks guard nothing
    // here, yet they cost about 15 % of the CPU per packet (swift_beginAccess in the profile).
    let role: Role
    let limits: StreamLimits
    @exclusivity(unchecked) private(set) var streams = StreamTable()

    // Streams we open: the next index, and the peer's limit (MAX_STREAMS) per direction.
    @exclusivity(unchecked) private var nextLocalIndex: InlineArray<2, UInt64> = [0, 0]
    @exclusivity(unchecked) private var peerMaxStreams: InlineArray<2, UInt64> = [0, 0]
    @exclusivity(unchecked) private var streamsBlockedPending: InlineArray<2, Bool> = [false, false]
    @exclusivity(unchecked) private var streamsBlockedReportedAt: InlineArray<2, UInt64?> = [nil, nil]

    // Streams the peer opens: how many it opened, our advertised limit, and closed ones.
    @exclusivity(unchecked) private var nextPeerIndex: InlineArray<2, UInt64> = [0, 0]
    @exclusivity(unchecked) private var localMaxStreams: InlineArray<2, UInt64>
    @exclusivity(unchecked) private var closedPeerStreams: InlineArray<2, UInt64> = [0, 0]
    @exclusivity(unchecked) private var maxStreamsPending: InlineArray<2, Bool> = [false, false]

    /// The peer's initial_max_stream_data_* parameters.
    @exclusivity(unchecked) private var peerBidiLocal: UInt64 = 0
    @exclusivity(unchecked) private var peerBidiRemote: UInt64 = 0
    @exclusivity(unchecked) private var peerUni: UInt64 = 0

    /// Connection-level credit the peer gives us (MAX_DATA) and the window we give it.
    @exclusivity(unchecked) private(set) var sendCredit = SendCredit(limit: 0)
    @exclusivity(unchecked) private(set) var receiveWindow: ReceiveWindow
    @exclusivity(unchecked) private var receivedTotal: UInt64 = 0
    @exclusivity(unchecked) private var consumedTotal: UInt64 = 0
    @exclusivity(unchecked) private var maxDataPending = false

    @exclusivity(unchecked) private var sendQueue = RingBuffer<StreamID>(capacity: 64)
    @exclusivity(unchecked) private var controlQueue = RingBuffer<StreamID>(capacity: 64)
    @exclusivity(unchecked) private(set) var events = RingBuffer<StreamEvent>(capacity: 64)

    init(role: Role, limits: StreamLimits) {
        self.role = role
        self.limits = limits
        localMaxStreams = [limits.maxStreamsBidi, limits.maxStreamsUni]
        receiveWindow = ReceiveWindow(window: limits.initialMaxData, maximumWindow: limits.maximumData)
    }

    private static func slot(_ direction: StreamDirection) -> Int { direction == .bidirectional ? 0 : 1 }

    /// The peer's transport parameters arrived (or were remembered for 0-RTT).
    func applyPeerParameters(_ parameters: TransportParameters) {
        peerBidiLocal = parameters.initialMaxStreamDataBidiLocal
        peerBidiRemote = parameters.initialMaxStreamDataBidiRemote
        peerUni = parameters.initialMaxStreamDataUni
        peerMaxStreams[0] = max(peerMaxStreams[0], parameters.initialMaxStreamsBidi)
        peerMaxStreams[1] = max(peerMaxStreams[1], parameters.initialMaxStreamsUni)
        sendCredit.raise(to: parameters.initialMaxData)
        // Streams opened before the parameters were known (0-RTT) get the credit now.
        streams.forEach { entry in
            guard let send = entry.send else { return }
            if send.credit.raise(to: initialSendCredit(for: entry.id)) { enqueueForSending(entry) }
        }
    }

    /// Writes our limits into transport parameters.
    func fill(_ parameters: inout TransportParameters) {
        parameters.initialMaxData = limits.initialMaxData
        parameters.initialMaxStreamDataBidiLocal = limits.initialStreamWindow
        parameters.initialMaxStreamDataBidiRemote = limits.initialStreamWindow
        parameters.initialMaxStreamDataUni = limits.initialStreamWindow
        parameters.initialMaxStreamsBidi = limits.maxStreamsBidi
        parameters.initialMaxStreamsUni = limits.maxStreamsUni
    }

    /// Send credit for a new stream from the peer's parameters (§18.2: "local" means opened by
    /// the parameter's sender).
    private func initialSendCredit(for id: StreamID) -> UInt64 {
        if id.direction == .unidirectional { return peerUni }
        return id.initiator == role ? peerBidiRemote : peerBidiLocal
    }

    private func makeEntry(_ id: StreamID) -> StreamEntry {
        let local = id.initiator == role
        let sends = id.direction == .bidirectional || local
        let receives = id.direction == .bidirectional || !local
        let send = sends ? SendStream(id: id, initialCredit: initialSendCredit(for: id), bufferLimit: limits.sendBufferSize) : nil
        let recv = receives ? RecvStream(id: id, window: limits.initialStreamWindow, maximumWindow: limits.maximumStreamWindow) : nil
        let entry = StreamEntry(id: id, send: send, recv: recv)
        streams[id] = entry
        return entry
    }

    // MARK: Application calls

    /// Opens a stream of ours, or nil when the peer's limit does not allow one now (a
    /// STREAMS_BLOCKED frame is then queued, §4.6).
    func open(_ direction: StreamDirection) -> StreamID? {
        let slot = Self.slot(direction)
        guard nextLocalIndex[slot] < peerMaxStreams[slot] else {
            if streamsBlockedReportedAt[slot] != peerMaxStreams[slot] {
                streamsBlockedReportedAt[slot] = peerMaxStreams[slot]
                streamsBlockedPending[slot] = true
            }
            return nil
        }
        let id = StreamID(index: nextLocalIndex[slot], initiator: role, direction: direction)
        nextLocalIndex[slot] += 1
        _ = makeEntry(id)
        return id
    }

    func canOpen(_ direction: StreamDirection) -> Bool {
        nextLocalIndex[Self.slot(direction)] < peerMaxStreams[Self.slot(direction)]
    }

    private func entryForApplication(_ id: StreamID) throws(StreamError) -> StreamEntry {
        guard let entry = streams[id] else { throw .unknownStream }
        return entry
    }

    /// Buffers what fits of `bytes`; returns how many were taken.
    func write(_ id: StreamID, _ bytes: UnsafeRawBufferPointer, fin: Bool) throws(StreamError) -> Int {
        let entry = try entryForApplication(id)
        guard let send = entry.send else { throw .wrongDirection }
        if let code = send.stopSendingCode { throw .stoppedByPeer(code) }
        guard !send.finWritten, !send.isReset else { throw .closed }
        let count = send.write(bytes)
        if count < bytes.count { entry.writeBlocked = true }
        if fin && count == bytes.count { send.finish() }
        if count > 0 || fin { enqueueForSending(entry) }
        return count
    }

    func finish(_ id: StreamID) throws(StreamError) {
        _ = try write(id, UnsafeRawBufferPointer(start: nil, count: 0), fin: true)
    }

    /// Bytes the application may write to the stream now.
    func writableBytes(_ id: StreamID) -> Int { streams[id]?.send?.writableBytes ?? 0 }

    /// Reads in-order bytes; `fin` at the end. Throws `.resetByPeer` after a RESET_STREAM.
    func read(_ id: StreamID, into buffer: UnsafeMutableRawBufferPointer) throws(StreamError) -> (count: Int, fin: Bool) {
        let entry = try entryForApplication(id)
        guard let recv = entry.recv else { throw .wrongDirection }
        if let code = recv.resetCode {
            recv.finDelivered = true
            maybeRemove(entry)
            throw .resetByPeer(code)
        }
        let result = recv.read(into: buffer)
        entry.readableNotified = false
        if result.count > 0 {
            consumedTotal += UInt64(result.count)
            receiveWindow.onConsumed(total: consumedTotal)
            if receiveWindow.updatePending { maxDataPending = true }
            if recv.window.updatePending && recv.finalSize == nil {
                entry.maxStreamDataPending = true
                enqueueForControl(entry)
            }
        }
        if result.fin { maybeRemove(entry) }
        return result
    }

    /// Abandons sending with an application error code (RESET_STREAM, §3.1).
    func reset(_ id: StreamID, errorCode: UInt64) throws(StreamError) {
        let entry = try entryForApplication(id)
        guard let send = entry.send else { throw .wrongDirection }
        send.reset(code: errorCode)
        enqueueForControl(entry)
    }

    /// Asks the peer to stop sending (STOP_SENDING, §3.5).
    func stopSending(_ id: StreamID, errorCode: UInt64) throws(StreamError) {
        let entry = try entryForApplication(id)
        guard let recv = entry.recv else { throw .wrongDirection }
        guard recv.stopSendingCode == nil, !recv.isFinished else { return }
        recv.stopSendingCode = errorCode
        recv.stopSendingPending = true
        enqueueForControl(entry)
    }

    func pollEvent() -> StreamEvent? { events.popFirst() }

    // MARK: Frames from the peer

    /// Finds or opens the stream a received frame names. `needsReceive`/`needsSend`: the frame
    /// acts on that half (RFC 9000 §19.4–§19.13 list which frames are errors on which streams).
    /// Returns nil for streams that were already closed (late frames are ignored).
    private func streamForFrame(_ id: StreamID, needsReceive: Bool, frameType: FrameType) throws(WireError) -> StreamEntry? {
        let local = id.initiator == role
        let slot = Self.slot(id.direction)
        if needsReceive && local && id.direction == .unidirectional {
            throw WireError(.streamStateError, .invalidValue, frameType: frameType.rawValue)
        }
        if !needsReceive && !local && id.direction == .unidirectional {
            throw WireError(.streamStateError, .invalidValue, frameType: frameType.rawValue)
        }
        if local {
            guard id.index < nextLocalIndex[slot] else {
                throw WireError(.streamStateError, .invalidValue, frameType: frameType.rawValue)
            }
            return streams[id]
        }
        if id.index < nextPeerIndex[slot] { return streams[id] }
        guard id.index < localMaxStreams[slot] else {
            throw WireError(.streamLimitError, .invalidValue, frameType: frameType.rawValue)
        }
        // Opening a stream opens every lower-numbered one of its kind (§3.2).
        var entry: StreamEntry?
        while nextPeerIndex[slot] <= id.index {
            let newID = StreamID(index: nextPeerIndex[slot], initiator: role.peer, direction: id.direction)
            nextPeerIndex[slot] += 1
            entry = makeEntry(newID)
            events.append(.opened(newID))
        }
        return entry
    }

    /// STREAM. `.refused` asks the caller to drop the packet unacknowledged.
    func onStreamFrame(_ frame: StreamFrame) throws(WireError) -> RecvStream.FrameResult {
        let id = frame.streamID
        let local = id.initiator == role
        let slot = Self.slot(id.direction)
        let openedBefore =
            !(local && id.direction == .unidirectional) && id.index < (local ? nextLocalIndex[slot] : nextPeerIndex[slot])
        if !openedBefore {
            // Checks the ID and opens the stream (and the lower ones of its kind, §3.2).
            _ = try streamForFrame(id, needsReceive: true, frameType: .stream)
        }
        // The entry and its receiving half are used without retaining them: the table holds them,
        // and nothing here removes a stream.
        let outcome = streams.withEntry(id) { entry -> Result<RecvStream.FrameResult, WireError> in
            guard entry.recv != nil else { return .success(.accepted(newBytes: 0)) }
            return Unmanaged.passUnretained(entry.recv.unsafelyUnwrapped)._withUnsafeGuaranteedRef { recv in
                do throws(WireError) {
                    let result = try recv.onFrame(offset: frame.offset, data: frame.data.bytes, fin: frame.fin)
                    if case .accepted(let newBytes) = result {
                        try addReceived(newBytes, frameType: .stream)
                        notifyReadable(entry, recv)
                    }
                    return .success(result)
                } catch {
                    return .failure(error)
                }
            }
        }
        switch outcome {
        case nil: return .accepted(newBytes: 0)  // a stream closed since: old data, ignored
        case .success(let result): return result
        case .failure(let error): throw error
        }
    }

    private func addReceived(_ bytes: UInt64, frameType: FrameType) throws(WireError) {
        receivedTotal += bytes
        guard receivedTotal <= receiveWindow.limit else {
            throw WireError(.flowControlError, .invalidValue, frameType: frameType.rawValue)
        }
    }

    private func notifyReadable(_ entry: StreamEntry) {
        guard let recv = entry.recv else { return }
        notifyReadable(entry, recv)
    }

    /// (Always inlined: called for every STREAM frame, with the receiving half already at hand.)
    @inline(__always)
    private func notifyReadable(_ entry: StreamEntry, _ recv: RecvStream) {
        guard recv.isReadable, !entry.readableNotified else { return }
        entry.readableNotified = true
        events.append(.readable(entry.id))
    }

    func onResetStream(_ frame: ResetStreamFrame) throws(WireError) {
        guard let entry = try streamForFrame(frame.streamID, needsReceive: true, frameType: .resetStream),
            let recv = entry.recv
        else { return }
        let newBytes = try recv.onReset(code: frame.applicationErrorCode, finalSize: frame.finalSize)
        try addReceived(newBytes, frameType: .resetStream)
        // The peer will send nothing more: the bytes it never sent count as consumed.
        consumedTotal += newBytes
        notifyReadable(entry)
    }

    func onStopSending(_ frame: StopSendingFrame) throws(WireError) {
        guard let entry = try streamForFrame(frame.streamID, needsReceive: false, frameType: .stopSending),
            let send = entry.send
        else { return }
        guard send.stopSendingCode == nil else { return }
        send.stopSendingCode = frame.applicationErrorCode
        // §3.5: answer with RESET_STREAM, echoing the code.
        if !send.isFullyAcknowledged {
            send.reset(code: frame.applicationErrorCode)
            enqueueForControl(entry)
        }
        events.append(.stopped(entry.id, errorCode: frame.applicationErrorCode))
    }

    func onMaxStreamData(_ frame: MaxStreamDataFrame) throws(WireError) {
        guard let entry = try streamForFrame(frame.streamID, needsReceive: false, frameType: .maxStreamData),
            let send = entry.send
        else { return }
        if send.credit.raise(to: frame.maximumStreamData) {
            enqueueForSending(entry)
            notifyWritable(entry)
        }
    }

    func onStreamDataBlocked(_ frame: StreamDataBlockedFrame) throws(WireError) {
        guard let entry = try streamForFrame(frame.streamID, needsReceive: true, frameType: .streamDataBlocked),
            let recv = entry.recv
        else { return }
        // The peer is blocked at our limit; make sure an update goes out if one is due.
        if recv.window.updatePending || recv.window.limit <= frame.maximumStreamData, recv.finalSize == nil {
            recv.window.updatePending = true
            entry.maxStreamDataPending = true
            enqueueForControl(entry)
        }
    }

    func onMaxData(_ maximum: UInt64) {
        if sendCredit.raise(to: maximum) {
            streams.forEach { entry in
                if entry.send?.hasDataToSend == true { enqueueForSending(entry) }
            }
        }
    }

    func onDataBlocked(_ maximum: UInt64) {
        if receiveWindow.limit <= maximum { maxDataPending = true }
    }

    func onMaxStreams(_ frame: MaxStreamsFrame) {
        let slot = Self.slot(frame.direction)
        if frame.maximumStreams > peerMaxStreams[slot] {
            let couldOpen = canOpen(frame.direction)
            peerMaxStreams[slot] = frame.maximumStreams
            if !couldOpen { events.append(.streamsAvailable(frame.direction)) }
        }
    }

    func onStreamsBlocked(_ frame: StreamsBlockedFrame) {
        let slot = Self.slot(frame.direction)
        if localMaxStreams[slot] <= frame.maximumStreams { maxStreamsPending[slot] = true }
    }

    // MARK: Sending

    private func enqueueForSending(_ entry: StreamEntry) {
        guard !entry.queuedForSending, entry.send?.hasDataToSend == true else { return }
        entry.queuedForSending = true
        sendQueue.append(entry.id)
    }

    private func enqueueForControl(_ entry: StreamEntry) {
        guard !entry.queuedForControl else { return }
        entry.queuedForControl = true
        controlQueue.append(entry.id)
    }

    private func notifyWritable(_ entry: StreamEntry) {
        guard entry.writeBlocked, let send = entry.send, send.writableBytes > 0 else { return }
        entry.writeBlocked = false
        events.append(.writable(entry.id))
    }

    /// Whether any stream or flow-control frame is waiting.
    var hasPendingFrames: Bool {
        maxDataPending || sendCredit.blockedPending || maxStreamsPending[0] || maxStreamsPending[1]
            || streamsBlockedPending[0] || streamsBlockedPending[1] || !controlQueue.isEmpty || hasSendableData
    }

    private var hasSendableData: Bool {
        for index in sendQueue.startIndex..<sendQueue.endIndex {
            guard let entry = streams[sendQueue[index]], let send = entry.send else { continue }
            if !send.lost.isEmpty { return true }
            if send.hasDataToSend && (sendCredit.available > 0 || send.nextChunk(maxLength: 1, connectionCredit: 0) != nil) {
                return true
            }
        }
        return false
    }

    /// Writes flow-control and stream-control frames that fit before `limit`.
    func writeControlFrames(
        into writer: inout ByteWriter, limit: Int, now: Instant, smoothedRTT: TimeSpan, record: (SentFrame) -> Void
    ) {
        func fits(_ frame: Frame) -> Bool { writer.offset + frame.encodedLength <= limit }

        if maxDataPending {
            // Sized for the largest limit the window could advertise.
            if fits(.maxData(consumedTotal + receiveWindow.maximumWindow)) {
                Frame.maxData(receiveWindow.nextLimit(now: now, smoothedRTT: smoothedRTT)).encode(into: &writer)
                maxDataPending = false
                record(.maxData)
            }
        }
        for slot in 0..<2 where maxStreamsPending[slot] {
            let direction: StreamDirection = slot == 0 ? .bidirectional : .unidirectional
            let frame = Frame.maxStreams(MaxStreamsFrame(direction: direction, maximumStreams: localMaxStreams[slot]))
            guard fits(frame) else { continue }
            frame.encode(into: &writer)
            maxStreamsPending[slot] = false
            record(.maxStreams(direction))
        }
        if sendCredit.blockedPending {
            let frame = Frame.dataBlocked(sendCredit.limit)
            if fits(frame) {
                frame.encode(into: &writer)
                sendCredit.blockedPending = false
                record(.dataBlocked)
            }
        }
        for slot in 0..<2 where streamsBlockedPending[slot] {
            let direction: StreamDirection = slot == 0 ? .bidirectional : .unidirectional
            let frame = Frame.streamsBlocked(StreamsBlockedFrame(direction: direction, maximumStreams: peerMaxStreams[slot]))
            guard fits(frame) else { continue }
            frame.encode(into: &writer)
            streamsBlockedPending[slot] = false
            record(.streamsBlocked(direction))
        }

        var remaining = controlQueue.count
        while remaining > 0, let id = controlQueue.popFirst() {
            remaining -= 1
            guard let entry = streams[id] else { continue }
            entry.queuedForControl = false
            let complete = writeStreamControl(entry, into: &writer, limit: limit, now: now, smoothedRTT: smoothedRTT, record: record)
            if !complete { enqueueForControl(entry) }
        }
    }

    /// Writes the pending control frames of one stream; false if some did not fit.
    private func writeStreamControl(
        _ entry: StreamEntry, into writer: inout ByteWriter, limit: Int, now: Instant, smoothedRTT: TimeSpan,
        record: (SentFrame) -> Void
    ) -> Bool {
        var complete = true
        if let send = entry.send, send.resetState == .pending {
            let frame = Frame.resetStream(
                ResetStreamFrame(streamID: entry.id, applicationErrorCode: send.resetCode, finalSize: send.finalSize ?? 0))
            if writer.offset + frame.encodedLength <= limit {
                frame.encode(into: &writer)
                send.resetState = .sent
                record(.resetStream(entry.id))
            } else {
                complete = false
            }
        }
        if let recv = entry.recv, recv.stopSendingPending, let code = recv.stopSendingCode {
            let frame = Frame.stopSending(StopSendingFrame(streamID: entry.id, applicationErrorCode: code))
            if writer.offset + frame.encodedLength <= limit {
                frame.encode(into: &writer)
                recv.stopSendingPending = false
                record(.stopSending(entry.id))
            } else {
                complete = false
            }
        }
        if entry.maxStreamDataPending, let recv = entry.recv {
            if recv.finalSize != nil || recv.resetCode != nil {
                entry.maxStreamDataPending = false
            } else {
                // Sized for the largest value the window could reach.
                let worst = Frame.maxStreamData(
                    MaxStreamDataFrame(streamID: entry.id, maximumStreamData: recv.readOffset + recv.window.maximumWindow))
                if writer.offset + worst.encodedLength <= limit {
                    let value = recv.window.nextLimit(now: now, smoothedRTT: smoothedRTT)
                    Frame.maxStreamData(MaxStreamDataFrame(streamID: entry.id, maximumStreamData: value)).encode(into: &writer)
                    entry.maxStreamDataPending = false
                    record(.maxStreamData(entry.id))
                } else {
                    complete = false
                }
            }
        }
        if entry.streamDataBlockedPending, let send = entry.send {
            let frame = Frame.streamDataBlocked(StreamDataBlockedFrame(streamID: entry.id, maximumStreamData: send.credit.limit))
            if writer.offset + frame.encodedLength <= limit {
                frame.encode(into: &writer)
                entry.streamDataBlockedPending = false
                record(.streamDataBlocked(entry.id))
            } else {
                complete = false
            }
        }
        return complete
    }

    /// Writes STREAM frames round-robin, one frame per stream per turn, until `limit`. Returns
    /// whether any was written.
    @discardableResult
    func writeStreamFrames(into writer: inout ByteWriter, limit: Int, record: (SentFrame) -> Void) -> Bool {
        var wrote = false
        var turns = sendQueue.count
        while turns > 0, limit - writer.offset > 8, let id = sendQueue.popFirst() {
            turns -= 1
            guard let entry = streams[id], let send = entry.send else { continue }
            entry.queuedForSending = false
            // Size the chunk for its exact header: first with a worst-case header, then again with
            // the header that chunk really needs, so the packet fills up to `limit`.
            let available = limit - writer.offset
            var chunk = send.nextChunk(
                maxLength: available - StreamFrame.headerLength(
                    streamID: id, offset: .max >> 2, dataLength: 16383, explicitLength: true),
                connectionCredit: sendCredit.available)
            if let first = chunk {
                let exact = StreamFrame.headerLength(
                    streamID: id, offset: first.offset, dataLength: max(first.length, 64), explicitLength: true)
                if let larger = send.nextChunk(maxLength: available - exact, connectionCredit: sendCredit.available),
                    larger.offset == first.offset,
                    StreamFrame.headerLength(streamID: id, offset: larger.offset, dataLength: larger.length, explicitLength: true)
                        + larger.length <= available
                {
                    chunk = larger
                }
            }
            if let chunk {
                StreamFrame.encodeHeader(
                    streamID: id, offset: chunk.offset, dataLength: chunk.length, fin: chunk.fin, explicitLength: true,
                    into: &writer)
                precondition(writer.offset + chunk.length <= limit)
                send.copy(offset: chunk.offset, length: chunk.length, into: writer.buffer.baseAddress! + writer.offset)
                writer.offset += chunk.length
                send.onSent(offset: chunk.offset, length: chunk.length, fin: chunk.fin, isNew: chunk.isNew)
                if chunk.isNew { sendCredit.consume(UInt64(chunk.length)) }
                record(.stream(id: id, offset: chunk.offset, length: chunk.length, fin: chunk.fin))
                wrote = true
            }
            // Note what blocks it, so the peer learns (§4.1).
            if send.isBlockedByStreamCredit, send.credit.noteBlocked() {
                entry.streamDataBlockedPending = true
                enqueueForControl(entry)
            }
            if send.hasDataToSend && sendCredit.available == 0 && send.lost.isEmpty { _ = sendCredit.noteBlocked() }
            if send.hasDataToSend {
                entry.queuedForSending = true
                sendQueue.append(id)
            }
        }
        return wrote
    }

    // MARK: Acknowledgments and losses

    func onFrame(_ frame: SentFrame, _ outcome: FrameOutcome) {
        switch (frame, outcome) {
        case (.stream(let id, let offset, let length, let fin), .acknowledged):
            guard let entry = streams[id], let send = entry.send else { return }
            if send.onAcknowledged(offset: offset, length: length, fin: fin) { events.append(.finished(id)) }
            notifyWritable(entry)
            maybeRemove(entry)
        case (.stream(let id, let offset, let length, let fin), .lost):
            guard let entry = streams[id], let send = entry.send else { return }
            send.onLost(offset: offset, length: length, fin: fin)
            enqueueForSending(entry)
        case (.resetStream(let id), .acknowledged):
            guard let entry = streams[id], let send = entry.send else { return }
            send.resetState = .acknowledged
            maybeRemove(entry)
        case (.resetStream(let id), .lost):
            guard let entry = streams[id], let send = entry.send, send.resetState == .sent else { return }
            send.resetState = .pending
            enqueueForControl(entry)
        case (.stopSending(let id), .lost):
            guard let entry = streams[id], let recv = entry.recv, !recv.isFinished, recv.finalSize == nil else { return }
            recv.stopSendingPending = true
            enqueueForControl(entry)
        case (.maxStreamData(let id), .lost):
            guard let entry = streams[id], let recv = entry.recv, recv.finalSize == nil else { return }
            entry.maxStreamDataPending = true
            enqueueForControl(entry)
        case (.streamDataBlocked(let id), .lost):
            guard let entry = streams[id], let send = entry.send, send.isBlockedByStreamCredit else { return }
            entry.streamDataBlockedPending = true
            enqueueForControl(entry)
        case (.maxData, .lost):
            maxDataPending = true
        case (.maxStreams(let direction), .lost):
            maxStreamsPending[Self.slot(direction)] = true
        case (.dataBlocked, .lost):
            if sendCredit.available == 0 { sendCredit.blockedPending = true }
        case (.streamsBlocked(let direction), .lost):
            let slot = Self.slot(direction)
            if !canOpen(direction) && streamsBlockedReportedAt[slot] == peerMaxStreams[slot] {
                streamsBlockedPending[slot] = true
            }
        default:
            break
        }
    }

    /// Forgets a stream both sides are done with; for the peer's streams, extends MAX_STREAMS.
    private func maybeRemove(_ entry: StreamEntry) {
        guard entry.isClosed, streams[entry.id] != nil else { return }
        streams[entry.id] = nil
        guard entry.id.initiator != role else { return }
        let slot = Self.slot(entry.id.direction)
        closedPeerStreams[slot] += 1
        let initial = slot == 0 ? limits.maxStreamsBidi : limits.maxStreamsUni
        let newLimit = closedPeerStreams[slot] + initial
        // Raise the limit in batches, once half the headroom is used.
        if newLimit > localMaxStreams[slot], localMaxStreams[slot] - nextPeerIndex[slot] <= initial / 2 {
            localMaxStreams[slot] = newLimit
            maxStreamsPending[slot] = true
        }
    }

    var openStreamCount: Int { streams.count }
}
