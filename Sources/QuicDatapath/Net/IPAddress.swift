import Glibc

/// An IPv4 or IPv6 address held inline (no allocation). IPv6 is stored as two host-order
/// 64-bit halves, IPv4 as a host-order 32-bit value.
@frozen
public enum IPAddress: Hashable, Sendable, CustomStringConvertible {
    case v4(UInt32)
    case v6(high: UInt64, low: UInt64)

    @inlinable public var isIPv4: Bool { if case .v4 = self { return true } else { return false } }

    /// Parses dotted-quad or RFC 4291 text; nil if it is neither.
    public init?(_ text: String) {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            self = .v4(UInt32(bigEndian: v4.s_addr))
            return
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            self = IPAddress(in6: v6)
            return
        }
        return nil
    }

    @inlinable
    public init(in6 address: in6_addr) {
        var copy = address
        self = withUnsafeBytes(of: &copy) { IPAddress(ipv6NetworkBytes: $0.baseAddress!) }
    }

    /// Reads 16 bytes in network order.
    @inlinable
    public init(ipv6NetworkBytes p: UnsafeRawPointer) {
        self = .v6(high: UInt64(bigEndian: p.loadUnaligned(as: UInt64.self)),
                   low: UInt64(bigEndian: p.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
    }

    /// Reads 4 bytes in network order.
    @inlinable
    public init(ipv4NetworkBytes p: UnsafeRawPointer) {
        self = .v4(UInt32(bigEndian: p.loadUnaligned(as: UInt32.self)))
    }

    /// Writes 4 (IPv4) or 16 (IPv6) bytes in network order; returns the count.
    @inlinable @discardableResult
    public func write(networkBytesTo p: UnsafeMutableRawPointer) -> Int {
        switch self {
        case .v4(let value):
            p.storeBytes(of: value.bigEndian, as: UInt32.self)
            return 4
        case .v6(let high, let low):
            p.storeBytes(of: high.bigEndian, as: UInt64.self)
            p.storeBytes(of: low.bigEndian, toByteOffset: 8, as: UInt64.self)
            return 16
        }
    }

    @inlinable
    public var in6: in6_addr {
        var result = in6_addr()
        withUnsafeMutableBytes(of: &result) { _ = self.mappedToIPv6.write(networkBytesTo: $0.baseAddress!) }
        return result
    }

    /// IPv4 as an IPv4-mapped IPv6 address (RFC 4291 §2.5.5.2), IPv6 unchanged.
    @inlinable
    public var mappedToIPv6: IPAddress {
        switch self {
        case .v4(let value): return .v6(high: 0, low: 0x0000_ffff_0000_0000 | UInt64(value))
        case .v6: return self
        }
    }

    /// An IPv4-mapped IPv6 address as IPv4, anything else unchanged.
    @inlinable
    public var unmapped: IPAddress {
        if case .v6(0, let low) = self, low >> 32 == 0xffff { return .v4(UInt32(truncatingIfNeeded: low)) }
        return self
    }

    public var description: String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        switch self {
        case .v4(let value):
            var address = in_addr(s_addr: value.bigEndian)
            inet_ntop(AF_INET, &address, &buffer, socklen_t(buffer.count))
        case .v6:
            var address = in6
            inet_ntop(AF_INET6, &address, &buffer, socklen_t(buffer.count))
        }
        return String(nulTerminated: buffer)
    }
}
