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
    /// retire_prior_to we announce.
    private(set) var retirePriorTo: UInt64 = 0

    mutating func add(_ id: ConnectionID, resetToken: StatelessResetToken, announce: Bool) -> UInt64 {
        let sequence = nextSequence
        nextSequence += 1
        active.append(Entry(sequence: sequence, id: id, resetToken: resetToken, announcePending: announce))
        return sequence
    }

    func contains(_ id: ConnectionID) -> Bool { active.contains { $0.id == id } }

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
            if body(active[index]) { active[index].announcePending = false } else { return }
        }
    }

    mutating func reannounce(sequence: UInt64) {
        if let index = active.firstIndex(where: { $0.sequence == sequence }) { active[index].announcePending = true }
    }

    var hasPendingAnnouncements: Bool { active.contains { $0.announcePending } }
}

/// Connection IDs the peer issued to us (RFC 9000 §5.1.1, §19.15).
struct PeerConnectionIDs {
    struct Entry {
        var sequence: UInt64
        var id: ConnectionID
        var resetToken: StatelessResetToken?
    }

    private(set) var active: [Entry]
    /// The ID packets go to now.
    private(set) var current: ConnectionID
    private(set) var currentSequence: UInt64 = 0
    /// The reset token of `current`, if the peer gave one: kept by every mutator that changes
    /// `current` or its token, since the connection compares it on every datagram (§10.3.1).
    private(set) var currentResetToken: StatelessResetToken?
    private var retirePriorTo: UInt64 = 0
    /// RETIRE_CONNECTION_ID frames owed.
    private(set) var retirements: [UInt64] = []

    init(initial: ConnectionID) {
        current = initial
        active = [Entry(sequence: 0, id: initial, resetToken: nil)]
    }

    /// The peer's first ID changes during the handshake (its SCID replaces our random DCID, or
    /// a Retry's SCID does).
    mutating func replaceInitial(_ id: ConnectionID) {
        current = id
        currentResetToken = nil
        active = [Entry(sequence: 0, id: id, resetToken: nil)]
    }

    mutating func setResetToken(sequence: UInt64, _ token: StatelessResetToken) {
        if let index = active.firstIndex(where: { $0.sequence == sequence }) { active[index].resetToken = token }
        if sequence == currentSequence { currentResetToken = token }
    }

    /// NEW_CONNECTION_ID (§19.15). Throws CONNECTION_ID_LIMIT_ERROR when the peer gives more than
    /// `limit` active IDs, PROTOCOL_VIOLATION when a sequence number is reused for another ID.
    mutating func add(_ frame: NewConnectionIDFrame, limit: UInt64) throws(WireError) {
        let frameType = FrameType.newConnectionID.rawValue
        if let existing = active.first(where: { $0.sequence == frame.sequenceNumber }) {
            guard existing.id == frame.connectionID, existing.resetToken == nil || existing.resetToken == frame.statelessResetToken
            else { throw WireError(.protocolViolation, .invalidValue, frameType: frameType) }
            return
        }
        if frame.sequenceNumber < retirePriorTo {
            // Already retired by an earlier retire_prior_to: retire it straight away (§19.15).
            retirements.append(frame.sequenceNumber)
            return
        }
        active.append(Entry(sequence: frame.sequenceNumber, id: frame.connectionID, resetToken: frame.statelessResetToken))
        if frame.retirePriorTo > retirePriorTo {
            retirePriorTo = frame.retirePriorTo
            for entry in active where entry.sequence < retirePriorTo { retirements.append(entry.sequence) }
            active.removeAll { $0.sequence < retirePriorTo }
            if currentSequence < retirePriorTo, let next = active.min(by: { $0.sequence < $1.sequence }) {
                current = next.id
                currentSequence = next.sequence
                currentResetToken = next.resetToken
            }
        }
        guard UInt64(active.count) <= limit else {
            throw WireError(.connectionIDLimitError, .invalidValue, frameType: frameType)
        }
    }

    mutating func takeRetirement() -> UInt64? { retirements.isEmpty ? nil : retirements.removeFirst() }
    mutating func requeueRetirement(_ sequence: UInt64) { retirements.append(sequence) }

    /// Whether `token` is the reset token of one of the peer's IDs (RFC 9000 §10.3.1), compared
    /// without an early exit on the first differing word, so timing reveals nothing of the token.
    func isStatelessReset(_ token: StatelessResetToken) -> Bool {
        var found = false
        for entry in active {
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
