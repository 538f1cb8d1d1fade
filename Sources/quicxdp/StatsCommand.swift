import ArgumentParser
import Foundation
import QuicDatapath

struct StatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "The XDP program's counters (summed over CPUs), once or every N seconds.")

    @Option(name: .long, help: "Interface (default: every interface with quicxdp pins).")
    var dev: String?

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    @Option(name: .long, help: "Print every SECONDS seconds with rates, until interrupted.")
    var watch: Double?

    func run() throws {
        let interfaces = try dev.map { [$0] } ?? loadedInterfaces()
        guard !interfaces.isEmpty else {
            throw ValidationErrorMessage("quicxdp is not loaded on any interface; run `quicxdp load --dev IF --port PORT` first")
        }
        var previous: [String: XDPStats] = [:]
        while true {
            var snapshot: [String: XDPStats] = [:]
            for name in interfaces {
                snapshot[name] = try reporting { () throws(DatapathError) in try XDPMaps(pinnedFor: name).readStats() }
            }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                print(String(decoding: try encoder.encode(snapshot), as: UTF8.self))
            } else {
                for name in interfaces {
                    guard let stats = snapshot[name] else { continue }
                    print("\(name):")
                    let before = previous[name]
                    for (field, value) in stats.fields {
                        if let before, let watch, let old = before.fields.first(where: { $0.name == field })?.value {
                            let rate = Double(value &- old) / watch
                            print("  \(field.padding(toLength: 22, withPad: " ", startingAt: 0)) \(value)  (\(String(format: "%.1f", rate))/s)")
                        } else {
                            print("  \(field.padding(toLength: 22, withPad: " ", startingAt: 0)) \(value)")
                        }
                    }
                }
            }
            guard let watch, watch > 0 else { return }
            previous = snapshot
            Thread.sleep(forTimeInterval: watch)
        }
    }
}
