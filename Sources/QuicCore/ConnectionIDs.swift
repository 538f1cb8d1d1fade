import QuicCrypto
import QuicWire

/// Connection IDs this endpoint issued to its peer (RFC 9000 §5.1.1).
struct LocalConnectionIDs {
    struct Entry {
        var sequence: UInt64
        var id: ConnectionID
        var resetToken: StatelessResetToken
        /// NEW_CONNECTION_ID still to be sent (or re-sent after loss).
        var announcePending: Bool
    }

    private(set) var active: [Entry] = []
    private(set) var nextSequence: UInt64 = 0
    /// retire_prior_to we announce: IDs below it are on their way out (§5.1.2).
    private(set) var retirePriorTo: UInt64 = 0

    mutating func add(_ id: ConnectionID, resetToken: StatelessResetToken, announce: Bool) -> UInt64 {
        let sequence = nextSequence
        nextSequence += 1
        active.append(Entry(sequence: sequence, id: id, resetToken: resetToken, announcePending: announce))
        return sequence
    }

    func contains(_ id: ConnectionID) -> Bool { active.contains { $0.id == id } }

    /// IDs that count against the peer's active_connection_id_limit: the ones not already asked
    /// to be retired (§5.1.1 lets a NEW_CONNECTION_ID exceed the limit by what it retires).
    var countTowardLimit: Int { active.count { $0.sequence >= retirePriorTo } }

    /// Asks the peer to retire every ID issued so far: the next NEW_CONNECTION_ID frames carry
    /// retire_prior_to = the next sequence number (§5.1.2). The old IDs keep working until the
    /// peer retires them. False while an earlier request is not yet fully answered (§5.1.2:
    /// "SHOULD NOT issue updates of the Retire Prior To field before" that).
    mutating func retireAll() -> Bool {
        guard !active.contains(where: { $0.sequence < retirePriorTo }) else { return false }
        retirePriorTo = nextSequence
        return true
    }

    /// RETIRE_CONNECTION_ID from the peer: returns the retired ID. PROTOCOL_VIOLATION for a
    /// sequence never issued, or for the ID the frame's own packet was sent to (§19.16).
    mutating func retire(sequence: UInt64, packetDestination: ConnectionID) throws(WireError) -> ConnectionID? {
        guard sequence < nextSequence else {
            throw WireError(.protocolViolation, .invalidValue, frameType: FrameType.retireConnectionID.rawValue)
        }
        guard let index = active.firstIndex(where: { $0.sequence == sequence }) else { return nil }
        guard active[index].id != packetDestination else {
            throw WireError(.protocolViolation, .invalidValue, frameType: FrameType.retireConnectionID.rawValue)
        }
        return active.remove(at: index).id
    }

    /// Calls `body` for each ID whose NEW_CONNECTION_ID is due; `body` returns whether it was sent.
    mutating func forEachPendingAnnouncement(_ body: (Entry) -> Bool) {
        for index in active.indices where active[index].announcePending {
            // An ID being retired is not announced again (its frame would carry a
            // retire_prior_to above its own sequence number, which §19.15 forbids).
            if active[index].sequence < retirePriorTo {
                active[index].announcePending = false
                continue
            }
            if body(active[index]) { active[index].announcePending = false } else { return }
        }
    }

    mutating func reannounce(sequence: UInt64) {
        if let index = active.firstIndex(where: { $0.sequence == sequence }) { active[index].announcePending = true }
    }

    var hasPendingAnnouncements: Bool { active.contains { $0.announcePending } }
}

/// Connection IDs the peer issued to us (RFC 9000 §5.1.1, §19.15), which of them the current
/// path uses, and the RETIRE_CONNECTION_ID frames owed (§19.16).
///
/// An ID is used on one path only (§9.5): `takeUnused` hands out IDs never sent to, and an ID
/// whose path is abandoned is retired, never used again.
struct PeerConnectionIDs {
    struct Entry {
        var sequence: UInt64
        var id: ConnectionID
        var resetToken: StatelessResetToken?
        /// Packets were sent with this ID (its reset token counts, §10.3.1).
        var used: Bool
    }

    private(set) var active: [Entry]
    /// The ID packets on the current path go to.
    private(set) var current: ConnectionID
    private(set) var currentSequence: UInt64 = 0
    private(set) var retirePriorTo: UInt64 = 0
    /// RETIRE_CONNECTION_ID frames owed.
    private(set) var retirements: [UInt64] = []
    /// RETIRE_CONNECTION_ID frames sent and not yet acknowledged.
    private(set) var retirementsInFlight = 0
    /// Bumped on every change of which IDs are active or used, so the connection can tell its
    /// endpoint about reset tokens only when something changed.
    private(set) var version = 0

    init(initial: ConnectionID) {
        current = initial
        active = [Entry(sequence: 0, id: initial, resetToken: nil, used: true)]
    }

    /// The peer's first ID changes during the handshake (its SCID replaces our random DCID, or
    /// a Retry's SCID does).
    mutating func replaceInitial(_ id: ConnectionID) {
        version += 1
        current = id
        active = [Entry(sequence: 0, id: id, resetToken: nil, used: true)]
    }

    mutating func setResetToken(sequence: UInt64, _ token: StatelessResetToken) {
        version += 1
        if let index = active.firstIndex(where: { $0.sequence == sequence }) { active[index].resetToken = token }
    }

    func isActive(sequence: UInt64) -> Bool { active.contains { $0.sequence == sequence } }

