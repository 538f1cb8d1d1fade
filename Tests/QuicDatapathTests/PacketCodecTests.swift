import Glibc
import QuicDatapath
import Testing

/// Checksums and the Ethernet/IP/UDP header writer and parser (no root needed).
@Suite struct PacketCodecTests {
    @Test("RFC 1071 §3 example: the checksum of 00 01 f2 03 f4 f5 f6 f7 is 22 0d")
    func rfc1071Example() {
        let bytes: [UInt8] = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]
        var sum = InternetChecksum()
        bytes.withUnsafeBytes { sum.add($0.baseAddress!, count: $0.count) }
        let value = sum.finalized
        #expect(withUnsafeBytes(of: value) { Array($0) } == [0x22, 0x0d])
    }

    @Test("odd lengths pad with a zero byte", arguments: [1, 3, 7, 9, 15, 1201])
    func oddLengths(count: Int) {
        let bytes = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        var fast = InternetChecksum()
        bytes.withUnsafeBytes { fast.add($0.baseAddress!, count: $0.count) }
        // Reference: 16-bit big-endian words, one's complement.
        var reference: UInt32 = 0
        var index = 0
        while index < count {
            let high = UInt32(bytes[index]) << 8
            let low = index + 1 < count ? UInt32(bytes[index + 1]) : 0
            reference += high | low
            index += 2
        }
        while reference >> 16 != 0 { reference = (reference & 0xffff) + (reference >> 16) }
        let expected = ~UInt16(reference)
        let value = fast.finalized
        #expect(withUnsafeBytes(of: value) { Array($0) } == [UInt8(expected >> 8), UInt8(expected & 0xff)])
    }

    @Test("written frames parse back with valid IPv4 and UDP checksums", arguments: [false, true])
    func writeThenParse(ipv6: Bool) throws {
        let frame = UnsafeMutableRawPointer.allocate(byteCount: 2048, alignment: 64)
        defer { frame.deallocate() }
        let payload: [UInt8] = [0x40] + (0..<333).map { UInt8(truncatingIfNeeded: $0) }
        payload.withUnsafeBytes { (frame + EthernetFrame.transmitHeadroom).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        let source = ipv6 ? SocketAddress(IPAddress("fd00::1")!, port: 4433) : SocketAddress(IPAddress("10.0.0.1")!, port: 4433)
        let destination = ipv6 ? SocketAddress(IPAddress("fd00::2")!, port: 50000) : SocketAddress(IPAddress("10.0.0.2")!, port: 50000)
        let mac = MACAddress((2, 0, 0, 0, 0, 1))
        let (offset, length) = FrameHeaderWriter.write(
            frame: frame, payloadLength: payload.count, sourceMAC: mac, destinationMAC: mac,
            source: source, destination: destination, ecn: .ect0)
        #expect(length == (ipv6 ? 62 : 42) + payload.count)
        let parsed = try #require(EthernetFrame.parseUDP(frame + offset, count: length))
        #expect(Array(UnsafeRawBufferPointer(parsed.payload)) == payload)
        #expect(parsed.source == source && parsed.destination == destination && parsed.ecn == .ect0)

        let ip = frame + offset + 14
        if !ipv6 {
            var header = InternetChecksum()
            header.add(ip, count: 20)
            #expect(header.finalized == 0, "IPv4 header checksum verifies")
        }
        // UDP: pseudo-header + UDP header + payload sums to 0xffff (finalized 0).
        let udpOffset = ipv6 ? 40 : 20
        var udp = InternetChecksum()
        if ipv6 { udp.add(ip + 8, count: 32) } else { udp.add(ip + 12, count: 8) }
        udp.add(word: 17)
        udp.add(word: UInt16(8 + payload.count))
        udp.add(ip + udpOffset, count: 8 + payload.count)
        #expect(udp.finalized == 0, "UDP checksum verifies")
    }

    @Test("the parser refuses what the XDP program would not redirect")
    func parserRefusesMalformed() {
        var good = PacketFactory.udpFrame(port: 4433, payload: PacketFactory.quicShort())
        let frame = UnsafeMutableRawPointer.allocate(byteCount: 2048, alignment: 8)
        defer { frame.deallocate() }
        func parse(_ bytes: [UInt8]) -> ReceivedDatagram? {
            bytes.withUnsafeBytes { frame.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            return EthernetFrame.parseUDP(frame, count: bytes.count)
        }
        #expect(parse(good) != nil)
        #expect(parse(Array(good.prefix(30))) == nil)
        #expect(parse(PacketFactory.udpFrame(port: 4433, payload: [1], fragment: 0x2000)) == nil)
        #expect(parse(PacketFactory.tcpFrame(port: 4433)) == nil)
        good[14 + 20 + 4] = 0x09 // UDP length beyond the IP packet
        #expect(parse(good) == nil)
        #expect(parse(PacketFactory.udpFrame(port: 4433, payload: [0x40, 1], vlan: 7))?.payload.count == 2)
    }

    @Test("addresses: text, IPv4-mapped IPv6, sockaddr round trip")
    func addresses() {
        let v4 = IPAddress("192.0.2.1")!
        #expect(v4.description == "192.0.2.1")
        #expect(v4.mappedToIPv6.unmapped == v4)
        #expect(IPAddress("2001:db8::1")!.description == "2001:db8::1")
        #expect(IPAddress("not an address") == nil)
        var storage = sockaddr_in6()
        let address = SocketAddress(v4, port: 443)
        _ = withUnsafeMutableBytes(of: &storage) { address.write(sockaddrTo: $0.baseAddress!, dualStack: true) }
        #expect(withUnsafeBytes(of: &storage) { SocketAddress(sockaddr: $0.baseAddress!) } == address)
    }
}
