/// What the relay does to every datagram, in each direction separately (each direction has its
/// own random stream, queue and loss state). Times are nanoseconds, rates bytes per second.
public struct Impairments: Sendable, Equatable {
    /// One-way delay added to every datagram.
    public var delay: Int64 = 0
    /// Extra delay drawn uniformly from [−jitter, +jitter] per datagram (never below zero). As with
    /// netem, jitter larger than the spacing of datagrams reorders them.
    public var jitter: Int64 = 0
    /// Bottleneck rate (serialization at this rate, FIFO); nil: unlimited.
    public var rate: Double?
    /// Tail-drop limit of the bottleneck queue in bytes; nil: `defaultQueueTime` at the rate.
    public var queueLimit: Int?
    /// Uniform loss probability.
    public var loss = 0.0
    /// Gilbert–Elliott bursty loss: P(good → bad), P(bad → good), loss probability in bad.
    public var burst: BurstLoss?
    /// Probability that one random byte of a datagram is flipped.
    public var corrupt = 0.0
    /// Probability that a datagram is held back by `reorderDelay` so later ones overtake it.
    public var reorder = 0.0
    public var reorderDelay: Int64 = 10_000_000
    /// Probability that a datagram is sent twice.
    public var duplicate = 0.0
    /// Repeating windows: forward for `up`, then drop everything for `down`.
    public var blackhole: Blackhole?

    public static let defaultQueueTime: Int64 = 50_000_000

    public init() {}

    public struct BurstLoss: Sendable, Equatable {
        public var enter: Double
        public var exit: Double
        public var loss: Double
        public init(enter: Double, exit: Double, loss: Double) {
            self.enter = enter
            self.exit = exit
            self.loss = loss
        }
        /// The long-run loss rate: the bad state's share times its loss probability.
        public var expectedLoss: Double { enter + exit > 0 ? enter / (enter + exit) * loss : 0 }
    }

    public struct Blackhole: Sendable, Equatable {
        public var up: Int64
        public var down: Int64
        public init(up: Int64, down: Int64) {
            self.up = up
            self.down = down
        }
    }

    /// The queue limit in effect (bytes), when a rate is set.
    public var effectiveQueueLimit: Int? {
        guard let rate else { return nil }
        return queueLimit ?? max(Int(rate * Double(Self.defaultQueueTime) / 1e9), 64 * 1024)
    }

    public var isNone: Bool { self == Impairments() }
}

/// Everything the relay needs to run.
public struct RelayConfiguration: Sendable {
    /// Where clients send to.
    public var listen: RelayAddress
    /// Where the relay forwards to (the server).
    public var upstream: RelayAddress
    /// The source address of the upstream socket; nil: chosen by the kernel's route.
    public var upstreamBind: RelayAddress?
    public var impairments = Impairments()
    /// Move the upstream socket to a new source port every interval (NAT rebinding).
    public var rebindPortInterval: Int64?
    /// Source addresses to rotate through, one per rebinding, with its own interval.
    public var rebindAddresses: [RelayAddress] = []
    public var rebindAddressInterval: Int64 = 5_000_000_000
    /// Seed of the random streams; the same seed and arrival sequence give the same decisions.
    public var seed: UInt64 = 1
    /// Datagrams per recvmmsg/sendmmsg call.
    public var batchSize = 64
    /// The largest datagram forwarded; larger ones are dropped and counted.
    public var maxDatagramSize = 2048
    /// Datagrams that can wait in each direction's delay queue.
    public var queueSlots = 32768
    /// Socket buffer size for both sockets.
    public var socketBuffer = 8 << 20
    /// Send runs of equal-size datagrams as one UDP GSO send (the kernel segments them).
    public var gso = true

    public init(listen: RelayAddress, upstream: RelayAddress) {
        self.listen = listen
        self.upstream = upstream
    }
}

/// Parses the relay's command-line values: durations ("20ms", "1.5s", "500us"), rates in bits per
/// second ("100mbit", "1gbit", "64kbit"), probabilities ("2%", "0.02"), sizes ("256KB", "1MB").
public enum RelayUnits {
    public struct ParseError: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    static func splitNumber(_ text: String) -> (Double, String)? {
        let trimmed = text.trimmingWhitespace()
        let digits = trimmed.prefix { $0.isNumber || $0 == "." }
        guard !digits.isEmpty, let value = Double(digits) else { return nil }
        return (value, String(trimmed.dropFirst(digits.count)).lowercased())
    }

