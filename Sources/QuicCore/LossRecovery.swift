import QuicWire

/// What happens to a sent frame's record.
public enum FrameOutcome: Sendable {
    case acknowledged
    case lost
}

/// What the loss detection timer asks the connection to do (RFC 9002 §6.2.4, Appendix A.9).
public enum LossTimerAction: Sendable, Equatable {
    /// Time-threshold loss was declared; frames were already handed back.
    case declaredLost
    /// Send `count` ack-eliciting probe packets in `space`, new data if any, else retransmitted data.
    case probe(space: PacketNumberSpace, count: Int)
    /// Nothing to do.
    case none
}

/// Loss detection and congestion control for one connection (RFC 9002 §5–§7, Appendix A and B),
/// generic over the controller.
public struct LossRecovery<Controller: CongestionController>: Sendable {
    /// kPacketThreshold (§6.1.1).
    public static var packetThreshold: UInt64 { 3 }
    /// kPersistentCongestionThreshold (§7.6.1).
    public static var persistentCongestionThreshold: Int64 { 3 }

    public private(set) var rtt = RTTEstimator()
    public private(set) var controller: Controller
    /// Delivery-rate estimation (draft-ietf-ccwg-bbr-06 §4.1) over every in-flight packet; its
    /// per-ACK sample goes to `controller.onRateSample`.
    public private(set) var deliveryRate = DeliveryRateEstimator()
    /// ECN on this path (RFC 9000 §13.4.2): what packets are marked with, and whether the
    /// peer's counts are trusted.
    public private(set) var ecn: ECNValidation
    /// CE increases of validated ACK frames, summed (each one a congestion event, RFC 9002 §7).
    public private(set) var ecnCongestionEvents = 0
    public private(set) var bytesInFlight = 0
    public private(set) var ptoCount = 0
    /// The peer's max_ack_delay.
    public var maxAckDelay = TimeSpan.milliseconds(25)
    public var isServer: Bool
    public var handshakeConfirmed = false
    public var hasHandshakeKeys = false
    /// Client: whether the server has certainly validated our address (§A.8
    /// PeerCompletedAddressValidation).
    public var receivedHandshakeAck = false

    var spaces = [SpaceState(), SpaceState(), SpaceState()]
    /// Scratch storage reused for each ACK.
    var newlyAcked: [AckedPacketInfo] = []
    /// Packets declared lost by the last call, as (space, packet number); reused storage.
    public private(set) var lostPackets: [(PacketNumberSpace, UInt64)] = []
    /// Packets declared lost over the connection's life.
    public private(set) var lostPacketCount = 0
    /// The loss detection timer.
    public private(set) var timer: Instant?
    /// Which path's state is current; packets carry it (RFC 9000 §9.4).
    public private(set) var pathGeneration: UInt8 = 0
    /// Of the last ACK frame: the largest newly acknowledged packet of the current path that was
    /// not a PMTU probe, in bytes (0 if none). DPLPMTUD's black-hole detection reads it.
    public private(set) var largestNewlyAckedBytes = 0
    /// Of the last loss detection pass: the largest packet of the current path declared lost
    /// that was not a PMTU probe, in bytes (0 if none).
    public private(set) var largestLostBytes = 0

    struct SpaceState: Sendable {
        var sent = SentPacketQueue()
        var largestAcked: UInt64?
        var timeOfLastAckEliciting: Instant?
        var lossTime: Instant?
        var discarded = false
    }

    public init(controller: Controller, isServer: Bool, ecn: Bool = false) {
        self.controller = controller
        self.isServer = isServer
        self.ecn = ECNValidation(enabled: ecn)
        newlyAcked.reserveCapacity(64)
    }

    // MARK: Sending

    /// The packet number the next packet in `space` takes.
    public func nextPacketNumber(_ space: PacketNumberSpace) -> UInt64 { spaces[space.rawValue].sent.nextPacketNumber }

    public func largestAcked(_ space: PacketNumberSpace) -> UInt64? { spaces[space.rawValue].largestAcked }

    /// Records one frame of the packet about to be committed in `space`.
    public mutating func recordFrame(_ frame: SentFrame, space: PacketNumberSpace) {
        spaces[space.rawValue].sent.addFrame(frame)
    }

