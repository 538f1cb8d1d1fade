import QuicWire

/// The receiving side of a request stream (RFC 9114 §4.1, §6.1): a request at a server, the
/// response at a client.
struct MessageStream: Sendable {
    enum Phase: Sendable, Equatable {
        /// No HEADERS yet.
        case awaitingHeaders
        /// Client: interim (1xx) responses seen, the final one not yet.
        case awaitingFinalResponse
        /// The header section is in; DATA may follow.
        case body
        /// Trailers are in; only unknown frames may follow.
        case trailers
        /// A stream error was reported; the rest of the stream is discarded.
        case failed
    }

    var reader = HTTP3FrameReader()
    var phase = Phase.awaitingHeaders
    var contentLength: UInt64?
    var bodyReceived: UInt64 = 0
    /// Client: the method of the request we sent on this stream.
    var requestMethod: String?
}

extension HTTP3Connection {
    /// The largest HEADERS or PUSH_PROMISE payload we buffer. Huffman coding can make a section
    /// up to 30/8 times longer than its decoded size, so this leaves room for any section that
    /// decodes within `maxFieldSectionSize`.
    var maxHeadersPayload: Int {
        let (product, overflow) = configuration.maxFieldSectionSize.multipliedReportingOverflow(by: 4)
        return overflow ? Int.max / 2 : product + 64
    }

    mutating func handleMessageData(
        _ stream: StreamID, _ bytes: UnsafeRawBufferPointer, fin: Bool, into events: inout [HTTP3Event]
    ) throws(HTTP3Error) {
        // Taken out of the dictionary while in use, so the gather buffer is never copied.
        var message: MessageStream
        if let existing = messages.removeValue(forKey: stream) {
            message = existing
        } else {
            message = MessageStream()
            if role == .server {
                if largestRequestStream.map({ stream > $0 }) ?? true { largestRequestStream = stream }
                if let goaway = sentGoawayID, stream.rawValue >= goaway {
                    fail(
                        &message,
                        HTTP3Error(.requestRejected, stream: stream, "request stream at or above our GOAWAY \(goaway)"),
                        &events)
                }
            }
        }

        var offset = 0
        while message.phase != .failed, let output = message.reader.next(bytes, offset: &offset) {
            switch output {
            case .header(let type, let length):
                try handleMessageFrameHeader(stream, &message, type: type, length: length, &events)
            case .payloadChunk(let range):
                message.bodyReceived += UInt64(range.count)
                if let limit = message.contentLength, message.bodyReceived > limit {
                    fail(
                        &message, HTTP3Error(.messageError, stream: stream, "more DATA than content-length \(limit)"),
                        &events)
                } else if !range.isEmpty {
                    events.append(.data(stream, range))
                }
            case .payload(let type, let payload):
                // Only HEADERS payloads are gathered on request streams.
                assert(type == HTTP3FrameType.headers)
                try handleHeaderSection(stream, &message, payload, &events)
            }
        }

        guard fin else {
            messages[stream] = message
            return
        }
        if message.phase == .failed { return }
        // §7.1: a stream that ends cleanly inside a frame is H3_FRAME_ERROR.
        guard message.reader.isAtFrameBoundary else {
            throw HTTP3Error(.frameError, stream: stream, "stream ended inside a frame")
        }
        switch message.phase {
        case .awaitingHeaders where role == .server:
            // §4.1: the client's stream ended without a complete request.
            fail(
                &message, HTTP3Error(.requestIncomplete, stream: stream, "request stream ended before its HEADERS"),
                &events)
        case .awaitingHeaders, .awaitingFinalResponse:
            fail(
                &message, HTTP3Error(.messageError, stream: stream, "response stream ended without a final response"),
                &events)
        case .body, .trailers:
            if let limit = message.contentLength, message.bodyReceived != limit {
                fail(
                    &message,
                    HTTP3Error(
                        .messageError, stream: stream,
                        "content-length \(limit) but \(message.bodyReceived) bytes of DATA"), &events)
            } else {
                events.append(.end(stream))
            }
        case .failed:
            break
        }
    }

