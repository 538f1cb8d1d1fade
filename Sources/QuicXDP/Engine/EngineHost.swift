import Glibc
import QuicCore
import QuicDatapath
import Synchronization

/// Runs QUIC endpoints on poll-mode engines: one worker thread per AF_XDP queue, or one on the
/// UDP-socket port. Loads the XDP program when it is not loaded (and unloads it on `stop()`),
/// adds the port to the program's port map when missing. Each worker owns its endpoint and
/// application; nothing is shared between workers.
public final class EngineHost: @unchecked Sendable {
    public let control: EngineControl
    /// What the host actually runs on (after `auto` was resolved).
    public let datapathDescription: String
    private var workers: [WorkerThread] = []
    private let errors = FailureList()
    private var loadedInterface: String?
    private let log: @Sendable (String) -> Void

    /// Builds the handler on each worker thread: the endpoint configuration and application for a
    /// queue, then `prepare` (a client connects there).
    public struct Setup<Application: QuicApplication>: Sendable {
        public var endpoint: @Sendable (_ queue: UInt32) -> EndpointConfiguration
        public var application: @Sendable (_ queue: UInt32, _ control: EngineControl) -> Application
        public var prepare: @Sendable (_ handler: inout QuicHandler<Application>, _ now: Instant) throws -> Void

        public init(
            endpoint: @escaping @Sendable (UInt32) -> EndpointConfiguration,
            application: @escaping @Sendable (UInt32, EngineControl) -> Application,
            prepare: @escaping @Sendable (inout QuicHandler<Application>, Instant) throws -> Void = { _, _ in }
        ) {
            self.endpoint = endpoint
            self.application = application
            self.prepare = prepare
        }
    }

    private init(description: String, log: @escaping @Sendable (String) -> Void, control: EngineControl) {
        datapathDescription = description
        self.log = log
        self.control = control
    }

    /// Starts the engines and waits until each is ready (or failed, which is thrown).
    /// `port`: the local UDP port (0 for any, UDP only). `address`: the local address to bind
    /// (UDP) or send from.
    public static func start<Application: QuicApplication>(
        datapath: DatapathChoice, port: UInt16, address: IPAddress? = nil, setup: Setup<Application>,
        log: @escaping @Sendable (String) -> Void = { _ in }, control: EngineControl = EngineControl()
    ) throws(DatapathError) -> EngineHost {
        switch datapath {
        case .udp:
            return try startUDP(port: port, address: address, setup: setup, log: log, control: control)
        case .afxdp(let interface, let queues):
            return try startAFXDP(interface: interface, queues: queues, port: port, address: address, setup: setup, log: log, control: control)
        case .auto(let interface):
            guard let interface else { return try startUDP(port: port, address: address, setup: setup, log: log, control: control) }
            do {
                return try startAFXDP(interface: interface, queues: nil, port: port, address: address, setup: setup, log: log, control: control)
            } catch {
                log("AF_XDP on \(interface) is not available (\(error.description)); using the UDP socket instead")
                return try startUDP(port: port, address: address, setup: setup, log: log, control: control)
            }
        }
    }

