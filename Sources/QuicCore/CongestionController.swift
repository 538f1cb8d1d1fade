/// What a congestion controller learns about a newly acknowledged packet.
@frozen
public struct AckedPacketInfo: Sendable {
    public var packetNumber: UInt64
    public var sentTime: Instant
    public var bytes: Int
    @inlinable public init(packetNumber: UInt64, sentTime: Instant, bytes: Int) {
        self.packetNumber = packetNumber
        self.sentTime = sentTime
        self.bytes = bytes
    }
}

/// A congestion controller (RFC 9002 §7). Loss recovery calls it generically
/// (`some CongestionController`), never through an existential on the packet path.
///
/// Bytes in flight are tracked by loss recovery and passed in; the controller owns the window.
public protocol CongestionController: Sendable {
    /// Bytes the controller allows in flight.
    var congestionWindow: Int { get }
    /// The slow start threshold, nil while infinite (for qlog).
    var slowStartThreshold: Int? { get }
    var isInSlowStart: Bool { get }
    /// The controller's pacing rate in bytes per second, when it has one of its own (BBR);
    /// nil lets the pacer derive a rate from the window (RFC 9002 §7.7).
    var pacingRate: UInt64? { get }

    mutating func onPacketSent(now: Instant, bytes: Int, bytesInFlight: Int)
    /// One newly acknowledged in-flight packet. `isAppLimited`: the sender was not using the
    /// window, so it must not grow (RFC 9002 §7.8).
    mutating func onPacketAcked(_ packet: AckedPacketInfo, now: Instant, rtt: RTTEstimator, isAppLimited: Bool)
    /// After all packets of one ACK frame were reported.
    mutating func onAckProcessed(now: Instant, rtt: RTTEstimator, bytesInFlight: Int)
    /// Loss of in-flight packets or an ECN-CE increase; `sentTime` is that of the most recent
    /// packet involved (RFC 9002 §7.3.2, Appendix B.6).
    mutating func onCongestionEvent(now: Instant, sentTime: Instant)
    /// Persistent congestion collapses the window (RFC 9002 §7.6.2).
    mutating func onPersistentCongestion(now: Instant)
    /// The path's maximum datagram size changed (PMTUD).
    mutating func onMaxDatagramSizeChanged(_ size: Int)

    // The requirements below were added for rate-based controllers (BBR). Each has a default
    // implementation in the extension that follows, so loss-based controllers ignore them.

    /// One in-flight packet was declared lost, before the `onCongestionEvent` of the same
    /// detection pass (draft-ietf-ccwg-bbr-06 §5.2.4, HandleLostPacket).
    mutating func onPacketLost(_ packet: LostPacketInfo, now: Instant, bytesInFlight: Int)
    /// The delivery-rate sample of one ACK frame that newly acknowledged in-flight packets
    /// (draft-ietf-ccwg-bbr-06 §4.1.2.3). Called after the `onPacketAcked` calls of that ACK and
    /// before `onAckProcessed`.
    mutating func onRateSample(_ sample: RateSample, now: Instant, rtt: RTTEstimator, bytesInFlight: Int)
    /// The peer reported `newlyMarked` more ECN-CE marks (RFC 9002 §7.1, Appendix B.7). The
    /// default treats it as a congestion event, as before this requirement existed.
    mutating func onECNCongestion(now: Instant, sentTime: Instant, newlyMarked: UInt64)
    /// Whether loss recovery should mark the current flight application-limited after this ACK
    /// (MarkConnectionAppLimited in draft-ietf-ccwg-bbr-06 §5.3.4.3: ProbeRTT's low rate samples
    /// must not lower the bandwidth model).
    var marksFlightAppLimited: Bool { get }
}

