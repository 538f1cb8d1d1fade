import QuicWire

/// The parameters of a SETTINGS frame (RFC 9114 §7.2.4), with the ones this stack understands
/// broken out. Identifiers we do not understand, GREASE ones included, are kept in `other` in the
/// order received, and otherwise ignored (§7.2.4, §9).
public struct HTTP3Settings: Hashable, Sendable {
    /// SETTINGS_QPACK_MAX_TABLE_CAPACITY (0x01, RFC 9204 §5); default 0.
    public var qpackMaxTableCapacity: UInt64 = 0
    /// SETTINGS_QPACK_BLOCKED_STREAMS (0x07, RFC 9204 §5); default 0.
    public var qpackBlockedStreams: UInt64 = 0
    /// SETTINGS_MAX_FIELD_SECTION_SIZE (0x06, RFC 9114 §7.2.4.1); nil means unlimited (default).
    public var maxFieldSectionSize: UInt64?
    /// Every other parameter as (identifier, value), in wire order.
    public var other: [Parameter] = []

    public struct Parameter: Hashable, Sendable {
        public var identifier: UInt64
        public var value: UInt64
        public init(_ identifier: UInt64, _ value: UInt64) {
            self.identifier = identifier
            self.value = value
        }
    }

    public static let qpackMaxTableCapacityID: UInt64 = 0x01
    public static let maxFieldSectionSizeID: UInt64 = 0x06
    public static let qpackBlockedStreamsID: UInt64 = 0x07
    /// HTTP/2 settings with no HTTP/3 meaning; receiving one is H3_SETTINGS_ERROR (§7.2.4.1, §11.2.2).
    public static let reservedHTTP2IDs: Set<UInt64> = [0x00, 0x02, 0x03, 0x04, 0x05]

    public init() {}

    /// Appends the SETTINGS payload: the parameters that differ from their defaults, then `other`.
    public func encodePayload(into output: inout [UInt8]) {
        if qpackMaxTableCapacity != 0 {
            appendVarInt(Self.qpackMaxTableCapacityID, to: &output)
            appendVarInt(qpackMaxTableCapacity, to: &output)
        }
        if let maxFieldSectionSize {
            appendVarInt(Self.maxFieldSectionSizeID, to: &output)
            appendVarInt(maxFieldSectionSize, to: &output)
        }
        if qpackBlockedStreams != 0 {
            appendVarInt(Self.qpackBlockedStreamsID, to: &output)
            appendVarInt(qpackBlockedStreams, to: &output)
        }
        for parameter in other {
            appendVarInt(parameter.identifier, to: &output)
            appendVarInt(parameter.value, to: &output)
        }
    }

    /// Decodes a complete SETTINGS payload. A truncated parameter is H3_FRAME_ERROR (§7.1); a
    /// repeated identifier or a reserved HTTP/2 one is H3_SETTINGS_ERROR (§7.2.4, §7.2.4.1).
    public static func decodePayload(_ payload: UnsafeRawBufferPointer) throws(HTTP3Error) -> HTTP3Settings {
        var reader = ByteReader(payload)
        var settings = HTTP3Settings()
        var seen = Set<UInt64>()
        while !reader.isAtEnd {
            let identifier: UInt64
            let value: UInt64
            do {
                identifier = try reader.readVarIntValue()
                value = try reader.readVarIntValue()
            } catch {
                throw HTTP3Error(.frameError, "SETTINGS payload ends inside a parameter")
            }
            guard seen.insert(identifier).inserted else {
                throw HTTP3Error(.settingsError, "SETTINGS repeats identifier 0x\(String(identifier, radix: 16))")
            }
            guard !reservedHTTP2IDs.contains(identifier) else {
                throw HTTP3Error(
                    .settingsError, "SETTINGS carries reserved HTTP/2 identifier 0x\(String(identifier, radix: 16))")
            }
            switch identifier {
            case qpackMaxTableCapacityID: settings.qpackMaxTableCapacity = value
            case maxFieldSectionSizeID: settings.maxFieldSectionSize = value
            case qpackBlockedStreamsID: settings.qpackBlockedStreams = value
            default: settings.other.append(Parameter(identifier, value))
            }
        }
        return settings
    }

    public static func decodePayload(_ payload: [UInt8]) throws(HTTP3Error) -> HTTP3Settings {
        try withBytes(payload) { (raw) throws(HTTP3Error) in try decodePayload(raw) }
    }
}

/// Appends `value` (< 2^62) as a QUIC variable-length integer in its shortest form (RFC 9000 §16).
@usableFromInline
func appendVarInt(_ value: UInt64, to output: inout [UInt8]) {
    precondition(value <= VarInt.max.rawValue, "value exceeds the varint range")
    switch VarInt.encodedLength(value) {
    case 1:
        output.append(UInt8(value))
    case 2:
        output.append(0x40 | UInt8(value >> 8))
        output.append(UInt8(truncatingIfNeeded: value))
    case 4:
        output.append(0x80 | UInt8(value >> 24))
        for shift in stride(from: 16, through: 0, by: -8) {
            output.append(UInt8(truncatingIfNeeded: value >> UInt64(shift)))
        }
    default:
        output.append(0xc0 | UInt8(value >> 56))
        for shift in stride(from: 48, through: 0, by: -8) {
            output.append(UInt8(truncatingIfNeeded: value >> UInt64(shift)))
        }
    }
}
