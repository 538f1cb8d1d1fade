import QuicWire

/// Local HTTP/3 settings and limits.
public struct HTTP3Configuration: Sendable, Hashable {
    /// The largest decoded header or trailer section we accept, advertised as
    /// SETTINGS_MAX_FIELD_SECTION_SIZE (RFC 9114 §4.2.2). A larger section is a stream error
    /// (H3_EXCESSIVE_LOAD), not a connection error.
    public var maxFieldSectionSize: Int = 64 << 10
    /// The largest SETTINGS payload accepted; a larger one is H3_EXCESSIVE_LOAD.
    public var maxSettingsPayload: Int = 4 << 10
    /// Send a reserved setting and a reserved frame on the control stream (RFC 9114 §7.2.4.1,
    /// §7.2.8) so peers keep ignoring unknown values.
    public var grease: Bool = true
    /// Chooses the GREASE identifiers; pass a random number (this module has no randomness).
    public var greaseSeed: UInt64 = 0

    public init() {}
}

/// HTTP/3 (RFC 9114) over the streams of one QUIC connection, without I/O.
///
/// The embedding layer owns the QUIC connection and drives this value:
/// 1. At connection start, open one local unidirectional stream for each of
///    `HTTP3Connection.localStreamTypes`, write the bytes `openLocalStream(_:id:)` returns, and
///    never finish those streams (§6.2.1; RFC 9204 §4.2).
/// 2. Pass every byte read from a peer's stream, in order, to `handleStreamData`, with `fin` when
///    the stream ended; act on the returned events. A thrown `HTTP3Error` is a connection error:
///    close the QUIC connection with its code (§8).
/// 3. Report peer resets with `handleStreamReset` and STOP_SENDING on our streams with
///    `handleStopSending`.
/// 4. Client: write `encodeRequest` on a new bidirectional stream, then finish it. Server: write
///    `encodeResponse`, then for the body `encodeDataFrameHeader` and the body bytes, then finish.
///
/// Dynamic table capacity is 0 both ways: we advertise SETTINGS_QPACK_MAX_TABLE_CAPACITY 0 and
/// never use the peer's table, so QPACK needs no encoder or decoder instructions and no header
/// section ever blocks. There is no server push: a client never sends MAX_PUSH_ID.
public struct HTTP3Connection: Sendable {
    public let role: Role
    public let configuration: HTTP3Configuration

    /// The peer's SETTINGS, once its control stream delivered them.
    public internal(set) var peerSettings: HTTP3Settings?
    /// The identifier of the last GOAWAY received.
    public internal(set) var peerGoawayID: UInt64?
    /// The identifier of the last GOAWAY we encoded.
    public internal(set) var sentGoawayID: UInt64?

    var decoder: QPACKDecoder
    /// Our unidirectional streams by ID.
    var localStreams: [StreamID: HTTP3StreamType] = [:]
    /// The peer's control, encoder and decoder streams.
    var peerCriticalStreams: [HTTP3StreamType: StreamID] = [:]
    var uniStreams: [StreamID: UniStream] = [:]
    var messages: [StreamID: MessageStream] = [:]
    /// Server: the highest request stream seen, for GOAWAY (§5.2).
    var largestRequestStream: StreamID?
    /// Server: the last MAX_PUSH_ID received (§7.2.7). We never push.
    var peerMaxPushID: UInt64?

    /// The unidirectional streams each endpoint opens at the start (RFC 9114 §6.2.1, RFC 9204 §4.2).
    public static let localStreamTypes: [HTTP3StreamType] = [.control, .qpackEncoder, .qpackDecoder]

    public init(role: Role, configuration: HTTP3Configuration = HTTP3Configuration()) {
        self.role = role
        self.configuration = configuration
        self.decoder = QPACKDecoder(maxFieldSectionSize: configuration.maxFieldSectionSize)
    }

    /// The settings we send (§7.2.4.1; RFC 9204 §5): QPACK table capacity and blocked streams 0
    /// (left at their defaults), our field section limit, and a GREASE parameter.
    public var localSettings: HTTP3Settings {
        var settings = HTTP3Settings()
        settings.maxFieldSectionSize = UInt64(configuration.maxFieldSectionSize)
        if configuration.grease {
            let seed = configuration.greaseSeed
            settings.other.append(.init(0x1f * (seed % 0x10000) + 0x21, (seed >> 16) % 0x4000))
        }
        return settings
    }

