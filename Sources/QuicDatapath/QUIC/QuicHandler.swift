import QuicCore

/// Drives a QuicCore `Endpoint` from the poll-mode engine (DESIGN.md "sans-IO contract"): hands
/// it received datagrams in place, runs connection timers, and has connections build their
/// packets straight into the transmit space the port lends (a UMEM TX frame or a GSO slot).
/// Stateless replies (Version Negotiation, refusals) go out in the same transmit pass.
///
/// Generic over the application; nothing here allocates per datagram.
public struct QuicHandler<Application: QuicApplication & ~Copyable>: DatagramHandler, ~Copyable {
    public let endpoint: Endpoint
    public var application: Application
    /// Local address to send from; nil lets the port choose.
    public let localAddress: SocketAddress?

    /// Connections the engine drives, with whether the application wants `poll` each turn.
    private var active: [ConnectionHandle] = []
    private var wantsPoll: [Bool] = []
    private var transmitCursor = 0
    /// Stateless replies waiting for transmit space: fixed slots, reused.
    private let replySlots: UnsafeMutableRawBufferPointer
    private var replySizes: [Int]
    private var replyDestinations: [QuicCore.SocketAddress]
    private var replyCount = 0
    private static var replySlotSize: Int { 1500 }
    private static var replySlotCount: Int { 16 }
    /// Something happened since the last transmit pass (the engine must not sleep yet).
    private var dirty = true
    public private(set) var droppedDatagrams = 0

    public init(endpoint: Endpoint, application: consuming Application, localAddress: SocketAddress? = nil) {
        self.endpoint = endpoint
        self.application = application
        self.localAddress = localAddress
        replySlots = .allocate(byteCount: Self.replySlotSize * Self.replySlotCount, alignment: 64)
        replySizes = Array(repeating: 0, count: Self.replySlotCount)
        replyDestinations = Array(repeating: QuicCore.SocketAddress(ipv4: (0, 0, 0, 0), port: 0), count: Self.replySlotCount)
        active.reserveCapacity(64)
        wantsPoll.reserveCapacity(64)
    }

    deinit { replySlots.deallocate() }

    /// Starts a client connection on this endpoint (call on the worker thread).
    public mutating func connect(
        to remote: QuicCore.SocketAddress, serverName: String?, configuration: ConnectionConfiguration, now: Instant
    ) throws(TransportFailure) -> ConnectionHandle {
        let handle = try endpoint.connect(to: remote, serverName: serverName, configuration: configuration, now: now)
        adopt(handle, now: now)
        return handle
    }

    private mutating func adopt(_ handle: ConnectionHandle, now: Instant) {
        active.append(handle)
        wantsPoll.append(true)
        if let connection = endpoint.connection(handle) {
            application.connectionStarted(handle, connection, now: now)
            deliverEvents(handle, connection, now: now)
        }
        dirty = true
    }

    private var nextReplySlot: UnsafeMutableRawBufferPointer? {
        guard replyCount < Self.replySlotCount else { return nil }
        let start = replyCount * Self.replySlotSize
        return UnsafeMutableRawBufferPointer(rebasing: replySlots[start..<(start + Self.replySlotSize)])
    }

    public mutating func handle(_ batch: ReceivedBatch, now time: MonotonicTime) {
        let now = Instant(time)
        for datagram in batch {
            let remote = QuicCore.SocketAddress(datagram.source)
            // A reply, if any, is written straight into the next free slot.
            let slot = nextReplySlot ?? UnsafeMutableRawBufferPointer(start: nil, count: 0)
            let event = endpoint.handle(
                datagram: datagram.payload, from: remote, to: QuicCore.SocketAddress(datagram.destination),
                ecn: ECNCodepoint(datagram.ecn), now: now, replyBuffer: slot)
            switch event {
            case .delivered(let handle):
                if let connection = endpoint.connection(handle) { deliverEvents(handle, connection, now: now) }
            case .incoming(let incoming):
                if application.shouldAccept(incoming), let handle = try? endpoint.accept(incoming, now: now) {
                    adopt(handle, now: now)
                } else if let slot = nextReplySlot, let transmit = endpoint.refuse(incoming, now: now, into: slot) {
                    queueReply(size: transmit.size, to: transmit.destination)
                }
            case .reply(let transmit):
                queueReply(size: transmit.size, to: transmit.destination)
            case .dropped:
                droppedDatagrams += 1
            }
        }
        dirty = true
    }

    private mutating func queueReply(size: Int, to destination: QuicCore.SocketAddress) {
        guard replyCount < Self.replySlotCount else { return }
        replySizes[replyCount] = size
        replyDestinations[replyCount] = destination
        replyCount += 1
    }

