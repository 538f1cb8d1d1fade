import QuicCrypto
import QuicWire

extension Connection {
    /// The next instant `handleTimeout` must run at; nil when nothing is scheduled.
    public func pollTimeout() -> Instant? {
        switch state {
        case .closed: return nil
        case .closing, .draining: return closeDeadline
        default: break
        }
        var earliest = recovery.timer
        func consider(_ time: Instant?) {
            guard let time else { return }
            if earliest == nil || time < earliest! { earliest = time }
        }
        consider(idleDeadline)
        // An ACK that anti-amplification keeps from leaving waits for more bytes from the peer
        // (an input), not for a timer: a deadline in the past would make the driver spin.
        if amplificationRoom >= 64 {
            for level in [EncryptionLevel.initial, .handshake, .oneRTT] where sendKeys[level.rawValue] != nil {
                consider(received[level.packetNumberSpace.rawValue].ackDeadline)
            }
        }
        if pacingDeadline != nil && hasAckElicitingData(level: .oneRTT) { consider(pacingDeadline) }
        consider(previousReceiveKeysExpiry)
        consider(pathTimer)
        return earliest
    }

    /// Timers that expired by `now`: loss detection and probes, idle timeout, the end of the
    /// closing or draining period, old key expiry.
    public func handleTimeout(now: Instant) {
        switch state {
        case .closed:
            return
        case .closing, .draining:
            if let closeDeadline, now >= closeDeadline {
                state = .closed
                endpointEvents.append(.drained)
            }
            return
        default:
            break
        }
        if let idleDeadline, now >= idleDeadline {
            // RFC 9000 §10.1: the connection closes silently.
            closeReason = .idleTimeout
            events.append(.closed(.idleTimeout))
            state = .closed
            endpointEvents.append(.drained)
            return
        }
        if let expiry = previousReceiveKeysExpiry, now >= expiry {
            previousReceiveKeys = nil
            previousReceiveKeysExpiry = nil
        }
        if let pacingDeadline, now >= pacingDeadline { self.pacingDeadline = nil }
        if let pathTimer, now >= pathTimer {
            handlePathTimers(now: now)
            guard state != .closed else { return }
        }

        guard let timer = recovery.timer, timer <= now else { return }
        let action = recovery.onTimeout(now: now, amplificationBlocked: amplificationBlocked) { space, frame, outcome in
            onSentFrame(space, frame, outcome)
        }
        switch action {
        case .declaredLost:
            noteLostPackets(now: now, trigger: "time_threshold")
            notePathMTUSignals(now: now)
        case .probe(let space, let count):
            statistics.probeTimeouts += 1
            probes[space.rawValue] += count
            // Probes carry data the peer may be missing: the oldest unacknowledged (RFC 9002 §6.2.4).
            if space == .applicationData {
                recovery.forEachFrameOfOldestOutstanding(space: space, packets: count) { frame in
                    if case .stream = frame { onSentFrame(space, frame, .lost) }
                    if case .crypto = frame { onSentFrame(space, frame, .lost) }
                }
            } else {
                crypto[space.rawValue].retransmitUnacknowledged()
            }
        case .none:
            break
        }
        if qlogSink != nil { qlogMetrics(now: now) }
    }

    /// RFC 9000 §10.1: restart on receiving a packet, and on sending an ack-eliciting one if none
    /// was sent since the last receipt. At least three PTOs, so probes can work.
    func restartIdleTimer(now: Instant, receiving: Bool) {
        guard idleTimeout != nil else { return }
        if receiving {
            ackElicitingSentSinceReceive = false
        } else {
            guard !ackElicitingSentSinceReceive else { return }
            ackElicitingSentSinceReceive = true
        }
        idleTimerStart = now
    }
}
