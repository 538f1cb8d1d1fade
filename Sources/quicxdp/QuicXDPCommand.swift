import ArgumentParser
import QuicDatapath

@main
struct QuicXDPCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quicxdp",
        abstract: "Serve and fetch over QUIC on XDP/AF_XDP; load, inspect and unload the datapath.",
        subcommands: [
            ServeCommand.self, GetCommand.self, LoadCommand.self, UnloadCommand.self, StatusCommand.self, StatsCommand.self,
            EchoCommand.self, ResolveCommand.self,
        ]
    )
}

/// Turns a datapath error into the person-facing message and a failing exit.
func reporting<T>(_ body: () throws(DatapathError) -> T) throws -> T {
    do {
        return try body()
    } catch {
        throw ValidationErrorMessage(error.description)
    }
}

struct ValidationErrorMessage: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// "443,4433" → [443, 4433]
func parsePorts(_ values: [String]) throws -> [UInt16] {
    var ports: [UInt16] = []
    for value in values {
        for part in value.split(separator: ",") {
            guard let port = UInt16(part.trimmingCharacters(in: .whitespaces)), port != 0 else {
                throw ValidationError("'\(part)' is not a UDP port (1-65535)")
            }
            if !ports.contains(port) { ports.append(port) }
        }
    }
    return ports
}
