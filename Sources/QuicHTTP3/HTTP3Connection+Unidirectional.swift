import QuicWire

/// A unidirectional stream the peer opened (RFC 9114 §6.2).
enum UniStream: Sendable {
    /// The stream type varint is not complete yet.
    case readingType(VarIntAccumulator)
    /// §6.2.1: frames; SETTINGS must come first.
    case control(reader: HTTP3FrameReader, sawSettings: Bool)
    /// RFC 9204 §4.2, §4.3: encoder instructions for our decoder.
    case qpackEncoder
    /// RFC 9204 §4.2, §4.4: decoder instructions for our encoder. `continuation` counts the
    /// bytes of a Stream Cancellation's stream ID still being read, or is nil between instructions.
    case qpackDecoder(continuation: Int?)
    /// An unknown or reserved type: data is discarded (§6.2, §9).
    case ignored
}

extension HTTP3Connection {
    mutating func handleUnidirectionalData(
        _ stream: StreamID, _ bytes: UnsafeRawBufferPointer, fin: Bool, into events: inout [HTTP3Event]
    ) throws(HTTP3Error) {
        var state = uniStreams.removeValue(forKey: stream) ?? .readingType(VarIntAccumulator())
        var offset = 0

        if case .readingType(var accumulator) = state {
            while offset < bytes.count, !accumulator.isComplete {
                accumulator.append(bytes[offset])
                offset += 1
            }
            guard accumulator.isComplete else {
                // §6.2: a stream may end before its type; nothing to do then.
                if !fin { uniStreams[stream] = .readingType(accumulator) }
                return
            }
            state = try openPeerStream(stream, type: accumulator.result, &events)
        }

        let input = UnsafeRawBufferPointer(rebasing: bytes[offset...])
        switch state {
        case .readingType, .ignored:
            break
        case .control(var reader, var sawSettings):
            try handleControlData(stream, input, &reader, &sawSettings, &events)
            state = .control(reader: reader, sawSettings: sawSettings)
        case .qpackEncoder:
            try handleEncoderInstructions(stream, input)
        case .qpackDecoder(var continuation):
            try handleDecoderInstructions(stream, input, &continuation)
            state = .qpackDecoder(continuation: continuation)
        }

        if fin {
            if case .ignored = state { return }
            // §6.2.1; RFC 9204 §4.2: control and QPACK streams must stay open.
            throw HTTP3Error(.closedCriticalStream, stream: stream, "peer closed a critical stream")
        }
        uniStreams[stream] = state
    }

    /// Acts on a peer's stream type (§6.2).
    private mutating func openPeerStream(_ stream: StreamID, type: UInt64, _ events: inout [HTTP3Event])
        throws(HTTP3Error) -> UniStream
    {
        guard let known = HTTP3StreamType(rawValue: type) else {
            // §6.2: unknown and reserved types are never a connection error; stop reading them.
            events.append(.stopReading(stream, .streamCreationError))
            return .ignored
        }
        switch known {
        case .push:
            if role == .server {
                throw HTTP3Error(.streamCreationError, stream: stream, "client-initiated push stream (§6.2.2)")
            }
            // §4.6: a push stream is H3_ID_ERROR when no MAX_PUSH_ID was sent, and we send none.
            throw HTTP3Error(.idError, stream: stream, "push stream although we sent no MAX_PUSH_ID")
        case .control, .qpackEncoder, .qpackDecoder:
            if let existing = peerCriticalStreams[known] {
                throw HTTP3Error(
                    .streamCreationError, stream: stream, "second \(known) stream; the first is \(existing)")
            }
            peerCriticalStreams[known] = stream
            switch known {
            case .control: return .control(reader: HTTP3FrameReader(), sawSettings: false)
            case .qpackEncoder: return .qpackEncoder
            default: return .qpackDecoder(continuation: nil)
            }
        }
    }

    private mutating func handleControlData(
        _ stream: StreamID, _ input: UnsafeRawBufferPointer, _ reader: inout HTTP3FrameReader,
        _ sawSettings: inout Bool,
        _ events: inout [HTTP3Event]
    ) throws(HTTP3Error) {
        var offset = 0
        while let output = reader.next(input, offset: &offset) {
            switch output {
            case .header(let type, let length):
                try checkControlFrame(stream, type: type, length: length, sawSettings: sawSettings)
                if type == HTTP3FrameType.settings {
                    sawSettings = true
                    reader.readPayload(as: .gather)
                } else if type == HTTP3FrameType.goaway || type == HTTP3FrameType.maxPushID
                    || type == HTTP3FrameType.cancelPush
                {
                    reader.readPayload(as: .gather)
                } else {
                    reader.readPayload(as: .skip)
                }
            case .payloadChunk:
                assert(false, "control stream payloads are never streamed")
            case .payload(let type, let payload):
                var frame: HTTP3Frame
                do {
                    frame = try HTTP3Frame.decode(type: type, payload: payload)
                } catch {
                    var located = error
                    located.stream = stream
                    throw located
                }
                try handleControlFrame(stream, frame, &events)
            }
        }
    }

