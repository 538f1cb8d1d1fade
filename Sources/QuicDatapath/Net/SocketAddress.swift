import Glibc

/// An IP address and UDP port, inline.
@frozen
public struct SocketAddress: Hashable, Sendable, CustomStringConvertible {
    public var address: IPAddress
    public var port: UInt16

    @inlinable public init(_ address: IPAddress, port: UInt16) {
        self.address = address
        self.port = port
    }

    public init?(_ text: String, port: UInt16) {
        guard let address = IPAddress(text) else { return nil }
        self.init(address, port: port)
    }

    public var description: String {
        address.isIPv4 ? "\(address):\(port)" : "[\(address)]:\(port)"
    }

    /// Reads a sockaddr_in or sockaddr_in6 (IPv4-mapped IPv6 comes back as IPv4).
    @inlinable
    public init?(sockaddr p: UnsafeRawPointer) {
        let family = p.load(as: sa_family_t.self)
        if family == sa_family_t(AF_INET) {
            let sin = p.load(as: sockaddr_in.self)
            self.init(.v4(UInt32(bigEndian: sin.sin_addr.s_addr)), port: UInt16(bigEndian: sin.sin_port))
        } else if family == sa_family_t(AF_INET6) {
            let sin6 = p.load(as: sockaddr_in6.self)
            self.init(IPAddress(in6: sin6.sin6_addr).unmapped, port: UInt16(bigEndian: sin6.sin6_port))
        } else {
            return nil
        }
    }

    /// Writes a sockaddr_in6 (IPv4 as IPv4-mapped, for dual-stack sockets) or sockaddr_in;
    /// returns its length.
    @inlinable
    public func write(sockaddrTo p: UnsafeMutableRawPointer, dualStack: Bool) -> socklen_t {
        if case .v4(let value) = address, !dualStack {
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = port.bigEndian
            sin.sin_addr.s_addr = value.bigEndian
            p.storeBytes(of: sin, as: sockaddr_in.self)
            return socklen_t(MemoryLayout<sockaddr_in>.size)
        }
        var sin6 = sockaddr_in6()
        sin6.sin6_family = sa_family_t(AF_INET6)
        sin6.sin6_port = port.bigEndian
        sin6.sin6_addr = address.in6
        p.storeBytes(of: sin6, as: sockaddr_in6.self)
        return socklen_t(MemoryLayout<sockaddr_in6>.size)
    }
}

/// Explicit Congestion Notification codepoint (RFC 3168 §5), the low two bits of the IPv4 TOS
/// or IPv6 Traffic Class. QUIC reports these in ACK frames (RFC 9000 §13.4).
@frozen
public enum ECN: UInt8, Sendable {
    case notECT = 0
    case ect1 = 1
    case ect0 = 2
    case ce = 3

    @inlinable public init(trafficClass: UInt8) { self = ECN(rawValue: trafficClass & 3)! }
}
