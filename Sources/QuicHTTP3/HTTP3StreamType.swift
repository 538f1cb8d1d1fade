/// Unidirectional stream types (RFC 9114 §6.2, §11.2.4; RFC 9204 §4.2), sent as a varint at the
/// start of the stream.
public enum HTTP3StreamType: UInt64, Sendable, Hashable, CaseIterable {
    /// §6.2.1: carries SETTINGS first, then GOAWAY, MAX_PUSH_ID, CANCEL_PUSH.
    case control = 0x00
    /// §6.2.2: a server push; we never allow one.
    case push = 0x01
    /// RFC 9204 §4.2: encoder instructions.
    case qpackEncoder = 0x02
    /// RFC 9204 §4.2: decoder instructions.
    case qpackDecoder = 0x03

    /// Whether the peer closing this stream is a connection error (§6.2.1; RFC 9204 §4.2).
    public var isCritical: Bool { self != .push }
}
