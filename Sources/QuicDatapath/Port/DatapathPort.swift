/// A datapath port (not `Port`, which clashes with Foundation.Port): one receive queue and its
/// transmit path (an AF_XDP socket on a NIC queue, or a UDP socket). The engine is generic over it, so nothing on the path goes through an
/// existential.
///
/// Ownership: a port owns its sockets and memory and releases them in `deinit` on every exit
/// path. It is not thread safe: one worker thread drives it.
public protocol DatapathPort: ~Copyable {
    associatedtype Queue: TransmitQueue

    /// Receives up to one batch without blocking and lends it to `body`. The datagrams are in
    /// place in the port's memory, valid only inside `body`; their frames are recycled when it
    /// returns. Returns the number of datagrams received (0: nothing waiting).
    mutating func receive(_ body: (ReceivedBatch) -> Void) throws(DatapathError) -> Int

    /// Lends the transmit queue to `body`, then hands everything committed to the kernel.
    /// Returns the number of datagrams committed.
    mutating func transmit(_ body: (inout Queue) -> Void) throws(DatapathError) -> Int

    /// Housekeeping between batches: reclaim completed transmissions, retry sends the kernel
    /// could not take, kick the kernel when it asked for a wakeup.
    mutating func service() throws(DatapathError)

    /// True while the port still holds datagrams the kernel has not taken.
    var hasPendingTransmit: Bool { get }

    /// The descriptor to wait on with poll(2) when idle (readable = datagrams waiting).
    var pollDescriptor: Int32 { get }

    /// Largest UDP payload one `reserve()` returns.
    var maxPayloadSize: Int { get }
}
