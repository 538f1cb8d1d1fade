/// One received UDP datagram, in place: `payload` points into the port's receive memory (a UMEM
/// frame for AF_XDP, the recvmmsg buffer for the UDP port) and may be modified there (packet
/// protection is removed in place, DESIGN.md). Valid only during the `handle` call that
/// received it; the frame is recycled when the call returns.
@frozen
public struct ReceivedDatagram {
    /// The UDP payload (the QUIC packets).
    public var payload: UnsafeMutableRawBufferPointer
    /// The peer's address and port.
    public var source: SocketAddress
    /// The local address and port the datagram was sent to (for replies from the same address,
    /// RFC 9000 §9).
    public var destination: SocketAddress
    /// ECN codepoint from the IP header (RFC 9000 §13.4).
    public var ecn: ECN

    @inlinable
    public init(payload: UnsafeMutableRawBufferPointer, source: SocketAddress,
                destination: SocketAddress, ecn: ECN) {
        self.payload = payload
        self.source = source
        self.destination = destination
        self.ecn = ecn
    }
}

/// A batch of received datagrams lent to the handler. Storage is preallocated by the port.
@frozen
public struct ReceivedBatch: RandomAccessCollection {
    @usableFromInline let storage: UnsafeMutableBufferPointer<ReceivedDatagram>
    @usableFromInline let used: Int

    @inlinable init(storage: UnsafeMutableBufferPointer<ReceivedDatagram>, count: Int) {
        self.storage = storage
        self.used = count
    }

    @inlinable public var startIndex: Int { 0 }
    @inlinable public var endIndex: Int { used }
    @inlinable public subscript(index: Int) -> ReceivedDatagram {
        get { storage[index] }
        nonmutating set { storage[index] = newValue }
    }
}