    /// The frame cursor before a packet's frames are recorded.
    public func frameCursor(_ space: PacketNumberSpace) -> Int { spaces[space.rawValue].sent.frameCursor }

    /// OnPacketSent (Appendix A.5): the packet with the frames recorded since `firstFrame`.
    /// `ecnMarked`: the packet left with ECT(0); nil takes the current marking (packets sent
    /// off the current path are not marked). `mtuProbe`: a DPLPMTUD probe, in flight but not a
    /// congestion signal when lost (RFC 9000 §14.4).
    @_specialize(exported: true, where Controller == SelectedCongestionController)
    public mutating func onPacketSent(
        space: PacketNumberSpace, packetNumber: UInt64, firstFrame: Int, now: Instant, bytes: Int,
        ackEliciting: Bool, inFlight: Bool, amplificationBlocked: Bool = false, ecnMarked marked: Bool? = nil,
        mtuProbe: Bool = false
    ) {
        let frameCount = spaces[space.rawValue].sent.frameCursor - firstFrame
        let ecnMarked = marked ?? (ecn.marking != .notECT)
        ecn.onPacketSent(space: space, marked: ecnMarked)
        let delivery =
            inFlight ? deliveryRate.onPacketSent(now: now, bytes: bytes, bytesInFlight: bytesInFlight) : DeliverySnapshot()
        spaces[space.rawValue].sent.append(
            SentPacket(
                packetNumber: packetNumber, timeSent: now, bytes: bytes, ackEliciting: ackEliciting, inFlight: inFlight,
                firstFrame: firstFrame, frameCount: frameCount, state: .outstanding, ecnMarked: ecnMarked,
                isMTUProbe: mtuProbe, pathGeneration: pathGeneration, delivery: delivery))
        if inFlight {
            if ackEliciting { spaces[space.rawValue].timeOfLastAckEliciting = now }
            bytesInFlight += bytes
            controller.onPacketSent(now: now, bytes: bytes, bytesInFlight: bytesInFlight)
            updateTimer(now: now, amplificationBlocked: amplificationBlocked)
        }
    }

    /// One datagram left (after its packets' `onPacketSent`): counts toward ECN's testing period.
    public mutating func onDatagramSent(now: Instant) {
        ecn.onDatagramSent(now: now, probeTimeout: rtt.probeTimeout)
    }

    /// Whether the window has room for `bytes` more.
    public func canSend(bytes: Int) -> Bool { bytesInFlight + bytes <= controller.congestionWindow }

    public var congestionWindow: Int { controller.congestionWindow }

    // MARK: Acknowledgments

