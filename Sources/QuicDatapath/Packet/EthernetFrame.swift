/// Layout constants and the parser for received Ethernet frames carrying UDP (IEEE 802.3,
/// 802.1Q; RFC 791; RFC 8200; RFC 768).
public enum EthernetFrame {
    public static let ethernetHeaderSize = 14
    public static let vlanTagSize = 4
    public static let ipv4HeaderSize = 20
    public static let ipv6HeaderSize = 40
    public static let udpHeaderSize = 8
    /// Room before the UDP payload in a TX frame: Ethernet + IPv6 + UDP, the largest we write.
    public static let transmitHeadroom = ethernetHeaderSize + ipv6HeaderSize + udpHeaderSize

    public static let etherTypeIPv4: UInt16 = 0x0800
    public static let etherTypeIPv6: UInt16 = 0x86dd
    public static let etherTypeVLAN: UInt16 = 0x8100
    public static let etherTypeQinQ: UInt16 = 0x88a8
    public static let protocolUDP: UInt8 = 17

    /// Parses Ethernet (one VLAN tag), IPv4 with options or IPv6, and UDP, checking every length
    /// against `count`. Returns the datagram with its payload in place, or nil if the frame is
    /// not a well-formed unfragmented UDP datagram (the XDP program only redirects those, so
    /// nil means a corrupted or unexpected frame, which the port drops and counts).
    @inlinable
    public static func parseUDP(_ base: UnsafeMutableRawPointer, count: Int) -> ReceivedDatagram? {
        var offset = ethernetHeaderSize
        guard count >= offset else { return nil }
        var etherType = UInt16(bigEndian: base.loadUnaligned(fromByteOffset: 12, as: UInt16.self))
        if etherType == etherTypeVLAN || etherType == etherTypeQinQ {
            guard count >= offset + vlanTagSize else { return nil }
            etherType = UInt16(bigEndian: base.loadUnaligned(fromByteOffset: offset + 2, as: UInt16.self))
            offset += vlanTagSize
        }
        let source: IPAddress
        let destination: IPAddress
        let ecn: ECN
        var end = count
        if etherType == etherTypeIPv4 {
            guard count >= offset + ipv4HeaderSize else { return nil }
            let versionIHL = base.load(fromByteOffset: offset, as: UInt8.self)
            let headerSize = Int(versionIHL & 0x0f) * 4
            let totalLength = Int(UInt16(bigEndian: base.loadUnaligned(fromByteOffset: offset + 2, as: UInt16.self)))
            let fragment = UInt16(bigEndian: base.loadUnaligned(fromByteOffset: offset + 6, as: UInt16.self))
            guard versionIHL >> 4 == 4, headerSize >= ipv4HeaderSize, totalLength >= headerSize,
                  offset + totalLength <= count, fragment & 0x3fff == 0,
                  base.load(fromByteOffset: offset + 9, as: UInt8.self) == protocolUDP
            else { return nil }
            ecn = ECN(trafficClass: base.load(fromByteOffset: offset + 1, as: UInt8.self))
            source = IPAddress(ipv4NetworkBytes: base + offset + 12)
            destination = IPAddress(ipv4NetworkBytes: base + offset + 16)
            end = offset + totalLength
            offset += headerSize
        } else if etherType == etherTypeIPv6 {
            guard count >= offset + ipv6HeaderSize else { return nil }
            let first = UInt32(bigEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
            let payloadLength = Int(UInt16(bigEndian: base.loadUnaligned(fromByteOffset: offset + 4, as: UInt16.self)))
            guard first >> 28 == 6, base.load(fromByteOffset: offset + 6, as: UInt8.self) == protocolUDP,
                  offset + ipv6HeaderSize + payloadLength <= count
            else { return nil }
            ecn = ECN(trafficClass: UInt8(truncatingIfNeeded: first >> 20))
            source = IPAddress(ipv6NetworkBytes: base + offset + 8)
            destination = IPAddress(ipv6NetworkBytes: base + offset + 24)
            end = offset + ipv6HeaderSize + payloadLength
            offset += ipv6HeaderSize
        } else {
            return nil
        }
        guard end >= offset + udpHeaderSize else { return nil }
        let sourcePort = UInt16(bigEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
        let destinationPort = UInt16(bigEndian: base.loadUnaligned(fromByteOffset: offset + 2, as: UInt16.self))
        let udpLength = Int(UInt16(bigEndian: base.loadUnaligned(fromByteOffset: offset + 4, as: UInt16.self)))
        guard udpLength >= udpHeaderSize, offset + udpLength <= end else { return nil }
        let payloadStart = offset + udpHeaderSize
        return ReceivedDatagram(
            payload: UnsafeMutableRawBufferPointer(start: base + payloadStart, count: udpLength - udpHeaderSize),
            source: SocketAddress(source, port: sourcePort),
            destination: SocketAddress(destination, port: destinationPort),
            ecn: ecn)
    }
}
