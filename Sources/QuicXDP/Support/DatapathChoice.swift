/// Where an endpoint's datagrams come from and go to.
public enum DatapathChoice: Sendable, Equatable, CustomStringConvertible {
    /// AF_XDP sockets on `interface`, one engine per queue (all queues when `queues` is nil).
    case afxdp(interface: String, queues: [UInt32]?)
    /// A UDP socket (recvmmsg/sendmmsg, GSO, GRO) — the software fallback.
    case udp
    /// AF_XDP on `interface` when it can be set up there, the UDP socket otherwise.
    case auto(interface: String?)

    public var description: String {
        switch self {
        case .afxdp(let interface, _): return "AF_XDP on \(interface)"
        case .udp: return "UDP socket"
        case .auto(let interface): return interface.map { "auto (AF_XDP on \($0) if possible)" } ?? "auto (UDP socket)"
        }
    }
}
