import QuicCore

// The datapath and the core each keep an inline address type (the datapath's knows sockaddr,
// the core's knows nothing of sockets). These conversions are a few instructions each.

extension QuicCore.SocketAddress {
    @inlinable
    public init(_ address: QuicDatapath.SocketAddress) {
        switch address.address {
        case .v4(let value):
            self.init(
                ipv4: (UInt8(value >> 24), UInt8(truncatingIfNeeded: value >> 16), UInt8(truncatingIfNeeded: value >> 8),
                       UInt8(truncatingIfNeeded: value)),
                port: address.port)
        case .v6(let high, let low):
            self.init(family: .ipv6, high: high, low: low, port: address.port)
        }
    }
}

extension QuicDatapath.SocketAddress {
    @inlinable
    public init(_ address: QuicCore.SocketAddress) {
        switch address.family {
        case .ipv4: self.init(.v4(UInt32(truncatingIfNeeded: address.high >> 32)), port: address.port)
        case .ipv6: self.init(.v6(high: address.high, low: address.low), port: address.port)
        }
    }
}

extension ECNCodepoint {
    @inlinable public init(_ ecn: ECN) { self = ECNCodepoint(rawValue: ecn.rawValue)! }
}

extension ECN {
    @inlinable public init(_ codepoint: ECNCodepoint) { self = ECN(rawValue: codepoint.rawValue)! }
}

extension Instant {
    @inlinable public init(_ time: MonotonicTime) { self.init(nanoseconds: time.nanoseconds) }
}

extension MonotonicTime {
    @inlinable public init(_ instant: Instant) { self.init(nanoseconds: instant.nanoseconds) }
}