    /// OnAckReceived (Appendix A.7). `ackDelay` is the decoded delay; `onFrame` receives every
    /// frame record of newly acknowledged and newly lost packets. Throws PROTOCOL_VIOLATION for
    /// an acknowledgment of a packet never sent (RFC 9000 §13.1).
    @_specialize(exported: true, where Controller == SelectedCongestionController)
    public mutating func onAckReceived(
        _ ack: AckFrame, space: PacketNumberSpace, ackDelay: TimeSpan, now: Instant, isAppLimited: Bool,
        amplificationBlocked: Bool = false, onFrame: (PacketNumberSpace, SentFrame, FrameOutcome) -> Void
    ) throws(WireError) {
        let spaceIndex = space.rawValue
        guard ack.largestAcknowledged < spaces[spaceIndex].sent.nextPacketNumber else {
            throw WireError(.protocolViolation, .invalidValue, frameType: FrameType.ack.rawValue)
        }
        let advancesLargest = spaces[spaceIndex].largestAcked.map { ack.largestAcknowledged > $0 } ?? true
        spaces[spaceIndex].largestAcked = max(spaces[spaceIndex].largestAcked ?? 0, ack.largestAcknowledged)

        // CheckIfApplicationLimited at the start of ACK processing (draft-ietf-ccwg-bbr-06 §4.1.2.4).
        if isAppLimited { deliveryRate.markAppLimited(bytesInFlight: bytesInFlight) }
        deliveryRate.beginAck()
        newlyAcked.removeAll(keepingCapacity: true)
        lostPackets.removeAll(keepingCapacity: true)
        largestNewlyAckedBytes = 0
        largestLostBytes = 0
        var largestNewlyAcked: SentPacket?
        var newlyAckedMarked = 0
        var newlyAckedMarkedOnPath = 0
        var includesAckEliciting = false
        for range in ack.ranges {
            var packetNumber = range.upperBound
            // Walk down the range, but only over packets still remembered.
            let lowest = max(range.lowerBound, spaces[spaceIndex].sent.firstPacketNumber)
            guard packetNumber >= lowest else { continue }
            while true {
                if let index = spaces[spaceIndex].sent.index(of: packetNumber) {
                    var packet = spaces[spaceIndex].sent[index]
                    if packet.state == .outstanding {
                        packet.state = .acked
                        spaces[spaceIndex].sent[index] = packet
                        if largestNewlyAcked == nil { largestNewlyAcked = packet }
                        if packet.ackEliciting { includesAckEliciting = true }
                        let onPath = packet.pathGeneration == pathGeneration
                        if packet.ecnMarked {
                            newlyAckedMarked += 1
                            if onPath { newlyAckedMarkedOnPath += 1 }
                        }
                        if onPath && !packet.isMTUProbe { largestNewlyAckedBytes = max(largestNewlyAckedBytes, packet.bytes) }
                        // Packets of an earlier path left the window when the path changed and
                        // tell the new path's controller nothing (RFC 9000 §9.4).
                        if packet.inFlight && onPath {
                            bytesInFlight -= packet.bytes
                            newlyAcked.append(
                                AckedPacketInfo(packetNumber: packet.packetNumber, sentTime: packet.timeSent, bytes: packet.bytes))
                            deliveryRate.onPacketAcked(
                                packet.delivery, packetNumber: packet.packetNumber, sentTime: packet.timeSent,
                                bytes: packet.bytes, now: now)
                        }
                        for frameIndex in packet.firstFrame..<(packet.firstFrame + packet.frameCount) {
                            onFrame(space, spaces[spaceIndex].sent.frame(at: frameIndex), .acknowledged)
                        }
                    }
                }
                if packetNumber == lowest { break }
                packetNumber -= 1
            }
        }
        guard let largest = largestNewlyAcked else { return }

        if largest.packetNumber == ack.largestAcknowledged && includesAckEliciting && largest.pathGeneration == pathGeneration {
            let delay = handshakeConfirmed ? min(ackDelay, maxAckDelay) : ackDelay
            rtt.update(latest: now - largest.timeSent, ackDelay: space == .applicationData ? delay : .zero, now: now)
        }
        if space == .handshake { receivedHandshakeAck = true }

        // ProcessECN (Appendix B.7), with the counts validated first (RFC 9000 §13.4.2.1); an ACK
        // that does not advance the largest acknowledged is not validated (reordering).
        if advancesLargest,
            let ceIncrease = ecn.onAck(
                space: space, counts: ack.ecnCounts, newlyAckedECT0: newlyAckedMarked, onPath: newlyAckedMarkedOnPath),
            ceIncrease > 0
        {
            ecnCongestionEvents += 1
            controller.onECNCongestion(now: now, sentTime: largest.timeSent, newlyMarked: ceIncrease)
        }

        detectLostPackets(space: space, now: now, onFrame: onFrame)
        for packet in newlyAcked {
            controller.onPacketAcked(packet, now: now, rtt: rtt, isAppLimited: isAppLimited)
        }
        if let sample = deliveryRate.finishAck(minRTT: rtt.minRTT) {
            controller.onRateSample(sample, now: now, rtt: rtt, bytesInFlight: bytesInFlight)
        }
        controller.onAckProcessed(now: now, rtt: rtt, bytesInFlight: bytesInFlight)
        if controller.marksFlightAppLimited { deliveryRate.markAppLimited(bytesInFlight: bytesInFlight) }
        if peerCompletedAddressValidation { ptoCount = 0 }
        spaces[spaceIndex].sent.dropSettledFront()
        updateTimer(now: now, amplificationBlocked: amplificationBlocked)
    }

