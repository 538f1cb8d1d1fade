@testable import QuicCore
import QuicWire
import Testing

func ms(_ value: Int64) -> Instant { Instant(nanoseconds: UInt64(value) * 1_000_000) }

/// Builds an ACK frame view over `ranges` (highest first) in `storage` and passes it to `body`.
func withAck<R>(_ ranges: [ClosedRange<UInt64>], ackDelay: UInt64 = 0, ecn: ECNCounts? = nil, _ body: (AckFrame) throws -> R) rethrows -> R {
    var buffer = [UInt8](repeating: 0, count: 1024)
    return try buffer.withUnsafeMutableBytes { raw in
        var writer = ByteWriter(raw)
        AckFrame.encode(ranges: ranges, ackDelay: ackDelay, ecnCounts: ecn, into: &writer)
        var reader = FrameReader(payload: UnsafeRawBufferPointer(rebasing: raw[..<writer.offset]), packetType: .oneRTT)
        guard case .ack(let frame)? = try! reader.next() else { fatalError("not an ACK") }
        return try body(frame)
    }
}

@Suite("RTT estimation (RFC 9002 §5)")
struct RTTTests {
    @Test("first sample sets everything; later samples smooth with ack delay removed when plausible")
    func estimator() {
        var rtt = RTTEstimator()
        #expect(rtt.smoothedRTT == .milliseconds(333))
        #expect(rtt.probeTimeout == TimeSpan.milliseconds(999), "333 + 4 * 166.5")
        rtt.update(latest: .milliseconds(100), ackDelay: .milliseconds(10), now: ms(100))
        #expect(rtt.smoothedRTT == .milliseconds(100))
        #expect(rtt.rttVariance == .milliseconds(50))
        #expect(rtt.minRTT == .milliseconds(100))
        // 120 ms with 10 ms of ack delay: adjusted 110; srtt = 7/8*100 + 1/8*110 = 101.25;
        // rttvar = 3/4*50 + 1/4*|100-110| = 40.
        rtt.update(latest: .milliseconds(120), ackDelay: .milliseconds(10), now: ms(300))
        #expect(rtt.smoothedRTT == .microseconds(101_250))
        #expect(rtt.rttVariance == .milliseconds(40))
        // An ack delay that would push the sample below min_rtt is ignored.
        rtt.update(latest: .milliseconds(105), ackDelay: .milliseconds(50), now: ms(500))
        #expect(rtt.minRTT == .milliseconds(100))
        #expect(rtt.latestRTT == .milliseconds(105))
    }
}

@Suite("NewReno (RFC 9002 §7, Appendix B)")
struct NewRenoTests {
    @Test("initial window, slow start, one reduction per recovery period, congestion avoidance, persistent congestion")
    func lifecycle() {
        var reno = NewReno(maxDatagramSize: 1200)
        #expect(reno.congestionWindow == 12000)  // min(10 * 1200, max(14720, 2400))
        var big = NewReno(maxDatagramSize: 1500)
        #expect(big.congestionWindow == 14720)
        big.onPersistentCongestion(now: ms(1))
        #expect(big.congestionWindow == 3000)

        let rtt = RTTEstimator()
        reno.onPacketAcked(AckedPacketInfo(packetNumber: 1, sentTime: ms(1), bytes: 1200), now: ms(10), rtt: rtt, isAppLimited: false)
        #expect(reno.congestionWindow == 13200)  // slow start: + acked bytes
        reno.onPacketAcked(AckedPacketInfo(packetNumber: 2, sentTime: ms(1), bytes: 1200), now: ms(10), rtt: rtt, isAppLimited: true)
        #expect(reno.congestionWindow == 13200, "app-limited acks do not grow the window")

        reno.onCongestionEvent(now: ms(20), sentTime: ms(15))
        #expect(reno.congestionWindow == 6600)
        #expect(reno.slowStartThreshold == 6600)
        reno.onCongestionEvent(now: ms(21), sentTime: ms(19))
        #expect(reno.congestionWindow == 6600, "a loss of a packet sent before recovery began does not reduce again")
        reno.onPacketAcked(AckedPacketInfo(packetNumber: 3, sentTime: ms(19), bytes: 1200), now: ms(30), rtt: rtt, isAppLimited: false)
        #expect(reno.congestionWindow == 6600, "no growth for packets sent before recovery began")

        // Congestion avoidance: one datagram per window of acknowledged bytes.
        for number in 0..<5 {
            reno.onPacketAcked(
                AckedPacketInfo(packetNumber: 10 + UInt64(number), sentTime: ms(40), bytes: 1200), now: ms(50), rtt: rtt,
                isAppLimited: false)
        }
        #expect(reno.congestionWindow == 6600)
        reno.onPacketAcked(AckedPacketInfo(packetNumber: 20, sentTime: ms(40), bytes: 1200), now: ms(50), rtt: rtt, isAppLimited: false)
        #expect(reno.congestionWindow == 7800)

        reno.onPersistentCongestion(now: ms(60))
        #expect(reno.congestionWindow == 2400)
    }
}

