import Foundation
import Testing

/// Runs a test's tasks on threads of their own instead of Swift's cooperative pool.
///
/// The pool has one thread per core (two here), and tests of other suites that wait for a
/// subprocess or a namespace occupy those threads for tens of seconds at a time. An embedding
/// test whose reading task cannot run for that long stops granting flow control; both QUIC
/// endpoints fall silent and close on their idle timeout — a failure of the test harness,
/// not of the code under test. With this trait the test's tasks (and their child tasks, which
/// inherit the executor preference) run on `DedicatedExecutor` threads. Unstructured tasks do
/// not inherit it: create them with `Task(executorPreference: DedicatedThreads.executor)`.
struct DedicatedThreads: TestTrait, SuiteTrait, TestScoping {
    /// Shared by every test that asks, and kept for the life of the process: a task resumed
    /// after its test ended (a continuation a worker thread resumes late) still finds it.
    static let executor = DedicatedExecutor(threads: 2)

    var isRecursive: Bool { true }

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        try await withTaskExecutorPreference(Self.executor) { try await function() }
    }
}

extension Trait where Self == DedicatedThreads {
    static var dedicatedThreads: DedicatedThreads { DedicatedThreads() }
}

/// A task executor with its own threads and one job queue; the threads live as long as the process.
final class DedicatedExecutor: TaskExecutor, @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []

    init(threads: Int) {
        for index in 0..<threads {
            let thread = Thread { [self] in run() }
            thread.name = "test-executor-\(index)"
            thread.start()
        }
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        condition.lock()
        jobs.append(unowned)
        condition.signal()
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            let job = jobs.removeFirst()
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}
