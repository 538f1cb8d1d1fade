import Foundation
import QuicDatapath

/// dumpcap on an interface inside a namespace, writing classic pcap, until it has `frames`
/// frames or `seconds` passed (its own autostop conditions: a child started from a test thread
/// inherits a signal mask that blocks SIGTERM and SIGINT). `stop()` waits for that (killing the
/// process this started after a deadline) and returns the Ethernet frames captured.
final class PacketCapture: @unchecked Sendable {
    let process = Process()
    let file: String

    init(namespacePath: String, interface: String, filter: String, frames: Int, seconds: Int = 20) throws {
        file = NSTemporaryDirectory() + "qx-capture-\(UInt32.random(in: 0..<UInt32.max)).pcap"
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["nsenter", "--net=" + namespacePath, "dumpcap", "-q", "-P", "-i", interface, "-f", filter,
                             "-c", String(frames), "-a", "duration:\(seconds)", "-w", file]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // dumpcap writes the file header once it captures.
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline {
            if let size = try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int, size >= 24 { break }
            usleep(20_000)
        }
        usleep(200_000)
    }

    func stop() throws -> [[UInt8]] {
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        defer { try? FileManager.default.removeItem(atPath: file) }
        let data = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
        return PacketCapture.frames(pcap: data)
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
        try? FileManager.default.removeItem(atPath: file)
    }

    /// The records of a classic little-endian pcap file.
    static func frames(pcap data: [UInt8]) -> [[UInt8]] {
        func u32(_ offset: Int) -> Int {
            Int(data[offset]) | Int(data[offset + 1]) << 8 | Int(data[offset + 2]) << 16 | Int(data[offset + 3]) << 24
        }
        guard data.count >= 24, u32(0) == 0xa1b2_c3d4 else { return [] }
        var frames: [[UInt8]] = []
        var offset = 24
        while offset + 16 <= data.count {
            let length = u32(offset + 8)
            offset += 16
            guard offset + length <= data.count else { break }
            frames.append(Array(data[offset..<(offset + length)]))
            offset += length
        }
        return frames
    }
}

/// A UDP datagram in an Ethernet frame, with its checksums checked from scratch.
struct CapturedUDP {
    var frame: [UInt8]
    var payload: [UInt8]
    var sourcePort: UInt16
    var destinationPort: UInt16
    var ipv4HeaderChecksumValid = true
    var udpChecksumValid: Bool

    init?(_ frame: [UInt8]) {
        guard frame.count >= 14 else { return nil }
        self.frame = frame
        let etherType = UInt16(frame[12]) << 8 | UInt16(frame[13])
        var checksum = InternetChecksum()
        let udp: Int
        let udpLength: Int
        switch etherType {
        case 0x0800:
            guard frame.count >= 34, frame[23] == 17 else { return nil }
            let headerLength = Int(frame[14] & 0x0f) * 4
            udp = 14 + headerLength
            var header = InternetChecksum()
            frame.withUnsafeBytes { header.add($0.baseAddress! + 14, count: headerLength) }
            ipv4HeaderChecksumValid = header.finalized == 0
            frame.withUnsafeBytes { checksum.add($0.baseAddress! + 26, count: 8) }
        case 0x86dd:
            guard frame.count >= 62, frame[20] == 17 else { return nil }
            udp = 54
            frame.withUnsafeBytes { checksum.add($0.baseAddress! + 22, count: 32) }
        default:
            return nil
        }
        guard frame.count >= udp + 8 else { return nil }
        udpLength = Int(frame[udp + 4]) << 8 | Int(frame[udp + 5])
        guard udpLength >= 8, frame.count >= udp + udpLength else { return nil }
        sourcePort = UInt16(frame[udp]) << 8 | UInt16(frame[udp + 1])
        destinationPort = UInt16(frame[udp + 2]) << 8 | UInt16(frame[udp + 3])
        payload = Array(frame[(udp + 8)..<(udp + udpLength)])
        checksum.add(word: 17)
        checksum.add(word: UInt16(udpLength))
        frame.withUnsafeBytes { checksum.add($0.baseAddress! + udp, count: udpLength) }
        // Summing a correct checksum in gives zero (RFC 1071); a zero field over IPv4 means "none".
        udpChecksumValid = checksum.finalized == 0 && !(frame[udp + 6] == 0 && frame[udp + 7] == 0)
    }
}

/// The kernel's count of UDP datagrams dropped for a bad checksum in a namespace (nstat).
func udpChecksumErrors(namespacePath: String) throws -> Int {
    let result = try run(["nsenter", "--net=" + namespacePath, "nstat", "-az", "UdpInCsumErrors", "Udp6InCsumErrors"])
    return result.output.split(separator: "\n").reduce(0) { total, line in
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count >= 2, fields[0].hasSuffix("InCsumErrors"), let value = Int(fields[1]) else { return total }
        return total + value
    }
}
