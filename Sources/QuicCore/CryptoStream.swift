import QuicWire

/// The CRYPTO data of one encryption level (RFC 9000 §19.6, §7.5): what TLS handed us to send,
/// kept until acknowledged and re-sent where lost; and what the peer sent, reassembled in order
/// for TLS, with a bound on how far ahead out-of-order data may reach.
struct CryptoStream {
    /// RFC 9000 §7.5: buffer at least 4096 bytes of out-of-order CRYPTO data; beyond our bound is
    /// CRYPTO_BUFFER_EXCEEDED.
    static let receiveLimit: UInt64 = 1 << 16

    // Sending.
    private(set) var sendBuffer: [UInt8] = []
    /// Offset of sendBuffer[0].
    private var sendBase: UInt64 = 0
    private(set) var sentEnd: UInt64 = 0
    private var acknowledged = RangeSet()
    private var lost = RangeSet()

    // Receiving.
    private var receiveBuffer: [UInt8] = []
    private var received = RangeSet()
    /// Offset handed to TLS so far.
    private(set) var deliveredOffset: UInt64 = 0

    var sendEnd: UInt64 { sendBase + UInt64(sendBuffer.count) }
    var hasDataToSend: Bool { !lost.isEmpty || sentEnd < sendEnd }
    var hasUnacknowledgedData: Bool { acknowledged.upperBound.map { $0 < sendEnd } ?? (sendEnd > sendBase) }

    mutating func enqueue(_ bytes: [UInt8]) { sendBuffer.append(contentsOf: bytes) }

    /// Writes one CRYPTO frame that fits before `limit`: lost data first, then new. Returns the
    /// record of what it carried.
    mutating func writeFrame(into writer: inout ByteWriter, limit: Int) -> SentFrame? {
        let room = limit - writer.offset - CryptoFrame.headerLength(offset: sendEnd, dataLength: 16383)
        guard room > 0 else { return nil }
        let offset: UInt64
        let length: Int
        if let range = lost.first {
            offset = range.lowerBound
            length = min(Int(range.upperBound - range.lowerBound), room)
            lost.remove(offset..<(offset + UInt64(length)))
        } else if sentEnd < sendEnd {
            offset = sentEnd
            length = min(Int(sendEnd - sentEnd), room)
            sentEnd += UInt64(length)
        } else {
            return nil
        }
        CryptoFrame.encodeHeader(offset: offset, dataLength: length, into: &writer)
        let start = Int(offset - sendBase)
        sendBuffer.withUnsafeBytes { writer.writeBytes(UnsafeRawBufferPointer(rebasing: $0[start..<(start + length)])) }
        return .crypto(offset: offset, length: length)
    }

    mutating func onAcknowledged(offset: UInt64, length: Int) {
        acknowledged.insert(offset..<(offset + UInt64(length)))
        lost.remove(offset..<(offset + UInt64(length)))
        // Drop the acknowledged prefix.
        if let first = acknowledged.first, first.lowerBound <= sendBase, first.upperBound > sendBase {
            let drop = Int(first.upperBound - sendBase)
            sendBuffer.removeFirst(drop)
            sendBase = first.upperBound
        }
    }

    mutating func onLost(offset: UInt64, length: Int) {
        let end = offset + UInt64(length)
        var cursor = max(offset, sendBase)
        for index in 0..<acknowledged.count {
            let acked = acknowledged[index]
            if acked.upperBound <= cursor { continue }
            if acked.lowerBound >= end { break }
            if acked.lowerBound > cursor { lost.insert(cursor..<acked.lowerBound) }
            cursor = max(cursor, acked.upperBound)
        }
        if cursor < end { lost.insert(cursor..<end) }
    }

    /// Marks everything sent but unacknowledged for re-sending (a PTO probe, RFC 9002 §6.2.4).
    mutating func retransmitUnacknowledged() {
        if sentEnd > sendBase { onLost(offset: sendBase, length: Int(sentEnd - sendBase)) }
    }

    /// Stores a received CRYPTO frame; throws CRYPTO_BUFFER_EXCEEDED when it reaches too far.
    mutating func receive(offset: UInt64, data: UnsafeRawBufferPointer) throws(WireError) {
        let end = offset + UInt64(data.count)
        guard end > deliveredOffset, !data.isEmpty else { return }
        guard end - deliveredOffset <= CryptoStream.receiveLimit else {
            throw WireError(.cryptoBufferExceeded, .invalidValue, frameType: FrameType.crypto.rawValue)
        }
        let start = max(offset, deliveredOffset)
        let needed = Int(end - deliveredOffset)
        if receiveBuffer.count < needed { receiveBuffer.append(contentsOf: repeatElement(0, count: needed - receiveBuffer.count)) }
        let skip = Int(start - offset)
        for index in 0..<(data.count - skip) {
            receiveBuffer[Int(start - deliveredOffset) + index] = data[skip + index]
        }
        received.insert(start..<end)
    }

    /// Takes the in-order bytes ready for TLS.
    mutating func takeContiguous() -> [UInt8]? {
        guard let first = received.first, first.lowerBound <= deliveredOffset, first.upperBound > deliveredOffset else {
            return nil
        }
        let count = Int(first.upperBound - deliveredOffset)
        let bytes = Array(receiveBuffer[..<count])
        receiveBuffer.removeFirst(count)
        deliveredOffset = first.upperBound
        received.removeAll(below: deliveredOffset)
        return bytes
    }
}
