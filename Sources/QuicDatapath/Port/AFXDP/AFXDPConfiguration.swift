/// Sizes and modes for an AF_XDP port. Defaults: 4096 frames of 2048 bytes (8 MiB), half for
/// receive, half for transmit; rings of 2048; batches of 64 (DESIGN.md).
public struct AFXDPConfiguration: Sendable {
    public var frameSize = 2048
    public var frameCount = 4096
    public var ringSize: UInt32 = 2048
    public var batchSize = 64
    /// Try XDP_ZEROCOPY first and fall back to XDP_COPY; false binds in copy mode directly.
    public var tryZeroCopy = true
    /// XDP_USE_NEED_WAKEUP (the kernel says when a syscall is needed, Documentation/networking/af_xdp.rst).
    public var needWakeup = true

    public init() {}
}
