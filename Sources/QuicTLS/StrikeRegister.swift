/// Which tickets have already carried 0-RTT (RFC 8446 §8.1 single-use tickets, RFC 9001 §9.2).
/// Bounded: an entry lives until its ticket expires, after which the ticket cannot be used
/// anyway; when full of live entries, 0-RTT is refused (fail closed) rather than evicting.
struct StrikeRegister {
    let capacity: Int
    private var expiries: [TicketID: UInt64] = [:]
    private var lastPurge: UInt64 = 0

    init(capacity: Int) { self.capacity = max(1, capacity) }

    var count: Int { expiries.count }

    /// Records the first 0-RTT use of `ticket`; false for a replay or when the register is full.
    mutating func admit(_ ticket: TicketID, expiresAt: UInt64, now: UInt64) -> Bool {
        guard expiries[ticket] == nil else { return false }
        if expiries.count >= capacity {
            // Purging scans everything; at most once a second keeps a flood from making it hot.
            guard now >= lastPurge + 1000 else { return false }
            lastPurge = now
            expiries = expiries.filter { $0.value > now }
            guard expiries.count < capacity else { return false }
        }
        expiries[ticket] = expiresAt
        return true
    }
}

/// A ticket's identity: the sealing key and that key's nonce counter, unique per ring.
struct TicketID: Hashable, Sendable {
    var keyID: UInt32
    var counter: UInt64
}