    /// NEW_CONNECTION_ID (§19.15), or the preferred_address ID (sequence 1, §5.1.1). Throws
    /// CONNECTION_ID_LIMIT_ERROR when the peer gives more than `limit` active IDs or makes us
    /// owe too many retirements (§5.1.2), PROTOCOL_VIOLATION when a sequence number is reused
    /// for another ID or an ID comes back under another sequence number.
    mutating func add(_ frame: NewConnectionIDFrame, limit: UInt64) throws(WireError) {
        let frameType = FrameType.newConnectionID.rawValue
        version += 1
        if let existing = active.first(where: { $0.sequence == frame.sequenceNumber }) {
            guard existing.id == frame.connectionID, existing.resetToken == nil || existing.resetToken == frame.statelessResetToken
            else { throw WireError(.protocolViolation, .invalidValue, frameType: frameType) }
            return
        }
        if active.contains(where: { $0.id == frame.connectionID }) {
            throw WireError(.protocolViolation, .invalidValue, frameType: frameType)
        }
        if frame.sequenceNumber < retirePriorTo {
            // Already retired by an earlier retire_prior_to: retire it straight away (§19.15),
            // once: a repeated frame must not make us owe the retirement twice.
            if !retirements.contains(frame.sequenceNumber) { retirements.append(frame.sequenceNumber) }
            try checkRetirementBacklog(limit: limit)
            return
        }
        active.append(
            Entry(sequence: frame.sequenceNumber, id: frame.connectionID, resetToken: frame.statelessResetToken, used: false))
        if frame.retirePriorTo > retirePriorTo {
            // §5.1.2: stop using the IDs below retire_prior_to and retire them before the new
            // one counts against the limit.
            retirePriorTo = frame.retirePriorTo
            for entry in active where entry.sequence < retirePriorTo { retirements.append(entry.sequence) }
            active.removeAll { $0.sequence < retirePriorTo }
            if currentSequence < retirePriorTo {
                let next = active.first(where: { !$0.used }) ?? active.min(by: { $0.sequence < $1.sequence })
                if let next { use(next.sequence) }
            }
            try checkRetirementBacklog(limit: limit)
        }
        guard UInt64(active.count) <= limit else {
            throw WireError(.connectionIDLimitError, .invalidValue, frameType: frameType)
        }
    }

    /// §5.1.2: an endpoint may refuse to owe more than about twice its limit in retirements.
    private func checkRetirementBacklog(limit: UInt64) throws(WireError) {
        let cap = max(2 * Int(min(limit, 64)), 8)
        if retirements.count + retirementsInFlight > cap {
            throw WireError(.connectionIDLimitError, .invalidValue, frameType: FrameType.newConnectionID.rawValue)
        }
    }

    /// An active ID no packet was sent to yet (lowest sequence first), now marked used; nil when
    /// the peer has not supplied one (§9.5: a new path needs one).
    mutating func takeUnused() -> Entry? {
        guard let index = active.firstIndex(where: { !$0.used }) else { return nil }
        version += 1
        active[index].used = true
        return active[index]
    }

    /// Whether an unused ID is available (for a migration or a probe).
    var hasUnused: Bool { active.contains { !$0.used } }

    /// Packets on the current path go to `sequence` from now on.
    mutating func use(_ sequence: UInt64) {
        guard let index = active.firstIndex(where: { $0.sequence == sequence }) else { return }
        version += 1
        active[index].used = true
        current = active[index].id
        currentSequence = sequence
    }

    /// Stops using `sequence` for good (its path is gone): owes a RETIRE_CONNECTION_ID (§5.1.2).
    /// The current ID is never retired this way.
    mutating func retire(sequence: UInt64) {
        guard sequence != currentSequence, let index = active.firstIndex(where: { $0.sequence == sequence }) else { return }
        version += 1
        active.remove(at: index)
        retirements.append(sequence)
    }

    mutating func takeRetirement() -> UInt64? {
        guard !retirements.isEmpty else { return nil }
        retirementsInFlight += 1
        return retirements.removeFirst()
    }

    mutating func requeueRetirement(_ sequence: UInt64) {
        retirementsInFlight = max(0, retirementsInFlight - 1)
        retirements.append(sequence)
    }

    mutating func onRetirementAcknowledged() { retirementsInFlight = max(0, retirementsInFlight - 1) }

    /// A frame that did not fit: back to the front of the queue, not counted as sent.
    mutating func unsendRetirement(_ sequence: UInt64) {
        retirementsInFlight = max(0, retirementsInFlight - 1)
        retirements.insert(sequence, at: 0)
    }

    /// Whether `token` is the reset token of one of the peer's IDs we have sent to and not
    /// retired (RFC 9000 §10.3.1: tokens of unused or retired IDs are not checked), compared
    /// without an early exit on the first differing word, so timing reveals nothing of the token.
    func isStatelessReset(_ token: StatelessResetToken) -> Bool {
        var found = false
        for entry in active where entry.used {
            guard let candidate = entry.resetToken else { continue }
            if (candidate.high ^ token.high) | (candidate.low ^ token.low) == 0 { found = true }
        }
        return found
    }
}

/// Stateless reset tokens derived from a static key and the connection ID (RFC 9000 §10.3.2),
/// so any instance holding the key can recognise and send them.
public enum StatelessResetTokens {
    public static func token(for id: ConnectionID, key: [UInt8]) -> StatelessResetToken {
        let digest = HashAlgorithm.sha256.hmac(key: key, data: id.bytes)
        return digest.withUnsafeBytes { StatelessResetToken(UnsafeRawBufferPointer(rebasing: $0[..<16]))! }
    }
}
