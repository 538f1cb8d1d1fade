import QuicCrypto
import QuicTLS
import QuicWire

/// Settings of one connection (client) or of every connection an endpoint accepts (server).
public struct ConnectionConfiguration: Sendable {
    public var tls: TLSConfiguration
    /// The version a client starts with (its Original Version, RFC 9368 §2).
    public var version: QuicVersion = .v1
    /// Client: the versions, most preferred first, sent as Available Versions in
    /// version_information (RFC 9368 §3); a server may switch the connection to any of them that
    /// `version` is compatible with (v1 and v2 are, RFC 9369 §4). `version` is always offered (first
    /// when missing here); `[version]` alone turns compatible negotiation off; `[.v2, .v1]` with
    /// `version` v1 starts in v1 but asks for v2. Empty (the default): `version` first, then the
    /// other versions this implementation speaks. Server: its Available Versions, the versions
    /// every instance of the deployment accepts (RFC 9368 §5); empty: `QuicVersion.supported`.
    public var availableVersions: [QuicVersion] = []
    /// Server: the versions to switch a client to by compatible version negotiation, most
    /// preferred first (RFC 9368 §2.3): the first one the client offers is used. Empty (the
    /// default) keeps the client's version.
    public var preferredVersions: [QuicVersion] = []
    public var streams = StreamLimits()
    /// Our max_idle_timeout; the connection closes silently after the smaller of ours and the
    /// peer's without activity (RFC 9000 §10.1). Zero disables ours.
    public var maxIdleTimeout: TimeSpan = .seconds(30)
    public var maxAckDelay: TimeSpan = .milliseconds(25)
    public var ackDelayExponent: UInt64 = 3
    /// How many connection IDs we are willing to hold from the peer.
    public var activeConnectionIDLimit: UInt64 = 4
    /// Largest UDP payload we accept (max_udp_payload_size).
    public var maxUDPPayloadSize: UInt64 = 1472
    /// Datagram size we send before path MTU discovery (RFC 9000 §14: at least 1200).
    public var initialMaxDatagramSize = 1200
    public var congestionControl: CongestionControlAlgorithm = .newReno
    /// Send ECT(0) and react to CE once the path's ECN is validated (RFC 9000 §13.4). The
    /// received codepoints are counted and reported in ACK frames either way.
    public var ecn = true
    /// Largest DATAGRAM frame we accept (RFC 9221); nil disables DATAGRAM support.
    public var maxDatagramFrameSize: UInt64?
    /// DATAGRAM frames buffered for the application before the oldest is dropped.
    public var datagramReceiveQueueLength = 64
    /// Server: refuse to follow a client to a new address (RFC 9000 §9, §18.2): packets from
    /// another client address are dropped. Client: sent, but meaningless for a client.
    public var disableActiveMigration = false
    /// Server: an address to move connections to after the handshake (RFC 9000 §9.6), sent in
    /// the preferred_address transport parameter with a connection ID of its own.
    public var preferredAddress: PreferredAddressConfiguration?
    /// Client: move to the server's preferred address (same address family) once the handshake
    /// is confirmed, after validating it (RFC 9000 §9.6.1 SHOULD).
    public var followPreferredAddress = true
    /// DPLPMTUD (RFC 8899, RFC 9000 §14.3): probe for datagrams larger than
    /// `initialMaxDatagramSize` once the handshake is done.
    public var pathMTUDiscovery = true
    /// The largest IP packet DPLPMTUD probes for (the local link MTU, RFC 8899 MAX_PLPMTU): the
    /// largest UDP payload tried is this minus 28 bytes of IPv4 and UDP headers, or 48 with IPv6,
    /// and never more than the peer's max_udp_payload_size or the transmit buffer.
    public var maxPathMTU = 1500
    /// PMTU_RAISE_TIMER (RFC 8899 §5.1.1): how long a completed search stands before the next.
    public var pmtuRaiseInterval: TimeSpan = .seconds(600)
    /// Key used to derive stateless reset tokens from connection IDs (RFC 9000 §10.3.2). A server
    /// endpoint also uses it to send stateless resets for connection IDs it no longer knows.
    public var statelessResetKey: [UInt8]
    /// Server: Retry policy, token keys and lifetimes (RFC 9000 §8.1).
    public var addressValidation = AddressValidationSettings()
    /// Client: where tokens from NEW_TOKEN frames are kept, by server name and version; the
    /// newest is sent in the Initial of the next connection to that server (RFC 9000 §8.1.3).
    /// Usually the same store as `tls.sessionTicketStore`, so one file keeps both.
    public var addressTokenStore: SessionTicketStore?
    /// Random bytes for connection IDs, path challenges, packet-number skipping.
    public var random: @Sendable (UnsafeMutableRawBufferPointer) -> Void = { secureRandomBytes($0) }
    /// Receives qlog events when set (shared by every connection using this configuration).
    public var qlog: QlogSink?
    /// Makes a qlog sink per connection, given its role and original destination connection ID
    /// (used when `qlog` is nil), e.g. one file per connection in a --qlog-dir.
    public var makeQlog: (@Sendable (Role, ConnectionID) -> QlogSink?)?
    /// Update the 1-RTT send keys after this many packets (RFC 9001 §6); nil: at half the
    /// AEAD's confidentiality limit (2^22 packets for AES-GCM, §6.6). Either way the update
    /// happens at the latest there.
    public var keyUpdateInterval: UInt64? = nil
    /// Test hook: smaller AEAD limits, to reach them in a test.
    var aeadLimitsOverride: AEADLimits?
    /// Test hook: edits the transport parameters just before they are sent (to make a peer that
    /// breaks the rules). Not public API.
    var transportParametersOverride: (@Sendable (inout TransportParameters) -> Void)?

