import CQuicShim
import Glibc

/// Link attributes of one interface (RTM_GETLINK, rtnetlink(7)).
public struct InterfaceInfo: Sendable {
    public var name: String
    public var index: UInt32
    public var mac: MACAddress?
    public var mtu: UInt32
    public var rxQueues: UInt32
    public var txQueues: UInt32

    public static func query(_ name: String) throws(DatapathError) -> InterfaceInfo {
        let index = if_nametoindex(name)
        guard index != 0 else {
            throw DatapathError(.noSuchInterface,
                "no such interface '\(name)' in this network namespace; list interfaces with `ip link`")
        }
        var socket = try NetlinkSocket(protocol: NETLINK_ROUTE)
        var header = ifinfomsg()
        header.ifi_family = UInt8(AF_UNSPEC)
        header.ifi_index = Int32(index)
        var info = InterfaceInfo(name: name, index: index, mac: nil, mtu: 1500, rxQueues: 1, txQueues: 1)
        do throws(Errno) {
            try socket.request(type: UInt16(RTM_GETLINK), flags: 0, payload: NetlinkMessageBuilder(header: header)) { message in
                guard message.type == UInt16(RTM_NEWLINK) else { return }
                for (type, value) in message.attributes(after: MemoryLayout<ifinfomsg>.size) {
                    switch Int32(type) {
                    case Int32(IFLA_ADDRESS): info.mac = MACAddress(bytes: value)
                    case Int32(IFLA_MTU): info.mtu = value.u32
                    case Int32(IFLA_NUM_RX_QUEUES): info.rxQueues = value.u32
                    case Int32(IFLA_NUM_TX_QUEUES): info.txQueues = value.u32
                    default: break
                    }
                }
            }
        } catch {
            throw DatapathError(.netlink, "cannot read the attributes of \(name)", errno: error)
        }
        return info
    }

    /// The interface that holds `address` in this network namespace (getifaddrs(3)), if any.
    public static func name(owning address: IPAddress) -> String? {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return nil }
        defer { freeifaddrs(list) }
        var entry: UnsafeMutablePointer<ifaddrs>? = first
        while let current = entry {
            if let socketAddress = current.pointee.ifa_addr, let name = current.pointee.ifa_name,
               let local = SocketAddress(sockaddr: UnsafeRawPointer(socketAddress)), local.address == address.unmapped {
                return String(cString: name)
            }
            entry = current.pointee.ifa_next
        }
        return nil
    }
}
