import QuicWire

/// HTTP/3 frame types (RFC 9114 §7.2, §11.2.1), in one place.
public enum HTTP3FrameType {
    public static let data: UInt64 = 0x00
    public static let headers: UInt64 = 0x01
    public static let cancelPush: UInt64 = 0x03
    public static let settings: UInt64 = 0x04
    public static let pushPromise: UInt64 = 0x05
    public static let goaway: UInt64 = 0x07
    public static let maxPushID: UInt64 = 0x0d

    /// HTTP/2 frame types with no HTTP/3 counterpart (PRIORITY, PING, WINDOW_UPDATE,
    /// CONTINUATION); receiving one is H3_FRAME_UNEXPECTED (§7.2.8).
    public static func isReservedHTTP2(_ type: UInt64) -> Bool {
        type == 0x02 || type == 0x06 || type == 0x08 || type == 0x09
    }
}

/// One HTTP/3 frame (RFC 9114 §7.1): Type (i), Length (i), Payload. Used to encode frames and to
/// decode complete payloads; `HTTP3FrameReader` splits a stream into frames without buffering
/// DATA payloads.
public enum HTTP3Frame: Hashable, Sendable {
    /// §7.2.1
    case data([UInt8])
    /// §7.2.2: an encoded field section.
    case headers([UInt8])
    /// §7.2.3
    case cancelPush(pushID: UInt64)
    /// §7.2.4
    case settings(HTTP3Settings)
    /// §7.2.5
    case pushPromise(pushID: UInt64, fieldSection: [UInt8])
    /// §7.2.6: a stream ID (server to client) or push ID (client to server).
    case goaway(id: UInt64)
    /// §7.2.7
    case maxPushID(pushID: UInt64)
    /// Any other type, reserved GREASE types (§7.2.8) included, with its payload.
    case unknown(type: UInt64, payload: [UInt8])

    public var type: UInt64 {
        switch self {
        case .data: HTTP3FrameType.data
        case .headers: HTTP3FrameType.headers
        case .cancelPush: HTTP3FrameType.cancelPush
        case .settings: HTTP3FrameType.settings
        case .pushPromise: HTTP3FrameType.pushPromise
        case .goaway: HTTP3FrameType.goaway
        case .maxPushID: HTTP3FrameType.maxPushID
        case .unknown(let type, _): type
        }
    }

    /// Appends the whole frame.
    public func encode(into output: inout [UInt8]) {
        var payload: [UInt8] = []
        switch self {
        case .data(let bytes), .headers(let bytes), .unknown(_, let bytes): payload = bytes
        case .cancelPush(let id), .goaway(let id), .maxPushID(let id): appendVarInt(id, to: &payload)
        case .settings(let settings): settings.encodePayload(into: &payload)
        case .pushPromise(let id, let section):
            appendVarInt(id, to: &payload)
            payload.append(contentsOf: section)
        }
        appendVarInt(type, to: &output)
        appendVarInt(UInt64(payload.count), to: &output)
        output.append(contentsOf: payload)
    }

    public var encoded: [UInt8] {
        var output: [UInt8] = []
        encode(into: &output)
        return output
    }

    /// Decodes a complete payload of a frame of `type`. The payload must hold exactly the frame's
    /// fields; anything more or less is H3_FRAME_ERROR (§7.1, §10.8). Where the frame is allowed
    /// is not checked here.
    public static func decode(type: UInt64, payload: UnsafeRawBufferPointer) throws(HTTP3Error) -> HTTP3Frame {
        switch type {
        case HTTP3FrameType.data: return .data(Array(payload))
        case HTTP3FrameType.headers: return .headers(Array(payload))
        case HTTP3FrameType.settings: return .settings(try HTTP3Settings.decodePayload(payload))
        case HTTP3FrameType.cancelPush: return .cancelPush(pushID: try singleVarInt(payload, "CANCEL_PUSH"))
        case HTTP3FrameType.goaway: return .goaway(id: try singleVarInt(payload, "GOAWAY"))
        case HTTP3FrameType.maxPushID: return .maxPushID(pushID: try singleVarInt(payload, "MAX_PUSH_ID"))
        case HTTP3FrameType.pushPromise:
            var reader = ByteReader(payload)
            guard let id = try? reader.readVarIntValue() else {
                throw HTTP3Error(.frameError, "PUSH_PROMISE payload ends inside the push ID")
            }
            return .pushPromise(pushID: id, fieldSection: Array(reader.readRest()))
        default: return .unknown(type: type, payload: Array(payload))
        }
    }

    public static func decode(type: UInt64, payload: [UInt8]) throws(HTTP3Error) -> HTTP3Frame {
        try withBytes(payload) { (raw) throws(HTTP3Error) in try decode(type: type, payload: raw) }
    }

    private static func singleVarInt(_ payload: UnsafeRawBufferPointer, _ name: String) throws(HTTP3Error) -> UInt64 {
        var reader = ByteReader(payload)
        guard let value = try? reader.readVarIntValue(), reader.isAtEnd else {
            throw HTTP3Error(.frameError, "\(name) payload of \(payload.count) bytes is not exactly one varint")
        }
        return value
    }

    /// Bytes of a frame header (type and length) for a frame of `type` with `length` payload bytes.
    public static func headerLength(type: UInt64, length: UInt64) -> Int {
        VarInt.encodedLength(type) + VarInt.encodedLength(length)
    }

    /// Appends a frame header: Type and Length (§7.1). The payload follows, written by the caller.
    public static func encodeHeader(type: UInt64, length: UInt64, into output: inout [UInt8]) {
        appendVarInt(type, to: &output)
        appendVarInt(length, to: &output)
    }

    /// Writes a frame header into caller-owned memory, e.g. just before a body chunk in a stream
    /// send buffer, so the body is not copied twice.
    public static func writeHeader(type: UInt64, length: UInt64, into writer: inout ByteWriter) {
        writer.writeVarInt(type)
        writer.writeVarInt(length)
    }
}