    /// Passes a connection's events to the application, then lets the endpoint apply routing
    /// changes (and forget the connection once drained).
    private mutating func deliverEvents(_ handle: ConnectionHandle, _ connection: Connection, now: Instant) {
        while let event = connection.pollEvent() {
            application.handle(event, on: handle, connection, now: now)
            if let index = active.firstIndex(of: handle) { wantsPoll[index] = true }
        }
        endpoint.processEvents(of: handle)
    }

    public func nextTimeout() -> MonotonicTime? {
        var earliest = application.nextTimeout()
        for handle in active {
            guard let timeout = endpoint.connection(handle)?.pollTimeout() else { continue }
            if earliest == nil || timeout < earliest! { earliest = timeout }
        }
        return earliest.map(MonotonicTime.init)
    }

    public mutating func handleTimeout(now time: MonotonicTime) {
        let now = Instant(time)
        if let deadline = application.nextTimeout(), deadline <= now { application.handleTimeout(now: now) }
        var index = 0
        while index < active.count {
            let handle = active[index]
            guard let connection = endpoint.connection(handle) else {
                retire(at: index)
                continue
            }
            if let timeout = connection.pollTimeout(), timeout <= now { connection.handleTimeout(now: now) }
            deliverEvents(handle, connection, now: now)
            if endpoint.connection(handle) == nil {
                retire(at: index)
                continue
            }
            index += 1
        }
        dirty = true
    }

    private mutating func retire(at index: Int) {
        let handle = active.remove(at: index)
        wantsPoll.remove(at: index)
        application.connectionEnded(handle)
        if transmitCursor > index { transmitCursor -= 1 }
    }

    public mutating func pollTransmits<Queue: TransmitQueue & ~Copyable>(into queue: inout Queue, now time: MonotonicTime) {
        let now = Instant(time)
        // Connections the application asked for (client side).
        if let requests = application.takeConnectRequests() {
            for request in requests {
                do {
                    let handle = try endpoint.connect(
                        to: request.remote, serverName: request.serverName, configuration: request.configuration, now: now)
                    application.connectRequestCompleted(tag: request.tag, .success(handle))
                    adopt(handle, now: now)
                } catch {
                    application.connectRequestCompleted(tag: request.tag, .failure(error))
                }
            }
        }
        // Stateless replies first.
        var sentReplies = 0
        while sentReplies < replyCount, let space = queue.reserve() {
            let size = replySizes[sentReplies]
            guard size <= space.count else { break }
            space.copyMemory(from: UnsafeRawBufferPointer(rebasing: replySlots[(sentReplies * Self.replySlotSize)...].prefix(size)))
            queue.commit(length: size, to: SocketAddress(replyDestinations[sentReplies]), from: localAddress, ecn: .notECT)
            sentReplies += 1
        }
        if sentReplies > 0 {
            // Move any replies that did not fit to the front.
            for index in sentReplies..<replyCount {
                replySizes[index - sentReplies] = replySizes[index]
                replyDestinations[index - sentReplies] = replyDestinations[index]
                (replySlots.baseAddress! + (index - sentReplies) * Self.replySlotSize).copyMemory(
                    from: replySlots.baseAddress! + index * Self.replySlotSize, byteCount: replySizes[index])
            }
            replyCount -= sentReplies
        }

        // Then the connections, round-robin, each until it has nothing more or space runs out.
        guard !active.isEmpty else {
            dirty = replyCount > 0
            return
        }
        var visited = 0
        var outOfSpace = false
        while visited < active.count, !outOfSpace {
            if transmitCursor >= active.count { transmitCursor = 0 }
            let handle = active[transmitCursor]
            if let connection = endpoint.connection(handle) {
                if wantsPoll[transmitCursor] {
                    wantsPoll[transmitCursor] = application.poll(handle, connection, now: now)
                }
                while true {
                    guard let space = queue.reserve() else {
                        outOfSpace = true
                        break
                    }
                    guard let transmit = connection.pollTransmit(now: now, into: space) else { break }
                    // The connection names the source once it knows the path's local address
                    // (a migrated client, a server replying from its preferred address).
                    queue.commit(
                        length: transmit.size, to: SocketAddress(transmit.destination),
                        from: transmit.source.map { SocketAddress($0) } ?? localAddress, ecn: ECN(transmit.ecn))
                }
                deliverEvents(handle, connection, now: now)
            }
            transmitCursor += 1
            visited += 1
        }
        dirty = outOfSpace || replyCount > 0 || wantsPoll.contains(true)
    }

    public var wantsToTransmit: Bool { dirty }

    public mutating func willSleep() -> Bool { application.willSleep() }
    public mutating func didWake() { application.didWake() }

    /// Connections the handler drives.
    public var connections: [ConnectionHandle] { active }
}
