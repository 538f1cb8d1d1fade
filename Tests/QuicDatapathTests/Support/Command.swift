import Foundation

/// Runs a command and returns its exit status and combined output.
@discardableResult
func run(_ arguments: [String], check: Bool = false) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let output = String(decoding: data, as: UTF8.self)
    if check && process.terminationStatus != 0 {
        throw CommandFailed(arguments: arguments, status: process.terminationStatus, output: output)
    }
    return (process.terminationStatus, output)
}

struct CommandFailed: Error, CustomStringConvertible {
    let arguments: [String]
    let status: Int32
    let output: String
    var description: String { "`\(arguments.joined(separator: " "))` exited \(status): \(output)" }
}

/// The package root (this file is Tests/QuicDatapathTests/Support/Command.swift).
let packageRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<4 { url.deleteLastPathComponent() }
    return url.path
}()

/// The `quicxdp` binary built next to the test bundle.
let quicxdpBinary: String = {
    let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    return executable.deletingLastPathComponent().appendingPathComponent("quicxdp").path
}()

/// Builds bpf/build/quicxdp.bpf.o if `swift test` ran without `make bpf` first.
let bpfObjectPath: String = {
    let path = packageRoot + "/bpf/build/quicxdp.bpf.o"
    if !FileManager.default.fileExists(atPath: path) {
        _ = try? run(["make", "-s", "-C", packageRoot + "/bpf"])
    }
    return path
}()