    // MARK: Sending

    /// The bytes that start our unidirectional stream `id` of `type`: the stream type (§6.2),
    /// and on the control stream our SETTINGS (§6.2.1) and, with GREASE on, a reserved frame
    /// (§7.2.8). The QPACK streams carry nothing more, as our table capacity is 0.
    public mutating func openLocalStream(_ type: HTTP3StreamType, id: StreamID) -> [UInt8] {
        precondition(type != .push, "this stack does not push")
        precondition(
            id.direction == .unidirectional && id.initiator == role, "stream \(id) is not a local unidirectional stream"
        )
        precondition(!localStreams.values.contains(type), "a \(type) stream is already open (§6.2.1, RFC 9204 §4.2)")
        localStreams[id] = type
        var bytes: [UInt8] = []
        appendVarInt(type.rawValue, to: &bytes)
        if type == .control {
            HTTP3Frame.settings(localSettings).encode(into: &bytes)
            if configuration.grease {
                let seed = configuration.greaseSeed >> 32
                let payload = [UInt8](repeating: 0, count: Int(seed % 4))
                HTTP3Frame.unknown(type: 0x1f * (seed % 0x10000) + 0x21, payload: payload).encode(into: &bytes)
            }
        }
        return bytes
    }

    /// A HEADERS frame carrying a request header section (§4.1, §4.3.1), to write on the new
    /// client-initiated bidirectional stream `stream`; finish the stream after it (and any body).
    /// Pseudo-headers come first; `headers` names are lowercased. The response's content-length
    /// is checked against the DATA received unless `method` is HEAD (RFC 9110 §8.6). Do not call
    /// after `peerGoawayID` is set (§5.2).
    public mutating func encodeRequest(
        stream: StreamID, method: String = "GET", scheme: String = "https", authority: String, path: String,
        headers: [HTTPField] = []
    ) -> [UInt8] {
        precondition(role == .client, "only a client sends requests")
        precondition(
            stream.direction == .bidirectional && stream.initiator == .client,
            "requests go on client-initiated bidirectional streams (§6.1)")
        var message = MessageStream()
        message.requestMethod = method
        messages[stream] = message
        let fields = [
            HTTPField(":method", method), HTTPField(":scheme", scheme), HTTPField(":authority", authority),
            HTTPField(":path", path),
        ]
        return encodeHeaders(fields + headers)
    }

    /// A HEADERS frame carrying a response header section (§4.3.2) with `:status` first.
    public func encodeResponse(status: Int, headers: [HTTPField] = []) -> [UInt8] {
        precondition((100...999).contains(status), "status must be three digits")
        return encodeHeaders([HTTPField(":status", String(status))] + headers)
    }

    /// A HEADERS frame (§7.2.2) for any field section, e.g. trailers.
    public func encodeHeaders(_ fields: [HTTPField]) -> [UInt8] {
        let section = QPACKEncoder.encode(fields)
        var frame: [UInt8] = []
        frame.reserveCapacity(section.count + 9)
        HTTP3Frame.encodeHeader(type: HTTP3FrameType.headers, length: UInt64(section.count), into: &frame)
        frame.append(contentsOf: section)
        return frame
    }

    /// The header of a DATA frame (§7.2.1) for `length` body bytes that the caller writes right
    /// after it, so the body itself is never copied here.
    public static func encodeDataFrameHeader(length: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        HTTP3Frame.encodeHeader(type: HTTP3FrameType.data, length: UInt64(length), into: &bytes)
        return bytes
    }

    /// Writes the DATA frame header for `length` body bytes into caller-owned memory.
    public static func writeDataFrameHeader(length: Int, into writer: inout ByteWriter) {
        HTTP3Frame.writeHeader(type: HTTP3FrameType.data, length: UInt64(length), into: &writer)
    }

    /// Bytes of the DATA frame header for `length` body bytes (2 to 9).
    public static func dataFrameHeaderLength(length: Int) -> Int {
        HTTP3Frame.headerLength(type: HTTP3FrameType.data, length: UInt64(length))
    }

