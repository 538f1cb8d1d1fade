import CQuicShim
import Glibc

/// Socket options and control-message layouts the UDP port uses (ip(7), ipv6(7), udp(7)).
/// `in_pktinfo`/`in6_pktinfo` are addressed by offset: glibc declares them only under
/// _GNU_SOURCE.
enum UDPSocketOptions {
    static let udpSegment = Int32(UDP_SEGMENT)       // SOL_UDP: GSO segment size (u16)
    static let udpGRO = Int32(UDP_GRO)               // SOL_UDP: receive coalesced datagrams
    static let solUDP = Int32(IPPROTO_UDP)
    static let ipPacketInfoSize = 12                  // struct in_pktinfo
    static let ipPacketInfoAddressOffset = 8          //   .ipi_addr (the datagram's destination)
    static let ipPacketInfoSpecificDestinationOffset = 4 // .ipi_spec_dst (source for sending)
    static let ipv6PacketInfoSize = 20                // struct in6_pktinfo: addr then ifindex
    /// IP_PMTUDISC_PROBE / IPV6_PMTUDISC_PROBE (both 3): set DF, ignore the path-MTU cache.
    static let pmtuDiscoveryProbe: Int32 = 3

    static func set(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) -> Bool {
        var value = value
        return setsockopt(fd, level, name, &value, 4) == 0
    }
}