    /// Nanoseconds.
    public static func duration(_ text: String) throws(ParseError) -> Int64 {
        guard let (value, unit) = splitNumber(text) else {
            throw ParseError("'\(text)' is not a duration; write it like 20ms, 1.5s or 500us")
        }
        let scale: Double
        switch unit {
        case "ns": scale = 1
        case "us", "µs": scale = 1e3
        case "ms": scale = 1e6
        case "s": scale = 1e9
        case "m", "min": scale = 60e9
        case "" where value == 0: scale = 0
        default: throw ParseError("'\(text)': unknown time unit '\(unit)'; use ns, us, ms, s or min")
        }
        return Int64(value * scale)
    }

    /// Bytes per second.
    public static func rate(_ text: String) throws(ParseError) -> Double {
        guard let (value, unit) = splitNumber(text) else {
            throw ParseError("'\(text)' is not a rate; write it like 100mbit, 1gbit or 512kbit (bits per second)")
        }
        let bits: Double
        switch unit {
        case "bit", "bps", "bit/s": bits = value
        case "kbit", "kbps", "kbit/s": bits = value * 1e3
        case "mbit", "mbps", "mbit/s": bits = value * 1e6
        case "gbit", "gbps", "gbit/s": bits = value * 1e9
        default: throw ParseError("'\(text)': unknown rate unit '\(unit)'; use bit, kbit, mbit or gbit (per second)")
        }
        guard bits > 0 else { throw ParseError("'\(text)': the rate must be above zero") }
        return bits / 8
    }

    /// A probability in [0, 1]: "2%" or "0.02".
    public static func probability(_ text: String) throws(ParseError) -> Double {
        let trimmed = text.trimmingWhitespace()
        let value: Double?
        if trimmed.hasSuffix("%") {
            value = Double(trimmed.dropLast()).map { $0 / 100 }
        } else {
            value = Double(trimmed)
        }
        guard let value, value >= 0, value <= 1 else {
            throw ParseError("'\(text)' is not a probability; write 2% or 0.02 (between 0 and 1)")
        }
        return value
    }

    /// Bytes: "65536", "256KB", "4MB" (powers of 1024).
    public static func size(_ text: String) throws(ParseError) -> Int {
        guard let (value, unit) = splitNumber(text) else { throw ParseError("'\(text)' is not a size; write 256KB or 4MB") }
        let scale: Double
        switch unit {
        case "", "b": scale = 1
        case "k", "kb", "kib": scale = 1024
        case "m", "mb", "mib": scale = 1024 * 1024
        default: throw ParseError("'\(text)': unknown size unit '\(unit)'; use B, KB or MB")
        }
        return Int(value * scale)
    }

    /// "p,r,h": P(good → bad), P(bad → good), loss in the bad state.
    public static func burstLoss(_ text: String) throws(ParseError) -> Impairments.BurstLoss {
        let parts = text.split(separator: ",").map(String.init)
        guard parts.count == 3 else {
            throw ParseError("'\(text)': --burst-loss takes three probabilities p,r,h (enter bad state, leave it, loss while bad), e.g. 0.1,0.4,0.9")
        }
        return Impairments.BurstLoss(enter: try probability(parts[0]), exit: try probability(parts[1]), loss: try probability(parts[2]))
    }

    /// "UP:DOWN": forward for UP, drop everything for DOWN, repeating.
    public static func blackhole(_ text: String) throws(ParseError) -> Impairments.Blackhole {
        let parts = text.split(separator: ":").map(String.init)
        guard parts.count == 2 else {
            throw ParseError("'\(text)': --blackhole takes UP:DOWN, e.g. 2s:1s (forward 2 s, then drop everything for 1 s, repeating)")
        }
        let result = Impairments.Blackhole(up: try duration(parts[0]), down: try duration(parts[1]))
        guard result.down > 0, result.up + result.down > 0 else { throw ParseError("'\(text)': the DOWN part must be above zero") }
        return result
    }

    /// "host:port" with a numeric host.
    public static func address(_ text: String, defaultPort: UInt16? = nil) throws(ParseError) -> RelayAddress {
        guard let address = RelayAddress(text, defaultPort: defaultPort) else {
            throw ParseError("'\(text)' is not a numeric socket address; write 10.0.1.1:4433 or [fd00::1]:4433")
        }
        return address
    }
}

extension String {
    func trimmingWhitespace() -> String {
        String(self.drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}
