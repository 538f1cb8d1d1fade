/// Counters of one direction. The forwarding thread accumulates them locally and merges them
/// into the shared copy once per loop turn.
public struct DirectionCounters: Sendable, Equatable {
    public var received: UInt64 = 0
    public var receivedBytes: UInt64 = 0
    public var forwarded: UInt64 = 0
    public var forwardedBytes: UInt64 = 0
    public var duplicated: UInt64 = 0
    public var corrupted: UInt64 = 0
    public var reordered: UInt64 = 0
    /// Indexed by `DropReason.rawValue`.
    public var dropped = [UInt64](repeating: 0, count: DropReason.allCases.count)
    /// Datagrams waiting in the delay queue (a gauge, not a counter).
    public var queued: UInt64 = 0

    public init() {}

    public subscript(reason: DropReason) -> UInt64 {
        get { dropped[reason.rawValue] }
        set { dropped[reason.rawValue] = newValue }
    }

    public var totalDropped: UInt64 { dropped.reduce(0, +) }

    var isZero: Bool { received == 0 && forwarded == 0 && totalDropped == 0 && duplicated == 0 }

    mutating func merge(_ other: DirectionCounters) {
        received += other.received
        receivedBytes += other.receivedBytes
        forwarded += other.forwarded
        forwardedBytes += other.forwardedBytes
        duplicated += other.duplicated
        corrupted += other.corrupted
        reordered += other.reordered
        for index in dropped.indices { dropped[index] += other.dropped[index] }
    }

    mutating func reset() {
        received = 0
        receivedBytes = 0
        forwarded = 0
        forwardedBytes = 0
        duplicated = 0
        corrupted = 0
        reordered = 0
        for index in dropped.indices { dropped[index] = 0 }
    }

    /// "rx=… tx=… drop(loss=… …) dup=… corrupt=… reorder=… queued=…"
    public var line: String {
        let drops = DropReason.allCases.map { "\($0.label)=\(self[$0])" }.joined(separator: " ")
        return "rx=\(received) rx_bytes=\(receivedBytes) tx=\(forwarded) tx_bytes=\(forwardedBytes) drop(\(drops)) dup=\(duplicated) corrupt=\(corrupted) reorder=\(reordered) queued=\(queued)"
    }
}

/// A snapshot of the relay.
public struct RelayStatistics: Sendable {
    public var uptimeNanoseconds: UInt64
    public var clientToServer: DirectionCounters
    public var serverToClient: DirectionCounters
    /// The most recent client address, if any datagram arrived.
    public var client: RelayAddress?
    public var clientChanges: UInt64
    /// The upstream socket's local address and how many times it was rebound.
    public var upstreamSource: RelayAddress
    public var rebinds: UInt64

    /// Three lines, one per direction and one for addresses, each prefixed with the uptime.
    public var report: String {
        let time = String(Double(uptimeNanoseconds / 1_000_000) / 1000)
        return """
            [relay \(time)s] c->s \(clientToServer.line)
            [relay \(time)s] s->c \(serverToClient.line)
            [relay \(time)s] client=\(client?.description ?? "none") client_changes=\(clientChanges) upstream_source=\(upstreamSource) rebinds=\(rebinds)
            """
    }
}