    /// DetectAndRemoveLostPackets (Appendix A.10) and OnPacketsLost (Appendix B.8).
    mutating func detectLostPackets(space: PacketNumberSpace, now: Instant, onFrame: (PacketNumberSpace, SentFrame, FrameOutcome) -> Void) {
        let spaceIndex = space.rawValue
        guard let largestAcked = spaces[spaceIndex].largestAcked else { return }
        spaces[spaceIndex].lossTime = nil
        let lossDelay = max(max(rtt.latestRTT, rtt.smoothedRTT).scaled(9, 8), RTTEstimator.granularity)

        var sentTimeOfLastLoss: Instant?
        // Persistent congestion (§7.6.2): a run of consecutive lost ack-eliciting packets, all
        // sent after the first RTT sample, spanning the persistent congestion duration.
        var runStart: Instant?
        var runEnd: Instant?
        var persistent = false
        let duration =
            (rtt.smoothedRTT + max(rtt.rttVariance * 4, RTTEstimator.granularity) + maxAckDelay)
            * Self.persistentCongestionThreshold

        for index in spaces[spaceIndex].sent.indices {
            var packet = spaces[spaceIndex].sent[index]
            if packet.packetNumber > largestAcked { break }
            switch packet.state {
            case .acked:
                runStart = nil
                continue
            case .lost:
                continue
            case .outstanding:
                break
            }
            // time_sent <= now - loss_delay, written so that it cannot underflow early on.
            if packet.timeSent + lossDelay <= now || largestAcked >= packet.packetNumber + Self.packetThreshold {
                packet.state = .lost
                spaces[spaceIndex].sent[index] = packet
                lostPackets.append((space, packet.packetNumber))
                lostPacketCount += 1
                let onPath = packet.pathGeneration == pathGeneration
                if packet.ecnMarked && onPath { ecn.onMarkedPacketLost() }
                if packet.inFlight && onPath {
                    bytesInFlight -= packet.bytes
                }
                // A lost PMTU probe says the size did not pass, not that the path is congested
                // (RFC 9000 §14.4); an earlier path's losses are not this path's (§9.4).
                if packet.inFlight && onPath && !packet.isMTUProbe {
                    largestLostBytes = max(largestLostBytes, packet.bytes)
                    sentTimeOfLastLoss = max(sentTimeOfLastLoss ?? packet.timeSent, packet.timeSent)
                    let totalLost = deliveryRate.onPacketLost(bytes: packet.bytes)
                    controller.onPacketLost(
                        LostPacketInfo(
                            packetNumber: packet.packetNumber, sentTime: packet.timeSent, bytes: packet.bytes,
                            txInFlight: packet.delivery.txInFlight, lostSinceSent: totalLost - packet.delivery.lost,
                            isAppLimited: packet.delivery.isAppLimited, totalDelivered: deliveryRate.delivered),
                        now: now, bytesInFlight: bytesInFlight)
                }
                for frameIndex in packet.firstFrame..<(packet.firstFrame + packet.frameCount) {
                    onFrame(space, spaces[spaceIndex].sent.frame(at: frameIndex), .lost)
                }
                if packet.ackEliciting, onPath, !packet.isMTUProbe, let firstSample = rtt.firstSampleTime,
                    packet.timeSent > firstSample
                {
                    if runStart == nil { runStart = packet.timeSent }
                    runEnd = packet.timeSent
                    if let runStart, let runEnd, runEnd - runStart >= duration { persistent = true }
                }
            } else {
                runStart = nil
                let candidate = packet.timeSent + lossDelay
                spaces[spaceIndex].lossTime = min(spaces[spaceIndex].lossTime ?? candidate, candidate)
            }
        }
        if let sentTimeOfLastLoss { controller.onCongestionEvent(now: now, sentTime: sentTimeOfLastLoss) }
        if persistent {
            controller.onPersistentCongestion(now: now)
        }
    }

    // MARK: Timer

    /// PeerCompletedAddressValidation (Appendix A.8).
    public var peerCompletedAddressValidation: Bool { isServer || receivedHandshakeAck || handshakeConfirmed }

    var ackElicitingInFlight: Bool {
        spaces.contains { !$0.discarded && $0.sent.ackElicitingInFlight > 0 }
    }