    /// A GOAWAY frame (§5.2, §7.2.6) to write on our control stream. A server sends the first
    /// request stream ID it will not process: by default the one after the highest request seen,
    /// so everything already received is still answered; later requests at or above it get
    /// `streamError` H3_REQUEST_REJECTED. A client sends a push ID; we accept no pushes, so 0.
    /// An identifier larger than one sent before is lowered to it (§5.2 forbids increasing it).
    public mutating func encodeGoaway(id: UInt64? = nil) -> [UInt8] {
        var value: UInt64
        if let id {
            value = id
        } else if role == .server {
            value = largestRequestStream.map { $0.rawValue + 4 } ?? 0
        } else {
            value = 0
        }
        if role == .server {
            precondition(value % 4 == 0, "a server's GOAWAY carries a client-initiated bidirectional stream ID")
        }
        if let previous = sentGoawayID { value = min(value, previous) }
        sentGoawayID = value
        return HTTP3Frame.goaway(id: value).encoded
    }

    // MARK: Receiving

    /// Consumes bytes read from the peer's stream `stream` (a request stream or a unidirectional
    /// stream the peer opened), in order and in chunks of any size; `fin` when the stream ended
    /// cleanly after these bytes. Appends what happened to `events`.
    ///
    /// Throws a connection error (§8); stream errors are `HTTP3Event.streamError` events.
    public mutating func handleStreamData(
        _ stream: StreamID, _ bytes: UnsafeRawBufferPointer, fin: Bool, into events: inout [HTTP3Event]
    ) throws(HTTP3Error) {
        if stream.direction == .bidirectional {
            // §6.1: HTTP/3 uses no server-initiated bidirectional streams.
            guard stream.initiator == .client else {
                throw HTTP3Error(.streamCreationError, stream: stream, "server-initiated bidirectional stream")
            }
            try handleMessageData(stream, bytes, fin: fin, into: &events)
        } else {
            guard stream.initiator == role.peer else {
                throw HTTP3Error(
                    .internalError, stream: stream,
                    "stream \(stream) is our own unidirectional stream and has nothing to read")
            }
            try handleUnidirectionalData(stream, bytes, fin: fin, into: &events)
        }
    }

    public mutating func handleStreamData(_ stream: StreamID, _ bytes: UnsafeRawBufferPointer, fin: Bool)
        throws(HTTP3Error) -> [HTTP3Event]
    {
        var events: [HTTP3Event] = []
        try handleStreamData(stream, bytes, fin: fin, into: &events)
        return events
    }

    public mutating func handleStreamData(_ stream: StreamID, _ bytes: [UInt8], fin: Bool) throws(HTTP3Error)
        -> [HTTP3Event]
    {
        var events: [HTTP3Event] = []
        try withBytes(bytes) { (raw) throws(HTTP3Error) in try handleStreamData(stream, raw, fin: fin, into: &events) }
        return events
    }

    /// The peer reset its stream `stream` (RESET_STREAM) with `errorCode`. Resetting a control or
    /// QPACK stream is H3_CLOSED_CRITICAL_STREAM (§6.2.1; RFC 9204 §4.2); a reset request stream
    /// gives a `.reset` event unless it had already failed.
    public mutating func handleStreamReset(_ stream: StreamID, errorCode: UInt64) throws(HTTP3Error) -> [HTTP3Event] {
        if let type = peerCriticalStreams.first(where: { $0.value == stream })?.key {
            throw HTTP3Error(.closedCriticalStream, stream: stream, "peer reset its \(type) stream")
        }
        uniStreams[stream] = nil
        guard let message = messages.removeValue(forKey: stream) else { return [] }
        if message.phase == .failed { return [] }
        return [.reset(stream, errorCode: errorCode)]
    }

    /// The peer asked us to stop sending on our stream `stream` (STOP_SENDING). For our control
    /// or QPACK streams that is H3_CLOSED_CRITICAL_STREAM (§6.2.1; RFC 9204 §4.2); for a request
    /// stream the embedding layer just resets the stream.
    public func handleStopSending(_ stream: StreamID, errorCode: UInt64) throws(HTTP3Error) {
        if let type = localStreams[stream], type.isCritical {
            throw HTTP3Error(
                .closedCriticalStream, stream: stream, "peer asked us to stop sending on our \(type) stream")
        }
    }
}
