import Glibc

/// The poll-mode engine: one per queue, run on its own (pinned) thread, owning one port and one
/// handler. Each turn: receive a batch → handler → timers → transmit batches → port service
/// (completions, TX kick when the kernel asks). While there is work it busy-polls; after
/// `busyPollTurns` empty turns it blocks in poll(2) on the port's descriptor and the control's
/// eventfd with the handler's next timer as timeout, so an idle server sleeps.
///
/// Generic over the port and the handler: every call on the path is statically dispatched and
/// specialised; nothing here allocates.
public enum PollEngine {
    public struct Configuration: Sendable {
        /// Empty turns before blocking (each costs one non-blocking receive attempt).
        public var busyPollTurns = 256
        /// Longest sleep without a timer; bounds how late a stop request without a wake is seen.
        public var maximumSleepMilliseconds: Int32 = 100
        /// Transmit batches per turn, so a bulk sender cannot starve receive.
        public var transmitBatchesPerTurn = 4
        public init() {}
    }

    /// Runs until `control.requestStop()`. Errors from the port end the loop and are thrown.
    public static func run<P: DatapathPort & ~Copyable, H: DatagramHandler & ~Copyable>(
        port: inout P, handler: inout H, control: EngineControl,
        configuration: Configuration = Configuration()
    ) throws(DatapathError) -> EngineStatistics {
        var statistics = EngineStatistics()
        var idleTurns = 0
        while !control.stopRequested {
            let now = MonotonicTime.now()
            if try turn(port: &port, handler: &handler, now: now, configuration: configuration, statistics: &statistics) {
                idleTurns = 0
                continue
            }
            idleTurns += 1
            if idleTurns < configuration.busyPollTurns { continue }
            idleTurns = 0
            guard handler.willSleep() else { continue }
            statistics.sleeps += 1
            sleep(port: port, handler: handler, now: now, control: control, configuration: configuration)
            handler.didWake()
        }
        return statistics
    }

    /// One turn; returns whether anything happened.
    @inlinable
    public static func turn<P: DatapathPort & ~Copyable, H: DatagramHandler & ~Copyable>(
        port: inout P, handler: inout H, now: MonotonicTime,
        configuration: Configuration, statistics: inout EngineStatistics
    ) throws(DatapathError) -> Bool {
        statistics.turns &+= 1
        var didWork = false
        let received = try port.receive { batch in handler.handle(batch, now: now) }
        if received > 0 {
            statistics.received &+= UInt64(received)
            didWork = true
        }
        if let deadline = handler.nextTimeout(), deadline <= now {
            handler.handleTimeout(now: now)
            didWork = true
        }
        var batches = 0
        while batches < configuration.transmitBatchesPerTurn {
            let sent = try port.transmit { queue in handler.pollTransmits(into: &queue, now: now) }
            if sent == 0 { break }
            statistics.transmitted &+= UInt64(sent)
            didWork = true
            batches += 1
        }
        try port.service()
        return didWork
    }

    static func sleep<P: DatapathPort & ~Copyable, H: DatagramHandler & ~Copyable>(
        port: borrowing P, handler: borrowing H, now: MonotonicTime, control: EngineControl,
        configuration: Configuration
    ) {
        var timeout = configuration.maximumSleepMilliseconds
        if let deadline = handler.nextTimeout() { timeout = min(timeout, now.milliseconds(until: deadline)) }
        var events: Int16 = Int16(POLLIN)
        if port.hasPendingTransmit || handler.wantsToTransmit {
            // Transmit work waits: never sleep long. Wake on POLLOUT only for transmits the
            // kernel holds (a full ring or socket buffer). A handler that waits for its window
            // or pacing wakes on input and its timers: an AF_XDP socket is always writable, and
            // asking for POLLOUT then made the engine spin at 100 % of a core.
            timeout = min(timeout, 1)
            if port.hasPendingTransmit { events |= Int16(POLLOUT) }
        }
        var descriptors = (pollfd(fd: port.pollDescriptor, events: events, revents: 0),
                           pollfd(fd: control.wakeDescriptor, events: Int16(POLLIN), revents: 0))
        let woken = withUnsafeMutablePointer(to: &descriptors) {
            $0.withMemoryRebound(to: pollfd.self, capacity: 2) { poll($0, 2, timeout) }
        }
        if woken > 0 && descriptors.1.revents != 0 { control.drainWakeups() }
    }
}
