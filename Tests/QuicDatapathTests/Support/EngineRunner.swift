import Dispatch
import QuicDatapath

/// Runs a poll-mode engine on its own thread (optionally in a namespace) until `stop()`.
/// The port is opened on that thread; `start` waits until it is ready or failed.
final class EngineRunner<Result>: @unchecked Sendable {
    let control = EngineControl()
    private let ready = DispatchSemaphore(value: 0)
    private var thread: BackgroundThread<Result>!
    private var stopped = false

    init(namespace: String?, _ body: @escaping (EngineControl, _ ready: @escaping () -> Void) throws -> Result) throws {
        let control = self.control
        let ready = self.ready
        let work = { () throws -> Result in
            do {
                return try body(control) { ready.signal() }
            } catch {
                ready.signal()
                throw error
            }
        }
        if let namespace {
            thread = try BackgroundThread(namespace: namespace, work)
        } else {
            thread = try BackgroundThread(namespace: nil, work)
        }
        if ready.wait(timeout: .now() + 10) == .timedOut {
            control.requestStop()
            throw EngineDidNotStart()
        }
    }

    /// Stops the engine and returns its result (or the error that ended it).
    func stop() throws -> Result {
        control.requestStop()
        stopped = true
        return try thread.join()
    }

    deinit {
        if !stopped { control.requestStop(); _ = try? thread.join() }
    }
}

struct EngineDidNotStart: Error {}
