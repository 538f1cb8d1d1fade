@testable import QuicCore
import QuicWire

/// SplitMix64, shared by the network and the endpoints' random sources.
struct SplitMix64: RandomNumberGenerator, Sendable {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
    mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
}

/// A seeded random byte source usable from @Sendable closures (tests only: single-threaded).
final class SeededBytes: @unchecked Sendable {
    private var generator: SplitMix64
    init(seed: UInt64) { generator = SplitMix64(seed: seed) }
    func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        for index in 0..<buffer.count { buffer[index] = UInt8(truncatingIfNeeded: generator.next()) }
    }
}

/// One direction of the simulated path and what it does to datagrams.
struct LinkConditions: Sendable {
    /// One-way delay.
    var delay = TimeSpan.milliseconds(10)
    /// Extra random delay in [0, jitter).
    var jitter = TimeSpan.zero
    /// Bytes per second; nil = unlimited.
    var bandwidth: UInt64? = nil
    /// Uniform loss probability.
    var loss = 0.0
    /// Gilbert–Elliott burst loss: probability to enter the bad state, to leave it, and the loss
    /// probability while in it.
    var burstEnter = 0.0
    var burstExit = 0.0
    var burstLoss = 0.0
    var reorder = 0.0
    var reorderDelay = TimeSpan.milliseconds(15)
    var duplicate = 0.0
    /// Probability to flip one random byte.
    var corrupt = 0.0
    /// Larger datagrams are dropped.
    var mtu = 1500
    /// While now is in one of these windows, everything is dropped.
    var blackholes: [Range<Instant>] = []
    /// Queue limit of the bottleneck in bytes (tail drop).
    var queueLimit = 1 << 22
}

/// Two endpoints' datagrams in flight over seeded, impaired links; time is simulated.
final class SimulatedNetwork {
    enum Side: Int { case client = 0, server = 1 }

    struct InFlight {
        var deliverAt: Instant
        var sequence: Int
        var to: Side
        var from: SocketAddress
        var bytes: [UInt8]
    }

    var conditions: [LinkConditions]  // index: the side that sends
    var rng: SplitMix64
    private(set) var inFlight: [InFlight] = []
    private var sequence = 0
    private var linkFreeAt = [Instant.zero, Instant.zero]
    private var inBadState = [false, false]
    private(set) var sent = [0, 0]
    private(set) var dropped = [0, 0]
    /// (time, side that sent, size, first byte): what went onto the wire, for trace comparison.
    private(set) var trace: [(Instant, Int, Int, UInt8)] = []
    /// Every datagram sent, by side, when `recordsDatagrams` is set.
    var recordsDatagrams = false
    private(set) var datagrams: [(side: Side, bytes: [UInt8])] = []
    /// Sees each datagram before the link does; may change it, or return false to drop it.
    var intercept: ((Side, inout [UInt8]) -> Bool)?

    init(seed: UInt64, clientToServer: LinkConditions = LinkConditions(), serverToClient: LinkConditions = LinkConditions()) {
        rng = SplitMix64(seed: seed)
        conditions = [clientToServer, serverToClient]
    }

    func send(_ original: [UInt8], from side: Side, address: SocketAddress, now: Instant) {
        var bytes = original
        if let intercept, !intercept(side, &bytes) { return }
        let link = conditions[side.rawValue]
        sent[side.rawValue] += 1
        trace.append((now, side.rawValue, bytes.count, bytes.first ?? 0))
        if recordsDatagrams { datagrams.append((side, bytes)) }
        if bytes.count > link.mtu || link.blackholes.contains(where: { $0.contains(now) }) {
            dropped[side.rawValue] += 1
            return
        }
        if rng.unit() < link.loss {
            dropped[side.rawValue] += 1
            return
        }
        if link.burstEnter > 0 {
            if inBadState[side.rawValue] {
                if rng.unit() < link.burstExit { inBadState[side.rawValue] = false }
            } else if rng.unit() < link.burstEnter {
                inBadState[side.rawValue] = true
            }
            if inBadState[side.rawValue] && rng.unit() < link.burstLoss {
                dropped[side.rawValue] += 1
                return
            }
        }
        // Serialisation at the bottleneck, with a tail-drop queue.
        var departure = now
        if let bandwidth = link.bandwidth {
            let start = max(now, linkFreeAt[side.rawValue])
            let queued = Int64((start - now).nanoseconds) * Int64(bandwidth) / 1_000_000_000
            if queued > link.queueLimit {
                dropped[side.rawValue] += 1
                return
            }
            departure = start + TimeSpan(nanoseconds: Int64(bytes.count) * 1_000_000_000 / Int64(bandwidth))
            linkFreeAt[side.rawValue] = departure
        }
        var delivery = departure + link.delay
        if link.jitter > .zero {
            delivery = delivery + TimeSpan(nanoseconds: Int64(rng.next() % UInt64(link.jitter.nanoseconds)))
        }
        if rng.unit() < link.reorder { delivery = delivery + link.reorderDelay }
        var payload = bytes
        if rng.unit() < link.corrupt, !payload.isEmpty {
            payload[Int(rng.next() % UInt64(payload.count))] ^= UInt8(1 + rng.next() % 255)
        }
        let destination: Side = side == .client ? .server : .client
        enqueue(InFlight(deliverAt: delivery, sequence: sequence, to: destination, from: address, bytes: payload))
        if rng.unit() < link.duplicate {
            enqueue(InFlight(deliverAt: delivery + .milliseconds(1), sequence: sequence, to: destination, from: address, bytes: payload))
        }
    }

    private func enqueue(_ item: InFlight) {
        sequence += 1
        var item = item
        item.sequence = sequence
        // Keep ordered by (time, sequence).
        var index = inFlight.count
        while index > 0, (inFlight[index - 1].deliverAt, inFlight[index - 1].sequence) > (item.deliverAt, item.sequence) {
            index -= 1
        }
        inFlight.insert(item, at: index)
    }

    var nextDelivery: Instant? { inFlight.first?.deliverAt }

    /// Everything due by `now`, in delivery order.
    func take(dueBy now: Instant) -> [InFlight] {
        var due: [InFlight] = []
        while let first = inFlight.first, first.deliverAt <= now { due.append(inFlight.removeFirst()) }
        return due
    }
}
