/// Destination address → (next-hop MAC, source address) for AF_XDP transmit, filled from the
/// kernel's routing and neighbour tables on a miss (slow path, netlink) and reused after that.
/// Capacity is reserved up front so that hits allocate nothing.
struct NeighbourCache: ~Copyable {
    struct Entry {
        var mac: MACAddress
        var source: IPAddress?
    }

    private var entries: [IPAddress: Entry]
    private var routing: RoutingTable?
    let interfaceIndex: UInt32

    init(interfaceIndex: UInt32) {
        entries = [:]
        entries.reserveCapacity(1024)
        self.interfaceIndex = interfaceIndex
    }

    /// The entry for `destination`; on a miss, asks the kernel (and triggers ARP/ND).
    mutating func lookup(_ destination: IPAddress) -> Entry? {
        if let hit = entries[destination] { return hit }
        return resolve(destination)
    }

    private mutating func resolve(_ destination: IPAddress) -> Entry? {
        if routing == nil { routing = try? RoutingTable() }
        guard var table = routing.take() else { return nil }
        let resolved = try? table.resolve(destination, timeoutMilliseconds: 1000)
        routing = consume table
        guard let (route, mac) = resolved else { return nil }
        guard route.interfaceIndex == interfaceIndex else { return nil } // routed out of another interface
        let entry = Entry(mac: mac, source: route.preferredSource)
        if entries.count >= 1024 { entries.removeAll(keepingCapacity: true) }
        entries[destination] = entry
        return entry
    }

    /// Forgets everything (after a routing or neighbour change).
    mutating func invalidate() { entries.removeAll(keepingCapacity: true) }
}