    public init(tls: TLSConfiguration) {
        self.tls = tls
        statelessResetKey = secureRandomBytes(count: 32)
    }
}

/// What happened to a connection, for the application.
public enum ConnectionEvent: Sendable, Equatable {
    /// The handshake completed: streams can be used with 1-RTT protection.
    case connected
    /// The handshake is confirmed (RFC 9001 §4.1.2).
    case handshakeConfirmed
    case stream(StreamEvent)
    /// A DATAGRAM frame arrived; `readDatagram` returns it.
    case datagramReceived
    /// The server refused 0-RTT; data sent in 0-RTT is being re-sent with 1-RTT keys.
    case zeroRTTRejected
    /// A session ticket was stored for later resumption.
    case sessionTicketReceived
    /// The connection ended; no more events follow.
    case closed(CloseReason)
}

/// Why a connection ended.
public enum CloseReason: Sendable, Equatable, CustomStringConvertible {
    /// We closed it (application or transport error code).
    case local(errorCode: UInt64, isApplication: Bool, reason: String)
    /// The peer sent CONNECTION_CLOSE.
    case peer(errorCode: UInt64, isApplication: Bool, frameType: UInt64, reason: String)
    /// We detected a protocol error and closed with this transport error.
    case transportError(TransportErrorCode, frameType: UInt64?, reason: String)
    case idleTimeout
    /// A stateless reset from the peer (RFC 9000 §10.3).
    case statelessReset
    /// Version negotiation found no common version (RFC 9000 §6.2).
    case versionNegotiationFailed([QuicVersion])
    /// Path validation failed and no validated path was left to return to: the connection was
    /// dropped silently (RFC 9000 §8.2.4, §9.3.2).
    case noViablePath

    public var description: String {
        switch self {
        case .local(let code, let isApplication, let reason):
            return "closed locally with \(isApplication ? "application" : "transport") error \(code)\(reason.isEmpty ? "" : ": \(reason)")"
        case .peer(let code, let isApplication, _, let reason):
            let name = isApplication ? "application error \(code)" : TransportErrorCode(rawValue: code).description
            return "closed by peer with \(name)\(reason.isEmpty ? "" : ": \(reason)")"
        case .transportError(let code, _, let reason):
            return "protocol error \(code)\(reason.isEmpty ? "" : ": \(reason)")"
        case .idleTimeout: return "idle timeout"
        case .statelessReset: return "stateless reset by peer"
        case .versionNegotiationFailed(let versions): return "no common QUIC version (server offers \(versions))"
        case .noViablePath: return "no usable network path: path validation failed and no validated path remains"
        }
    }
}

/// A server's preferred addresses (RFC 9000 §9.6, §18.2): one per address family, either may
/// be absent.
public struct PreferredAddressConfiguration: Sendable, Equatable {
    public var ipv4: SocketAddress?
    public var ipv6: SocketAddress?

