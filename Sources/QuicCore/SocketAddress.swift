/// An IPv4 or IPv6 address and UDP port, stored inline (no allocation), as the core sees paths.
/// The datapath converts to and from sockaddr.
@frozen
public struct SocketAddress: Hashable, Sendable, CustomStringConvertible {
    public enum Family: UInt8, Sendable { case ipv4 = 4, ipv6 = 6 }

    public var family: Family
    /// Address bytes in network order: the first 4 for IPv4, all 16 for IPv6.
    public var high: UInt64
    public var low: UInt64
    public var port: UInt16

    public init(ipv4 bytes: (UInt8, UInt8, UInt8, UInt8), port: UInt16) {
        family = .ipv4
        high = UInt64(bytes.0) << 56 | UInt64(bytes.1) << 48 | UInt64(bytes.2) << 40 | UInt64(bytes.3) << 32
        low = 0
        self.port = port
    }

    /// Field by field, inlined: every received datagram compares its addresses with the path's.
    @inlinable
    public static func == (lhs: SocketAddress, rhs: SocketAddress) -> Bool {
        lhs.high == rhs.high && lhs.low == rhs.low && lhs.port == rhs.port && lhs.family == rhs.family
    }

    /// From the raw fields: for IPv4 the address sits in the top 32 bits of `high`.
    @inlinable
    public init(family: Family, high: UInt64, low: UInt64, port: UInt16) {
        self.family = family
        self.high = high
        self.low = low
        self.port = port
    }

    /// From 16 address bytes in network order.
    public init(ipv6 bytes: [UInt8], port: UInt16) {
        precondition(bytes.count == 16)
        family = .ipv6
        high = bytes[0..<8].reduce(0) { $0 << 8 | UInt64($1) }
        low = bytes[8..<16].reduce(0) { $0 << 8 | UInt64($1) }
        self.port = port
    }

    /// The address bytes in network order (4 or 16).
    public var addressBytes: [UInt8] {
        var all = [UInt8](repeating: 0, count: 16)
        for index in 0..<8 {
            let shift = UInt64(56 - 8 * index)
            all[index] = UInt8(truncatingIfNeeded: high >> shift)
            all[8 + index] = UInt8(truncatingIfNeeded: low >> shift)
        }
        return family == .ipv4 ? Array(all[0..<4]) : all
    }

    /// Parses "1.2.3.4:443" or "[::1]:443".
    public init?(_ text: String) {
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            let host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":"), let port = UInt16(rest.dropFirst()), let bytes = SocketAddress.parseIPv6(host) else {
                return nil
            }
            self.init(ipv6: bytes, port: port)
            return
        }
        let parts = text.split(separator: ":")
        guard parts.count == 2, let port = UInt16(parts[1]) else { return nil }
        let octets = parts[0].split(separator: ".").compactMap { UInt8($0) }
        guard octets.count == 4, parts[0].split(separator: ".").count == 4 else { return nil }
        self.init(ipv4: (octets[0], octets[1], octets[2], octets[3]), port: port)
    }

    static func parseIPv6(_ text: String) -> [UInt8]? {
        let halves = text.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        func groups(_ part: String) -> [UInt16]? {
            if part.isEmpty { return [] }
            var result: [UInt16] = []
            for group in part.split(separator: ":", omittingEmptySubsequences: false) {
                guard let value = UInt16(group, radix: 16), group.count <= 4 else { return nil }
                result.append(value)
            }
            return result
        }
        guard let head = groups(halves[0]) else { return nil }
        var all = head
        if halves.count == 2 {
            guard let tail = groups(halves[1]), head.count + tail.count < 8 else { return nil }
            all += [UInt16](repeating: 0, count: 8 - head.count - tail.count) + tail
        }
        guard all.count == 8 else { return nil }
        return all.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xff)] }
    }

    public var description: String {
        switch family {
        case .ipv4:
            return addressBytes.map(String.init).joined(separator: ".") + ":\(port)"
        case .ipv6:
            let bytes = addressBytes
            let groups = stride(from: 0, to: 16, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }
            return "[" + groups.joined(separator: ":") + "]:\(port)"
        }
    }
}

extension String {
    fileprivate func components(separatedBy separator: String) -> [String] {
        var result: [String] = []
        var rest = Substring(self)
        while let range = rest.range(of: separator) {
            result.append(String(rest[..<range.lowerBound]))
            rest = rest[range.upperBound...]
        }
        result.append(String(rest))
        return result
    }
}

extension Substring {
    fileprivate func range(of needle: String) -> Range<Index>? {
        let needle = Array(needle)
        guard !needle.isEmpty else { return nil }
        var index = startIndex
        while index < endIndex {
            var matchEnd = index
            var matched = 0
            while matched < needle.count && matchEnd < endIndex && self[matchEnd] == needle[matched] {
                matchEnd = self.index(after: matchEnd)
                matched += 1
            }
            if matched == needle.count { return index..<matchEnd }
            index = self.index(after: index)
        }
        return nil
    }
}
