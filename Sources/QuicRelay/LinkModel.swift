/// SplitMix64: small, fast and seedable; the relay's only source of randomness.
public struct SplitMix64: Sendable {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    @inline(__always)
    public mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    @inline(__always)
    public mutating func unit() -> Double { Double(next() >> 11) * 0x1p-53 }
    @inline(__always)
    public mutating func chance(_ probability: Double) -> Bool { probability > 0 && unit() < probability }
}

/// Why a datagram did not make it.
public enum DropReason: Int, CaseIterable, Sendable {
    case loss, burst, blackhole, queue, pool, oversize, sendError, foreign, noClient

    public var label: String {
        switch self {
        case .loss: return "loss"
        case .burst: return "burst"
        case .blackhole: return "blackhole"
        case .queue: return "queue"
        case .pool: return "pool"
        case .oversize: return "oversize"
        case .sendError: return "senderr"
        case .foreign: return "foreign"
        case .noClient: return "noclient"
        }
    }
}

/// One direction of the impaired path: decides, per datagram, whether it is dropped and when it
/// leaves, in the order a real path would apply it — blackhole, random loss, bursty loss, the
/// rate-limited FIFO with its tail drop, then propagation delay with jitter, reordering,
/// corruption and duplication.
public struct LinkModel: Sendable {
    public let impairments: Impairments
    public let epoch: UInt64
    var random: SplitMix64
    var inBadState = false
    /// When the bottleneck finishes serializing what is queued.
    var linkFreeAt: UInt64 = 0
    let queueLimit: Int
    let nanosecondsPerByte: Double

    public enum Verdict: Equatable {
        case drop(DropReason)
        /// `corruptAt`: flip the byte at this offset with `corruptMask`; `duplicateAt`: send a
        /// copy then; `reordered`: it was held back.
        case deliver(at: UInt64, corruptAt: Int?, corruptMask: UInt8, duplicateAt: UInt64?, reordered: Bool)
    }

    /// `epoch` anchors the blackhole cycle (both directions use the relay's start time).
    public init(impairments: Impairments, seed: UInt64, epoch: UInt64) {
        self.impairments = impairments
        self.epoch = epoch
        random = SplitMix64(seed: seed)
        queueLimit = impairments.effectiveQueueLimit ?? .max
        nanosecondsPerByte = impairments.rate.map { 1e9 / $0 } ?? 0
    }

    /// Whether `now` falls in a blackhole window.
    public func isBlackedOut(at now: UInt64) -> Bool {
        guard let blackhole = impairments.blackhole else { return false }
        let period = UInt64(blackhole.up + blackhole.down)
        let phase = (now &- epoch) % period
        return phase >= UInt64(blackhole.up)
    }

    @inline(__always)
    public mutating func judge(size: Int, now: UInt64) -> Verdict {
        if isBlackedOut(at: now) { return .drop(.blackhole) }
        if random.chance(impairments.loss) { return .drop(.loss) }
        if let burst = impairments.burst {
            // Gilbert–Elliott: the state moves once per datagram, then the bad state drops.
            if inBadState {
                if random.chance(burst.exit) { inBadState = false }
            } else if random.chance(burst.enter) {
                inBadState = true
            }
            if inBadState && random.chance(burst.loss) { return .drop(.burst) }
        }
        var departure = now
        if nanosecondsPerByte > 0 {
            let start = max(now, linkFreeAt)
            let queuedBytes = Double(start - now) / nanosecondsPerByte
            if Int(queuedBytes) + size > queueLimit { return .drop(.queue) }
            departure = start + UInt64(Double(size) * nanosecondsPerByte)
            linkFreeAt = departure
        }
        var delay = impairments.delay
        if impairments.jitter > 0 {
            delay += Int64(random.next() % UInt64(2 * impairments.jitter + 1)) - impairments.jitter
        }
        var reordered = false
        if random.chance(impairments.reorder) {
            delay += impairments.reorderDelay
            reordered = true
        }
        let at = departure + UInt64(max(delay, 0))
        var corruptAt: Int?
        var mask: UInt8 = 0
        if size > 0 && random.chance(impairments.corrupt) {
            corruptAt = Int(random.next() % UInt64(size))
            mask = UInt8(1 + random.next() % 255)
        }
        let duplicateAt: UInt64? = random.chance(impairments.duplicate) ? at : nil
        return .deliver(at: at, corruptAt: corruptAt, corruptMask: mask, duplicateAt: duplicateAt, reordered: reordered)
    }
}
