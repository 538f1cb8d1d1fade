/// What the poll-mode engine drives: the QUIC endpoint (QuicCore) will conform to this; tests
/// use an echo handler. Sans-IO in the sense of DESIGN.md: the handler reads no clock and
/// touches no socket; time and datagrams are passed in, outgoing datagrams are written into
/// space the port lends.
///
/// One engine turn, in this order (quinn-proto's driver loop):
/// 1. `handle(_:now:)` with each received batch (datagrams in place, valid only during the call);
/// 2. `handleTimeout(now:)` when `nextTimeout()` has passed;
/// 3. `pollTransmits(into:now:)` until it returns without committing, or the queue is full;
/// 4. `nextTimeout()` to decide how long the engine may sleep when there is no traffic.
///
/// Nothing here may allocate per datagram: payload views point into UMEM frames or the
/// UDP port's receive buffer; transmit space is a UMEM TX frame or a GSO buffer slot.
public protocol DatagramHandler: ~Copyable {
    /// Consumes received datagrams. Payloads may be decrypted in place.
    mutating func handle(_ batch: ReceivedBatch, now: MonotonicTime)

    /// Writes outgoing datagrams into `queue` (see `TransmitQueue`). Stops when it has nothing
    /// more to send or `reserve()` returns nil; anything left is asked for again next turn.
    mutating func pollTransmits<Queue: TransmitQueue & ~Copyable>(into queue: inout Queue, now: MonotonicTime)

    /// The earliest instant the handler needs `handleTimeout` (loss detection, idle, pacing,
    /// delayed ACK), or nil for none.
    func nextTimeout() -> MonotonicTime?

    /// Called once `now` has reached `nextTimeout()`.
    mutating func handleTimeout(now: MonotonicTime)

    /// True when the handler has datagrams it wants to send now (so the engine does not sleep).
    var wantsToTransmit: Bool { get }

    /// The engine is about to block in poll(2). Returning false keeps it awake: work arrived
    /// from another thread (see `WorkerMailbox` in QuicXDP, which wakes a sleeping engine).
    mutating func willSleep() -> Bool

    /// The engine returned from poll(2).
    mutating func didWake()
}

extension DatagramHandler where Self: ~Copyable {
    public mutating func willSleep() -> Bool { true }
    public mutating func didWake() {}
}