extension CongestionController {
    @inlinable public mutating func onPacketLost(_ packet: LostPacketInfo, now: Instant, bytesInFlight: Int) {}
    @inlinable public mutating func onRateSample(_ sample: RateSample, now: Instant, rtt: RTTEstimator, bytesInFlight: Int) {}
    @inlinable public mutating func onECNCongestion(now: Instant, sentTime: Instant, newlyMarked: UInt64) {
        onCongestionEvent(now: now, sentTime: sentTime)
    }
    @inlinable public var marksFlightAppLimited: Bool { false }
}

/// The controllers selectable per connection. A concrete enum, so dispatch is a switch rather than
/// an existential box; recovery code stays generic over `CongestionController`.
public enum CongestionControlAlgorithm: String, Sendable, Hashable, CaseIterable {
    case newReno = "newreno"
    /// RFC 9438 with HyStart++ (RFC 9406) for the first slow start.
    case cubic = "cubic"
    /// BBR as draft-ietf-ccwg-bbr-06 describes it (the "v3" algorithm).
    case bbr = "bbr"
}

/// A congestion controller chosen at connection setup, dispatching by switch. Each controller
/// has its own stored state and the selected one is mutated in place: nothing is boxed or
/// allocated, and nothing is copied per call (an enum with the controllers as payloads copied
/// the selected payload — BBR's 453 bytes — out and back on every hook). The two unused
/// controllers cost their size in memory, a few hundred bytes per connection.
public struct SelectedCongestionController: CongestionController {
    public let algorithm: CongestionControlAlgorithm
    @usableFromInline var newRenoState: NewReno
    @usableFromInline var cubicState: Cubic
    @usableFromInline var bbrState: BBR

    /// `seed` feeds BBR's randomized probing schedule (§5.3.3.8.2); the core takes randomness
    /// from outside, so two connections with the same seed behave the same.
    public init(_ algorithm: CongestionControlAlgorithm, maxDatagramSize: Int, seed: UInt64 = 0) {
        self.algorithm = algorithm
        newRenoState = NewReno(maxDatagramSize: maxDatagramSize)
        cubicState = Cubic(maxDatagramSize: maxDatagramSize)
        bbrState = BBR(maxDatagramSize: maxDatagramSize, seed: seed)
    }

    @inlinable public var congestionWindow: Int {
        switch algorithm {
        case .newReno: return newRenoState.congestionWindow
        case .cubic: return cubicState.congestionWindow
        case .bbr: return bbrState.congestionWindow
        }
    }
    @inlinable public var slowStartThreshold: Int? {
        switch algorithm {
        case .newReno: return newRenoState.slowStartThreshold
        case .cubic: return cubicState.slowStartThreshold
        case .bbr: return bbrState.slowStartThreshold
        }
    }
    @inlinable public var isInSlowStart: Bool {
        switch algorithm {
        case .newReno: return newRenoState.isInSlowStart
        case .cubic: return cubicState.isInSlowStart
        case .bbr: return bbrState.isInSlowStart
        }
    }
    @inlinable public var pacingRate: UInt64? {
        switch algorithm {
        case .newReno: return newRenoState.pacingRate
        case .cubic: return cubicState.pacingRate
        case .bbr: return bbrState.pacingRate
        }
    }
    @inlinable public var marksFlightAppLimited: Bool {
        switch algorithm {
        case .newReno: return newRenoState.marksFlightAppLimited
        case .cubic: return cubicState.marksFlightAppLimited
        case .bbr: return bbrState.marksFlightAppLimited
        }
    }

    /// Applies `body` to the selected controller, in place. Generic over the body so each call
    /// site specializes (no existential, no allocation).
    @inlinable
    mutating func update(
        newReno: (inout NewReno) -> Void, cubic: (inout Cubic) -> Void, bbr: (inout BBR) -> Void
    ) {
        switch algorithm {
        case .newReno: newReno(&newRenoState)
        case .cubic: cubic(&cubicState)
        case .bbr: bbr(&bbrState)
        }
    }