    /// Decides, from a frame's type alone, whether it may appear here (§4.1, §7.2) and how its
    /// payload is read.
    private func handleMessageFrameHeader(
        _ stream: StreamID, _ message: inout MessageStream, type: UInt64, length: UInt64, _ events: inout [HTTP3Event]
    ) throws(HTTP3Error) {
        switch type {
        case HTTP3FrameType.data:
            switch message.phase {
            case .body:
                message.reader.readPayload(as: .stream)
            case .awaitingHeaders:
                throw HTTP3Error(.frameUnexpected, stream: stream, "DATA before HEADERS")
            case .awaitingFinalResponse:
                // §4.1: interim responses have no content; the message sequence is malformed.
                fail(&message, HTTP3Error(.messageError, stream: stream, "DATA after an interim response"), &events)
            case .trailers:
                throw HTTP3Error(.frameUnexpected, stream: stream, "DATA after the trailers")
            case .failed:
                break
            }
        case HTTP3FrameType.headers:
            if message.phase == .trailers {
                throw HTTP3Error(.frameUnexpected, stream: stream, "HEADERS after the trailers")
            }
            guard length <= UInt64(maxHeadersPayload) else {
                fail(
                    &message,
                    HTTP3Error(
                        .excessiveLoad, stream: stream, "HEADERS frame of \(length) bytes exceeds \(maxHeadersPayload)"),
                    &events)
                return
            }
            message.reader.readPayload(as: .gather)
        case HTTP3FrameType.pushPromise:
            if role == .server {
                throw HTTP3Error(.frameUnexpected, stream: stream, "PUSH_PROMISE from a client (§7.2.5)")
            }
            // §7.2.5: any push ID exceeds the maximum we advertised, as we never send MAX_PUSH_ID.
            throw HTTP3Error(.idError, stream: stream, "PUSH_PROMISE although we sent no MAX_PUSH_ID")
        case HTTP3FrameType.settings, HTTP3FrameType.goaway, HTTP3FrameType.maxPushID, HTTP3FrameType.cancelPush:
            throw HTTP3Error(
                .frameUnexpected, stream: stream, "control frame type 0x\(String(type, radix: 16)) on a request stream")
        case _ where HTTP3FrameType.isReservedHTTP2(type):
            throw HTTP3Error(
                .frameUnexpected, stream: stream, "reserved HTTP/2 frame type 0x\(String(type, radix: 16)) (§7.2.8)")
        default:
            // §9: unknown and GREASE frame types are ignored.
            message.reader.readPayload(as: .skip)
        }
    }

    private func handleHeaderSection(
        _ stream: StreamID, _ message: inout MessageStream, _ payload: [UInt8], _ events: inout [HTTP3Event]
    ) throws(HTTP3Error) {
        let fields: [HTTPField]
        do {
            fields = try decoder.decode(payload)
        } catch {
            if error.reason == .fieldSectionTooLarge {
                fail(
                    &message,
                    HTTP3Error(
                        .excessiveLoad, stream: stream, "field section exceeds \(decoder.maxFieldSectionSize) bytes"),
                    &events)
                return
            }
            // RFC 9204 §2.2.3, §6: an undecodable section is a connection error.
            throw HTTP3Error(.qpackDecompressionFailed, stream: stream, "field section: \(error.reason)")
        }

        switch message.phase {
        case .awaitingHeaders where role == .server:
            if let problem = MessageValidation.checkRequest(fields) {
                return fail(
                    &message, HTTP3Error(.messageError, stream: stream, "malformed request: \(problem)"), &events)
            }
            guard takeContentLength(stream, &message, fields, &events) else { return }
            message.phase = .body
            events.append(.request(stream, fields))
        case .awaitingHeaders, .awaitingFinalResponse:
            if let problem = MessageValidation.checkResponse(fields) {
                return fail(
                    &message, HTTP3Error(.messageError, stream: stream, "malformed response: \(problem)"), &events)
            }
            let status = fields[":status"] ?? ""
            if status.hasPrefix("1") {
                message.phase = .awaitingFinalResponse
            } else {
                // RFC 9110 §8.6: responses to HEAD and 204/304 responses carry no content, whatever
                // content-length says.
                if message.requestMethod != "HEAD" && status != "204" && status != "304" {
                    guard takeContentLength(stream, &message, fields, &events) else { return }
                }
                message.phase = .body
            }
            events.append(.response(stream, fields))
        case .body:
            if let problem = MessageValidation.checkTrailers(fields) {
                return fail(
                    &message, HTTP3Error(.messageError, stream: stream, "malformed trailers: \(problem)"), &events)
            }
            message.phase = .trailers
            events.append(.trailers(stream, fields))
        case .trailers, .failed:
            break
        }
    }

    private func takeContentLength(
        _ stream: StreamID, _ message: inout MessageStream, _ fields: [HTTPField], _ events: inout [HTTP3Event]
    ) -> Bool {
        switch MessageValidation.contentLength(fields) {
        case .absent:
            return true
        case .value(let value):
            message.contentLength = value
            return true
        case .invalid:
            fail(&message, HTTP3Error(.messageError, stream: stream, "invalid content-length"), &events)
            return false
        }
    }

    private func fail(_ message: inout MessageStream, _ error: HTTP3Error, _ events: inout [HTTP3Event]) {
        message.phase = .failed
        message.reader = HTTP3FrameReader()
        events.append(.streamError(error))
    }
}
