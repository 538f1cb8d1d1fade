import Foundation
import Glibc

/// A tool (`quicxdp-relay`, `quicxdp serve`) running inside a namespace (through nsenter, which
/// execs it, so the PID is the tool's own), started once its output shows `readyWhen`. `stop()`
/// sends SIGINT to that PID and collects what it printed (the relay's statistics, the server's
/// log); it is also run on deinit so no tool outlives its test.
final class ToolProcess: @unchecked Sendable {
    let process = Process()
    private let pipe = Pipe()
    private let lock = NSLock()
    private var buffer = Data()
    private var stopped = false

    init(namespace: String, executable: String = relayBinary, arguments: [String], readyWhen marker: String = "listening on") throws {
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw CommandFailed(
                arguments: [executable], status: -1, output: "not built; run `swift build --build-tests` (it builds quicxdp and quicxdp-relay too)")
        }
        process.executableURL = URL(fileURLWithPath: "/usr/bin/nsenter")
        process.arguments = ["--net=/var/run/netns/" + namespace, executable] + arguments
        process.standardOutput = pipe
        process.standardError = pipe
        pipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self, !data.isEmpty else { return }
            self.lock.lock()
            self.buffer.append(data)
            self.lock.unlock()
        }
        try process.run()
        let deadline = Date().addingTimeInterval(5)
        while !output.contains(marker) {
            if !process.isRunning || Date() > deadline {
                let text = output
                stop()
                throw CommandFailed(arguments: process.arguments ?? [], status: process.isRunning ? -1 : process.terminationStatus, output: text)
            }
            usleep(10_000)
        }
    }

    deinit { stop() }

    var output: String {
        lock.lock()
        defer { lock.unlock() }
        return String(decoding: buffer, as: UTF8.self)
    }

    /// SIGINT to the tool's PID, then its final output.
    @discardableResult
    func stop() -> String {
        lock.lock()
        let already = stopped
        stopped = true
        lock.unlock()
        if !already && process.isRunning {
            kill(process.processIdentifier, SIGINT)
            let deadline = Date().addingTimeInterval(5)
            while process.isRunning && Date() < deadline { usleep(10_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            // Let the pipe's last bytes arrive.
            usleep(50_000)
        }
        pipe.fileHandleForReading.readabilityHandler = nil
        return output
    }

    /// The relay's: the value of `key=` in the last statistics line for a direction ("c->s" or "s->c").
    func counter(_ direction: String, _ key: String) -> UInt64? {
        guard let line = output.split(separator: "\n").last(where: { $0.contains("] \(direction) ") }) else { return nil }
        for field in line.split(whereSeparator: { $0 == " " || $0 == "(" || $0 == ")" }) where field.hasPrefix(key + "=") {
            return UInt64(field.dropFirst(key.count + 1))
        }
        return nil
    }
}
