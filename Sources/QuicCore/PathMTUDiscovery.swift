/// Datagram Packetization Layer Path MTU Discovery (RFC 8899, RFC 9000 §14.3) for one path, as
/// a small state machine the connection feeds: which probe size to send, whether it was
/// acknowledged or lost, and the loss and acknowledgment of ordinary packets for black-hole
/// detection. It performs no I/O and keeps no packets; the connection builds the probes (PING
/// and PADDING, §14.4) and loss recovery reports them.
///
/// - BASE_PLPMTU = MIN_PLPMTU: the connection's starting datagram size (1200, §14.3), which the
///   handshake already proved; QUIC enters the search once the handshake is done (§14.3.1).
/// - Search: the largest size first (most paths carry a full Ethernet frame), then a binary search
///   between the largest acknowledged size and the smallest failed one, until the next step
///   would gain less than `minimumStep` bytes (RFC 8899 §5.3.2 leaves the algorithm open).
/// - A size fails after MAX_PROBES (3) lost probes of it (RFC 8899 §5.1.2).
/// - Black hole (RFC 8899 §4.3): `blackHoleBursts` loss bursts of packets larger than the base,
///   with no acknowledgment of a packet of the current size in between, drop the size back to
///   the base and start the search again below the size that failed.
/// - PMTU_RAISE_TIMER (RFC 8899 §5.1.1, 600 s): after a search completes below the maximum, a
///   new search starts once it expires.
/// - No CONFIRMATION_TIMER: QUIC is an acknowledged PL (RFC 9000 §14.3.2).
public struct PathMTUDiscovery: Sendable {
    public enum Phase: UInt8, Sendable, CustomStringConvertible {
        /// Not probing: turned off, or the handshake is not done.
        case disabled
        /// Probing for a larger size (RFC 8899 SEARCHING).
        case searching
        /// The search ended (RFC 8899 SEARCH_COMPLETE); the raise timer may start another.
        case complete

        public var description: String {
            switch self {
            case .disabled: return "disabled"
            case .searching: return "searching"
            case .complete: return "complete"
            }
        }
    }

    /// MAX_PROBES (RFC 8899 §5.1.2).
    public static let maxProbes = 3
    /// Probing stops when the next size would gain less than this many bytes.
    public static let minimumStep = 16
    /// Suspicious loss bursts that declare a black hole.
    public static let blackHoleBursts = 3

    public private(set) var phase: Phase = .disabled
    /// BASE_PLPMTU: the size every path is assumed to carry.
    public let base: Int
    /// PLPMTU: the largest size confirmed, which packets are sized to.
    public private(set) var current: Int
    /// MAX_PLPMTU: the local limit and the peer's max_udp_payload_size.
    public private(set) var maximum: Int
    /// The smallest size known not to pass; `maximum + 1` while none is.
    private var failedSize: Int
    /// Lost probes of `nextProbeSize` in a row (PROBE_COUNT).
    private var probeCount = 0
    /// A probe of this size is in flight (one at a time).
    public private(set) var probeInFlight: Int?
    /// PMTU_RAISE_TIMER.
    public let raiseInterval: TimeSpan
    private var raiseAt: Instant?
    /// Loss bursts of packets above the base since a packet of the current size was acknowledged.
    private var suspiciousBursts = 0
    /// Searches completed, black holes found (for tests and statistics).
    public private(set) var blackHolesDetected = 0

    public init(base: Int, raiseInterval: TimeSpan = .seconds(600)) {
        self.base = base
        current = base
        maximum = base
        failedSize = base + 1
        self.raiseInterval = raiseInterval
    }

    /// Starts searching toward `maximum` (RFC 9000 §14.3.1: once the handshake is done).
    public mutating func start(maximum: Int) {
        self.maximum = max(maximum, base)
        failedSize = self.maximum + 1
        probeCount = 0
        raiseAt = nil
        phase = current < self.maximum ? .searching : .complete
    }

    /// The size the next probe would have.
    var nextProbeSize: Int {
        failedSize > maximum ? maximum : (current + failedSize) / 2
    }

    /// The size of a probe to send now, or nil when none is due. Starts a new search when the
    /// raise timer has expired.
    public mutating func probeSize(now: Instant) -> Int? {
        if phase == .complete, let raiseAt, now >= raiseAt {
            self.raiseAt = nil
            if current < maximum {
                failedSize = maximum + 1
                probeCount = 0
                phase = .searching
            }
        }
        guard phase == .searching, probeInFlight == nil else { return nil }
        return nextProbeSize
    }

    /// The transmit buffer is smaller than the search's maximum: never probe beyond it.
    public mutating func limit(to size: Int) {
        guard size < maximum else { return }
        maximum = max(size, base)
        failedSize = min(failedSize, maximum + 1)
        if current >= maximum || nextProbeSize - current < Self.minimumStep { finishSearch(now: nil) }
    }

    public mutating func onProbeSent(size: Int) { probeInFlight = size }

    /// A probe was acknowledged: `size` passes. Returns the new size to use, if it grew.
    public mutating func onProbeAcknowledged(size: Int, now: Instant) -> Int? {
        if probeInFlight == size { probeInFlight = nil }
        guard size > current, size < failedSize else { return nil }
        current = size
        probeCount = 0
        suspiciousBursts = 0
        if current >= maximum || nextProbeSize - current < Self.minimumStep { finishSearch(now: now) }
        return current
    }

    /// A probe was declared lost (RFC 9000 §14.4: not a congestion signal).
    public mutating func onProbeLost(size: Int, now: Instant) {
        if probeInFlight == size { probeInFlight = nil }
        guard phase == .searching, size == nextProbeSize else { return }
        probeCount += 1
        guard probeCount >= Self.maxProbes else { return }
        probeCount = 0
        failedSize = size
        if nextProbeSize - current < Self.minimumStep { finishSearch(now: now) }
    }

    /// An ACK frame newly acknowledged packets of the current path; `largest` is the largest
    /// of them in bytes (probes excluded). One of the current size proves it still passes.
    public mutating func onAcknowledged(largest: Int) {
        if largest >= current { suspiciousBursts = 0 }
    }

    /// A loss detection pass declared packets lost; `largest` is the largest in bytes (probes
    /// excluded). Returns true when this makes a black hole: the size is back to the base and
    /// the search starts again below the size that stopped passing.
    public mutating func onPacketsLost(largest: Int, now: Instant) -> Bool {
        guard current > base, largest > base else { return false }
        suspiciousBursts += 1
        guard suspiciousBursts >= Self.blackHoleBursts else { return false }
        suspiciousBursts = 0
        blackHolesDetected += 1
        failedSize = current
        current = base
        probeCount = 0
        raiseAt = nil
        phase = nextProbeSize - current < Self.minimumStep ? .complete : .searching
        if phase == .complete { raiseAt = now + raiseInterval }
        return true
    }

    private mutating func finishSearch(now: Instant?) {
        phase = .complete
        probeCount = 0
        if let now, current < maximum { raiseAt = now + raiseInterval }
    }

    /// Searches stop for good (the connection is closing, or the path is abandoned).
    public mutating func stop() {
        phase = .disabled
        probeInFlight = nil
    }
}
