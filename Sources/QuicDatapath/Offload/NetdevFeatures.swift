import CQuicShim
import Glibc

/// XDP and AF_XDP features the driver advertises through the generic-netlink "netdev" family
/// (NETDEV_CMD_DEV_GET, include/uapi/linux/netdev.h, Linux 6.3+). The constants are spelled out
/// because Debian 12's linux-libc-dev predates that header.
struct NetdevFeatures {
    // enum netdev_xdp_act
    static let xdpBasic: UInt64 = 1 << 0
    static let xdpRedirect: UInt64 = 1 << 1
    static let xdpNdoXmit: UInt64 = 1 << 2
    static let xdpZeroCopy: UInt64 = 1 << 3
    static let xdpHardwareOffload: UInt64 = 1 << 4
    // enum netdev_xdp_rx_metadata
    static let rxMetadataTimestamp: UInt64 = 1 << 0
    static let rxMetadataHash: UInt64 = 1 << 1
    // enum netdev_xsk_flags
    static let xskTxTimestamp: UInt64 = 1 << 0
    static let xskTxChecksum: UInt64 = 1 << 1

    // NETDEV_CMD_DEV_GET and enum netdev_a_dev
    static let commandDevGet: UInt8 = 1
    static let attributeIfindex: UInt16 = 1
    static let attributeXDPFeatures: UInt16 = 3
    static let attributeZeroCopyMaxSegments: UInt16 = 4
    static let attributeRxMetadataFeatures: UInt16 = 5
    static let attributeXSKFeatures: UInt16 = 6

    var xdp: UInt64 = 0
    var rxMetadata: UInt64 = 0
    var xsk: UInt64 = 0
    /// False on kernels without the netdev family (then the table says "unknown").
    var known = false

    static func query(interfaceIndex: UInt32) -> NetdevFeatures {
        var result = NetdevFeatures()
        guard var socket = try? NetlinkSocket(protocol: NETLINK_GENERIC),
              let family = familyID(&socket, name: "netdev")
        else { return result }
        var header = genlmsghdr()
        header.cmd = commandDevGet
        header.version = 1
        var builder = NetlinkMessageBuilder(header: header)
        builder.attribute(attributeIfindex, value: interfaceIndex)
        try? socket.request(type: family, flags: 0, payload: builder) { message in
            for (type, value) in message.attributes(after: MemoryLayout<genlmsghdr>.size) {
                switch type {
                case attributeXDPFeatures: result.xdp = value.u64; result.known = true
                case attributeRxMetadataFeatures: result.rxMetadata = value.u64
                case attributeXSKFeatures: result.xsk = value.u64
                default: break
                }
            }
        }
        return result
    }

    /// CTRL_CMD_GETFAMILY: the dynamic id of a generic-netlink family.
    static func familyID(_ socket: inout NetlinkSocket, name: String) -> UInt16? {
        var header = genlmsghdr()
        header.cmd = UInt8(CTRL_CMD_GETFAMILY)
        header.version = 1
        var builder = NetlinkMessageBuilder(header: header)
        builder.attribute(UInt16(CTRL_ATTR_FAMILY_NAME), string: name)
        var id: UInt16?
        try? socket.request(type: UInt16(GENL_ID_CTRL), flags: 0, payload: builder) { message in
            for (type, value) in message.attributes(after: MemoryLayout<genlmsghdr>.size)
            where type == UInt16(CTRL_ATTR_FAMILY_ID) {
                id = value.u16
            }
        }
        return id
    }
}
