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
    /// The path MTU as an IP packet size: datagrams whose UDP payload plus 28 bytes of IPv4 and
    /// UDP headers exceed it are dropped (no ICMP, as on many real paths).
    var pathMTU: Int? = nil
    /// While now is in one of these windows, everything is dropped.
    var blackholes: [Range<Instant>] = []
    /// Queue limit of the bottleneck in bytes (tail drop).
    var queueLimit = 1 << 22
    /// An AQM that marks ECN-capable datagrams CE instead of letting the queue grow: while more
    /// than this many bytes wait at the bottleneck (RFC 3168 router behaviour).
    var ceMarkQueueBytes: Int? = nil
    /// Probability that a middlebox clears the ECN field (1: always).
    var ecnBleach = 0.0
    /// A faulty middlebox that drops every datagram with a non-zero ECN field.
    var ecnDropMarked = false
    /// A middlebox that rewrites ECT(0) to ECT(1).
    var ecnRemarkToECT1 = false
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
        var ecn: ECNCodepoint = .notECT
        /// The address the sender sent to (nil: the other side's only address).
        var destination: SocketAddress? = nil
    }

    /// Datagrams from or to these addresses are dropped (a path that stopped working).
    var deadAddresses: Set<SocketAddress> = []
    /// Datagrams dropped for exceeding `pathMTU`, by sending side.
    private(set) var droppedTooBig = [0, 0]

    var conditions: [LinkConditions]  // index: the side that sends
    var rng: SplitMix64
    private(set) var inFlight: [InFlight] = []
    private var sequence = 0
    private var linkFreeAt = [Instant.zero, Instant.zero]
    private var inBadState = [false, false]
    private(set) var sent = [0, 0]
    private(set) var dropped = [0, 0]
    /// Datagrams sent with each ECN codepoint (by raw value), by sending side; and CE marks set.
    private(set) var sentECN = [[0, 0, 0, 0], [0, 0, 0, 0]]
    private(set) var ceMarked = [0, 0]
    /// Most bytes ever waiting at the bottleneck, by sending side.
    private(set) var maxQueued = [0, 0]
    /// Bytes waiting at the bottleneck as each datagram arrived there, summed, and the count:
    /// the mean queue a datagram meets.
    private(set) var queuedSum = [0, 0]
    private(set) var queueSamples = [0, 0]
    func meanQueue(_ side: Side) -> Int { queuedSum[side.rawValue] / max(queueSamples[side.rawValue], 1) }
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

    func send(
        _ original: [UInt8], from side: Side, address: SocketAddress, to destination: SocketAddress? = nil, now: Instant,
        ecn sentECNCodepoint: ECNCodepoint = .notECT
    ) {
        var bytes = original
        if let intercept, !intercept(side, &bytes) { return }
        let link = conditions[side.rawValue]
        sent[side.rawValue] += 1
        sentECN[side.rawValue][Int(sentECNCodepoint.rawValue)] += 1
        var ecn = sentECNCodepoint
        if link.ecnBleach > 0, ecn != .notECT, link.ecnBleach >= 1 || rng.unit() < link.ecnBleach { ecn = .notECT }
        if link.ecnRemarkToECT1 && ecn == .ect0 { ecn = .ect1 }
        if link.ecnDropMarked && ecn != .notECT {
            dropped[side.rawValue] += 1
            return
        }
        trace.append((now, side.rawValue, bytes.count, bytes.first ?? 0))
        if recordsDatagrams { datagrams.append((side, bytes)) }
        if deadAddresses.contains(address) || destination.map({ deadAddresses.contains($0) }) == true {
            dropped[side.rawValue] += 1
            return
        }
        if let pathMTU = link.pathMTU, bytes.count + 28 > pathMTU {
            dropped[side.rawValue] += 1
            droppedTooBig[side.rawValue] += 1
            return
        }
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
            maxQueued[side.rawValue] = max(maxQueued[side.rawValue], Int(queued))
            queuedSum[side.rawValue] += Int(queued)
            queueSamples[side.rawValue] += 1
            if let threshold = link.ceMarkQueueBytes, queued > threshold, ecn != .notECT {
                ecn = .ce
                ceMarked[side.rawValue] += 1
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
        let to: Side = side == .client ? .server : .client
        enqueue(
            InFlight(deliverAt: delivery, sequence: sequence, to: to, from: address, bytes: payload, ecn: ecn, destination: destination))
        if rng.unit() < link.duplicate {
            enqueue(
                InFlight(
                    deliverAt: delivery + .milliseconds(1), sequence: sequence, to: to, from: address, bytes: payload, ecn: ecn,
                    destination: destination))
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