@Suite("Loss recovery (RFC 9002 §6, Appendix A)")
struct LossRecoveryTests {
    typealias Recovery = LossRecovery<NewReno>

    func send(_ recovery: inout Recovery, count: Int, at time: Instant, space: PacketNumberSpace = .applicationData) {
        for _ in 0..<count {
            let number = recovery.nextPacketNumber(space)
            let cursor = recovery.frameCursor(space)
            recovery.recordFrame(.stream(id: StreamID(rawValue: 0), offset: number * 1000, length: 1000, fin: false), space: space)
            recovery.onPacketSent(space: space, packetNumber: number, firstFrame: cursor, now: time, bytes: 1200, ackEliciting: true, inFlight: true)
        }
    }

    @Test("packet threshold: three later packets acknowledged declare a packet lost")
    func packetThreshold() throws {
        var recovery = Recovery(controller: NewReno(maxDatagramSize: 1200), isServer: true)
        recovery.handshakeConfirmed = true
        send(&recovery, count: 5, at: ms(0))
        #expect(recovery.bytesInFlight == 6000)
        var lost: [SentFrame] = []
        var acked: [SentFrame] = []
        try withAck([2...4]) { ack in
            try recovery.onAckReceived(ack, space: .applicationData, ackDelay: .zero, now: ms(50), isAppLimited: false) { _, frame, outcome in
                if outcome == .lost { lost.append(frame) } else { acked.append(frame) }
            }
        }
        #expect(acked.count == 3)
        // 0 is 4 below the largest acknowledged (4): lost; 1 is only 3 below: also lost (>= threshold).
        #expect(lost == [.stream(id: StreamID(rawValue: 0), offset: 0, length: 1000, fin: false), .stream(id: StreamID(rawValue: 0), offset: 1000, length: 1000, fin: false)])
        #expect(recovery.bytesInFlight == 0)
        #expect(recovery.rtt.latestRTT == .milliseconds(50))
        #expect(recovery.congestionWindow == 6000, "the loss halved the window")
    }

    @Test("time threshold: a packet is lost 9/8 RTT after a later one was acknowledged")
    func timeThreshold() throws {
        var recovery = Recovery(controller: NewReno(maxDatagramSize: 1200), isServer: true)
        recovery.handshakeConfirmed = true
        send(&recovery, count: 1, at: ms(0))
        send(&recovery, count: 1, at: ms(10))
        var lost = 0
        try withAck([1...1]) { ack in
            try recovery.onAckReceived(ack, space: .applicationData, ackDelay: .zero, now: ms(110), isAppLimited: false) { _, _, outcome in
                if outcome == .lost { lost += 1 }
            }
        }
        // RTT 100 ms: loss delay 112.5 ms; packet 0 was sent at 0, so it is lost at 112.5 ms.
        #expect(lost == 0)
        let timer = try #require(recovery.timer)
        #expect(timer == Instant(nanoseconds: 112_500_000))
        let action = recovery.onTimeout(now: timer, amplificationBlocked: false) { _, _, outcome in if outcome == .lost { lost += 1 } }
        #expect(action == .declaredLost)
        #expect(lost == 1)
    }

    @Test("PTO: probe timeout fires with exponential backoff and asks for two probes")
    func probeTimeout() throws {
        var recovery = Recovery(controller: NewReno(maxDatagramSize: 1200), isServer: true)
        recovery.handshakeConfirmed = true
        recovery.maxAckDelay = .milliseconds(25)
        send(&recovery, count: 1, at: ms(0))
        // No RTT sample: PTO = 333 + 4*166.5 + max_ack_delay 25 = 1024 ms.
        let first = try #require(recovery.timer)
        #expect(first == Instant(nanoseconds: 1_024_000_000))
        #expect(recovery.onTimeout(now: first, amplificationBlocked: false) { _, _, _ in } == .probe(space: .applicationData, count: 2))
        #expect(recovery.ptoCount == 1)
        let second = try #require(recovery.timer)
        #expect(second == Instant(nanoseconds: 2_048_000_000), "backoff doubles the period")
    }