    /// GetLossTimeAndSpace.
    func earliestLossTime() -> (Instant, PacketNumberSpace)? {
        var result: (Instant, PacketNumberSpace)?
        for space in PacketNumberSpace.allCases {
            if let time = spaces[space.rawValue].lossTime, result == nil || time < result!.0 { result = (time, space) }
        }
        return result
    }

    /// GetPtoTimeAndSpace.
    func ptoTimeAndSpace(now: Instant) -> (Instant, PacketNumberSpace)? {
        var duration = rtt.probeTimeout * (1 << Int64(min(ptoCount, 30)))
        if !ackElicitingInFlight {
            // Anti-deadlock PTO from the current time (client only).
            return (now + duration, hasHandshakeKeys ? .handshake : .initial)
        }
        var result: (Instant, PacketNumberSpace)?
        for space in PacketNumberSpace.allCases {
            let state = spaces[space.rawValue]
            guard !state.discarded, state.sent.ackElicitingInFlight > 0, let last = state.timeOfLastAckEliciting else {
                continue
            }
            if space == .applicationData {
                if !handshakeConfirmed { return result }
                duration = duration + maxAckDelay * (1 << Int64(min(ptoCount, 30)))
            }
            let time = last + duration
            if result == nil || time < result!.0 { result = (time, space) }
        }
        return result
    }

    /// SetLossDetectionTimer (Appendix A.8).
    public mutating func updateTimer(now: Instant, amplificationBlocked: Bool) {
        if let (time, _) = earliestLossTime() {
            timer = time
            return
        }
        if amplificationBlocked {
            timer = nil
            return
        }
        if !ackElicitingInFlight && peerCompletedAddressValidation {
            timer = nil
            return
        }
        timer = ptoTimeAndSpace(now: now)?.0
    }

    /// OnLossDetectionTimeout (Appendix A.9).
    public mutating func onTimeout(
        now: Instant, amplificationBlocked: Bool, onFrame: (PacketNumberSpace, SentFrame, FrameOutcome) -> Void
    ) -> LossTimerAction {
        guard let timer, timer <= now else { return .none }
        lostPackets.removeAll(keepingCapacity: true)
        largestLostBytes = 0
        largestNewlyAckedBytes = 0
        if let (_, space) = earliestLossTime() {
            detectLostPackets(space: space, now: now, onFrame: onFrame)
            spaces[space.rawValue].sent.dropSettledFront()
            updateTimer(now: now, amplificationBlocked: amplificationBlocked)
            return .declaredLost
        }
        let action: LossTimerAction
        if !ackElicitingInFlight {
            action = .probe(space: hasHandshakeKeys ? .handshake : .initial, count: 1)
        } else if let (_, space) = ptoTimeAndSpace(now: now) {
            action = .probe(space: space, count: 2)
        } else {
            action = .none
        }
        ptoCount += 1
        updateTimer(now: now, amplificationBlocked: amplificationBlocked)
        return action
    }

    /// Declares every outstanding packet of `space` lost (0-RTT rejected: RFC 9001 §4.6.2 lets the
    /// client re-send that data in 1-RTT).
    public mutating func declareAllLost(space: PacketNumberSpace, now: Instant, onFrame: (PacketNumberSpace, SentFrame, FrameOutcome) -> Void) {
        let spaceIndex = space.rawValue
        for index in spaces[spaceIndex].sent.indices {
            var packet = spaces[spaceIndex].sent[index]
            guard packet.state == .outstanding else { continue }
            packet.state = .lost
            spaces[spaceIndex].sent[index] = packet
            if packet.inFlight && packet.pathGeneration == pathGeneration { bytesInFlight -= packet.bytes }
            for frameIndex in packet.firstFrame..<(packet.firstFrame + packet.frameCount) {
                onFrame(space, spaces[spaceIndex].sent.frame(at: frameIndex), .lost)
            }
        }
        spaces[spaceIndex].sent.dropSettledFront()
        updateTimer(now: now, amplificationBlocked: false)
    }

    /// Calls `body` with the frames of the oldest outstanding ack-eliciting packets in `space`
    /// (up to `packets` of them), for a probe that retransmits data (RFC 9002 §6.2.4).
    public func forEachFrameOfOldestOutstanding(space: PacketNumberSpace, packets: Int, _ body: (SentFrame) -> Void) {
        var remaining = packets
        let queue = spaces[space.rawValue].sent
        for index in queue.indices where remaining > 0 {
            let packet = queue[index]
            guard packet.state == .outstanding, packet.ackEliciting else { continue }
            for frameIndex in packet.firstFrame..<(packet.firstFrame + packet.frameCount) {
                body(queue.frame(at: frameIndex))
            }
            remaining -= 1
        }
    }

