/// Why an encoded field section was rejected.
public struct QPACKError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Reason: Hashable, Sendable {
        /// The section ends inside a prefix, integer or string.
        case truncated
        /// An integer needs more than 62 bits (RFC 9204 §4.1.1).
        case integerTooLarge
        /// Required Insert Count is not zero, but our dynamic table has capacity 0
        /// (RFC 9204 §4.5.1.1: no conformant encoder could produce it).
        case nonZeroRequiredInsertCount
        /// Sign bit set with Required Insert Count 0: a negative Base (RFC 9204 §4.5.1.2).
        case negativeBase
        /// A static index past the table (RFC 9204 §3.1).
        case invalidStaticIndex(UInt64)
        /// A reference into the dynamic table, which is empty (RFC 9204 §2.2.3, §4.5.2, §4.5.4).
        case dynamicTableReference
        /// A post-Base reference (RFC 9204 §4.5.3, §4.5.5); the dynamic table is empty.
        case postBaseReference
        /// Huffman string containing EOS (RFC 7541 §5.2).
        case huffmanEndOfString
        /// Huffman padding longer than 7 bits (RFC 7541 §5.2).
        case huffmanPaddingTooLong
        /// Huffman padding that is not all ones (RFC 7541 §5.2).
        case huffmanPaddingNotOnes
        /// The decoded section exceeds our SETTINGS_MAX_FIELD_SECTION_SIZE (RFC 9114 §4.2.2).
        case fieldSectionTooLarge
    }

    public var reason: Reason

    public init(_ reason: Reason) { self.reason = reason }

    /// The error code for this failure. Every malformed encoding is QPACK_DECOMPRESSION_FAILED, a
    /// connection error (RFC 9204 §2.2.3, §6); an oversized section is well formed but refused,
    /// which HTTP3Connection turns into a stream error with H3_EXCESSIVE_LOAD.
    public var code: HTTP3ErrorCode {
        reason == .fieldSectionTooLarge ? .excessiveLoad : .qpackDecompressionFailed
    }

    public var description: String { "\(code): \(reason)" }
}

/// Decodes encoded field sections (RFC 9204 §4.5) for a decoder whose dynamic table capacity is
/// 0 (SETTINGS_QPACK_MAX_TABLE_CAPACITY = 0, SETTINGS_QPACK_BLOCKED_STREAMS = 0): only the static
/// table and literals can be referenced, so a section never blocks and never needs an
/// acknowledgment on the decoder stream.
public struct QPACKDecoder: Sendable {
    /// The largest decoded section accepted, counted as in RFC 9114 §4.2.2 (name + value + 32
    /// per field). This is the value we advertise as SETTINGS_MAX_FIELD_SECTION_SIZE.
    public var maxFieldSectionSize: Int

    public init(maxFieldSectionSize: Int = 64 << 10) {
        self.maxFieldSectionSize = maxFieldSectionSize
    }

    /// Decodes one encoded field section: the prefix (Required Insert Count, Base; §4.5.1) and the
    /// field lines (§4.5.2–§4.5.6). Any byte sequence either decodes or throws; nothing traps.
    public func decode(_ section: UnsafeRawBufferPointer) throws(QPACKError) -> [HTTPField] {
        var reader = QPACKReader(section)
        // §4.5.1.1: with MaxEntries = 0 the only encodable Required Insert Count is 0.
        guard try reader.readInteger(prefixBits: 8) == 0 else { throw QPACKError(.nonZeroRequiredInsertCount) }
        // §4.5.1.2: Sign = 1 means Base = RIC − DeltaBase − 1, negative when RIC is 0. With no
        // dynamic references possible, a non-negative Base's value does not matter.
        let sign = try reader.peek() & 0x80 != 0
        _ = try reader.readInteger(prefixBits: 7)
        if sign { throw QPACKError(.negativeBase) }

        var fields: [HTTPField] = []
        var size = 0
        while !reader.isAtEnd {
            let first = try reader.peek()
            let name: String
            let value: [UInt8]
            if first & 0x80 != 0 {
                // §4.5.2 Indexed Field Line: 1 T Index(6+).
                let isStatic = first & 0x40 != 0
                let index = try reader.readInteger(prefixBits: 6)
                guard isStatic else { throw QPACKError(.dynamicTableReference) }
                let entry = try staticEntry(index)
                name = entry.name
                value = entry.rawValue
                size += entry.sectionSize
                guard size <= maxFieldSectionSize else { throw QPACKError(.fieldSectionTooLarge) }
            } else if first & 0x40 != 0 {
                // §4.5.4 Literal Field Line with Name Reference: 0 1 N T NameIndex(4+), value.
                let isStatic = first & 0x10 != 0
                let index = try reader.readInteger(prefixBits: 4)
                guard isStatic else { throw QPACKError(.dynamicTableReference) }
                name = try staticEntry(index).name
                size += name.utf8.count + 32
                guard size <= maxFieldSectionSize else { throw QPACKError(.fieldSectionTooLarge) }
                value = try reader.readString(prefixBits: 8, budget: maxFieldSectionSize - size)
                size += value.count
            } else if first & 0x20 != 0 {
                // §4.5.6 Literal Field Line with Literal Name: 0 0 1 N H NameLen(3+), name, value.
                size += 32
                guard size <= maxFieldSectionSize else { throw QPACKError(.fieldSectionTooLarge) }
                let nameBytes = try reader.readString(prefixBits: 4, budget: maxFieldSectionSize - size)
                size += nameBytes.count
                value = try reader.readString(prefixBits: 8, budget: maxFieldSectionSize - size)
                size += value.count
                name = String(decoding: nameBytes, as: UTF8.self)
            } else {
                // §4.5.3 (0001) and §4.5.5 (0000): post-Base references into an empty table.
                throw QPACKError(.postBaseReference)
            }
            fields.append(HTTPField(name: name, rawValue: value))
        }
        return fields
    }

    public func decode(_ section: [UInt8]) throws(QPACKError) -> [HTTPField] {
        try withBytes(section) { (raw) throws(QPACKError) in try decode(raw) }
    }

    private func staticEntry(_ index: UInt64) throws(QPACKError) -> HTTPField {
        guard index < UInt64(QPACKStaticTable.count) else { throw QPACKError(.invalidStaticIndex(index)) }
        return QPACKStaticTable.fields[Int(index)]
    }
}