    public init(ipv4: SocketAddress? = nil, ipv6: SocketAddress? = nil) {
        precondition(ipv4 == nil || ipv4!.family == .ipv4, "the IPv4 preferred address must be an IPv4 address")
        precondition(ipv6 == nil || ipv6!.family == .ipv6, "the IPv6 preferred address must be an IPv6 address")
        self.ipv4 = ipv4
        self.ipv6 = ipv6
    }

    func contains(_ address: SocketAddress) -> Bool { address == ipv4 || address == ipv6 }
}

/// Routing changes a connection asks its endpoint to make.
public enum EndpointEvent: Sendable, Equatable {
    /// Route packets for this ID to the connection.
    case issued(ConnectionID)
    /// Stop routing this ID.
    case retired(ConnectionID)
    /// A stateless reset token of the peer's, for a connection ID this connection sends to
    /// (RFC 9000 §10.3.1): a datagram that routes nowhere and ends in it goes to the connection.
    case resetTokenActive(StatelessResetToken)
    /// That connection ID was retired: its token no longer counts.
    case resetTokenRetired(StatelessResetToken)
    /// The connection is gone; forget it.
    case drained
}

/// One datagram (or a GSO batch of equal-size datagrams) written into the caller's buffer.
@frozen
public struct Transmit: Sendable, Equatable {
    public var destination: SocketAddress
    public var ecn: ECNCodepoint
    /// Bytes written.
    public var size: Int
    /// For a batch: every datagram but the last is exactly this long (UDP_SEGMENT). nil: one datagram.
    public var segmentSize: Int?
    /// The local address (IP and port) to send from; nil lets the datapath choose. Set once the
    /// connection knows the path's local address: a client after `migrate(to:)` or when created
    /// with one, a server from the address its peer's datagrams arrived at (RFC 9000 §9: replies
    /// leave from the address the peer sent to, e.g. a preferred address, §9.6).
    public var source: SocketAddress?

    public init(destination: SocketAddress, ecn: ECNCodepoint, size: Int, segmentSize: Int?, source: SocketAddress? = nil) {
        self.destination = destination
        self.ecn = ecn
        self.size = size
        self.segmentSize = segmentSize
        self.source = source
    }
}

/// Counters for diagnostics and tests.
public struct ConnectionStatistics: Sendable, Equatable {
    public var packetsSent = 0
    public var packetsReceived = 0
    public var packetsLost = 0
    public var bytesSent = 0
    public var bytesReceived = 0
    /// Packets that failed to decrypt, or arrived with no keys to decrypt them.
    public var undecryptablePackets = 0
    /// Packets the endpoint refused to process for now (e.g. too fragmented stream data); they
    /// are not acknowledged, so the peer re-sends them.
    /// Packets dropped as duplicates.
    public var duplicatePackets = 0
    public var refusedPackets = 0
    /// Bytes of STREAM frames sent, frame headers included.
    public var streamBytesSent = 0
    public var streamBytesRetransmitted = 0
    public var probeTimeouts = 0
    /// Validated ACK frames whose ECN-CE count grew (each one a congestion event).
    public var ecnCongestionEvents = 0
    /// Moves of the current path to another address pair (RFC 9000 §9), including returns.
    public var pathMigrations = 0
    /// Path validations that succeeded, and that were abandoned on their timer (§8.2.4).
    public var pathValidations = 0
    public var pathValidationFailures = 0
    /// Datagrams dropped because they came from an address the connection does not accept
    /// (§9: an unknown server address, a migration the server refuses, or before confirmation).
    public var datagramsFromUnknownPaths = 0
    /// DPLPMTUD probes sent and lost (RFC 9000 §14.4), and black holes detected (RFC 8899 §4.3).
    public var mtuProbesSent = 0
    public var mtuProbesLost = 0
    public var mtuBlackHoles = 0
}

/// Usage limits of an AEAD in QUIC (RFC 9001 §6.6): packets protected with one key, and packets
/// failing authentication over a connection.
struct AEADLimits: Sendable {
    var confidentiality: UInt64
    var integrity: UInt64

    init(confidentiality: UInt64, integrity: UInt64) {
        self.confidentiality = confidentiality
        self.integrity = integrity
    }

    init(suite: CipherSuite) {
        switch suite {
        case .chacha20Poly1305SHA256:
            // Above 2^62 packets: no practical confidentiality limit.
            self.init(confidentiality: 1 << 62, integrity: 1 << 36)
        default:
            self.init(confidentiality: 1 << 23, integrity: 1 << 52)
        }
    }
}
