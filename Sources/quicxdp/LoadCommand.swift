import ArgumentParser
import QuicDatapath

struct LoadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "Attach the XDP program to an interface and steer the given UDP ports to AF_XDP.")

    @Option(name: .long, help: "Interface to attach to.")
    var dev: String

    @Option(name: .long, help: "UDP port(s) carrying QUIC, comma separated or repeated.")
    var port: [String]

    @Option(name: .long, help: "auto (native, falling back to skb), native, or skb.")
    var mode: XDPAttachMode = .auto

    @Option(name: .long, help: "auto (libxdp's multi-program dispatcher, falling back to a direct attach), dispatcher, or direct.")
    var attach: XDPAttachPreference = .auto

    @Option(name: .long, help: "Smallest UDP payload accepted for an Initial (1200 for servers, 0 for clients).")
    var minInitialSize: UInt32 = 1200

    func run() throws {
        let ports = try parsePorts(port)
        let report = try reporting { () throws(DatapathError) in
            try XDPLoader.load(interface: dev, ports: ports, mode: mode, attach: attach, minimumInitialSize: minInitialSize)
        }
        for note in report.notes { print("note: \(note)") }
        print("loaded quicxdp on \(report.interface): program \(report.programID), \(report.mode.rawValue) mode, \(report.method.phrase), ports \(report.ports.map(String.init).joined(separator: ",")), maps pinned in \(report.pinDirectory)")
    }
}

extension XDPAttachMode: ExpressibleByArgument {}
extension XDPAttachPreference: ExpressibleByArgument {}
