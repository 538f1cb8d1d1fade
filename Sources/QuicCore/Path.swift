import QuicWire

/// One network path of a connection (RFC 9000 §9): the peer's address, our local address when
/// known, whether path validation (§8.2) succeeded, the anti-amplification counters (§8, §9.3.1)
/// and the PATH_CHALLENGE/PATH_RESPONSE frames owed on it.
///
/// The connection keeps the current path and at most one other: the previous path while the
/// current one is being validated (to return to, §9.3.2), or a candidate being probed before a
/// move (the server's preferred address, §9.6). Loss recovery, congestion control and PMTUD
/// state belong to the current path; the connection keeps the previous path's aside
/// (`Connection.previousPathState`), to restore on return.
///
/// Performance: the receive and send paths read this struct's fields on every datagram, so it
/// holds no references (nothing to retain) and stays small.
struct Path {
    var remote: SocketAddress
    /// The local address packets on this path are sent from and arrive at; nil when the
    /// datapath does not say (it then picks the source).
    var local: SocketAddress?
    /// Path validation succeeded (or the handshake validated the address, §8.1).
    var validated: Bool
    /// Bytes received from and sent to an unvalidated peer address: a server sends at most
    /// three times what it received (§8.1, §9.3.1).
    var bytesReceived = 0
    var bytesSent = 0
    /// The peer's connection ID used on this path (the current path uses `peerIDs.current`).
    var peerCID: ConnectionID = .empty
    var peerCIDSequence: UInt64?
    var challenge = PathChallenge()
    /// PATH_RESPONSE owed on this path (§8.2.2: sent on the path the challenge came on).
    var responsePending: UInt64?
    /// The path we moved away from, kept to return to while the current one is unvalidated
    /// (§9.3.2); otherwise a candidate being probed.
    var isPrevious = false
    /// Our connection ID the peer's last packet on this path was sent to: a change means the
    /// peer moved on purpose rather than through a NAT rebinding (§9.5).
    var lastDestinationCID: ConnectionID?
    /// The qlog tuple_id (0: the handshake's path, logged as "").
    var qlogID = 0

    init(remote: SocketAddress, local: SocketAddress?, validated: Bool) {
        self.remote = remote
        self.local = local
        self.validated = validated
    }

    /// Whether a datagram from `remote` to `local` travelled on this path. An unknown local
    /// address on either side matches any.
    func matches(remote: SocketAddress, local: SocketAddress?) -> Bool {
        guard remote == self.remote else { return false }
        guard let local, let own = self.local else { return true }
        return local == own
    }

    /// Whether only ports differ from `other` (§9.4: congestion state may be kept).
    func hasSameAddresses(as other: Path) -> Bool {
        guard remote.hasSameIP(as: other.remote) else { return false }
        guard let local, let otherLocal = other.local else { return true }
        return local.hasSameIP(as: otherLocal)
    }
}

/// Path validation in progress (RFC 9000 §8.2): the data of the challenges sent, when the next
/// one is due, and when validation is abandoned (§8.2.4).
struct PathChallenge {
    /// Unpredictable data of the last four challenges sent in this validation (§8.2.1: new data
    /// in every frame; a response to any of them validates the path, §8.2.3). Inline, so paths
    /// stay free of references.
    private var outstanding: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    /// A PATH_CHALLENGE should go out at the next opportunity.
    var sendPending = false
    /// When to send another if no response came.
    var retransmitAt: Instant?
    var deadline: Instant?
    /// Challenges sent in this validation.
    private(set) var sent = 0
    /// One of them went out in a datagram of at least 1200 bytes (§8.2.1), so a response also
    /// proves the path carries that size.
    private(set) var paddedSent = false

    var isActive: Bool { deadline != nil }

    mutating func start(deadline: Instant) {
        sent = 0
        paddedSent = false
        sendPending = true
        retransmitAt = nil
        self.deadline = deadline
    }

    /// Records a challenge sent with `data`; the next is due after `interval`.
    mutating func onSent(_ data: UInt64, now: Instant, interval: TimeSpan) {
        outstanding = (data, outstanding.0, outstanding.1, outstanding.2)
        sent += 1
        sendPending = false
        retransmitAt = now + interval
    }

    mutating func markPadded() { paddedSent = true }

    func matches(_ data: UInt64) -> Bool {
        guard isActive else { return false }
        let count = min(sent, 4)
        return (count > 0 && outstanding.0 == data) || (count > 1 && outstanding.1 == data)
            || (count > 2 && outstanding.2 == data) || (count > 3 && outstanding.3 == data)
    }

    mutating func stop() {
        sendPending = false
        retransmitAt = nil
        deadline = nil
    }

    /// The next instant this validation needs attention.
    var nextEvent: Instant? {
        guard let deadline else { return nil }
        guard let retransmitAt, !sendPending else { return deadline }
        return min(retransmitAt, deadline)
    }
}

/// What the current path owns in loss recovery and sending, set aside while another path is
/// current (RFC 9000 §9.4: "restoring loss detection and congestion state" on return).
struct SavedPathState {
    var recovery: PathRecoveryState<SelectedCongestionController>
    var pacer: Pacer
    var maxDatagramSize: Int
    var mtu: PathMTUDiscovery
}

extension SocketAddress {
    /// Same family and IP address, whatever the ports.
    func hasSameIP(as other: SocketAddress) -> Bool {
        family == other.family && high == other.high && low == other.low
    }

    /// An all-zero address (0.0.0.0 or ::): "unknown", never a real local address.
    var isUnspecified: Bool { high == 0 && low == 0 }
}
