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
    /// How TX UDP checksums are made: `auto` asks the device through AF_XDP TX metadata when the
    /// offload table says it computes them (netdev xsk-features tx-checksum), else software.
    public var transmitChecksum: AFXDPChecksumChoice = .auto
    /// With TX metadata in copy mode: have the kernel compute the checksum itself
    /// (XDP_UMEM_TX_SW_CSUM) instead of handing the device a partial one.
    public var checksumInKernel = false

    public init() {}
}

public enum AFXDPChecksumChoice: String, Sendable, CaseIterable {
    case auto
    /// Always computed by QuicDatapath (InternetChecksum).
    case software
    /// Always requested through TX metadata (Linux 6.8+; falls back to software if refused).
    case metadata
}

/// How a port's TX checksums are actually made.
public enum TransmitChecksumPath: String, Sendable {
    case software
    /// The device (or, in copy mode, the kernel) computes them, asked through AF_XDP TX metadata.
    case metadata
}
