import ArgumentParser
import QuicDatapath

struct UnloadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unload",
        abstract: "Detach quicxdp's XDP program from an interface and remove its pins.")

    @Option(name: .long, help: "Interface to detach from.")
    var dev: String

    func run() throws {
        let report = try reporting { () throws(DatapathError) in try XDPLoader.unload(interface: dev) }
        if let id = report.detachedProgramID {
            print("detached program \(id) from \(dev)")
        } else {
            print("no quicxdp program was attached to \(dev)")
        }
        print("removed \(report.removedPins.count) pin(s)\(report.removedPins.isEmpty ? "" : ": " + report.removedPins.joined(separator: " "))")
    }
}
