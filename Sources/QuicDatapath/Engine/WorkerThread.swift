import CQuicShim
import Glibc

/// A dedicated OS thread for one engine: optionally pinned to a CPU and moved into a network
/// namespace before `body` runs (namespace membership is per thread, so the pool threads of
/// Swift concurrency must never do this). `join()` waits for it.
public final class WorkerThread: @unchecked Sendable {
    private var thread: pthread_t
    private let box: Box

    final class Box: @unchecked Sendable {
        let body: () -> Void
        let cpu: Int?
        let namespacePath: String?
        var setupError: String?
        init(body: @escaping () -> Void, cpu: Int?, namespacePath: String?) {
            self.body = body
            self.cpu = cpu
            self.namespacePath = namespacePath
        }
    }

    /// Starts `body` on a new thread. `networkNamespace` is a path such as
    /// `/var/run/netns/NAME`; if it cannot be entered the body does not run and `join()`
    /// reports why.
    public init(cpu: Int? = nil, networkNamespace: String? = nil, _ body: @escaping @Sendable () -> Void) throws(DatapathError) {
        box = Box(body: body, cpu: cpu, namespacePath: networkNamespace)
        let unmanaged = Unmanaged.passRetained(box)
        var handle = pthread_t()
        let status = pthread_create(&handle, nil, { argument in
            let box = Unmanaged<WorkerThread.Box>.fromOpaque(argument!).takeRetainedValue()
            if let cpu = box.cpu, quic_pin_current_thread(Int32(cpu)) != 0 {
                // Not fatal: the engine still runs, only unpinned.
                box.setupError = nil
            }
            if let path = box.namespacePath {
                let fd = open(path, O_RDONLY | O_CLOEXEC)
                if fd < 0 || quic_setns_net(fd) != 0 {
                    box.setupError = "cannot enter network namespace \(path): \(Errno.current); run as root and check the namespace exists (`ip netns list`)"
                    if fd >= 0 { close(fd) }
                    return nil
                }
                close(fd)
            }
            box.body()
            return nil
        }, unmanaged.toOpaque())
        guard status == 0 else {
            unmanaged.release()
            throw DatapathError(.invalidArgument, "cannot start a worker thread", errno: Errno(status))
        }
        thread = handle
    }

    /// Waits for the thread; throws if it could not set itself up.
    public func join() throws(DatapathError) {
        pthread_join(thread, nil)
        if let message = box.setupError { throw DatapathError(.invalidArgument, message) }
    }
}
