/// Where a handler writes outgoing datagrams: space the port owns (a UMEM TX frame after room
/// for the Ethernet/IP/UDP headers, or the next slot of a GSO buffer). No per-datagram
/// allocation; the handler writes its QUIC packets directly into the space and then commits.
///
/// Protocol:
/// ```
/// while let space = queue.reserve() {            // nil: batch full or the ring has no room
///     let length = encryptPacket(into: space)    // write at most space.count bytes
///     queue.commit(length: length, to: peer, from: local, ecn: .ect0)
/// }
/// ```
/// `reserve` without a following `commit` is allowed (the space is reused). The UDP port
/// coalesces consecutive commits to the same peer, source and ECN with equal lengths (the last
/// may be shorter) into one UDP_SEGMENT (GSO) send; a handler that wants GSO simply writes
/// equal-sized datagrams back to back (Linux udp(7), UDP_SEGMENT).
public protocol TransmitQueue: ~Copyable {
    /// Space for one UDP payload, or nil when nothing more fits in this batch.
    mutating func reserve() -> UnsafeMutableRawBufferPointer?
    /// Sends the first `length` bytes of the last reserved space as one UDP datagram.
    /// `source` nil lets the port choose (the route's preferred source address).
    mutating func commit(length: Int, to destination: SocketAddress, from source: SocketAddress?, ecn: ECN)
}
