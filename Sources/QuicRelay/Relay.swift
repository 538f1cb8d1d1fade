import CQuicShim
import Glibc
import Synchronization

/// The impairment relay: clients send to `listen`; the relay forwards to `upstream` from its own
/// socket, remembers the most recent client address, and sends the server's replies back to
/// it. Each direction runs on its own thread with its own impairment model and delay queue.
///
/// Rebinding replaces the upstream socket (new source port, and optionally a new source
/// address) so the server sees what a NAT rebinding looks like; replies still in flight to the
/// old port are lost, as they would be behind a real NAT.
public final class Relay: @unchecked Sendable {
    public let configuration: RelayConfiguration
    let listenFD: Int32
    /// Written once to stop both threads (never read, so it stays readable).
    let stopFD: Int32
    /// Wakes the server→client thread when the upstream socket changed.
    let rebindFD: Int32
    let startTime: UInt64
    let stopping = Atomic<Bool>(false)

    struct Shared {
        var upstreamFD: Int32
        var upstreamGeneration: UInt64 = 0
        var retired: [Int32] = []
        var upstreamSource: RelayAddress
        var rebinds: UInt64 = 0
        var client: RelayAddress?
        var clientChanges: UInt64 = 0
        var clientToServer = DirectionCounters()
        var serverToClient = DirectionCounters()
    }
    let shared: Mutex<Shared>
    /// Lets the server→client thread notice a new client or upstream socket without locking.
    let clientGeneration = Atomic<UInt64>(0)
    let upstreamGeneration = Atomic<UInt64>(0)
    private var threads: [RelayThread] = []

    /// Opens both sockets; nothing is forwarded before `start()`.
    public init(configuration: RelayConfiguration) throws(RelayError) {
        self.configuration = configuration
        guard configuration.batchSize > 0, configuration.queueSlots >= configuration.batchSize else {
            throw RelayError("--batch must be positive and --queue-slots at least the batch size")
        }
        listenFD = try RelaySocket.open(bindTo: configuration.listen, buffer: configuration.socketBuffer, role: "listening")
        let upstreamBind = configuration.upstreamBind ?? .any(family: configuration.upstream.family)
        guard upstreamBind.family == configuration.upstream.family else {
            close(listenFD)
            throw RelayError("--upstream-bind \(upstreamBind) and --upstream \(configuration.upstream) are of different address families")
        }
        let upstreamFD: Int32
        do {
            upstreamFD = try RelaySocket.open(bindTo: upstreamBind, buffer: configuration.socketBuffer, role: "upstream")
        } catch {
            close(listenFD)
            throw error
        }
        stopFD = eventfd(0, Int32(EFD_NONBLOCK) | Int32(EFD_CLOEXEC))
        rebindFD = eventfd(0, Int32(EFD_NONBLOCK) | Int32(EFD_CLOEXEC))
        startTime = monotonicNow()
        shared = Mutex(Shared(upstreamFD: upstreamFD, upstreamSource: RelaySocket.localAddress(upstreamFD)))
    }

    deinit {
        stop()
        close(listenFD)
        close(stopFD)
        close(rebindFD)
        shared.withLock { state in
            close(state.upstreamFD)
            for fd in state.retired { close(fd) }
        }
    }

    /// The address the relay listens on (with the port the kernel chose if it was 0).
    public var listenAddress: RelayAddress { RelaySocket.localAddress(listenFD) }

    public func start() throws(RelayError) {
        guard threads.isEmpty else { return }
        threads.append(try RelayThread { [self] in runClientToServer() })
        threads.append(try RelayThread { [self] in runServerToClient() })
    }

    /// Stops both threads and waits for them; the statistics stay readable.
    public func stop() {
        guard !stopping.exchange(true, ordering: .acquiringAndReleasing) else {
            return
        }
        var one: UInt64 = 1
        _ = write(stopFD, &one, 8)
        for thread in threads { thread.join() }
    }

