/// Sizes and switches for a UDP-socket port.
public struct UDPPortConfiguration: Sendable {
    /// Messages per recvmmsg/sendmmsg call.
    public var batchSize = 32
    /// Largest datagram payload handed to a handler's `reserve()` (1472 = 1500 MTU − IPv4 − UDP).
    public var maxPayloadSize = 1472
    /// Ask for UDP_GRO (coalesced receive) if the kernel supports it.
    public var useGRO = true
    /// Coalesce equal-sized sends into UDP_SEGMENT (GSO) if the kernel supports it.
    public var useGSO = true
    /// GSO segments per send (UDP_MAX_SEGMENTS is 64 on older kernels).
    public var maxSegments = 64
    /// Socket buffer sizes asked for (SO_RCVBUFFORCE/SO_SNDBUFFORCE as root, else capped by
    /// net.core.rmem_max/wmem_max); a burst that overflows the receive buffer is lost.
    public var socketBufferBytes: Int32 = 4 << 20
    /// The interface whose offload table decides GRO (and is reported with GSO): nil means the
    /// interface that holds the bound address; a wildcard bind has none, and then the kernel's
    /// acceptance of the socket options alone decides.
    public var offloadInterface: String?

    public init() {}
}
