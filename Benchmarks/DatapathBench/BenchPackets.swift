/// Frames for the XDP benchmark (valid headers; checksums are not checked by the program).
enum BenchPackets {
    static func short(_ size: Int) -> [UInt8] { [0x41] + [UInt8](repeating: 0xab, count: size - 1) }

    static func initial(_ size: Int) -> [UInt8] {
        var bytes: [UInt8] = [0xc3, 0, 0, 0, 1, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0]
        bytes += [UInt8](repeating: 0, count: size - bytes.count)
        return bytes
    }

    static func udp(port: UInt16, payload: [UInt8]) -> [UInt8] {
        let length = 8 + payload.count
        return [0xc3, 0x50, UInt8(port >> 8), UInt8(port & 0xff), UInt8(length >> 8), UInt8(length & 0xff), 0, 0] + payload
    }

    static func ipv4(port: UInt16, payload: [UInt8]) -> [UInt8] {
        let datagram = udp(port: port, payload: payload)
        let total = 20 + datagram.count
        let ip: [UInt8] = [0x45, 0, UInt8(total >> 8), UInt8(total & 0xff), 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 2, 10, 0, 0, 1]
        return [2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00] + ip + datagram
    }

    static func ipv6(port: UInt16, payload: [UInt8]) -> [UInt8] {
        let datagram = udp(port: port, payload: payload)
        var ip: [UInt8] = [0x60, 0, 0, 0, UInt8(datagram.count >> 8), UInt8(datagram.count & 0xff), 17, 64]
        ip += [UInt8](repeating: 0, count: 32)
        return [2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x86, 0xdd] + ip + datagram
    }
}
