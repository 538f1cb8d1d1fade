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
}

/// The controllers selectable per connection. A concrete enum, so dispatch is a switch rather than
/// an existential box; recovery code stays generic over `CongestionController`.
public enum CongestionControlAlgorithm: String, Sendable, Hashable, CaseIterable {
    case newReno = "newreno"
}

/// A congestion controller chosen at connection setup, dispatching by switch.
public enum SelectedCongestionController: CongestionController {
    case newReno(NewReno)

    public init(_ algorithm: CongestionControlAlgorithm, maxDatagramSize: Int) {
        switch algorithm {
        case .newReno: self = .newReno(NewReno(maxDatagramSize: maxDatagramSize))
        }
    }

    @inlinable public var congestionWindow: Int {
        switch self { case .newReno(let controller): return controller.congestionWindow }
    }
    @inlinable public var slowStartThreshold: Int? {
        switch self { case .newReno(let controller): return controller.slowStartThreshold }
    }
    @inlinable public var isInSlowStart: Bool {
        switch self { case .newReno(let controller): return controller.isInSlowStart }
    }
    @inlinable public var pacingRate: UInt64? {
        switch self { case .newReno(let controller): return controller.pacingRate }
    }

    @inlinable
    mutating func update(_ body: (inout NewReno) -> Void) {
        switch self {
        case .newReno(var controller):
            body(&controller)
            self = .newReno(controller)
        }
    }

    @inlinable public mutating func onPacketSent(now: Instant, bytes: Int, bytesInFlight: Int) {
        update { $0.onPacketSent(now: now, bytes: bytes, bytesInFlight: bytesInFlight) }
    }
    @inlinable public mutating func onPacketAcked(
        _ packet: AckedPacketInfo, now: Instant, rtt: RTTEstimator, isAppLimited: Bool
    ) {
        update { $0.onPacketAcked(packet, now: now, rtt: rtt, isAppLimited: isAppLimited) }
    }
    @inlinable public mutating func onAckProcessed(now: Instant, rtt: RTTEstimator, bytesInFlight: Int) {
        update { $0.onAckProcessed(now: now, rtt: rtt, bytesInFlight: bytesInFlight) }
    }
    @inlinable public mutating func onCongestionEvent(now: Instant, sentTime: Instant) {
        update { $0.onCongestionEvent(now: now, sentTime: sentTime) }
    }
    @inlinable public mutating func onPersistentCongestion(now: Instant) {
        update { $0.onPersistentCongestion(now: now) }
    }
    @inlinable public mutating func onMaxDatagramSizeChanged(_ size: Int) {
        update { $0.onMaxDatagramSizeChanged(size) }
    }
}
