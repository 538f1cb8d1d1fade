import ArgumentParser
import Glibc
import QuicDatapath
import QuicXDP

/// `get --migrate-to` and `serve --preferred-address`: an IP address of this host (in this
/// network namespace) that the UDP socket, bound to any address, receives on and sends from
/// (IP_PKTINFO). Usage errors name the option and the fix.
func parseLocalAddress(_ text: String, option: String) throws -> IPAddress {
    guard let address = IPAddress(text) else {
        throw ValidationError("\(option) '\(text)' is not an IP address; give an IPv4 or IPv6 address of this host, e.g. \(option) 192.0.2.7")
    }
    guard isLocalAddress(address) else {
        throw ValidationError(
            "\(option) \(text) is not an address of this host; add it first (ip addr add \(text)/24 dev IF) or use one that `ip addr` lists")
    }
    return address
}

/// The path options need the UDP socket: the AF_XDP port sends every packet from the
/// interface's one address (AFXDPTransmitQueue).
func requireUDPDatapath(_ choice: DatapathChoice, for option: String) throws {
    switch choice {
    case .udp, .auto(interface: nil):
        return
    case .afxdp, .auto:
        throw ValidationError(
            "\(option) works only on the UDP socket datapath (AF_XDP sends from the interface's one address); use --datapath udp")
    }
}

/// Whether a UDP socket can bind to `address`, i.e. it is configured on this host.
func isLocalAddress(_ address: IPAddress) -> Bool {
    let descriptor = socket(address.isIPv4 ? AF_INET : AF_INET6, Int32(SOCK_DGRAM.rawValue), 0)
    guard descriptor >= 0 else { return false }
    defer { close(descriptor) }
    var storage = sockaddr_storage()
    return withUnsafeMutableBytes(of: &storage) { raw in
        let length = SocketAddress(address, port: 0).write(sockaddrTo: raw.baseAddress!, dualStack: false)
        return bind(descriptor, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), length) == 0
    }
}
