import QuicCrypto
import QuicWire

/// Makes the connection IDs an endpoint issues. Pluggable so that a deployment behind a
/// CID-aware load balancer can encode what its balancer needs.
public protocol ConnectionIDGenerator: Sendable {
    /// Length of every ID this generator makes (all local IDs share one length, so short
    /// headers can be parsed).
    var length: Int { get }
    /// A new, unpredictable connection ID.
    func generate() -> ConnectionID
}

/// The default layout, plaintext QUIC-LB style (draft-ietf-quic-load-balancers §3, §5): a first
/// octet of 3 config-rotation bits and 5 bits of self-encoded length, one server-ID octet naming
/// the worker (queue) that owns the connection, then a random nonce. The XDP program and a
/// CID-aware balancer can route on the server-ID octet.
public struct QuicLBConnectionIDGenerator: ConnectionIDGenerator {
    public let length: Int
    public let serverID: UInt8
    public let configRotation: UInt8
    let random: @Sendable (UnsafeMutableRawBufferPointer) -> Void

    /// `length` 6...20 (a nonce of at least 4 bytes, §5.2).
    public init(
        serverID: UInt8, length: Int = 8, configRotation: UInt8 = 0,
        random: @escaping @Sendable (UnsafeMutableRawBufferPointer) -> Void = { secureRandomBytes($0) }
    ) {
        precondition((6...ConnectionID.maxLength).contains(length), "QUIC-LB IDs carry at least a 4-byte nonce")
        precondition(configRotation < 7, "config rotation 0b111 marks unroutable IDs")
        self.length = length
        self.serverID = serverID
        self.configRotation = configRotation
        self.random = random
    }

    public func generate() -> ConnectionID {
        var bytes = [UInt8](repeating: 0, count: length)
        bytes.withUnsafeMutableBytes { random(UnsafeMutableRawBufferPointer(rebasing: $0[2...])) }
        bytes[0] = configRotation << 5 | UInt8(length - 1)
        bytes[1] = serverID
        return ConnectionID(bytes: bytes)!
    }

    /// The server ID octet of an ID this layout made, or nil when the first octet does not
    /// describe this layout.
    public static func serverID(of id: ConnectionID) -> UInt8? {
        guard id.length >= 2, Int(id[0] & 0x1f) == id.length - 1, id[0] >> 5 != 0b111 else { return nil }
        return id[1]
    }
}
