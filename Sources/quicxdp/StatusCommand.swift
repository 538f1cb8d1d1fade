import ArgumentParser
import Foundation
import QuicDatapath

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Program id, mode, ports, pins, queues, bound AF_XDP sockets and the offload table.")

    @Option(name: .long, help: "Interface (default: every interface with quicxdp pins).")
    var dev: String?

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    func run() throws {
        let interfaces = try dev.map { [$0] } ?? loadedInterfaces()
        if interfaces.isEmpty {
            if json { print("[]") } else { print("quicxdp is not loaded on any interface (no pins under \(XDPPins.root))") }
            return
        }
        let statuses = try interfaces.map { name in try reporting { () throws(DatapathError) in try DatapathStatus.query(interface: name) } }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(statuses), as: UTF8.self))
            return
        }
        for status in statuses { print(status.text) }
    }
}

func loadedInterfaces() throws -> [String] {
    try reporting { () throws(DatapathError) in try XDPLoader.requireRoot() }
    let names = (try? FileManager.default.contentsOfDirectory(atPath: XDPPins.root)) ?? []
    return names.sorted()
}
