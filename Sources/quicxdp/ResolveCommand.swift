import ArgumentParser
import QuicDatapath

/// Shows what AF_XDP transmit would use for a destination: route, source, next-hop MAC.
struct ResolveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resolve",
        abstract: "Show the route, source address and next-hop MAC AF_XDP transmit uses for an address.")

    @Argument(help: "Destination IPv4 or IPv6 address.")
    var address: String

    func run() throws {
        guard let destination = IPAddress(address) else { throw ValidationError("'\(address)' is not an IP address") }
        let (route, mac) = try reporting { () throws(DatapathError) in
            var table = try RoutingTable()
            return try table.resolve(destination)
        }
        print("\(destination): interface index \(route.interfaceIndex), next hop \(route.nextHop), source \(route.preferredSource.map(String.init(describing:)) ?? "-"), MAC \(mac)")
    }
}
