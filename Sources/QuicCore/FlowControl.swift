/// Credit this endpoint extends to its peer for one stream or the whole connection
/// (RFC 9000 §4.1–§4.2), with a window that grows when the peer uses it up quickly.
public struct ReceiveWindow: Sendable {
    /// The limit advertised: the peer may send up to this offset.
    public private(set) var limit: UInt64
    public private(set) var window: UInt64
    public let maximumWindow: UInt64
    /// Bytes the application has consumed (the read offset, or the sum of them).
    public private(set) var consumed: UInt64 = 0
    var lastUpdate: Instant?
    /// A window update is queued.
    public var updatePending = false

    public init(window: UInt64, maximumWindow: UInt64) {
        self.window = window
        self.maximumWindow = max(window, maximumWindow)
        limit = window
    }

    /// The application consumed bytes up to a total of `total`; queues an update once half the
    /// window is used (§4.2).
    public mutating func onConsumed(total: UInt64) {
        consumed = max(consumed, total)
        if limit - consumed < window / 2 { updatePending = true }
    }

    /// The new limit to advertise. When the previous update was less than two round trips ago,
    /// the window doubles (up to the maximum), so a fast reader is not throttled by a small window.
    public mutating func nextLimit(now: Instant, smoothedRTT: TimeSpan) -> UInt64 {
        if let lastUpdate, now - lastUpdate < smoothedRTT * 2 {
            window = min(window * 2, maximumWindow)
        }
        lastUpdate = now
        limit = max(limit, consumed + window)
        updatePending = false
        return limit
    }
}

/// Credit the peer extends to us (RFC 9000 §4.1): a limit that only grows, and what we used.
public struct SendCredit: Sendable {
    public private(set) var limit: UInt64
    public private(set) var used: UInt64 = 0
    /// The limit at which we last reported being blocked (DATA_BLOCKED and friends are sent once
    /// per limit, §4.1).
    var blockedReportedAt: UInt64?
    var blockedPending = false

    public init(limit: UInt64) { self.limit = limit }

    public var available: UInt64 { limit > used ? limit - used : 0 }

    /// Raises the limit; returns whether it grew (MAX_* frames that lower it are ignored, §4.1).
    @discardableResult
    public mutating func raise(to newLimit: UInt64) -> Bool {
        guard newLimit > limit else { return false }
        limit = newLimit
        // A BLOCKED report for the old limit would be stale.
        blockedPending = false
        return true
    }

    public mutating func consume(_ bytes: UInt64) {
        used += bytes
        precondition(used <= limit, "sent beyond the peer's flow control limit")
    }

    /// Notes that we wanted to send more than the credit allows; true when a BLOCKED frame for
    /// this limit has not been queued yet.
    public mutating func noteBlocked() -> Bool {
        guard available == 0, blockedReportedAt != limit else { return false }
        blockedReportedAt = limit
        blockedPending = true
        return true
    }
}
