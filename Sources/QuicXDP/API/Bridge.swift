import QuicCore
import QuicDatapath
import QuicWire
import Synchronization

/// The state the application tasks and the endpoint's worker thread share (DESIGN.md: the
/// worker owns the endpoint; applications hand it work). A `Mutex` guards it; the worker takes
/// it once per engine turn at most, and only when `hasWork` says a task left something.
/// Continuations are always resumed outside the lock.
final class Bridge: Sendable {
    enum Command {
        case connect(ConnectRequest, CheckedContinuation<Int, any Error>)
        case openStream(connection: Int, StreamDirection, CheckedContinuation<StreamID, any Error>)
        case write(connection: Int, stream: StreamID, bytes: [UInt8], fin: Bool, CheckedContinuation<Void, any Error>)
        case resumeReading(connection: Int, stream: StreamID)
        case reset(connection: Int, stream: StreamID, code: UInt64)
        case stopSending(connection: Int, stream: StreamID, code: UInt64)
        case datagram(connection: Int, bytes: [UInt8], CheckedContinuation<Void, any Error>)
        case close(connection: Int, code: UInt64, reason: String)
    }

    struct StreamState {
        var inbound: [UInt8] = []
        var inboundFin = false
        var inboundError: QuicError?
        var reader: CheckedContinuation<[UInt8]?, any Error>?
        /// The worker stopped reading from QUIC because `inbound` was full.
        var readPaused = false
    }

    struct ConnectionState {
        var established = false
        var closed: String?
        var alpn: String?
        var establishedWaiters: [CheckedContinuation<Void, any Error>] = []
        var incomingStreams: [StreamID] = []
        var streamWaiters: [CheckedContinuation<StreamID, any Error>] = []
        var streams: [StreamID: StreamState] = [:]
        var datagrams: [[UInt8]] = []
        var datagramWaiters: [CheckedContinuation<[UInt8], any Error>] = []
    }

    struct State {
        var commands: [Command] = []
        var connections: [Int: ConnectionState] = [:]
        var incoming: [Int] = []
        var acceptWaiters: [CheckedContinuation<Int, any Error>] = []
        var stopped = false
        /// Ended connections, oldest first: their state shrinks to the close reason and the
        /// oldest are forgotten, so a long-running server does not grow.
        var ended: [Int] = []
    }

    /// Connections kept as a close reason after they ended (for callers that still hold them).
    static let endedConnectionsKept = 1024

    /// Bytes held for a stream the application has not read yet; beyond this the worker leaves
    /// data in QUIC, whose flow control then slows the sender.
    static let inboundLimit = 1 << 20

    let state = Mutex(State())
    let hasWork = Atomic<Bool>(false)
    let control: EngineControl

    init(control: EngineControl) { self.control = control }

    /// Queues a command for the worker and wakes it.
    func submit(_ command: Command) {
        let accepted = state.withLock { state -> Bool in
            guard !state.stopped else { return false }
            state.commands.append(command)
            return true
        }
        guard accepted else {
            Bridge.fail(command, QuicError.endpointStopped)
            return
        }
        hasWork.store(true, ordering: .releasing)
        control.wake()
    }

    static func fail(_ command: Command, _ error: any Error) {
        switch command {
        case .connect(_, let continuation): continuation.resume(throwing: error)
        case .openStream(_, _, let continuation): continuation.resume(throwing: error)
        case .write(_, _, _, _, let continuation): continuation.resume(throwing: error)
        case .datagram(_, _, let continuation): continuation.resume(throwing: error)
        case .resumeReading, .reset, .stopSending, .close: break
        }
    }

    /// A connection left its endpoint: keep only why it ended.
    func retire(_ id: Int) {
        state.withLock { state in
            guard let connection = state.connections[id] else { return }
            var tombstone = Bridge.ConnectionState()
            tombstone.closed = connection.closed ?? "connection ended"
            tombstone.alpn = connection.alpn
            state.connections[id] = tombstone
            state.ended.append(id)
            if state.ended.count > Bridge.endedConnectionsKept {
                state.connections[state.ended.removeFirst()] = nil
            }
        }
    }

    /// The endpoint stopped: every waiter fails.
    func stopAll() {
        let (commands, waiters) = state.withLock { state -> ([Command], [any ResumableWaiter]) in
            state.stopped = true
            var waiters: [any ResumableWaiter] = state.acceptWaiters.map { WaiterBox($0) }
            for (_, connection) in state.connections {
                waiters += connection.establishedWaiters.map { WaiterBox($0) }
                waiters += connection.streamWaiters.map { WaiterBox($0) }
                waiters += connection.datagramWaiters.map { WaiterBox($0) }
                waiters += connection.streams.values.compactMap { $0.reader.map { WaiterBox($0) } }
            }
            state.acceptWaiters = []
            state.connections = [:]
            let commands = state.commands
            state.commands = []
            return (commands, waiters)
        }
        for command in commands { Bridge.fail(command, QuicError.endpointStopped) }
        for waiter in waiters { waiter.fail(QuicError.endpointStopped) }
    }
}

/// Lets continuations of different result types be failed together.
protocol ResumableWaiter { func fail(_ error: any Error) }
struct WaiterBox<T>: ResumableWaiter {
    let continuation: CheckedContinuation<T, any Error>
    init(_ continuation: CheckedContinuation<T, any Error>) { self.continuation = continuation }
    func fail(_ error: any Error) { continuation.resume(throwing: error) }
}
