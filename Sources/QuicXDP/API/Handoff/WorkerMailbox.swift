import QuicCore
import QuicDatapath
import QuicWire
import Synchronization

/// Application tasks → one engine worker: commands through a lock-free MPSC queue (any number
/// of tasks produce, the worker consumes; see `MPSCQueue` for why one queue rather than a ring
/// per producer: tasks have no stable thread, and several may act on one connection). The
/// worker's eventfd is written only when a command lands in an empty queue while the worker
/// is asleep (or about to be), so a busy worker costs producers no system call.
final class WorkerMailbox: Sendable {
    enum Command {
        case connect(ConnectRequest, CheckedContinuation<ConnectionChannel, any Error>)
        case openStream(connection: ConnectionChannel, StreamDirection, CheckedContinuation<StreamChannel, any Error>)
        case write(connection: ConnectionChannel, stream: StreamID, bytes: [UInt8], fin: Bool, CheckedContinuation<Void, any Error>)
        case resumeReading(connection: ConnectionChannel, stream: StreamID)
        case reset(connection: ConnectionChannel, stream: StreamID, code: UInt64)
        case stopSending(connection: ConnectionChannel, stream: StreamID, code: UInt64)
        case datagram(connection: ConnectionChannel, bytes: [UInt8], CheckedContinuation<Void, any Error>)
        case close(connection: ConnectionChannel, code: UInt64, reason: String)

        func fail(_ error: any Error) {
            switch self {
            case .connect(_, let continuation): continuation.resume(throwing: error)
            case .openStream(_, _, let continuation): continuation.resume(throwing: error)
            case .write(_, _, _, _, let continuation): continuation.resume(throwing: error)
            case .datagram(_, _, let continuation): continuation.resume(throwing: error)
            case .resumeReading, .reset, .stopSending, .close: break
            }
        }
    }

    let commands = MPSCQueue<Command>()
    let control: EngineControl
    /// The worker is about to block in poll(2), or is blocked there.
    private let sleeping = Atomic<Bool>(false)

    init(control: EngineControl) { self.control = control }

    /// Queues a command for the worker; fails it at once when the worker has stopped.
    func submit(_ command: Command) {
        switch commands.push(command) {
        case .closed:
            command.fail(QuicError.endpointStopped)
        case .queued(let wasEmpty):
            // Dekker with `workerWillSleep`: the push above is sequentially consistent, so
            // either this load sees the worker's announcement or the worker sees the command.
            if wasEmpty && sleeping.load(ordering: .sequentiallyConsistent) { control.wake() }
        }
    }

    // MARK: Worker side

    /// The worker wants to block: returns false (and stays awake) when commands are waiting.
    func workerWillSleep() -> Bool {
        sleeping.store(true, ordering: .sequentiallyConsistent)
        if commands.isEmpty { return true }
        sleeping.store(false, ordering: .relaxed)
        return false
    }

    func workerDidWake() { sleeping.store(false, ordering: .relaxed) }

    /// The worker stopped: later commands fail at once, queued ones fail now.
    func close() {
        commands.close { $0.fail(QuicError.endpointStopped) }
    }
}
