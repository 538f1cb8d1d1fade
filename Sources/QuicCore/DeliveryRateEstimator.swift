/// The delivery-rate snapshot a sent packet carries (draft-ietf-ccwg-bbr-06 §4.1.2.1.2, the
/// "P." state): the connection's delivery counters at the moment the packet left.
@frozen
public struct DeliverySnapshot: Sendable {
    /// P.delivered: C.delivered when the packet was sent.
    public var delivered: Int
    /// P.delivered_time: C.delivered_time when the packet was sent.
    public var deliveredTime: Instant
    /// P.first_send_time: C.first_send_time when the packet was sent.
    public var firstSendTime: Instant
    /// P.lost: C.lost when the packet was sent.
    public var lost: Int
    /// P.tx_in_flight: bytes in flight right after this packet was sent (including it).
    public var txInFlight: Int
    /// P.is_app_limited: the connection was application-limited when the packet was sent.
    public var isAppLimited: Bool

    @inlinable
    public init(
        delivered: Int = 0, deliveredTime: Instant = .zero, firstSendTime: Instant = .zero, lost: Int = 0,
        txInFlight: Int = 0, isAppLimited: Bool = false
    ) {
        self.delivered = delivered
        self.deliveredTime = deliveredTime
        self.firstSendTime = firstSendTime
        self.lost = lost
        self.txInFlight = txInFlight
        self.isAppLimited = isAppLimited
    }
}

/// The rate sample of one ACK (draft-ietf-ccwg-bbr-06 §4.1.2.1.3 and §2.3, the "RS." state).
/// Volumes are bytes, rates bytes per second.
@frozen
public struct RateSample: Sendable {
    /// RS.delivery_rate; 0 when the interval was too short to be reliable (shorter than min_rtt).
    public var deliveryRate: Double = 0
    /// RS.is_app_limited: P.is_app_limited of the most recently sent packet acknowledged.
    public var isAppLimited = false
    /// RS.interval: max(send_elapsed, ack_elapsed).
    public var interval = TimeSpan.zero
    /// RS.delivered: bytes delivered over the interval.
    public var delivered = 0
    /// RS.prior_delivered: P.delivered of the most recently sent packet acknowledged.
    public var priorDelivered = 0
    /// RS.prior_time: P.delivered_time of that packet; `.zero` when nothing was delivered.
    public var priorTime = Instant.zero
    public var sendElapsed = TimeSpan.zero
    public var ackElapsed = TimeSpan.zero
    /// RS.rtt: now minus the send time of the most recently sent packet acknowledged (§4.2),
    /// nil when no packet was newly acknowledged.
    public var rtt: TimeSpan?
    /// RS.newly_acked and RS.newly_lost: bytes newly acknowledged and newly declared lost
    /// while this ACK was processed.
    public var newlyAcked = 0
    public var newlyLost = 0
    /// RS.tx_in_flight: P.tx_in_flight of the most recently sent packet acknowledged.
    public var txInFlight = 0
    /// RS.lost: bytes declared lost between that packet's transmission and now.
    public var lost = 0
    /// Send time and packet number of the most recently sent packet acknowledged.
    public var sendTime = Instant.zero
    public var lastAckedPacketNumber: UInt64 = 0
    /// C.delivered and C.lost after this ACK.
    public var totalDelivered = 0
    public var totalLost = 0

    @inlinable public init() {}
}

/// What a congestion controller learns about one packet declared lost (for BBR's
/// HandleLostPacket, draft-ietf-ccwg-bbr-06 §5.5.10.2).
@frozen
public struct LostPacketInfo: Sendable {
    public var packetNumber: UInt64
    public var sentTime: Instant
    public var bytes: Int
    /// P.tx_in_flight.
    public var txInFlight: Int
    /// C.lost − P.lost: bytes lost since this packet was sent, this packet included.
    public var lostSinceSent: Int
    /// P.is_app_limited.
    public var isAppLimited: Bool
    /// C.delivered at the time of the loss.
    public var totalDelivered: Int

    @inlinable
    public init(
        packetNumber: UInt64, sentTime: Instant, bytes: Int, txInFlight: Int, lostSinceSent: Int,
        isAppLimited: Bool, totalDelivered: Int
    ) {
        self.packetNumber = packetNumber
        self.sentTime = sentTime
        self.bytes = bytes
        self.txInFlight = txInFlight
        self.lostSinceSent = lostSinceSent
        self.isAppLimited = isAppLimited
        self.totalDelivered = totalDelivered
    }
}