    @inlinable public mutating func onPacketSent(now: Instant, bytes: Int, bytesInFlight: Int) {
        update(
            newReno: { $0.onPacketSent(now: now, bytes: bytes, bytesInFlight: bytesInFlight) },
            cubic: { $0.onPacketSent(now: now, bytes: bytes, bytesInFlight: bytesInFlight) },
            bbr: { $0.onPacketSent(now: now, bytes: bytes, bytesInFlight: bytesInFlight) })
    }
    @inlinable public mutating func onPacketAcked(
        _ packet: AckedPacketInfo, now: Instant, rtt: RTTEstimator, isAppLimited: Bool
    ) {
        update(
            newReno: { $0.onPacketAcked(packet, now: now, rtt: rtt, isAppLimited: isAppLimited) },
            cubic: { $0.onPacketAcked(packet, now: now, rtt: rtt, isAppLimited: isAppLimited) },
            bbr: { $0.onPacketAcked(packet, now: now, rtt: rtt, isAppLimited: isAppLimited) })
    }
    @inlinable public mutating func onAckProcessed(now: Instant, rtt: RTTEstimator, bytesInFlight: Int) {
        update(
            newReno: { $0.onAckProcessed(now: now, rtt: rtt, bytesInFlight: bytesInFlight) },
            cubic: { $0.onAckProcessed(now: now, rtt: rtt, bytesInFlight: bytesInFlight) },
            bbr: { $0.onAckProcessed(now: now, rtt: rtt, bytesInFlight: bytesInFlight) })
    }
    @inlinable public mutating func onCongestionEvent(now: Instant, sentTime: Instant) {
        update(
            newReno: { $0.onCongestionEvent(now: now, sentTime: sentTime) },
            cubic: { $0.onCongestionEvent(now: now, sentTime: sentTime) },
            bbr: { $0.onCongestionEvent(now: now, sentTime: sentTime) })
    }
    @inlinable public mutating func onPersistentCongestion(now: Instant) {
        update(
            newReno: { $0.onPersistentCongestion(now: now) },
            cubic: { $0.onPersistentCongestion(now: now) },
            bbr: { $0.onPersistentCongestion(now: now) })
    }
    @inlinable public mutating func onMaxDatagramSizeChanged(_ size: Int) {
        update(
            newReno: { $0.onMaxDatagramSizeChanged(size) },
            cubic: { $0.onMaxDatagramSizeChanged(size) },
            bbr: { $0.onMaxDatagramSizeChanged(size) })
    }
    @inlinable public mutating func onPacketLost(_ packet: LostPacketInfo, now: Instant, bytesInFlight: Int) {
        update(
            newReno: { $0.onPacketLost(packet, now: now, bytesInFlight: bytesInFlight) },
            cubic: { $0.onPacketLost(packet, now: now, bytesInFlight: bytesInFlight) },
            bbr: { $0.onPacketLost(packet, now: now, bytesInFlight: bytesInFlight) })
    }
    @inlinable public mutating func onRateSample(_ sample: RateSample, now: Instant, rtt: RTTEstimator, bytesInFlight: Int) {
        update(
            newReno: { $0.onRateSample(sample, now: now, rtt: rtt, bytesInFlight: bytesInFlight) },
            cubic: { $0.onRateSample(sample, now: now, rtt: rtt, bytesInFlight: bytesInFlight) },
            bbr: { $0.onRateSample(sample, now: now, rtt: rtt, bytesInFlight: bytesInFlight) })
    }
    @inlinable public mutating func onECNCongestion(now: Instant, sentTime: Instant, newlyMarked: UInt64) {
        update(
            newReno: { $0.onECNCongestion(now: now, sentTime: sentTime, newlyMarked: newlyMarked) },
            cubic: { $0.onECNCongestion(now: now, sentTime: sentTime, newlyMarked: newlyMarked) },
            bbr: { $0.onECNCongestion(now: now, sentTime: sentTime, newlyMarked: newlyMarked) })
    }
}
