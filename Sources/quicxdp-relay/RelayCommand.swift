import ArgumentParser
import Glibc
import QuicRelay

/// Where the SIGINT/SIGTERM handler writes (set once, before the handler is installed).
nonisolated(unsafe) var signalPipe: Int32 = -1

func monotonicNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

/// `quicxdp-relay`: a userspace UDP relay that impairs traffic between a client and a server in
/// two network namespaces (this kernel has no netem).
@main
struct RelayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quicxdp-relay",
        abstract: "A UDP relay that impairs traffic: delay, jitter, rate, loss, corruption, reordering, duplication, blackholes, NAT rebinding.",
        discussion: """
            Clients send to --listen; the relay forwards each datagram to --upstream from its own socket, \
            remembers the most recent client address and sends the server's replies back to it. Every \
            impairment applies to both directions, each with its own random stream, queue and loss state, in \
            this order: blackhole, --loss, --burst-loss, the --rate queue (tail drop at --queue), --delay with \
            --jitter, --reorder, --corrupt, --duplicate. The ECN field of each datagram is carried across.

            Units: durations 500us, 20ms, 1.5s; rates in bits per second 512kbit, 100mbit, 1gbit; probabilities \
            2% or 0.02; sizes 256KB, 4MB.

            Statistics (per direction: received, forwarded, drops by cause, duplicates, corruptions, reorders) \
            are printed on SIGINT/SIGTERM and every --stats-interval.

            Example: clients send to 10.0.1.1:4433, the server is 10.0.2.2:4433:
              quicxdp-relay --listen 10.0.1.1:4433 --upstream 10.0.2.2:4433 --delay 20ms
                --rate 100mbit --loss 2% --rebind-port 5s --stats-interval 1s
            """)

    @Option(help: "Address the relay receives clients' datagrams on, e.g. 10.0.1.1:4433 or [fd00:1::1]:4433.")
    var listen: String

    @Option(help: "The server's address; the relay forwards there.")
    var upstream: String

    @Option(help: "Source address (optionally :port) of the upstream socket; default: the route's choice.")
    var upstreamBind: String?

    @Option(help: "One-way delay added in each direction, e.g. 20ms.")
    var delay: String?

    @Option(help: "Uniform extra delay in [-jitter, +jitter] per datagram; like netem it can reorder.")
    var jitter: String?

    @Option(help: "Bottleneck rate per direction in bits per second, e.g. 100mbit (FIFO, serialized).")
    var rate: String?

    @Option(help: "Tail-drop limit of the --rate queue, as a size (256KB) or as time at the rate (50ms, the default).")
    var queue: String?

    @Option(help: "Uniform random loss, e.g. 2%.")
    var loss: String?

    @Option(help: "Gilbert-Elliott bursty loss p,r,h: P(enter bad state), P(leave it), loss while bad; e.g. 0.1,0.4,0.9.")
    var burstLoss: String?

    @Option(help: "Probability that one random byte of a datagram is flipped, e.g. 0.1%.")
    var corrupt: String?

    @Option(help: "Probability that a datagram is held back by --reorder-delay so later ones overtake it, e.g. 1%.")
    var reorder: String?

    @Option(help: "How long a reordered datagram is held back (default 10ms).")
    var reorderDelay: String?

    @Option(help: "Probability that a datagram is delivered twice, e.g. 0.5%.")
    var duplicate: String?

    @Option(help: "Repeating blackhole windows UP:DOWN: forward for UP, then drop everything for DOWN; e.g. 2s:1s.")
    var blackhole: String?

    @Option(help: "Every interval, move the upstream socket to a new source port (the server sees a NAT rebinding), e.g. 5s.")
    var rebindPort: String?

    @Option(help: "Source addresses to rotate the upstream socket through, comma-separated (each must be configured on this host), e.g. 10.0.2.3.")
    var rebindAddr: String?

    @Option(help: "Interval of --rebind-addr (default 5s).")
    var rebindAddrInterval: String?

    @Option(help: "Seed of the random streams (same seed and arrivals, same decisions).")
    var seed: UInt64 = 1

    @Option(help: "Print statistics every interval, e.g. 1s (always printed on exit).")
    var statsInterval: String?

    @Option(help: "Datagrams per recvmmsg/sendmmsg call.")
    var batch: Int = 64

    @Option(help: "Largest datagram forwarded in bytes; larger ones are dropped and counted as oversize.")
    var maxDatagram: Int = 2048

    @Option(help: "Datagrams that can wait in each direction's delay queue.")
    var queueSlots: Int = 32768

    @Flag(help: "Send every datagram on its own instead of grouping equal-size runs into UDP GSO sends.")
    var noGso = false

    func makeConfiguration() throws -> RelayConfiguration {
        var configuration = RelayConfiguration(
            listen: try RelayUnits.address(listen), upstream: try RelayUnits.address(upstream))
        if let upstreamBind { configuration.upstreamBind = try RelayUnits.address(upstreamBind, defaultPort: 0) }
        var impairments = Impairments()
        if let delay { impairments.delay = try RelayUnits.duration(delay) }
        if let jitter { impairments.jitter = try RelayUnits.duration(jitter) }
        if let rate { impairments.rate = try RelayUnits.rate(rate) }
        if let queue {
            if let time = try? RelayUnits.duration(queue) {
                guard let rate = impairments.rate else { throw ValidationError("--queue as a time needs --rate") }
                impairments.queueLimit = Int(rate * Double(time) / 1e9)
            } else {
                impairments.queueLimit = try RelayUnits.size(queue)
            }
        }
        if let loss { impairments.loss = try RelayUnits.probability(loss) }
        if let burstLoss { impairments.burst = try RelayUnits.burstLoss(burstLoss) }
        if let corrupt { impairments.corrupt = try RelayUnits.probability(corrupt) }
        if let reorder { impairments.reorder = try RelayUnits.probability(reorder) }
        if let reorderDelay { impairments.reorderDelay = try RelayUnits.duration(reorderDelay) }
        if let duplicate { impairments.duplicate = try RelayUnits.probability(duplicate) }
        if let blackhole { impairments.blackhole = try RelayUnits.blackhole(blackhole) }
        configuration.impairments = impairments
        if let rebindPort {
            let interval = try RelayUnits.duration(rebindPort)
            guard interval > 0 else { throw ValidationError("--rebind-port needs an interval above zero") }
            configuration.rebindPortInterval = interval
        }
        if let rebindAddr {
            configuration.rebindAddresses = try rebindAddr.split(separator: ",").map { try RelayUnits.address(String($0), defaultPort: 0) }
        }
        if let rebindAddrInterval { configuration.rebindAddressInterval = try RelayUnits.duration(rebindAddrInterval) }
        configuration.seed = seed
        configuration.batchSize = batch
        configuration.maxDatagramSize = maxDatagram
        configuration.queueSlots = queueSlots
        configuration.gso = !noGso
        return configuration
    }

    func run() throws {
        let configuration: RelayConfiguration
        do {
            configuration = try makeConfiguration()
        } catch let error as RelayUnits.ParseError {
            throw ValidationError(error.description)
        }
        let interval = try statsInterval.map { try RelayUnits.duration($0) }

        // SIGINT/SIGTERM: a handler writes the signal number to a pipe that this thread polls
        // (the handler also overrides a SIG_IGN inherited from a shell's background job). The
        // forwarding threads start with both signals blocked, so the handler runs on this thread.
        var pipeFDs: [Int32] = [0, 0]
        guard pipe(&pipeFDs) == 0 else {
            relayLog("cannot create the signal pipe: \(String(cString: strerror(errno)))")
            throw ExitCode(1)
        }
        signalPipe = pipeFDs[1]
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { signal in
            var byte = UInt8(truncatingIfNeeded: signal)
            _ = write(signalPipe, &byte, 1)
        }
        sigemptyset(&action.sa_mask)
        sigaction(SIGINT, &action, nil)
        sigaction(SIGTERM, &action, nil)
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGINT)
        sigaddset(&signals, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &signals, nil)

        let relay: Relay
        do {
            relay = try Relay(configuration: configuration)
            try relay.start()
        } catch {
            relayLog(error.description)
            throw ExitCode(1)
        }
        pthread_sigmask(SIG_UNBLOCK, &signals, nil)
        output("quicxdp-relay: listening on \(relay.listenAddress), forwarding to \(configuration.upstream) from \(relay.statistics().upstreamSource); \(describe(configuration))")

        var nextReport = interval.map { monotonicNanoseconds() + UInt64($0) }
        while true {
            var descriptor = pollfd(fd: pipeFDs[0], events: Int16(POLLIN), revents: 0)
            let now = monotonicNanoseconds()
            let timeout = nextReport.map { Int32(clamping: ($0 > now ? $0 - now : 0) / 1_000_000) } ?? -1
            let ready = poll(&descriptor, 1, timeout)
            if ready > 0 { break }
            if ready < 0 && errno != EINTR { break }
            if let due = nextReport, monotonicNanoseconds() >= due, let interval {
                output(relay.statistics().report)
                nextReport = due + UInt64(interval)
            }
        }
        relay.stop()
        output(relay.statistics().report)
    }

    /// Writes straight to standard output, unbuffered: a test or a pipe sees each line at once.
    func output(_ text: String) {
        let line = text + "\n"
        _ = line.withCString { write(1, $0, strlen($0)) }
    }

    func describe(_ configuration: RelayConfiguration) -> String {
        let impairments = configuration.impairments
        var parts: [String] = []
        if impairments.delay > 0 { parts.append("delay \(Double(impairments.delay) / 1e6)ms") }
        if impairments.jitter > 0 { parts.append("jitter \(Double(impairments.jitter) / 1e6)ms") }
        if let rate = impairments.rate {
            parts.append("rate \(rate * 8 / 1e6)Mbit/s queue \(impairments.effectiveQueueLimit ?? 0)B")
        }
        if impairments.loss > 0 { parts.append("loss \(impairments.loss * 100)%") }
        if let burst = impairments.burst {
            parts.append("burst-loss \(burst.enter),\(burst.exit),\(burst.loss) (≈\(burst.expectedLoss * 100)%)")
        }
        if impairments.corrupt > 0 { parts.append("corrupt \(impairments.corrupt * 100)%") }
        if impairments.reorder > 0 { parts.append("reorder \(impairments.reorder * 100)% by \(Double(impairments.reorderDelay) / 1e6)ms") }
        if impairments.duplicate > 0 { parts.append("duplicate \(impairments.duplicate * 100)%") }
        if let blackhole = impairments.blackhole {
            parts.append("blackhole up \(Double(blackhole.up) / 1e9)s down \(Double(blackhole.down) / 1e9)s")
        }
        if let port = configuration.rebindPortInterval { parts.append("rebind-port every \(Double(port) / 1e9)s") }
        if !configuration.rebindAddresses.isEmpty {
            parts.append("rebind-addr \(configuration.rebindAddresses.map(\.host).joined(separator: ",")) every \(Double(configuration.rebindAddressInterval) / 1e9)s")
        }
        return parts.isEmpty ? "no impairments" : parts.joined(separator: ", ")
    }
}