    private static func startUDP<Application: QuicApplication>(
        port: UInt16, address: IPAddress?, setup: Setup<Application>, log: @escaping @Sendable (String) -> Void,
        control: EngineControl
    ) throws(DatapathError) -> EngineHost {
        let host = EngineHost(description: "UDP socket", log: log, control: control)
        try host.launch(queue: 0) { control, ready in
            var socketPort = try UDPPort(address: address, port: port)
            var handler = QuicHandler(
                endpoint: Endpoint(configuration: setup.endpoint(0)), application: setup.application(0, control))
            defer { handler.application.engineStopped() }
            try setup.prepare(&handler, Instant(MonotonicTime.now()))
            log("UDP socket on port \(socketPort.localPort) (GSO \(socketPort.gsoEnabled ? "on" : "off"), GRO \(socketPort.groEnabled ? "on" : "off")\(socketPort.offloads.map { " as \($0.interface)'s offload table says" } ?? ""))")
            ready()
            _ = try PollEngine.run(port: &socketPort, handler: &handler, control: control)
        }
        return host
    }

    private static func startAFXDP<Application: QuicApplication>(
        interface: String, queues: [UInt32]?, port: UInt16, address: IPAddress?, setup: Setup<Application>,
        log: @escaping @Sendable (String) -> Void, control: EngineControl
    ) throws(DatapathError) -> EngineHost {
        guard port != 0 else {
            throw DatapathError(.invalidArgument, "AF_XDP needs a fixed UDP port (the XDP program steers by port)")
        }
        try XDPLoader.requireRoot()
        let info = try InterfaceInfo.query(interface)
        let host = EngineHost(description: "AF_XDP on \(interface)", log: log, control: control)
        // Load the program unless it is there; add our port to its map otherwise.
        if let attachment = try XDPLoader.attachment(interface: interface), attachment.isQuicXDP {
            let maps = try XDPMaps(pinnedFor: interface)
            let ports = try maps.readPorts()
            if !ports.contains(port) { try maps.setPorts(ports + [port]) }
        } else {
            let report = try XDPLoader.load(interface: interface, ports: [port])
            host.loadedInterface = interface
            log("loaded the XDP program on \(interface) (\(report.mode) mode, \(report.method.phrase), program \(report.programID))")
            for note in report.notes { log(note) }
        }
        let chosen = queues ?? Array(0..<max(info.rxQueues, 1))
        do {
            for queue in chosen {
                try host.launch(queue: queue) { control, ready in
                    var xdpPort = try AFXDPPort(interface: interface, queue: queue, defaultSourcePort: port)
                    var handler = QuicHandler(
                        endpoint: Endpoint(configuration: setup.endpoint(queue)), application: setup.application(queue, control),
                        localAddress: address.map { SocketAddress($0, port: port) })
                    defer { handler.application.engineStopped() }
                    try setup.prepare(&handler, Instant(MonotonicTime.now()))
                    log("serving on \(interface) queue \(queue), UDP port \(port) (AF_XDP \(xdpPort.zeroCopy ? "zero-copy" : "copy mode"), TX checksums \(xdpPort.transmitChecksum == .metadata ? "by the device (TX metadata)" : "in software"))")
                    ready()
                    _ = try PollEngine.run(port: &xdpPort, handler: &handler, control: control)
                }
            }
        } catch {
            host.stop()
            throw error
        }
        return host
    }

    /// Starts one worker and waits for it to be ready or fail.
    private func launch(
        queue: UInt32, _ body: @escaping @Sendable (EngineControl, _ ready: @escaping @Sendable () -> Void) throws -> Void
    ) throws(DatapathError) {
        let ready = Semaphore()
        let control = self.control
        let errors = self.errors
        let worker = try WorkerThread { [ready] in
            do {
                try body(control) { ready.signal() }
            } catch let error as DatapathError {
                errors.append(error.description)
            } catch {
                errors.append("\(error)")
            }
            ready.signal()
            control.requestStop()
        }
        workers.append(worker)
        ready.wait()
        if let first = errors.all.first {
            throw DatapathError(.invalidArgument, first)
        }
    }

    /// Errors the workers ended with.
    public var failures: [String] { errors.all }

    /// Stops every worker, waits for them, and unloads the XDP program if this host loaded it.
    public func stop() {
        control.requestStop()
        wait()
    }

    /// Waits until the workers end (by themselves or after `stop()`), then unloads what was loaded.
    public func wait() {
        for worker in workers { try? worker.join() }
        workers = []
        if let interface = loadedInterface {
            loadedInterface = nil
            if (try? XDPLoader.unload(interface: interface)) != nil {
                log("unloaded the XDP program from \(interface)")
            }
        }
    }

    deinit { stop() }
}

/// Error messages from worker threads.
final class FailureList: Sendable {
    private let list = Mutex<[String]>([])
    func append(_ message: String) { list.withLock { $0.append(message) } }
    var all: [String] { list.withLock { $0 } }
}

/// A counting semaphore on a POSIX semaphore.
final class Semaphore: @unchecked Sendable {
    private var semaphore = sem_t()
    init() { sem_init(&semaphore, 0, 0) }
    func signal() { sem_post(&semaphore) }
    func wait() { while sem_wait(&semaphore) != 0 && errno == EINTR {} }
    deinit { sem_destroy(&semaphore) }
}
