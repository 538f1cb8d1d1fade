import QuicCore
import QuicWire
import Synchronization

/// What application tasks and the worker share about one connection. The worker creates it
/// when the connection starts and hands it out (accept, connect) once the handshake completed;
/// everything in it is either immutable, written once, or a channel.
final class ConnectionChannel: Sendable {
    let id: Int
    /// The worker that owns the connection: every command for it goes there.
    let mailbox: WorkerMailbox
    let alpn = WriteOnce<String>()
    let closeReason = WriteOnce<String>()
    let incomingStreams = EventChannel(ListBuffer<StreamChannel>())
    let datagrams = EventChannel(RingBuffer<[UInt8]>(capacity: ConnectionChannel.datagramsKept))

    /// Received DATAGRAM frames kept for the application; more are dropped (they are unreliable).
    static let datagramsKept = 256

    init(id: Int, mailbox: WorkerMailbox) {
        self.id = id
        self.mailbox = mailbox
    }
}

/// One stream's receive side, shared by the worker (producer) and the readers. Bytes wait in a
/// bounded ring of chunks; `buffered` counts them. The worker stops reading from QUIC when the
/// ring or the byte budget is full — QUIC flow control then slows the sender — and a reader
/// that drains it below half asks the worker to read on.
final class StreamChannel: Sendable {
    let id: StreamID
    let inbound = EventChannel(RingBuffer<[UInt8]>(capacity: StreamChannel.chunksKept))
    let buffered = Atomic<Int>(0)
    /// The worker stopped reading for lack of room and waits for a `resumeReading` command.
    let readPaused = Atomic<Bool>(false)

    /// Bytes held for a stream the application has not read yet.
    static let inboundLimit = 1 << 20
    static let chunksKept = 64

    init(id: StreamID) { self.id = id }

    /// Reader side, after taking `count` bytes: true when the worker should read on (the
    /// caller sends the command; only one reader sees true per pause).
    func consumed(_ count: Int) -> Bool {
        let left = buffered.subtract(count, ordering: .sequentiallyConsistent).newValue
        return left < StreamChannel.inboundLimit / 2 && readPaused.load(ordering: .sequentiallyConsistent)
            && readPaused.exchange(false, ordering: .sequentiallyConsistent)
    }

    /// Worker side: room for more without passing the budget or filling the ring. The ring's
    /// last slot is kept for what QUIC still holds when the connection closes.
    var room: Int {
        inbound.buffer.isNearlyFull ? 0 : StreamChannel.inboundLimit - buffered.load(ordering: .sequentiallyConsistent)
    }

    /// Worker side: stop reading; returns true when the readers drained meanwhile and the
    /// worker should go on itself (the pause is then already undone).
    func pause() -> Bool {
        readPaused.store(true, ordering: .sequentiallyConsistent)
        // The same Dekker shape as the doorbell: a reader that consumed before seeing the flag
        // left the counter low, which the worker sees here.
        guard buffered.load(ordering: .sequentiallyConsistent) < StreamChannel.inboundLimit / 2,
              !inbound.buffer.isNearlyFull
        else { return false }
        return readPaused.exchange(false, ordering: .sequentiallyConsistent)
    }
}