    /// The frames recorded for packets from `firstFrame` on (for qlog).
    public func recordedFrames(space: PacketNumberSpace, from firstFrame: Int) -> [SentFrame] {
        let queue = spaces[space.rawValue].sent
        guard firstFrame >= queue.frames.startIndex else { return [] }
        return (firstFrame..<queue.frames.endIndex).map { queue.frame(at: $0) }
    }

    // MARK: Discarding keys

    /// OnPacketNumberSpaceDiscarded (Appendix A.11): Initial or Handshake keys were dropped.
    public mutating func discard(space: PacketNumberSpace, now: Instant, amplificationBlocked: Bool = false) {
        precondition(space != .applicationData)
        let queue = spaces[space.rawValue].sent
        for index in queue.indices {
            let packet = queue[index]
            if packet.state == .outstanding && packet.inFlight && packet.pathGeneration == pathGeneration {
                bytesInFlight -= packet.bytes
            }
            // Marked packets that will never be acknowledged count as lost for ECN's "all marked
            // packets lost" test (RFC 9000 §13.4.2), e.g. Initials a middlebox dropped for their mark.
            if packet.state == .outstanding && packet.ecnMarked { ecn.onMarkedPacketLost() }
        }
        spaces[space.rawValue].sent.removeAll()
        spaces[space.rawValue].timeOfLastAckEliciting = nil
        spaces[space.rawValue].lossTime = nil
        spaces[space.rawValue].discarded = true
        ptoCount = 0
        updateTimer(now: now, amplificationBlocked: amplificationBlocked)
    }

    public func isDiscarded(_ space: PacketNumberSpace) -> Bool { spaces[space.rawValue].discarded }

    /// Outstanding in-flight ack-eliciting packets in `space`.
    public func ackElicitingInFlight(_ space: PacketNumberSpace) -> Int { spaces[space.rawValue].sent.ackElicitingInFlight }

    public mutating func onMaxDatagramSizeChanged(_ size: Int) { controller.onMaxDatagramSizeChanged(size) }

    // MARK: Path changes

    /// The current path's congestion controller, RTT estimate, ECN validation and delivery-rate
    /// state become `fresh` (RFC 9000 §9.4, RFC 9002 §9; ECN is validated again, RFC 9000
    /// §13.4.2). Packets sent before no longer count in flight and feed nothing of the new
    /// path; they are still acknowledged or declared lost, so their frames are retransmitted.
    /// Returns the state set aside.
    public mutating func switchPath(to fresh: PathRecoveryState<Controller>, now: Instant) -> PathRecoveryState<Controller> {
        let old = PathRecoveryState(controller: controller, rtt: rtt, ecn: ecn, deliveryRate: deliveryRate)
        controller = fresh.controller
        rtt = fresh.rtt
        ecn = fresh.ecn
        deliveryRate = fresh.deliveryRate
        pathGeneration &+= 1
        bytesInFlight = 0
        ptoCount = 0
        updateTimer(now: now, amplificationBlocked: false)
        return old
    }

    /// State for a path never used: a new controller, kInitialRtt, ECN testing again (counts
    /// stay, they are per packet number space).
    public func freshPathState(controller: Controller) -> PathRecoveryState<Controller> {
        PathRecoveryState(controller: controller, rtt: RTTEstimator(), ecn: ecn.restartedForNewPath(), deliveryRate: DeliveryRateEstimator())
    }

    /// ECN is validated again on a path whose congestion state is kept (a port change).
    public mutating func restartECNValidation() { ecn = ecn.restartedForNewPath() }
}

/// The part of loss recovery that belongs to one network path (RFC 9000 §9.4).
public struct PathRecoveryState<Controller: CongestionController>: Sendable {
    public var controller: Controller
    public var rtt: RTTEstimator
    public var ecn: ECNValidation
    public var deliveryRate: DeliveryRateEstimator
}