/// Delivery-rate estimation for one connection (draft-ietf-ccwg-bbr-06 §4.1, "Delivery Rate
/// Samples"): the connection ("C.") state, a snapshot taken per sent packet, and one rate sample
/// per ACK. Loss recovery drives it; it is shared by all packet number spaces because the
/// delivery counters are per connection. Pure ACK packets are never fed to it (§2.2: C.delivered
/// "MUST NOT include pure ACK packets").
public struct DeliveryRateEstimator: Sendable {
    /// C.delivered, C.lost (bytes).
    public private(set) var delivered = 0
    public private(set) var lost = 0
    /// C.delivered_time; `.zero` before anything was sent.
    public private(set) var deliveredTime = Instant.zero
    /// C.first_send_time.
    public private(set) var firstSendTime = Instant.zero
    /// C.app_limited: the C.delivered value that ends the current application-limited bubble, or
    /// 0 when the connection is not application-limited.
    public private(set) var appLimitedUntil = 0
    /// The sample being assembled for the ACK in progress.
    var sample = RateSample()
    var sampleHasData = false
    /// P.lost of the packet that decides the sample; RS.lost is computed from it once the losses
    /// this ACK reveals are known.
    var lostAtNewestSend = 0

    public init() {}

    public var isAppLimited: Bool { appLimitedUntil != 0 }

    /// OnPacketSent (§4.1.2.2) for an in-flight packet of `bytes`; `bytesInFlight` is the
    /// in-flight volume before this packet. Returns the snapshot to store with the packet.
    public mutating func onPacketSent(now: Instant, bytes: Int, bytesInFlight: Int) -> DeliverySnapshot {
        if bytesInFlight == 0 {
            firstSendTime = now
            deliveredTime = now
        }
        return DeliverySnapshot(
            delivered: delivered, deliveredTime: deliveredTime, firstSendTime: firstSendTime, lost: lost,
            txInFlight: bytesInFlight + bytes, isAppLimited: appLimitedUntil != 0)
    }

    /// InitRateSample (§4.1.2.3): called when an ACK starts being processed.
    public mutating func beginAck() {
        sample = RateSample()
        sampleHasData = false
    }

    /// UpdateRateSample (§4.1.2.3) for one newly acknowledged in-flight packet.
    public mutating func onPacketAcked(
        _ snapshot: DeliverySnapshot, packetNumber: UInt64, sentTime: Instant, bytes: Int, now: Instant
    ) {
        delivered += bytes
        deliveredTime = now
        sample.newlyAcked += bytes
        // IsNewestPacket: the most recently sent packet decides the sample.
        let isNewest =
            sentTime > firstSendTime || (sentTime == firstSendTime && packetNumber > sample.lastAckedPacketNumber)
        if !sampleHasData || isNewest {
            sampleHasData = true
            sample.priorDelivered = snapshot.delivered
            sample.priorTime = snapshot.deliveredTime
            sample.isAppLimited = snapshot.isAppLimited
            sample.sendElapsed = sentTime - snapshot.firstSendTime
            sample.ackElapsed = deliveredTime - snapshot.deliveredTime
            sample.lastAckedPacketNumber = packetNumber
            sample.txInFlight = snapshot.txInFlight
            sample.sendTime = sentTime
            sample.rtt = now - sentTime
            firstSendTime = sentTime
            lostAtNewestSend = snapshot.lost
        }
    }
    /// An in-flight packet of `bytes` was declared lost. Returns C.lost afterwards.
    @discardableResult
    public mutating func onPacketLost(bytes: Int) -> Int {
        lost += bytes
        sample.newlyLost += bytes
        return lost
    }

    /// GenerateRateSample (§4.1.2.3), after every packet of the ACK was reported and loss
    /// detection ran. Returns nil when the ACK delivered nothing; a sample whose interval is
    /// shorter than `minRTT` carries `deliveryRate == 0` ("no reliable rate sample").
    public mutating func finishAck(minRTT: TimeSpan) -> RateSample? {
        // Clear the app-limited mark once the bubble is acknowledged and gone.
        if appLimitedUntil != 0 && delivered > appLimitedUntil { appLimitedUntil = 0 }
        guard sampleHasData, sample.priorTime != .zero else { return nil }
        sample.interval = max(sample.sendElapsed, sample.ackElapsed)
        sample.delivered = delivered - sample.priorDelivered
        sample.lost = lost - lostAtNewestSend
        sample.totalDelivered = delivered
        sample.totalLost = lost
        if sample.interval >= minRTT && sample.interval > .zero {
            sample.deliveryRate = Double(sample.delivered) * 1e9 / Double(sample.interval.nanoseconds)
        }
        return sample
    }

    /// MarkConnectionAppLimited (§4.1.2.4): the samples of the next round are application-limited.
    public mutating func markAppLimited(bytesInFlight: Int) {
        appLimitedUntil = max(delivered + bytesInFlight, 1)
    }
}