    @Test("persistent congestion collapses the window")
    func persistentCongestion() throws {
        var recovery = Recovery(controller: NewReno(maxDatagramSize: 1200), isServer: true)
        recovery.handshakeConfirmed = true
        recovery.maxAckDelay = .zero
        send(&recovery, count: 1, at: ms(0))
        try withAck([0...0]) { ack in
            try recovery.onAckReceived(ack, space: .applicationData, ackDelay: .zero, now: ms(10), isAppLimited: false) { _, _, _ in }
        }
        // RTT 10 ms, rttvar 5 ms: duration = (10 + 20 + 0) * 3 = 90 ms. Lose packets spanning 200 ms.
        for time in stride(from: Int64(20), through: 220, by: 20) { send(&recovery, count: 1, at: ms(time)) }
        send(&recovery, count: 1, at: ms(230))
        let last = recovery.nextPacketNumber(.applicationData) - 1
        try withAck([last...last]) { ack in
            try recovery.onAckReceived(ack, space: .applicationData, ackDelay: .zero, now: ms(240), isAppLimited: false) { _, _, _ in }
        }
        // Appendix B.8 collapses the window to kMinimumWindow (2400) and ends recovery; the ACK's
        // own packet (sent after the losses) is then processed in slow start: 2400 + 1200.
        #expect(recovery.congestionWindow == 3600)
    }

    @Test("an ACK for a packet never sent is a PROTOCOL_VIOLATION")
    func ackOfUnsent() {
        var recovery = Recovery(controller: NewReno(maxDatagramSize: 1200), isServer: true)
        send(&recovery, count: 2, at: ms(0))
        #expect(throws: WireError.self) {
            try withAck([5...5]) { ack in
                try recovery.onAckReceived(ack, space: .applicationData, ackDelay: .zero, now: ms(1), isAppLimited: false) { _, _, _ in }
            }
        }
    }

    @Test("discarding a space removes its bytes from flight")
    func discard() {
        var recovery = Recovery(controller: NewReno(maxDatagramSize: 1200), isServer: false)
        send(&recovery, count: 3, at: ms(0), space: .initial)
        #expect(recovery.bytesInFlight == 3600)
        recovery.discard(space: .initial, now: ms(5))
        #expect(recovery.bytesInFlight == 0)
        #expect(recovery.isDiscarded(.initial))
    }
}

@Suite("ACK generation (RFC 9000 §13.2)")
struct AckGenerationTests {
    @Test("every second ack-eliciting packet, or max_ack_delay, or at once when out of order")
    func thresholds() {
        var received = ReceivedPackets()
        received.onPacketReceived(0, ackEliciting: true, ecn: .notECT, now: ms(0), maxAckDelay: .milliseconds(25), immediate: false)
        #expect(received.ackDeadline == ms(25))
        received.onPacketReceived(1, ackEliciting: true, ecn: .notECT, now: ms(1), maxAckDelay: .milliseconds(25), immediate: false)
        #expect(received.ackDeadline == ms(1), "the second ack-eliciting packet triggers an immediate ACK")
        received.onAckSent()
        received.onPacketReceived(5, ackEliciting: true, ecn: .notECT, now: ms(2), maxAckDelay: .milliseconds(25), immediate: false)
        #expect(received.ackDeadline == ms(2), "a gap (2-4 missing) is acknowledged at once")
        received.onAckSent()
        received.onPacketReceived(3, ackEliciting: true, ecn: .notECT, now: ms(3), maxAckDelay: .milliseconds(25), immediate: false)
        #expect(received.ackDeadline == ms(3), "a reordered packet is acknowledged at once")
        received.onAckSent()
        received.onPacketReceived(6, ackEliciting: false, ecn: .notECT, now: ms(4), maxAckDelay: .milliseconds(25), immediate: false)
        #expect(received.ackDeadline == nil, "non-ack-eliciting packets do not arm the timer")
        #expect(received.rangesToAcknowledge == [5...6, 3...3, 0...1])
        #expect(received.isDuplicate(5))
        #expect(!received.isDuplicate(4))
        received.onAckAcknowledged(largest: 3)
        #expect(received.rangesToAcknowledge == [5...6])
    }
}
