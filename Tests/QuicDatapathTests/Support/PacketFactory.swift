import QuicDatapath

/// Builds Ethernet frames for BPF_PROG_TEST_RUN verdict tests, including malformed ones.
struct PacketFactory {
    enum Network { case ipv4, ipv6 }

    static let sourceMAC: [UInt8] = [0x02, 0, 0, 0, 0, 1]
    static let destinationMAC: [UInt8] = [0x02, 0, 0, 0, 0, 2]

    static func ethernet(type: UInt16, vlan: UInt16? = nil) -> [UInt8] {
        var bytes = destinationMAC + sourceMAC
        if let vlan {
            bytes += [0x81, 0x00, UInt8(vlan >> 8), UInt8(vlan & 0xff)]
        }
        bytes += [UInt8(type >> 8), UInt8(type & 0xff)]
        return bytes
    }

    static func ipv4(protocol proto: UInt8, payloadLength: Int, ihl: UInt8 = 5, fragment: UInt16 = 0x4000) -> [UInt8] {
        let headerLength = Int(ihl) * 4
        let total = max(headerLength, 20) + payloadLength
        var header: [UInt8] = [0x40 | ihl, 0, UInt8(total >> 8), UInt8(total & 0xff), 0, 1,
                               UInt8(fragment >> 8), UInt8(fragment & 0xff), 64, proto, 0, 0,
                               10, 0, 0, 2, 10, 0, 0, 1]
        if ihl > 5 { header += [UInt8](repeating: 1, count: Int(ihl - 5) * 4) } // NOP options
        var sum = InternetChecksum()
        header.withUnsafeBytes { sum.add($0.baseAddress!, count: min($0.count, max(headerLength, 20))) }
        let checksum = sum.finalized
        withUnsafeBytes(of: checksum) { header[10] = $0[0]; header[11] = $0[1] }
        return header
    }

    static func ipv6(nextHeader: UInt8, payloadLength: Int) -> [UInt8] {
        var header: [UInt8] = [0x60, 0, 0, 0, UInt8(payloadLength >> 8), UInt8(payloadLength & 0xff), nextHeader, 64]
        header += [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]
        header += [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
        return header
    }

    static func udp(sourcePort: UInt16 = 50000, destinationPort: UInt16, payload: [UInt8]) -> [UInt8] {
        let length = 8 + payload.count
        return [UInt8(sourcePort >> 8), UInt8(sourcePort & 0xff), UInt8(destinationPort >> 8), UInt8(destinationPort & 0xff),
                UInt8(length >> 8), UInt8(length & 0xff), 0, 0] + payload
    }

    /// A full UDP frame.
    static func udpFrame(_ network: Network = .ipv4, port: UInt16, payload: [UInt8], vlan: UInt16? = nil,
                         ihl: UInt8 = 5, fragment: UInt16 = 0x4000) -> [UInt8] {
        let datagram = udp(destinationPort: port, payload: payload)
        switch network {
        case .ipv4:
            return ethernet(type: 0x0800, vlan: vlan) + ipv4(protocol: 17, payloadLength: datagram.count, ihl: ihl, fragment: fragment) + datagram
        case .ipv6:
            return ethernet(type: 0x86dd, vlan: vlan) + ipv6(nextHeader: 17, payloadLength: datagram.count) + datagram
        }
    }

    /// A QUIC long-header packet of `size` bytes (version 1 Initial by default, RFC 9000 §17.2.2).
    static func quicLong(size: Int, version: UInt32 = 1, type: UInt8 = 0, fixedBit: Bool = true) -> [UInt8] {
        var bytes: [UInt8] = [0x80 | (fixedBit ? 0x40 : 0) | (type << 4) | 0x03]
        bytes += [UInt8(version >> 24), UInt8((version >> 16) & 0xff), UInt8((version >> 8) & 0xff), UInt8(version & 0xff)]
        bytes += [8, 1, 2, 3, 4, 5, 6, 7, 8, 0] // DCID len 8, DCID, SCID len 0
        while bytes.count < size { bytes.append(0) }
        return Array(bytes.prefix(size))
    }

    /// A QUIC short-header (1-RTT) packet (RFC 9000 §17.3.1).
    static func quicShort(size: Int = 100, fixedBit: Bool = true) -> [UInt8] {
        var bytes: [UInt8] = [(fixedBit ? 0x40 : 0) | 0x01]
        while bytes.count < size { bytes.append(0xaa) }
        return bytes
    }

    static func tcpFrame(port: UInt16) -> [UInt8] {
        let tcp: [UInt8] = [0xc3, 0x50, UInt8(port >> 8), UInt8(port & 0xff), 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0]
        return ethernet(type: 0x0800) + ipv4(protocol: 6, payloadLength: tcp.count) + tcp
    }

    static func icmpEchoFrame() -> [UInt8] {
        let icmp: [UInt8] = [8, 0, 0xf7, 0xfe, 0, 1, 0, 1]
        return ethernet(type: 0x0800) + ipv4(protocol: 1, payloadLength: icmp.count) + icmp
    }

    static func arpFrame() -> [UInt8] {
        let arp: [UInt8] = [0, 1, 8, 0, 6, 4, 0, 1] + sourceMAC + [10, 0, 0, 2] + [0, 0, 0, 0, 0, 0] + [10, 0, 0, 1]
        return [0xff, 0xff, 0xff, 0xff, 0xff, 0xff] + sourceMAC + [0x08, 0x06] + arp
    }
}
