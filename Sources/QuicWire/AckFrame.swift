/// ACK (§19.3). The ranges stay encoded in the packet and are decoded while iterating, so a
/// received ACK costs no allocation however many ranges it lists; they were validated when the
/// frame was decoded.
public struct AckFrame: Equatable {
    public var largestAcknowledged: UInt64
    /// The ACK Delay field as sent: microseconds scaled down by the sender's ack_delay_exponent.
    public var ackDelay: UInt64
    public var ranges: AckRanges
    public var ecnCounts: ECNCounts?

    @inlinable
    public init(largestAcknowledged: UInt64, ackDelay: UInt64, ranges: AckRanges, ecnCounts: ECNCounts?) {
        self.largestAcknowledged = largestAcknowledged
        self.ackDelay = ackDelay
        self.ranges = ranges
        self.ecnCounts = ecnCounts
    }

    /// Bytes an ACK frame with these ranges (descending, disjoint, non-adjacent) takes.
    @inlinable
    public static func encodedLength<Ranges: Sequence>(ranges: Ranges, ackDelay: UInt64, ecnCounts: ECNCounts?)
        -> Int where Ranges.Element == ClosedRange<UInt64>
    {
        var length = 1 + VarInt.encodedLength(ackDelay)
        var count = 0
        var previousLowest: UInt64 = 0
        for range in ranges {
            if count == 0 {
                length += VarInt.encodedLength(range.upperBound) + VarInt.encodedLength(range.upperBound - range.lowerBound)
            } else {
                length += VarInt.encodedLength(previousLowest - range.upperBound - 2)
                length += VarInt.encodedLength(range.upperBound - range.lowerBound)
            }
            previousLowest = range.lowerBound
            count += 1
        }
        precondition(count > 0, "an ACK frame needs at least one range")
        length += VarInt.encodedLength(UInt64(count - 1))
        if let ecnCounts {
            length += VarInt.encodedLength(ecnCounts.ect0) + VarInt.encodedLength(ecnCounts.ect1)
                + VarInt.encodedLength(ecnCounts.ce)
        }
        return length
    }

    /// Writes an ACK frame (type 0x03 when ECN counts are given). `ranges` lists the acknowledged
    /// packet numbers from the highest range down, disjoint and with gaps of at least one packet;
    /// it is iterated twice.
    @inlinable
    public static func encode<Ranges: Sequence>(
        ranges: Ranges, ackDelay: UInt64, ecnCounts: ECNCounts?, into writer: inout ByteWriter
    ) where Ranges.Element == ClosedRange<UInt64> {
        var count = 0
        var largest: UInt64 = 0
        var firstLength: UInt64 = 0
        for range in ranges {
            if count == 0 {
                largest = range.upperBound
                firstLength = range.upperBound - range.lowerBound
            }
            count += 1
        }
        precondition(count > 0, "an ACK frame needs at least one range")
        writer.writeVarInt(ecnCounts == nil ? FrameType.ack.rawValue : FrameType.ackECN.rawValue)
        writer.writeVarInt(largest)
        writer.writeVarInt(ackDelay)
        writer.writeVarInt(UInt64(count - 1))
        writer.writeVarInt(firstLength)
        var previousLowest: UInt64 = 0
        var index = 0
        for range in ranges {
            if index > 0 {
                precondition(range.upperBound + 2 <= previousLowest, "ACK ranges must descend with gaps")
                writer.writeVarInt(previousLowest - range.upperBound - 2)
                writer.writeVarInt(range.upperBound - range.lowerBound)
            }
            previousLowest = range.lowerBound
            index += 1
        }
        if let ecnCounts {
            writer.writeVarInt(ecnCounts.ect0)
            writer.writeVarInt(ecnCounts.ect1)
            writer.writeVarInt(ecnCounts.ce)
        }
    }

    /// Decodes the body of an ACK frame (after its type byte), validating every range.
    @inlinable
    static func decodeBody(_ reader: inout ByteReader, withECN: Bool) throws(WireError) -> AckFrame {
        let largest = try reader.readVarIntValue()
        let ackDelay = try reader.readVarIntValue()
        let rangeCount = try reader.readVarIntValue()
        let firstRange = try reader.readVarIntValue()
        guard firstRange <= largest else { throw WireError(.frameEncodingError, .ackRangeUnderflow) }
        // Each further range takes at least two bytes, which bounds the loop by the packet size.
        guard rangeCount <= UInt64(reader.remaining / 2) else { throw WireError(.frameEncodingError, .truncated) }
        let rangesStart = reader.offset
        var smallest = largest - firstRange
        for _ in 0..<rangeCount {
            let gap = try reader.readVarIntValue()
            let length = try reader.readVarIntValue()
            guard smallest >= gap + 2, smallest - gap - 2 >= length else {
                throw WireError(.frameEncodingError, .ackRangeUnderflow)
            }
            smallest = smallest - gap - 2 - length
        }
        let encoded = UnsafeRawBufferPointer(rebasing: reader.bytes[rangesStart..<reader.offset])
        var ecn: ECNCounts?
        if withECN {
            ecn = ECNCounts(
                ect0: try reader.readVarIntValue(), ect1: try reader.readVarIntValue(), ce: try reader.readVarIntValue())
        }
        return AckFrame(
            largestAcknowledged: largest, ackDelay: ackDelay,
            ranges: AckRanges(
                largest: largest, firstRange: firstRange, additionalRangeCount: Int(rangeCount), encoded: encoded),
            ecnCounts: ecn)
    }
}

/// The acknowledged ranges of a received ACK frame, highest first.
public struct AckRanges: Sequence, Equatable {
    public let largest: UInt64
    public let firstRange: UInt64
    public let additionalRangeCount: Int
    @usableFromInline let encoded: UnsafeRawBufferPointer

    @inlinable
    init(largest: UInt64, firstRange: UInt64, additionalRangeCount: Int, encoded: UnsafeRawBufferPointer) {
        self.largest = largest
        self.firstRange = firstRange
        self.additionalRangeCount = additionalRangeCount
        self.encoded = encoded
    }

    /// Number of ranges, including the first.
    @inlinable public var count: Int { additionalRangeCount + 1 }
    /// The lowest acknowledged packet number.
    public var smallest: UInt64 {
        var lowest = largest
        for range in self { lowest = range.lowerBound }
        return lowest
    }

    @inlinable public func makeIterator() -> Iterator {
        Iterator(reader: ByteReader(encoded), next: (largest - firstRange)...largest)
    }

    @frozen
    public struct Iterator: IteratorProtocol {
        @usableFromInline var reader: ByteReader
        @usableFromInline var pending: ClosedRange<UInt64>?

        @inlinable init(reader: ByteReader, next: ClosedRange<UInt64>) {
            self.reader = reader
            self.pending = next
        }

        @inlinable
        public mutating func next() -> ClosedRange<UInt64>? {
            guard let current = pending else { return nil }
            if reader.isAtEnd {
                pending = nil
            } else {
                // Validated at decode time: these reads cannot fail or underflow.
                let gap = (try? reader.readVarIntValue()) ?? 0
                let length = (try? reader.readVarIntValue()) ?? 0
                let high = current.lowerBound - gap - 2
                pending = (high - length)...high
            }
            return current
        }
    }

    public static func == (lhs: AckRanges, rhs: AckRanges) -> Bool { lhs.elementsEqual(rhs) }
}
