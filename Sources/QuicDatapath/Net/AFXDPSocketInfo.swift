import CQuicShim
import Glibc

/// An AF_XDP socket bound on an interface, as sock_diag reports it (linux/xdp_diag.h; what
/// `ss --xdp` shows). Lists sockets of this network namespace only.
public struct AFXDPSocketInfo: Sendable, Codable {
    public var inode: UInt32
    public var queue: UInt32
    public var zeroCopy: Bool
    /// From the pinned xsk_owners map when sock_diag is unavailable.
    public var pid: Int32?
    public var processAlive: Bool?

    public static func list(interfaceIndex: UInt32) -> [AFXDPSocketInfo] {
        guard var socket = try? NetlinkSocket(protocol: NETLINK_SOCK_DIAG) else { return [] }
        var request = xdp_diag_req()
        request.sdiag_family = UInt8(AF_XDP)
        request.xdiag_show = UInt32(XDP_SHOW_INFO | XDP_SHOW_UMEM)
        var result: [AFXDPSocketInfo] = []
        try? socket.request(type: UInt16(SOCK_DIAG_BY_FAMILY), flags: NLM_F_DUMP,
                            payload: NetlinkMessageBuilder(header: request)) { message in
            guard message.payload.count >= MemoryLayout<xdp_diag_msg>.size else { return }
            let header = message.payload.loadUnaligned(as: xdp_diag_msg.self)
            var entry = AFXDPSocketInfo(inode: header.xdiag_ino, queue: 0, zeroCopy: false, pid: nil, processAlive: nil)
            var ifindex: UInt32 = 0
            for (type, value) in message.attributes(after: MemoryLayout<xdp_diag_msg>.size) {
                if type == UInt16(XDP_DIAG_INFO), value.count >= MemoryLayout<xdp_diag_info>.size {
                    let info = value.loadUnaligned(as: xdp_diag_info.self)
                    ifindex = info.ifindex
                    entry.queue = info.queue_id
                }
                if type == UInt16(XDP_DIAG_UMEM), value.count >= MemoryLayout<xdp_diag_umem>.size {
                    entry.zeroCopy = value.loadUnaligned(as: xdp_diag_umem.self).flags & UInt32(XDP_DU_F_ZEROCOPY) != 0
                }
            }
            if ifindex == interfaceIndex { result.append(entry) }
        }
        return result.sorted { $0.queue < $1.queue }
    }
}
