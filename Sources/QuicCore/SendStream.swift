import QuicWire

/// The sending half of a stream (RFC 9000 §3.1, §2.2): bytes the application wrote, kept until
/// acknowledged, sent once and re-sent where lost.
final class SendStream {
    // Performance: every stored `var` below is `@exclusivity(unchecked)`. The object is owned by
    // one worker thread and used only from it, so Swift's dynamic exclusivity checks guard nothing
    // here, yet they cost about 15 % of the CPU per packet (swift_beginAccess in the profile).
    enum ResetState { case none, pending, sent, acknowledged }

    let id: StreamID
    @exclusivity(unchecked) var ring: ByteRing
    /// The application has written up to this offset.
    @exclusivity(unchecked) private(set) var writtenEnd: UInt64 = 0
    /// First transmissions have covered up to this offset.
    @exclusivity(unchecked) private(set) var sentEnd: UInt64 = 0
    /// Acknowledged ranges above the acknowledged prefix (`ring.base`).
    @exclusivity(unchecked) var acknowledged = RangeSet()
    /// Ranges declared lost and not yet re-sent or acknowledged.
    @exclusivity(unchecked) var lost = RangeSet()
    @exclusivity(unchecked) private(set) var finWritten = false
    @exclusivity(unchecked) private(set) var finSent = false
    @exclusivity(unchecked) private(set) var finAcknowledged = false
    @exclusivity(unchecked) private var finLost = false
    /// The peer's MAX_STREAM_DATA for this stream.
    @exclusivity(unchecked) var credit: SendCredit
    @exclusivity(unchecked) var resetState = ResetState.none
    @exclusivity(unchecked) var resetCode: UInt64 = 0
    /// The application error code from a STOP_SENDING the peer sent.
    @exclusivity(unchecked) var stopSendingCode: UInt64?
    let bufferLimit: Int

    init(id: StreamID, initialCredit: UInt64, bufferLimit: Int) {
        self.id = id
        credit = SendCredit(limit: initialCredit)
        self.bufferLimit = bufferLimit
        ring = ByteRing(initialCapacity: min(bufferLimit, 16384), maximumCapacity: bufferLimit)
    }

    var isReset: Bool { resetState != .none }
    /// Final size once known: on FIN or reset.
    var finalSize: UInt64? { finWritten || isReset ? (isReset ? sentEnd : writtenEnd) : nil }

    /// Bytes the application may still write now.
    var writableBytes: Int {
        guard !finWritten, !isReset else { return 0 }
        return bufferLimit - Int(writtenEnd - ring.base)
    }

    /// Copies as much of `bytes` as the buffer takes; returns the count.
    func write(_ bytes: UnsafeRawBufferPointer) -> Int {
        let count = min(bytes.count, writableBytes)
        guard count > 0 else { return 0 }
        let reserved = ring.reserve(upTo: writtenEnd + UInt64(count), retainedEnd: writtenEnd)
        precondition(reserved, "send buffer reservation within its limit failed")
        ring.write(UnsafeRawBufferPointer(rebasing: bytes[..<count]), at: writtenEnd)
        writtenEnd += UInt64(count)
        return count
    }

    func finish() { if !isReset { finWritten = true } }

    /// Everything written has been acknowledged, including the FIN.
    var isFullyAcknowledged: Bool { finAcknowledged && ring.base == writtenEnd }

    /// Whether a STREAM frame could be sent now (ignoring connection flow control).
    var hasDataToSend: Bool {
        guard !isReset else { return false }
        if !lost.isEmpty || finLost { return true }
        if sentEnd < writtenEnd && sentEnd < credit.limit { return true }
        return finWritten && !finSent && sentEnd == writtenEnd
    }

    /// Whether new (first-transmission) bytes wait that the stream's credit blocks.
    var isBlockedByStreamCredit: Bool { !isReset && sentEnd < writtenEnd && sentEnd >= credit.limit }

    /// The next chunk to send: a lost range first, then new bytes (limited by the stream credit
    /// and `connectionCredit`), at most `maxLength` bytes. `isNew` chunks consume connection credit.
    func nextChunk(maxLength: Int, connectionCredit: UInt64) -> (offset: UInt64, length: Int, fin: Bool, isNew: Bool)? {
        guard !isReset, maxLength >= 0 else { return nil }
        if let range = lost.first {
            let length = min(Int(range.upperBound - range.lowerBound), maxLength)
            let end = range.lowerBound + UInt64(length)
            let fin = finWritten && end == writtenEnd && (finLost || !finSent)
            guard length > 0 || fin else { return nil }
            return (range.lowerBound, length, fin, false)
        }
        if finLost && sentEnd == writtenEnd {
            return (writtenEnd, 0, true, false)
        }
        let newLimit = min(writtenEnd, credit.limit, sentEnd + connectionCredit)
        let length = Int(min(UInt64(maxLength), newLimit > sentEnd ? newLimit - sentEnd : 0))
        let fin = finWritten && !finSent && sentEnd + UInt64(length) == writtenEnd
        guard length > 0 || fin else { return nil }
        return (sentEnd, length, fin, true)
    }

    /// Copies the bytes of a chunk into the packet.
    func copy(offset: UInt64, length: Int, into destination: UnsafeMutableRawPointer) {
        ring.read(at: offset, count: length, into: destination)
    }

    /// A chunk from `nextChunk` went out.
    func onSent(offset: UInt64, length: Int, fin: Bool, isNew: Bool) {
        let end = offset + UInt64(length)
        if isNew {
            sentEnd = end
            credit.consume(UInt64(length))
        } else {
            lost.remove(offset..<end)
        }
        if fin {
            finSent = true
            finLost = false
        }
    }

    /// Returns whether the stream just became fully acknowledged.
    func onAcknowledged(offset: UInt64, length: Int, fin: Bool) -> Bool {
        let wasDone = isFullyAcknowledged
        let end = offset + UInt64(length)
        if end > offset {
            acknowledged.insert(offset..<end)
            lost.remove(offset..<end)
        }
        if fin {
            finAcknowledged = true
            finLost = false
        }
        // Slide the acknowledged prefix out of the buffer.
        if let first = acknowledged.first, first.lowerBound <= ring.base {
            ring.advance(to: first.upperBound)
            acknowledged.removeAll(below: first.upperBound)
        }
        return !wasDone && isFullyAcknowledged
    }

    func onLost(offset: UInt64, length: Int, fin: Bool) {
        guard !isReset else { return }
        let end = offset + UInt64(length)
        // Re-send only the parts not acknowledged meanwhile.
        var cursor = max(offset, ring.base)
        for index in 0..<acknowledged.count {
            let acked = acknowledged[index]
            if acked.upperBound <= cursor { continue }
            if acked.lowerBound >= end { break }
            if acked.lowerBound > cursor { lost.insert(cursor..<acked.lowerBound) }
            cursor = max(cursor, acked.upperBound)
        }
        if cursor < end { lost.insert(cursor..<end) }
        if fin && !finAcknowledged { finLost = true }
    }

    /// Abandons the stream with `code` (RFC 9000 §3.1): RESET_STREAM will carry the final size,
    /// which is what was sent so far.
    func reset(code: UInt64) {
        guard resetState == .none, !isFullyAcknowledged else { return }
        resetState = .pending
        resetCode = code
        lost.removeAll()
        finLost = false
    }
}
