import Glibc

/// One worker thread per NIC queue, each pinned to a CPU (queue i → CPU i mod online CPUs),
/// each running `body(queue)` — typically: open an `AFXDPPort` on that queue, build the
/// handler, `PollEngine.run`. The threads share nothing on the path; `stop()` asks every
/// engine to stop through its `EngineControl` and joins them.
public final class QueueWorkers: @unchecked Sendable {
    public let controls: [EngineControl]
    private var threads: [WorkerThread] = []

    /// `networkNamespace`: a path such as /var/run/netns/NAME for every worker, or nil.
    public init(queues: [UInt32], networkNamespace: String? = nil,
                _ body: @escaping @Sendable (_ queue: UInt32, _ control: EngineControl) -> Void) throws(DatapathError) {
        let cpus = max(Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))), 1)
        controls = queues.map { _ in EngineControl() }
        for (index, queue) in queues.enumerated() {
            let control = controls[index]
            threads.append(try WorkerThread(cpu: Int(queue) % cpus, networkNamespace: networkNamespace) {
                body(queue, control)
            })
        }
    }

    public func stop() throws(DatapathError) {
        for control in controls { control.requestStop() }
        try join()
    }

    /// Waits for every worker (they end when their engines stop).
    public func join() throws(DatapathError) {
        var firstError: DatapathError?
        for thread in threads {
            do throws(DatapathError) { try thread.join() } catch { firstError = firstError ?? error }
        }
        threads.removeAll()
        if let firstError { throw firstError }
    }
}