    /// Whether a frame of `type` may appear on the control stream now (§6.2.1, §7.2).
    private func checkControlFrame(_ stream: StreamID, type: UInt64, length: UInt64, sawSettings: Bool)
        throws(HTTP3Error)
    {
        let name = "0x" + String(type, radix: 16)
        if !sawSettings {
            // §6.2.1: SETTINGS first; §9: an unknown frame does not satisfy that either.
            guard type == HTTP3FrameType.settings else {
                throw HTTP3Error(
                    .missingSettings, stream: stream, "control stream starts with frame type \(name), not SETTINGS")
            }
        }
        switch type {
        case HTTP3FrameType.settings:
            if sawSettings { throw HTTP3Error(.frameUnexpected, stream: stream, "second SETTINGS frame (§7.2.4)") }
            guard length <= UInt64(configuration.maxSettingsPayload) else {
                throw HTTP3Error(.excessiveLoad, stream: stream, "SETTINGS payload of \(length) bytes")
            }
        case HTTP3FrameType.data, HTTP3FrameType.headers, HTTP3FrameType.pushPromise:
            throw HTTP3Error(.frameUnexpected, stream: stream, "frame type \(name) on the control stream")
        case HTTP3FrameType.maxPushID where role == .client:
            throw HTTP3Error(.frameUnexpected, stream: stream, "MAX_PUSH_ID from a server (§7.2.7)")
        case HTTP3FrameType.goaway, HTTP3FrameType.maxPushID, HTTP3FrameType.cancelPush:
            // One varint, at most 8 bytes (§7.2.3, §7.2.6, §7.2.7).
            guard length >= 1, length <= 8 else {
                throw HTTP3Error(.frameError, stream: stream, "frame type \(name) with a \(length)-byte payload")
            }
        case _ where HTTP3FrameType.isReservedHTTP2(type):
            throw HTTP3Error(.frameUnexpected, stream: stream, "reserved HTTP/2 frame type \(name) (§7.2.8)")
        default:
            break
        }
    }

    private mutating func handleControlFrame(_ stream: StreamID, _ frame: HTTP3Frame, _ events: inout [HTTP3Event])
        throws(HTTP3Error)
    {
        switch frame {
        case .settings(let settings):
            peerSettings = settings
            events.append(.settings(settings))
        case .goaway(let id):
            // §7.2.6: from a server, a client-initiated bidirectional stream ID.
            if role == .client, id % 4 != 0 {
                throw HTTP3Error(
                    .idError, stream: stream, "GOAWAY with \(id), not a client-initiated bidirectional stream")
            }
            // §5.2: the identifier must not grow.
            if let previous = peerGoawayID, id > previous {
                throw HTTP3Error(.idError, stream: stream, "GOAWAY \(id) above the earlier \(previous)")
            }
            peerGoawayID = id
            events.append(.goaway(id))
        case .maxPushID(let id):
            // §7.2.7: it must not shrink. We never push, so it has no other effect.
            if let previous = peerMaxPushID, id < previous {
                throw HTTP3Error(.idError, stream: stream, "MAX_PUSH_ID \(id) below the earlier \(previous)")
            }
            peerMaxPushID = id
        case .cancelPush(let id):
            // §7.2.3: a server has promised nothing, and a client allowed no push IDs, so every
            // push ID is one never promised or beyond the limit.
            throw HTTP3Error(.idError, stream: stream, "CANCEL_PUSH for push \(id), but there are no pushes")
        case .data, .headers, .pushPromise, .unknown:
            break
        }
    }

    /// RFC 9204 §4.3 with our capacity of 0: the only acceptable instruction is Set Dynamic Table
    /// Capacity 0, the byte 0x20. Any insert or duplicate needs room we never gave, and any other
    /// capacity exceeds our maximum (§3.2.3, §4.3.1).
    private func handleEncoderInstructions(_ stream: StreamID, _ input: UnsafeRawBufferPointer) throws(HTTP3Error) {
        for byte in input where byte != 0x20 {
            let what =
                byte & 0xe0 == 0x20
                ? "sets a dynamic table capacity above our maximum of 0" : "inserts into a dynamic table of capacity 0"
            throw HTTP3Error(
                .qpackEncoderStreamError, stream: stream, "encoder instruction 0x\(String(byte, radix: 16)) \(what)")
        }
    }

    /// RFC 9204 §4.4: our sections never reference the dynamic table, so a Section
    /// Acknowledgment or an Insert Count Increment is always an error; Stream Cancellations are
    /// read and ignored.
    private func handleDecoderInstructions(
        _ stream: StreamID, _ input: UnsafeRawBufferPointer, _ continuation: inout Int?
    ) throws(HTTP3Error) {
        for byte in input {
            if let count = continuation {
                // A 62-bit stream ID needs at most 9 continuation bytes after a 6-bit prefix.
                guard count < 9 else {
                    throw HTTP3Error(
                        .qpackDecoderStreamError, stream: stream, "Stream Cancellation integer longer than 62 bits")
                }
                continuation = byte & 0x80 != 0 ? count + 1 : nil
            } else if byte & 0x80 != 0 {
                throw HTTP3Error(
                    .qpackDecoderStreamError, stream: stream, "Section Acknowledgment, but no section needed one")
            } else if byte & 0x40 != 0 {
                if byte & 0x3f == 0x3f { continuation = 0 }
            } else {
                throw HTTP3Error(
                    .qpackDecoderStreamError, stream: stream, "Insert Count Increment, but we inserted nothing")
            }
        }
    }
}
