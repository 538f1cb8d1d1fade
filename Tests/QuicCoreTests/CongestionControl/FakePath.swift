@testable import QuicCore
import QuicWire

/// One bulk sender over a one-bottleneck path, for congestion-controller tests: a FIFO link of
/// fixed `bandwidth` with a tail-drop buffer, a fixed propagation delay (`baseRTT`, split evenly
/// both ways) plus an optional scripted extra delay, optional scripted drops, and a receiver that
/// acknowledges every packet at once with no ACK delay.
///
/// It drives the real `LossRecovery` (so the delivery-rate estimator and loss detection run) and
/// the real `Pacer`, the way `Connection` does; only the wire is fake. Time is simulated.
struct FakePath<Controller: CongestionController> {
    let mss = 1200
    var recovery: LossRecovery<Controller>
    var pacer: Pacer
    /// Bottleneck rate in bytes per second.
    var bandwidth: Double
    var baseRTT: TimeSpan
    var bufferBytes: Int
    var now = Instant(nanoseconds: 1_000_000_000)
    var linkFreeAt = Instant.zero
    /// Extra one-way delay for a packet leaving the bottleneck at a given instant.
    var extraDelay: (Instant) -> TimeSpan = { _ in .zero }
    /// Whether to drop the packet with this number before the bottleneck.
    var drop: (UInt64) -> Bool = { _ in false }
    /// Whether the application has data to send at this instant (false: application-limited).
    var hasData: (Instant) -> Bool = { _ in true }

    /// Packets on their way to the receiver, in arrival order (FIFO link, constant delay unless
    /// `extraDelay` varies).
    private var toReceiver: [(at: Instant, packetNumber: UInt64)] = []
    private var toReceiverHead = 0
    /// ACKs on their way back, in arrival order.
    private var toSender: [(at: Instant, ranges: [ClosedRange<UInt64>])] = []
    private var toSenderHead = 0
    /// What the receiver holds, ascending and merged.
    private var received: [ClosedRange<UInt64>] = []
    private(set) var packetsSent = 0
    private(set) var droppedAtBottleneck = 0
    private(set) var droppedByScript = 0
    private(set) var bytesDelivered = 0
    private var appLimited = false

    init(controller: Controller, bandwidth: Double, baseRTT: TimeSpan, bufferBytes: Int) {
        recovery = LossRecovery(controller: controller, isServer: true)
        recovery.handshakeConfirmed = true
        recovery.maxAckDelay = .zero
        pacer = Pacer(maxDatagramSize: 1200)
        self.bandwidth = bandwidth
        self.baseRTT = baseRTT
        self.bufferBytes = bufferBytes
    }

    var controller: Controller { recovery.controller }
    /// The path's bandwidth-delay product in bytes.
    var bdp: Int { Int(bandwidth * baseRTT.seconds) }

    /// Runs until `deadline`; `afterAck` sees the path after every ACK the sender processed.
    mutating func run(until deadline: Instant, afterAck: (inout FakePath) -> Void = { _ in }) {
        while now < deadline {
            deliverToReceiver()
            while toSenderHead < toSender.count, toSender[toSenderHead].at <= now {
                let ranges = toSender[toSenderHead].ranges
                toSenderHead += 1
                processAck(ranges)
                afterAck(&self)
            }
            if let timer = recovery.timer, timer <= now {
                let action = recovery.onTimeout(now: now, amplificationBlocked: false) { _, _, _ in }
                if case .probe(_, let count) = action {
                    for _ in 0..<count { sendPacket() }
                }
            }
            let pacingWait = sendWhileAllowed()
            compact()
            var next = deadline
            if toReceiverHead < toReceiver.count { next = min(next, toReceiver[toReceiverHead].at) }
            if toSenderHead < toSender.count { next = min(next, toSender[toSenderHead].at) }
            if let timer = recovery.timer { next = min(next, timer) }
            if let pacingWait { next = min(next, pacingWait) }
            if !hasData(now) { next = min(next, now + .milliseconds(1)) }
            now = max(next, now + .nanoseconds(1))
        }
    }

    /// Sends as the window, the pacer and the application allow; returns when the pacer allows
    /// the next packet if it is what holds the sender back.
    private mutating func sendWhileAllowed() -> Instant? {
        while recovery.canSend(bytes: mss) {
            guard hasData(now) else {
                appLimited = true
                return nil
            }
            if let wait = pacer.nextSendTime(
                bytes: mss, now: now, congestionWindow: recovery.congestionWindow,
                smoothedRTT: recovery.rtt.smoothedRTT, maxDatagramSize: mss, controllerRate: recovery.controller.pacingRate)
            {
                return wait
            }
            sendPacket()
            appLimited = false
        }
        return nil
    }

    private mutating func sendPacket() {
        let packetNumber = recovery.nextPacketNumber(.applicationData)
        recovery.onPacketSent(
            space: .applicationData, packetNumber: packetNumber, firstFrame: recovery.frameCursor(.applicationData),
            now: now, bytes: mss, ackEliciting: true, inFlight: true)
        pacer.onSent(bytes: mss)
        packetsSent += 1
        if drop(packetNumber) {
            droppedByScript += 1
            return
        }
        let start = max(now, linkFreeAt)
        let queued = Double((start - now).nanoseconds) * bandwidth / 1e9
        if Int(queued) + mss > bufferBytes {
            droppedAtBottleneck += 1
            return
        }
        let departure = start + TimeSpan(nanoseconds: Int64(Double(mss) * 1e9 / bandwidth))
        linkFreeAt = departure
        toReceiver.append((departure + baseRTT / 2 + extraDelay(departure), packetNumber))
    }

    private mutating func deliverToReceiver() {
        while toReceiverHead < toReceiver.count, toReceiver[toReceiverHead].at <= now {
            let (at, packetNumber) = toReceiver[toReceiverHead]
            toReceiverHead += 1
            bytesDelivered += mss
            insertReceived(packetNumber)
            // The 32 highest ranges, highest first, as an ACK frame would carry them.
            toSender.append((at + baseRTT / 2, Array(received.suffix(32).reversed())))
        }
    }

    private mutating func insertReceived(_ number: UInt64) {
        var index = received.count
        while index > 0, received[index - 1].lowerBound > number { index -= 1 }
        if index > 0, received[index - 1].contains(number) { return }
        var range = number...number
        if index > 0, received[index - 1].upperBound + 1 == number {
            range = received[index - 1].lowerBound...number
            received.remove(at: index - 1)
            index -= 1
        }
        if index < received.count, received[index].lowerBound == number + 1 {
            range = range.lowerBound...received[index].upperBound
            received.remove(at: index)
        }
        received.insert(range, at: index)
        if received.count > 256 { received.removeFirst(received.count - 256) }
    }

    private mutating func processAck(_ ranges: [ClosedRange<UInt64>]) {
        let isAppLimited = appLimited
        let now = self.now
        withAck(ranges) { frame in
            try! self.recovery.onAckReceived(frame, space: .applicationData, ackDelay: .zero, now: now, isAppLimited: isAppLimited) { _, _, _ in }
        }
    }

    private mutating func compact() {
        if toReceiverHead > 4096 {
            toReceiver.removeFirst(toReceiverHead)
            toReceiverHead = 0
        }
        if toSenderHead > 4096 {
            toSender.removeFirst(toSenderHead)
            toSenderHead = 0
        }
    }
}
