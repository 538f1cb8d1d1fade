/// Mirror of `struct quicxdp_stats` in bpf/quicxdp.h (same field order, all `__u64`), summed
/// over CPUs.
public struct XDPStats: Equatable, Sendable, Codable {
    public var rxPackets: UInt64 = 0
    public var rxBytes: UInt64 = 0
    public var redirected: UInt64 = 0
    public var passedNoSocket: UInt64 = 0
    public var passedNotQUIC: UInt64 = 0
    public var passedFragment: UInt64 = 0
    public var passedMalformed: UInt64 = 0
    public var droppedEmpty: UInt64 = 0
    public var droppedNoFixedBit: UInt64 = 0
    public var droppedShortInitial: UInt64 = 0

    public static let fieldCount = 10
    public static let cSize = fieldCount * 8

    public init() {}

    /// Field names as in the C struct (and as `bpftool map dump` prints them), with values.
    public var fields: [(name: String, value: UInt64)] {
        [("rx_packets", rxPackets), ("rx_bytes", rxBytes),
         ("redirected", redirected), ("passed_no_socket", passedNoSocket),
         ("passed_not_quic", passedNotQUIC), ("passed_fragment", passedFragment),
         ("passed_malformed", passedMalformed), ("dropped_empty", droppedEmpty),
         ("dropped_no_fixed_bit", droppedNoFixedBit), ("dropped_short_initial", droppedShortInitial)]
    }

    /// Adds one CPU's struct as laid out by the kernel.
    mutating func add(cpuValue p: UnsafeRawPointer) {
        func field(_ index: Int) -> UInt64 { p.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self) }
        rxPackets &+= field(0); rxBytes &+= field(1)
        redirected &+= field(2); passedNoSocket &+= field(3); passedNotQUIC &+= field(4)
        passedFragment &+= field(5); passedMalformed &+= field(6); droppedEmpty &+= field(7)
        droppedNoFixedBit &+= field(8); droppedShortInitial &+= field(9)
    }

    /// Packets to a QUIC port that were well formed enough to judge.
    public var quicPackets: UInt64 {
        redirected &+ passedNoSocket &+ droppedEmpty &+ droppedNoFixedBit &+ droppedShortInitial
    }

    public static func - (a: XDPStats, b: XDPStats) -> XDPStats {
        var r = XDPStats()
        r.rxPackets = a.rxPackets &- b.rxPackets; r.rxBytes = a.rxBytes &- b.rxBytes
        r.redirected = a.redirected &- b.redirected
        r.passedNoSocket = a.passedNoSocket &- b.passedNoSocket; r.passedNotQUIC = a.passedNotQUIC &- b.passedNotQUIC
        r.passedFragment = a.passedFragment &- b.passedFragment; r.passedMalformed = a.passedMalformed &- b.passedMalformed
        r.droppedEmpty = a.droppedEmpty &- b.droppedEmpty; r.droppedNoFixedBit = a.droppedNoFixedBit &- b.droppedNoFixedBit
        r.droppedShortInitial = a.droppedShortInitial &- b.droppedShortInitial
        return r
    }
}
