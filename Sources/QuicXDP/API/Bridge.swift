import QuicDatapath
import Synchronization

/// What an endpoint's application tasks and its worker threads share (DESIGN.md: the workers
/// own the endpoint; applications hand them work). Nothing here is locked on a worker's path:
/// commands go to a worker through its `WorkerMailbox` (lock-free MPSC), and everything coming
/// back travels through `EventChannel`s (lock-free buffers and a doorbell); the connection's
/// own objects (`ConnectionChannel`, `StreamChannel`) carry the rest.
final class Bridge: Sendable {
    /// Connections whose handshake completed (server side), from every worker.
    let incoming = EventChannel(ListBuffer<ConnectionChannel>())
    /// One per worker, registered when the worker starts (setup only; tasks read it to connect).
    private let mailboxes = Mutex<[WorkerMailbox]>([])

    init() {}

    func register(_ mailbox: WorkerMailbox) { mailboxes.withLock { $0.append(mailbox) } }

    /// Where client connections are started (the first worker).
    var connectMailbox: WorkerMailbox? { mailboxes.withLock { $0.first } }

    /// The endpoint stopped (its workers have ended): every waiting call fails, later ones too.
    func stopAll() {
        incoming.finish(.failed(.endpointStopped))
        for mailbox in mailboxes.withLock({ $0 }) { mailbox.close() }
    }
}
