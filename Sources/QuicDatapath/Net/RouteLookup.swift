import CQuicShim
import Glibc

/// The kernel's answer to "how do I reach this address": outgoing interface, next hop (the
/// gateway, or the destination itself on a directly connected network) and preferred source
/// (RTM_GETROUTE, rtnetlink(7)).
public struct Route: Sendable, Equatable {
    public var interfaceIndex: UInt32
    public var nextHop: IPAddress
    public var preferredSource: IPAddress?
}

/// Routing and neighbour-table lookups over rtnetlink, for AF_XDP transmit (which bypasses the
/// kernel's IP stack and so must fill in the Ethernet header itself).
public struct RoutingTable: ~Copyable {
    private var socket: NetlinkSocket

    public init() throws(DatapathError) {
        socket = try NetlinkSocket(protocol: NETLINK_ROUTE)
    }

    public mutating func route(to destination: IPAddress) throws(DatapathError) -> Route {
        var header = rtmsg()
        header.rtm_family = UInt8(destination.isIPv4 ? AF_INET : AF_INET6)
        header.rtm_dst_len = destination.isIPv4 ? 32 : 128
        var builder = NetlinkMessageBuilder(header: header)
        var raw = [UInt8](repeating: 0, count: 16)
        let length = raw.withUnsafeMutableBytes { destination.write(networkBytesTo: $0.baseAddress!) }
        raw.withUnsafeBytes { builder.attribute(UInt16(RTA_DST.rawValue), UnsafeRawBufferPointer(rebasing: $0[0..<length])) }
        var found: Route?
        do throws(Errno) {
            try socket.request(type: UInt16(RTM_GETROUTE), flags: 0, payload: builder) { message in
                guard message.type == UInt16(RTM_NEWROUTE) else { return }
                var route = Route(interfaceIndex: 0, nextHop: destination, preferredSource: nil)
                for (type, value) in message.attributes(after: MemoryLayout<rtmsg>.size) {
                    switch Int32(type) {
                    case Int32(RTA_OIF.rawValue): route.interfaceIndex = value.u32
                    case Int32(RTA_GATEWAY.rawValue): route.nextHop = Self.address(value) ?? destination
                    case Int32(RTA_PREFSRC.rawValue): route.preferredSource = Self.address(value)
                    default: break
                    }
                }
                found = route
            }
        } catch {
            throw DatapathError(.routeUnavailable,
                "no route to \(destination): add one (`ip route add ...`) or check the interface is up", errno: error)
        }
        guard let found, found.interfaceIndex != 0 else {
            throw DatapathError(.routeUnavailable, "no route to \(destination): add one (`ip route add ...`)")
        }
        return found
    }

    /// The link-layer address for `address` on the interface if the neighbour entry is usable
    /// (REACHABLE, STALE, DELAY, PROBE, PERMANENT, NOARP), nil otherwise.
    public mutating func neighbour(_ address: IPAddress, interfaceIndex: UInt32) throws(DatapathError) -> MACAddress? {
        var header = ndmsg()
        header.ndm_family = UInt8(address.isIPv4 ? AF_INET : AF_INET6)
        // Strict dump checking wants the filter as NDA_IFINDEX, not in the header.
        var builder = NetlinkMessageBuilder(header: header)
        builder.attribute(UInt16(NDA_IFINDEX), value: interfaceIndex)
        var result: MACAddress?
        let usable = UInt16(NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | NUD_PERMANENT | NUD_NOARP)
        do throws(Errno) {
            try socket.request(type: UInt16(RTM_GETNEIGH), flags: NLM_F_DUMP, payload: builder) { message in
                guard message.type == UInt16(RTM_NEWNEIGH), result == nil else { return }
                let entry = message.payload.loadUnaligned(as: ndmsg.self)
                guard entry.ndm_ifindex == Int32(interfaceIndex), entry.ndm_state & usable != 0 else { return }
                var destination: IPAddress?
                var link: MACAddress?
                for (type, value) in message.attributes(after: MemoryLayout<ndmsg>.size) {
                    if type == UInt16(NDA_DST) { destination = Self.address(value) }
                    if type == UInt16(NDA_LLADDR) { link = MACAddress(bytes: value) }
                }
                if destination == address { result = link }
            }
        } catch {
            throw DatapathError(.netlink, "cannot read the neighbour table", errno: error)
        }
        return result
    }

    /// Asks the kernel to resolve `address` (ARP / neighbour solicitation) without sending any
    /// data: RTM_NEWNEIGH with NTF_USE runs neigh_event_send() (what `ip neigh ... use` does).
    public mutating func triggerResolution(_ address: IPAddress, interfaceIndex: UInt32) {
        var header = ndmsg()
        header.ndm_family = UInt8(address.isIPv4 ? AF_INET : AF_INET6)
        header.ndm_ifindex = Int32(interfaceIndex)
        header.ndm_state = UInt16(NUD_NONE)
        header.ndm_flags = UInt8(NTF_USE)
        var builder = NetlinkMessageBuilder(header: header)
        var raw = [UInt8](repeating: 0, count: 16)
        let length = raw.withUnsafeMutableBytes { address.write(networkBytesTo: $0.baseAddress!) }
        raw.withUnsafeBytes { builder.attribute(UInt16(NDA_DST), UnsafeRawBufferPointer(rebasing: $0[0..<length])) }
        try? socket.request(type: UInt16(RTM_NEWNEIGH), flags: NLM_F_CREATE | NLM_F_REPLACE | NLM_F_ACK, payload: builder) { _ in }
    }

    /// Resolves next hop and MAC for `destination`, triggering resolution and waiting up to
    /// `timeoutMilliseconds` when the neighbour is unknown.
    public mutating func resolve(_ destination: IPAddress, timeoutMilliseconds: Int = 1000) throws(DatapathError) -> (route: Route, mac: MACAddress) {
        let route = try route(to: destination)
        if let mac = try neighbour(route.nextHop, interfaceIndex: route.interfaceIndex) { return (route, mac) }
        triggerResolution(route.nextHop, interfaceIndex: route.interfaceIndex)
        var waited = 0
        while waited < timeoutMilliseconds {
            usleep(10_000)
            waited += 10
            if let mac = try neighbour(route.nextHop, interfaceIndex: route.interfaceIndex) { return (route, mac) }
        }
        throw DatapathError(.routeUnavailable,
            "no link-layer address for next hop \(route.nextHop) (neighbour resolution timed out); check that the peer is up and answers ARP/ND")
    }

    static func address(_ value: UnsafeRawBufferPointer) -> IPAddress? {
        switch value.count {
        case 4: return IPAddress(ipv4NetworkBytes: value.baseAddress!)
        case 16: return IPAddress(ipv6NetworkBytes: value.baseAddress!)
        default: return nil
        }
    }
}