    public func statistics() -> RelayStatistics {
        shared.withLock { state in
            RelayStatistics(
                uptimeNanoseconds: monotonicNow() - startTime, clientToServer: state.clientToServer,
                serverToClient: state.serverToClient, client: state.client, clientChanges: state.clientChanges,
                upstreamSource: state.upstreamSource, rebinds: state.rebinds)
        }
    }

    /// The seeds of the two directions differ so their random streams are independent.
    func makeForwarder(direction: UInt64) -> Forwarder {
        let forwarder = Forwarder(
            link: LinkModel(impairments: configuration.impairments, seed: configuration.seed &* 0x9e37_79b9 &+ direction, epoch: startTime),
            queueSlots: configuration.queueSlots, slotSize: configuration.maxDatagramSize, batch: configuration.batchSize)
        forwarder.gso = configuration.gso
        return forwarder
    }

    /// At most this many batches are read before due datagrams are sent again.
    static let receiveBudget = 16

    // MARK: client → server

    func runClientToServer() {
        let forwarder = makeForwarder(direction: 1)
        var upstreamFD = shared.withLock { $0.upstreamFD }
        var client: RelayAddress?
        var nextPortRebind = configuration.rebindPortInterval.map { startTime + UInt64($0) }
        var nextAddressRebind = configuration.rebindAddresses.isEmpty ? nil : startTime + UInt64(configuration.rebindAddressInterval)
        var addressIndex = -1
        var currentBind = configuration.upstreamBind ?? .any(family: configuration.upstream.family)
        var readable = true
        var blocked = false
        var fds = [pollfd](repeating: pollfd(), count: 3)
        while !stopping.load(ordering: .relaxed) {
            var now = monotonicNow()
            // Rebinding: a new upstream socket, handed to the other thread, which closes the old.
            var rebindNow = false
            if let due = nextAddressRebind, now >= due {
                addressIndex = (addressIndex + 1) % configuration.rebindAddresses.count
                currentBind = configuration.rebindAddresses[addressIndex]
                nextAddressRebind = due + UInt64(configuration.rebindAddressInterval)
                rebindNow = true
            }
            if let due = nextPortRebind, now >= due {
                nextPortRebind = due + UInt64(configuration.rebindPortInterval!)
                rebindNow = true
            }
            if rebindNow, let fd = rebind(to: currentBind) { upstreamFD = fd }

            if readable {
                for _ in 0..<Self.receiveBudget {
                    let count = forwarder.receive(fd: listenFD, now: now) { name, length in
                        // The most recent client is where replies go.
                        let source = RelayAddress(raw: name, length: length)
                        if source != client {
                            client = source
                            shared.withLock { state in
                                state.client = source
                                state.clientChanges += 1
                            }
                            clientGeneration.add(1, ordering: .releasing)
                        }
                        return nil
                    }
                    if count < forwarder.batch { break }
                }
                now = monotonicNow()
            }
            blocked = forwarder.flush(fd: upstreamFD, to: configuration.upstream, now: now) == .blocked
            publish(forwarder, clientToServer: true)

            var timeout: Int64 = -1
            if let next = forwarder.queue.nextRelease, !blocked { timeout = Int64(next > now ? next - now : 0) }
            if let due = nextPortRebind { timeout = Self.earlier(timeout, due: due, now: now) }
            if let due = nextAddressRebind { timeout = Self.earlier(timeout, due: due, now: now) }
            fds[0] = pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0)
            fds[1] = pollfd(fd: upstreamFD, events: blocked ? Int16(POLLOUT) : 0, revents: 0)
            fds[2] = pollfd(fd: stopFD, events: Int16(POLLIN), revents: 0)
            _ = quic_ppoll(&fds, 3, timeout)
            readable = fds[0].revents & Int16(POLLIN) != 0
        }
        publish(forwarder, clientToServer: true)
    }

    /// A ppoll timeout (negative: none) shortened to reach `due`.
    static func earlier(_ timeout: Int64, due: UInt64, now: UInt64) -> Int64 {
        let wait = Int64(due > now ? due - now : 0)
        return timeout < 0 ? wait : min(timeout, wait)
    }

    /// Opens the next upstream socket and publishes it; nil (keeping the old one) if that fails.
    func rebind(to address: RelayAddress) -> Int32? {
        let fd: Int32
        do {
            fd = try RelaySocket.open(bindTo: address, buffer: configuration.socketBuffer, role: "rebound upstream")
        } catch {
            relayLog("rebinding failed, keeping the old source: \(error)")
            return nil
        }
        let source = RelaySocket.localAddress(fd)
        shared.withLock { state in
            state.retired.append(state.upstreamFD)
            state.upstreamFD = fd
            state.upstreamGeneration += 1
            state.upstreamSource = source
            state.rebinds += 1
        }
        upstreamGeneration.add(1, ordering: .releasing)
        var one: UInt64 = 1
        _ = write(rebindFD, &one, 8)
        return fd
    }

    // MARK: server → client

    func runServerToClient() {
        let forwarder = makeForwarder(direction: 2)
        var upstreamFD = shared.withLock { $0.upstreamFD }
        var seenUpstream: UInt64 = 0
        var seenClient: UInt64 = 0
        var client: RelayAddress?
        let upstream = configuration.upstream
        var readable = true
        var blocked = false
        var fds = [pollfd](repeating: pollfd(), count: 4)
        while !stopping.load(ordering: .relaxed) {
            if upstreamGeneration.load(ordering: .acquiring) != seenUpstream {
                var drained: UInt64 = 0
                _ = read(rebindFD, &drained, 8)
                let retired = shared.withLock { state -> [Int32] in
                    upstreamFD = state.upstreamFD
                    seenUpstream = state.upstreamGeneration
                    defer { state.retired.removeAll() }
                    return state.retired
                }
                for fd in retired { close(fd) }
                readable = true
            }
            if clientGeneration.load(ordering: .acquiring) != seenClient {
                (client, seenClient) = shared.withLock { ($0.client, clientGeneration.load(ordering: .relaxed)) }
            }
            var now = monotonicNow()
            if readable {
                for _ in 0..<Self.receiveBudget {
                    let count = forwarder.receive(fd: upstreamFD, now: now) { name, length in
                        RelayAddress(raw: name, length: length) == upstream ? nil : .foreign
                    }
                    if count < forwarder.batch { break }
                }
                now = monotonicNow()
            }
            blocked = forwarder.flush(fd: listenFD, to: client, now: now) == .blocked
            publish(forwarder, clientToServer: false)

            var timeout: Int64 = -1
            if let next = forwarder.queue.nextRelease, !blocked { timeout = Int64(next > now ? next - now : 0) }
            fds[0] = pollfd(fd: upstreamFD, events: Int16(POLLIN), revents: 0)
            fds[1] = pollfd(fd: listenFD, events: blocked ? Int16(POLLOUT) : 0, revents: 0)
            fds[2] = pollfd(fd: stopFD, events: Int16(POLLIN), revents: 0)
            fds[3] = pollfd(fd: rebindFD, events: Int16(POLLIN), revents: 0)
            _ = quic_ppoll(&fds, 4, timeout)
            readable = fds[0].revents & Int16(POLLIN) != 0
        }
        publish(forwarder, clientToServer: false)
    }

    /// Merges a forwarder's counters into the shared statistics (once per loop turn).
    func publish(_ forwarder: Forwarder, clientToServer: Bool) {
        let queued = UInt64(forwarder.queue.count)
        let counters = forwarder.counters
        guard !counters.isZero || forwarder.publishedQueued != queued else { return }
        forwarder.publishedQueued = queued
        shared.withLock { state in
            if clientToServer {
                state.clientToServer.merge(counters)
                state.clientToServer.queued = queued
            } else {
                state.serverToClient.merge(counters)
                state.serverToClient.queued = queued
            }
        }
        forwarder.counters.reset()
    }
}
