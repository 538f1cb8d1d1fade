import QuicWire

/// What `HTTP3Connection.handleStreamData` found, for the embedding layer to act on, in order.
public enum HTTP3Event: Hashable, Sendable {
    /// The peer's SETTINGS arrived on its control stream (RFC 9114 §7.2.4).
    case settings(HTTP3Settings)
    /// Server: a request header section, validated (§4.3.1). Pseudo-headers come first.
    case request(StreamID, [HTTPField])
    /// Client: a response header section, validated (§4.3.2): interim (1xx, more follow) or final.
    case response(StreamID, [HTTPField])
    /// Body bytes: a range of offsets into the buffer passed to the `handleStreamData` call that
    /// returned this event. They are not copied; consume them before that buffer is reused.
    case data(StreamID, Range<Int>)
    /// A trailer section (§4.1), validated.
    case trailers(StreamID, [HTTPField])
    /// The message on this stream is complete: the peer closed the stream cleanly.
    case end(StreamID)
    /// The peer sent GOAWAY (§5.2, §7.2.6): from a server, the first request stream ID it will
    /// not process (requests on that stream and above were not processed and may be retried on
    /// a new connection); from a client, a push ID. A client must not open new requests after
    /// this; later GOAWAYs can only lower the ID.
    case goaway(UInt64)
    /// The peer reset a request stream with this application error code.
    case reset(StreamID, errorCode: UInt64)
    /// A stream error (§8): reset the stream `error.stream` and ask the peer to stop sending on
    /// it (RESET_STREAM and STOP_SENDING) with `error.code`. The connection carries on; data that
    /// still arrives on that stream is discarded.
    case streamError(HTTP3Error)
    /// An incoming unidirectional stream of a type we do not know (§6.2, §9): ask the peer to stop
    /// sending on it (STOP_SENDING) with this code. Its data is discarded meanwhile.
    case stopReading(StreamID, HTTP3ErrorCode)
}
