/// Writes Ethernet + IPv4/IPv6 + UDP headers in front of a payload already in place (a UMEM TX
/// frame), with the checksums computed in software (or the UDP one left to the device). The payload sits at
/// `EthernetFrame.transmitHeadroom` from the frame start; IPv4 frames therefore start 20 bytes
/// into the frame (an AF_XDP descriptor may point anywhere inside its chunk).
public struct MACAddress: Hashable, Sendable, CustomStringConvertible {
    public var bytes: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8)

    public init(_ b: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8)) { bytes = b }

    public init?(bytes p: UnsafeRawBufferPointer) {
        guard p.count == 6 else { return nil }
        bytes = (p[0], p[1], p[2], p[3], p[4], p[5])
    }

    public static func == (a: MACAddress, b: MACAddress) -> Bool {
        a.bytes.0 == b.bytes.0 && a.bytes.1 == b.bytes.1 && a.bytes.2 == b.bytes.2
            && a.bytes.3 == b.bytes.3 && a.bytes.4 == b.bytes.4 && a.bytes.5 == b.bytes.5
    }

    public func hash(into hasher: inout Hasher) {
        withUnsafeBytes(of: bytes) { hasher.combine(bytes: $0) }
    }

    @inlinable
    public func write(to p: UnsafeMutableRawPointer) {
        withUnsafeBytes(of: bytes) { p.copyMemory(from: $0.baseAddress!, byteCount: 6) }
    }

    public var description: String {
        withUnsafeBytes(of: bytes) { $0.map { byte in
            let hex = String(byte, radix: 16)
            return hex.count == 1 ? "0" + hex : hex
        }.joined(separator: ":") }
    }
}

/// What goes into the UDP checksum field.
public enum UDPChecksumFill: Sendable {
    /// The checksum, computed here (RFC 768).
    case full
    /// The folded pseudo-header sum, uncomplemented: the seed a device (or the kernel) adds the
    /// UDP header and payload to when it computes the checksum for us (CHECKSUM_PARTIAL, and
    /// AF_XDP's XDP_TXMD_FLAGS_CHECKSUM).
    case pseudoHeaderSeed
}

public enum FrameHeaderWriter {
    /// Writes the headers for a payload of `payloadLength` bytes that starts at
    /// `frame + EthernetFrame.transmitHeadroom`. Returns the offset of the first frame byte and
    /// the frame length. `source` and `destination` must be the same family.
    @inlinable
    public static func write(
        frame: UnsafeMutableRawPointer, payloadLength: Int,
        sourceMAC: MACAddress, destinationMAC: MACAddress,
        source: SocketAddress, destination: SocketAddress, ecn: ECN,
        udpChecksum: UDPChecksumFill = .full
    ) -> (offset: Int, length: Int) {
        let udpOffset = EthernetFrame.transmitHeadroom - EthernetFrame.udpHeaderSize
        let udp = frame + udpOffset
        let udpLength = EthernetFrame.udpHeaderSize + payloadLength
        udp.storeBytes(of: source.port.bigEndian, as: UInt16.self)
        udp.storeBytes(of: destination.port.bigEndian, toByteOffset: 2, as: UInt16.self)
        udp.storeBytes(of: UInt16(udpLength).bigEndian, toByteOffset: 4, as: UInt16.self)
        udp.storeBytes(of: 0, toByteOffset: 6, as: UInt16.self)

        var pseudo = InternetChecksum()
        let ipOffset: Int
        switch (source.address, destination.address) {
        case (.v4(let src), .v4(let dst)):
            ipOffset = udpOffset - EthernetFrame.ipv4HeaderSize
            let ip = frame + ipOffset
            ip.storeBytes(of: 0x45, as: UInt8.self)
            ip.storeBytes(of: ecn.rawValue, toByteOffset: 1, as: UInt8.self)
            ip.storeBytes(of: UInt16(EthernetFrame.ipv4HeaderSize + udpLength).bigEndian, toByteOffset: 2, as: UInt16.self)
            ip.storeBytes(of: 0, toByteOffset: 4, as: UInt16.self)          // identification
            ip.storeBytes(of: UInt16(0x4000).bigEndian, toByteOffset: 6, as: UInt16.self) // DF
            ip.storeBytes(of: 64, toByteOffset: 8, as: UInt8.self)
            ip.storeBytes(of: EthernetFrame.protocolUDP, toByteOffset: 9, as: UInt8.self)
            ip.storeBytes(of: 0, toByteOffset: 10, as: UInt16.self)
            ip.storeBytes(of: src.bigEndian, toByteOffset: 12, as: UInt32.self)
            ip.storeBytes(of: dst.bigEndian, toByteOffset: 16, as: UInt32.self)
            var header = InternetChecksum()
            header.add(ip, count: EthernetFrame.ipv4HeaderSize)
            ip.storeBytes(of: header.finalized, toByteOffset: 10, as: UInt16.self)
            pseudo.add(ip + 12, count: 8)
        default:
            ipOffset = udpOffset - EthernetFrame.ipv6HeaderSize
            let ip = frame + ipOffset
            let first = UInt32(6) << 28 | UInt32(ecn.rawValue) << 20
            ip.storeBytes(of: first.bigEndian, as: UInt32.self)
            ip.storeBytes(of: UInt16(udpLength).bigEndian, toByteOffset: 4, as: UInt16.self)
            ip.storeBytes(of: EthernetFrame.protocolUDP, toByteOffset: 6, as: UInt8.self)
            ip.storeBytes(of: 64, toByteOffset: 7, as: UInt8.self)
            source.address.mappedToIPv6.write(networkBytesTo: ip + 8)
            destination.address.mappedToIPv6.write(networkBytesTo: ip + 24)
            pseudo.add(ip + 8, count: 32)
        }
        pseudo.add(word: UInt16(EthernetFrame.protocolUDP))
        pseudo.add(word: UInt16(udpLength))
        switch udpChecksum {
        case .full:
            pseudo.add(udp, count: udpLength)
            var value = pseudo.finalized
            if value == 0 { value = 0xffff } // RFC 768: zero means "no checksum"
            udp.storeBytes(of: value, toByteOffset: 6, as: UInt16.self)
        case .pseudoHeaderSeed:
            udp.storeBytes(of: ~pseudo.finalized, toByteOffset: 6, as: UInt16.self)
        }
        let ethernetOffset = ipOffset - EthernetFrame.ethernetHeaderSize
        let ethernet = frame + ethernetOffset
        destinationMAC.write(to: ethernet)
        sourceMAC.write(to: ethernet + 6)
        let etherType = source.address.isIPv4 && destination.address.isIPv4
            ? EthernetFrame.etherTypeIPv4 : EthernetFrame.etherTypeIPv6
        ethernet.storeBytes(of: etherType.bigEndian, toByteOffset: 12, as: UInt16.self)
        return (ethernetOffset, EthernetFrame.transmitHeadroom - ethernetOffset + payloadLength)
    }
}
