import ArgumentParser
import Glibc
import QuicDatapath

/// A diagnostic server: echoes every datagram through the poll-mode engine, over an AF_XDP
/// socket (needs `quicxdp load` first) or the UDP-socket port. Stops on SIGINT/SIGTERM.
struct EchoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "echo",
        abstract: "Run a UDP echo through the poll-mode engine (AF_XDP, or --udp for the socket port).",
        shouldDisplay: true)

    @Option(name: .long, help: "Interface whose queue to open (AF_XDP).")
    var dev: String?

    @Option(name: .long, help: "UDP port to serve (must be one of the loaded ports for AF_XDP).")
    var port: UInt16

    @Option(name: .long, help: "NIC queue for the AF_XDP socket.")
    var queue: UInt32 = 0

    @Flag(name: .long, help: "One pinned worker per receive queue of --dev (AF_XDP).")
    var allQueues = false

    @Flag(name: .long, help: "Use the UDP-socket port instead of AF_XDP.")
    var udp = false

    @Option(name: .long, help: "Pin the engine thread to this CPU.")
    var cpu: Int?

    func run() throws {
        guard udp || dev != nil else { throw ValidationError("give --dev IF for AF_XDP, or --udp") }
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGINT)
        sigaddset(&signals, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &signals, nil)
        if allQueues, let dev, !udp { return try runAllQueues(dev) }

        let control = EngineControl()
        let failure = FailureBox()
        let (dev, port, queue, udp) = (self.dev, self.port, self.queue, self.udp)
        let worker = try reporting { () throws(DatapathError) in
            try WorkerThread(cpu: cpu) {
                do throws(DatapathError) {
                    var handler = EchoHandler()
                    let statistics: EngineStatistics
                    if udp {
                        var socketPort = try UDPPort(port: port)
                        print("ready: echo on UDP port \(socketPort.localPort) (GSO \(socketPort.gsoEnabled), GRO \(socketPort.groEnabled))")
                        fflush(nil)
                        statistics = try PollEngine.run(port: &socketPort, handler: &handler, control: control)
                    } else {
                        var xdpPort = try AFXDPPort(interface: dev!, queue: queue, defaultSourcePort: port)
                        print("ready: echo on \(dev!) queue \(queue) port \(port) (\(xdpPort.zeroCopy ? "zero-copy" : "copy mode"))")
                        fflush(nil)
                        statistics = try PollEngine.run(port: &xdpPort, handler: &handler, control: control)
                    }
                    print("stopped: \(statistics.received) received, \(statistics.transmitted) sent, \(handler.echoed) echoed, \(handler.dropped) dropped")
                } catch {
                    failure.message = error.description
                    print("error: \(error.description)")
                }
                fflush(nil)
                control.requestStop()
            }
        }
        // Wait for a signal or for the engine to stop by itself.
        let waiter = try reporting { () throws(DatapathError) in
            try WorkerThread {
                var signal: Int32 = 0
                var set = sigset_t()
                sigemptyset(&set)
                sigaddset(&set, SIGINT)
                sigaddset(&set, SIGTERM)
                sigwait(&set, &signal)
                control.requestStop()
            }
        }
        _ = waiter
        try reporting { () throws(DatapathError) in try worker.join() }
        if let message = failure.message { throw ValidationErrorMessage(message) }
    }
}

extension EchoCommand {
    /// One engine per queue, each on its own pinned thread; stops on SIGINT/SIGTERM.
    func runAllQueues(_ dev: String) throws {
        let info = try reporting { () throws(DatapathError) in try InterfaceInfo.query(dev) }
        let port = self.port
        let queues = Array(0..<info.rxQueues)
        let workers = try reporting { () throws(DatapathError) in
            try QueueWorkers(queues: queues) { queue, control in
                do throws(DatapathError) {
                    var handler = EchoHandler()
                    var xdpPort = try AFXDPPort(interface: dev, queue: queue, defaultSourcePort: port)
                    print("ready: echo on \(dev) queue \(queue) port \(port)")
                    fflush(nil)
                    let statistics = try PollEngine.run(port: &xdpPort, handler: &handler, control: control)
                    print("stopped queue \(queue): \(statistics.received) received, \(statistics.transmitted) sent")
                } catch {
                    print("error on queue \(queue): \(error.description)")
                }
                fflush(nil)
            }
        }
        var signal: Int32 = 0
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        sigwait(&set, &signal)
        try reporting { () throws(DatapathError) in try workers.stop() }
    }
}

final class FailureBox: @unchecked Sendable {
    var message: String?
}
