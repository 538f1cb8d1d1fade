import QuicHTTP3
import QuicWire
import Testing

/// The connection error `bytes` on `stream` (with `fin`) raise at a fresh connection, after
/// `setup` streams were fed; each step is also tried one byte at a time.
func errorCode(
    role: Role, setup: [(StreamID, [UInt8])] = [], _ stream: StreamID, _ bytes: [UInt8], fin: Bool = false
) -> HTTP3ErrorCode? {
    var codes: [HTTP3ErrorCode?] = []
    for oneByteAtATime in [false, true] {
        var connection = HTTP3Connection(role: role)
        let error = connectionError { () throws(HTTP3Error) in
            for (setupStream, setupBytes) in setup { _ = try feed(&connection, setupStream, setupBytes) }
            _ = try feed(&connection, stream, bytes, fin: fin, chunk: { oneByteAtATime ? 1 : $0 })
        }
        codes.append(error?.code)
    }
    #expect(codes[0] == codes[1], "the error must not depend on how the bytes were split")
    return codes[0]
}

@Suite("HTTP3Connection: connection errors (RFC 9114 §8)")
struct ConnectionErrorTests {
    let request = headersFrame(getRequest)
    let response = headersFrame([HTTPField(":status", "200")])

    @Test("DATA before HEADERS on a request stream is H3_FRAME_UNEXPECTED (§4.1)")
    func dataBeforeHeaders() {
        #expect(errorCode(role: .server, .clientBidi(0), dataFrame([1, 2, 3])) == .frameUnexpected)
        #expect(errorCode(role: .client, .clientBidi(0), dataFrame([1])) == .frameUnexpected)
    }

    @Test("HEADERS or DATA after the trailers is H3_FRAME_UNEXPECTED (§4.1)")
    func afterTrailers() {
        let trailers = headersFrame([HTTPField("x-t", "1")])
        #expect(errorCode(role: .server, .clientBidi(0), request + trailers + dataFrame([1])) == .frameUnexpected)
        #expect(errorCode(role: .server, .clientBidi(0), request + trailers + trailers) == .frameUnexpected)
    }

    @Test("a second SETTINGS on the control stream is H3_FRAME_UNEXPECTED (§7.2.4)")
    func secondSettings() {
        #expect(errorCode(role: .server, .clientUni(0), peerControlStream([0x04, 0x00])) == .frameUnexpected)
    }

    @Test("SETTINGS on a request stream is H3_FRAME_UNEXPECTED (§7.2.4)")
    func settingsOnRequestStream() {
        #expect(errorCode(role: .server, .clientBidi(0), [0x04, 0x00]) == .frameUnexpected)
        #expect(errorCode(role: .server, .clientBidi(0), request + [0x04, 0x00]) == .frameUnexpected)
    }

    @Test("a closed control, encoder or decoder stream is H3_CLOSED_CRITICAL_STREAM (§6.2.1, RFC 9204 §4.2)")
    func closedCritical() throws {
        #expect(errorCode(role: .server, .clientUni(0), peerControlStream(), fin: true) == .closedCriticalStream)
        #expect(errorCode(role: .client, .serverUni(1), [0x02], fin: true) == .closedCriticalStream)
        #expect(errorCode(role: .client, .serverUni(2), [0x03], fin: true) == .closedCriticalStream)
        // Reset by the peer.
        var server = HTTP3Connection(role: .server)
        _ = try feed(&server, .clientUni(0), peerControlStream())
        let reset = connectionError { () throws(HTTP3Error) in
            _ = try server.handleStreamReset(.clientUni(0), errorCode: 0x100)
        }
        #expect(reset?.code == .closedCriticalStream)
        // STOP_SENDING on our own control stream.
        _ = server.openLocalStream(.control, id: .serverUni(0))
        _ = server.openLocalStream(.qpackEncoder, id: .serverUni(1))
        let stop = connectionError { () throws(HTTP3Error) in
            try server.handleStopSending(.serverUni(1), errorCode: 0x100)
        }
        #expect(stop?.code == .closedCriticalStream)
        #expect(
            connectionError { () throws(HTTP3Error) in try server.handleStopSending(.clientBidi(0), errorCode: 0x10c) }
                == nil)
    }

    @Test("a second control, encoder or decoder stream is H3_STREAM_CREATION_ERROR (§6.2.1, RFC 9204 §4.2)")
    func secondCriticalStream() {
        #expect(
            errorCode(role: .server, setup: [(.clientUni(0), peerControlStream())], .clientUni(5), [0x00])
                == .streamCreationError)
        #expect(
            errorCode(role: .server, setup: [(.clientUni(1), [0x02])], .clientUni(6), [0x02]) == .streamCreationError)
        #expect(
            errorCode(role: .server, setup: [(.clientUni(2), [0x03])], .clientUni(7), [0x03]) == .streamCreationError)
    }

    @Test("a control stream not starting with SETTINGS is H3_MISSING_SETTINGS (§6.2.1, §9)")
    func missingSettings() {
        #expect(errorCode(role: .server, .clientUni(0), [0x00, 0x07, 0x01, 0x00]) == .missingSettings)
        #expect(errorCode(role: .server, .clientUni(0), [0x00, 0x21, 0x00]) == .missingSettings)
        #expect(errorCode(role: .client, .serverUni(0), [0x00, 0x00, 0x00]) == .missingSettings)
    }

    @Test(
        "reserved HTTP/2 frame types are H3_FRAME_UNEXPECTED on any stream (§7.2.8)",
        arguments: [0x02, 0x06, 0x08, 0x09] as [UInt8])
    func reservedHTTP2Frames(type: UInt8) {
        #expect(errorCode(role: .server, .clientUni(0), peerControlStream([type, 0x00])) == .frameUnexpected)
        #expect(errorCode(role: .server, .clientBidi(0), [type, 0x01, 0x00]) == .frameUnexpected)
        #expect(errorCode(role: .client, .clientBidi(0), response + [type, 0x00]) == .frameUnexpected)
    }

    @Test("DATA, HEADERS and PUSH_PROMISE on the control stream are H3_FRAME_UNEXPECTED (§7.2)")
    func messageFramesOnControl() {
        #expect(errorCode(role: .server, .clientUni(0), peerControlStream(dataFrame([1]))) == .frameUnexpected)
        #expect(errorCode(role: .server, .clientUni(0), peerControlStream(request)) == .frameUnexpected)
        #expect(errorCode(role: .client, .serverUni(0), peerControlStream([0x05, 0x01, 0x00])) == .frameUnexpected)
    }

    @Test("push: no MAX_PUSH_ID sent, so push streams and PUSH_PROMISE are H3_ID_ERROR at a client (§4.6, §7.2.5)")
    func push() {
        #expect(errorCode(role: .client, .serverUni(3), [0x01, 0x00]) == .idError)
        #expect(errorCode(role: .client, .clientBidi(0), [0x05, 0x03, 0x00, 0x00, 0x00]) == .idError)
        // A server never receives push streams or PUSH_PROMISE (§6.2.2, §7.2.5).
        #expect(errorCode(role: .server, .clientUni(3), [0x01, 0x00]) == .streamCreationError)
        #expect(errorCode(role: .server, .clientBidi(0), [0x05, 0x03, 0x00, 0x00, 0x00]) == .frameUnexpected)
        // CANCEL_PUSH names a push that cannot exist (§7.2.3).
        #expect(errorCode(role: .client, .serverUni(0), peerControlStream([0x03, 0x01, 0x00])) == .idError)
        #expect(errorCode(role: .server, .clientUni(0), peerControlStream([0x03, 0x01, 0x00])) == .idError)
    }

    @Test("MAX_PUSH_ID: from a server H3_FRAME_UNEXPECTED, shrinking H3_ID_ERROR (§7.2.7)")
    func maxPushID() {
        #expect(errorCode(role: .client, .serverUni(0), peerControlStream([0x0d, 0x01, 0x08])) == .frameUnexpected)
        #expect(
            errorCode(role: .server, .clientUni(0), peerControlStream([0x0d, 0x01, 0x08, 0x0d, 0x01, 0x09])) == nil)
        #expect(
            errorCode(role: .server, .clientUni(0), peerControlStream([0x0d, 0x01, 0x08, 0x0d, 0x01, 0x07])) == .idError
        )
        #expect(errorCode(role: .server, .clientBidi(0), [0x0d, 0x01, 0x08]) == .frameUnexpected)
    }

    @Test("GOAWAY: not a client bidirectional stream ID, or increasing, is H3_ID_ERROR (§5.2, §7.2.6)")
    func goawayRules() {
        #expect(errorCode(role: .client, .serverUni(0), peerControlStream([0x07, 0x01, 0x03])) == .idError)
        #expect(
            errorCode(role: .client, .serverUni(0), peerControlStream([0x07, 0x01, 0x08, 0x07, 0x01, 0x0c])) == .idError
        )
        #expect(
            errorCode(role: .client, .serverUni(0), peerControlStream([0x07, 0x01, 0x08, 0x07, 0x01, 0x04])) == nil)
        #expect(errorCode(role: .server, .clientUni(0), peerControlStream([0x07, 0x01, 0x03])) == nil)
        #expect(errorCode(role: .client, .clientBidi(0), response + [0x07, 0x01, 0x00]) == .frameUnexpected)
        // The payload must be exactly one varint.
        #expect(errorCode(role: .client, .serverUni(0), peerControlStream([0x07, 0x02, 0x00, 0x00])) == .frameError)
        #expect(errorCode(role: .client, .serverUni(0), peerControlStream([0x07, 0x00])) == .frameError)
    }

    @Test("SETTINGS payload errors: H3_SETTINGS_ERROR and H3_FRAME_ERROR (§7.2.4)")
    func settingsErrors() {
        #expect(errorCode(role: .server, .clientUni(0), [0x00, 0x04, 0x04, 0x06, 0x01, 0x06, 0x02]) == .settingsError)
        #expect(errorCode(role: .server, .clientUni(0), [0x00, 0x04, 0x02, 0x02, 0x00]) == .settingsError)
        #expect(errorCode(role: .server, .clientUni(0), [0x00, 0x04, 0x01, 0x06]) == .frameError)
        // Too large to buffer.
        #expect(errorCode(role: .server, .clientUni(0), [0x00, 0x04, 0x80, 0x01, 0x00, 0x00]) == .excessiveLoad)
    }

    @Test("a stream ending inside a frame is H3_FRAME_ERROR (§7.1)")
    func truncatedFrameAtEnd() {
        #expect(errorCode(role: .server, .clientBidi(0), Array(request.dropLast()), fin: true) == .frameError)
        #expect(errorCode(role: .server, .clientBidi(0), request + [0x00, 0x05, 0x01], fin: true) == .frameError)
        #expect(errorCode(role: .server, .clientBidi(0), request + [0x40], fin: true) == .frameError)
    }

    @Test("an undecodable field section is QPACK_DECOMPRESSION_FAILED (RFC 9204 §2.2.3)")
    func badFieldSection() {
        #expect(
            errorCode(role: .server, .clientBidi(0), HTTP3Frame.headers([0x00, 0x00, 0x80]).encoded)
                == .qpackDecompressionFailed)
        #expect(
            errorCode(role: .server, .clientBidi(0), HTTP3Frame.headers([0x02, 0x00, 0xd1]).encoded)
                == .qpackDecompressionFailed)
        #expect(
            errorCode(role: .client, .clientBidi(0), HTTP3Frame.headers([0x00, 0x00, 0x51, 0x81, 0x00]).encoded)
                == .qpackDecompressionFailed)
    }

    @Test("QPACK encoder stream: only Set Dynamic Table Capacity 0 (RFC 9204 §4.3)")
    func encoderStream() {
        #expect(errorCode(role: .server, .clientUni(1), [0x02, 0x20, 0x20]) == nil)
        #expect(errorCode(role: .server, .clientUni(1), [0x02, 0x21]) == .qpackEncoderStreamError)
        #expect(errorCode(role: .server, .clientUni(1), [0x02, 0xc1, 0x01, 0x61]) == .qpackEncoderStreamError)
        #expect(errorCode(role: .server, .clientUni(1), [0x02, 0x41, 0x61, 0x01, 0x62]) == .qpackEncoderStreamError)
        #expect(errorCode(role: .server, .clientUni(1), [0x02, 0x00]) == .qpackEncoderStreamError)
    }

    @Test("QPACK decoder stream: cancellations pass, acknowledgments and increments fail (RFC 9204 §4.4)")
    func decoderStream() {
        #expect(errorCode(role: .server, .clientUni(2), [0x03, 0x40, 0x44, 0x7f, 0x80, 0x80, 0x01, 0x41]) == nil)
        #expect(errorCode(role: .server, .clientUni(2), [0x03, 0x80]) == .qpackDecoderStreamError)
        #expect(errorCode(role: .server, .clientUni(2), [0x03, 0x01]) == .qpackDecoderStreamError)
        #expect(
            errorCode(role: .server, .clientUni(2), [0x03, 0x7f] + [UInt8](repeating: 0xff, count: 10))
                == .qpackDecoderStreamError)
    }

    @Test("a server-initiated bidirectional stream is H3_STREAM_CREATION_ERROR at a client (§6.1)")
    func serverBidi() {
        #expect(errorCode(role: .client, .serverBidi(0), response) == .streamCreationError)
    }
}

@Suite("HTTP3Connection: stream errors and tolerated input")
struct StreamErrorTests {
    func serverSees(_ fields: [HTTPField], body: [UInt8] = [], fin: Bool = true) throws -> [Seen] {
        var server = HTTP3Connection(role: .server)
        var bytes = headersFrame(fields)
        if !body.isEmpty { bytes += dataFrame(body) }
        return try feed(&server, .clientBidi(0), bytes, fin: fin)
    }

    static let malformedRequests: [(String, [HTTPField])] = [
        ("missing :path", [HTTPField(":method", "GET"), HTTPField(":scheme", "https"), HTTPField(":authority", "h")]),
        ("missing :method", [HTTPField(":scheme", "https"), HTTPField(":authority", "h"), HTTPField(":path", "/")]),
        ("missing :scheme", [HTTPField(":method", "GET"), HTTPField(":authority", "h"), HTTPField(":path", "/")]),
        (
            "no authority for https",
            [HTTPField(":method", "GET"), HTTPField(":scheme", "https"), HTTPField(":path", "/")]
        ),
        (
            "empty :path",
            [
                HTTPField(":method", "GET"), HTTPField(":scheme", "https"), HTTPField(":authority", "h"),
                HTTPField(":path", ""),
            ]
        ),
        ("repeated :path", getRequest + [HTTPField(":path", "/x")]),
        (
            "pseudo after regular",
            [
                HTTPField(":method", "GET"), HTTPField("accept", "*/*"), HTTPField(":scheme", "https"),
                HTTPField(":authority", "h"), HTTPField(":path", "/"),
            ]
        ),
        ("response pseudo in a request", getRequest + [HTTPField(":status", "200")]),
        ("unknown pseudo", getRequest + [HTTPField(":protocol", "websocket")]),
        ("uppercase name", getRequest + [HTTPField(name: "Accept", rawValue: Array("*/*".utf8))]),
        ("connection header", getRequest + [HTTPField("connection", "keep-alive")]),
        ("transfer-encoding", getRequest + [HTTPField("transfer-encoding", "chunked")]),
        ("te other than trailers", getRequest + [HTTPField("te", "gzip")]),
        ("CR in a value", getRequest + [HTTPField("x", "a\rb")]),
        ("NUL in a value", getRequest + [HTTPField(name: "x", rawValue: [0x61, 0x00])]),
        ("leading space in a value", getRequest + [HTTPField("x", " a")]),
        ("space in a name", getRequest + [HTTPField("x y", "a")]),
        (
            "userinfo in :authority",
            [
                HTTPField(":method", "GET"), HTTPField(":scheme", "https"), HTTPField(":authority", "u@h"),
                HTTPField(":path", "/"),
            ]
        ),
        ("authority and host differ", getRequest + [HTTPField("host", "other.example")]),
        ("bad content-length", getRequest + [HTTPField("content-length", "12a")]),
        ("conflicting content-length", getRequest + [HTTPField("content-length", "1, 2")]),
    ]

    @Test("malformed requests are a stream error H3_MESSAGE_ERROR (§4.1.2, §4.2, §4.3.1)", arguments: malformedRequests)
    func malformedRequest(name: String, fields: [HTTPField]) throws {
        // The encoder lowercases names, so uppercase goes out through a hand-made section.
        var section: [UInt8] = [0, 0]
        for field in fields {
            QPACKPrimitive.encodeString(field.name.utf8, prefixBits: 4, flags: 0x20, into: &section)
            QPACKPrimitive.encodeString(field.rawValue, prefixBits: 8, into: &section)
        }
        var server = HTTP3Connection(role: .server)
        let seen = try feed(&server, .clientBidi(0), HTTP3Frame.headers(section).encoded + dataFrame([1]), fin: true)
        #expect(seen == [.streamError(.clientBidi(0), .messageError)], "\(name)")
        // The connection carries on: the next request is served.
        #expect(
            try feed(&server, .clientBidi(1), headersFrame(getRequest), fin: true) == [
                .request(.clientBidi(1), getRequest), .end(.clientBidi(1)),
            ])
    }

    @Test(
        "well-formed variants are accepted: te trailers, host equal to :authority, host alone, repeated equal content-length"
    )
    func acceptedRequests() throws {
        for extra in [
            [HTTPField("te", "trailers")], [HTTPField("host", "example.com")], [HTTPField("content-length", "3, 3")],
            [HTTPField("x", "")], [HTTPField("x", "a \t b"), HTTPField(name: "y", rawValue: [0xe2, 0x82, 0xac])],
        ] {
            let fields = getRequest + extra
            #expect(
                try serverSees(fields, body: extra.first?.name == "content-length" ? [1, 2, 3] : []).first
                    == .request(.clientBidi(0), fields))
        }
        let hostOnly = [
            HTTPField(":method", "GET"), HTTPField(":scheme", "https"), HTTPField(":path", "/"), HTTPField("host", "h"),
        ]
        #expect(try serverSees(hostOnly).first == .request(.clientBidi(0), hostOnly))
    }

    @Test("content-length that disagrees with the DATA is H3_MESSAGE_ERROR (§4.1.2)")
    func contentLengthMismatch() throws {
        let fields = getRequest + [HTTPField("content-length", "5")]
        #expect(try serverSees(fields, body: [1, 2, 3]).last == .streamError(.clientBidi(0), .messageError))
        #expect(try serverSees(fields, body: [1, 2, 3, 4, 5, 6]).last == .streamError(.clientBidi(0), .messageError))
        #expect(try serverSees(fields, body: [1, 2, 3, 4, 5]).last == .end(.clientBidi(0)))
    }

    @Test("a request stream ending before HEADERS is H3_REQUEST_INCOMPLETE (§4.1)")
    func requestIncomplete() throws {
        var server = HTTP3Connection(role: .server)
        #expect(try feed(&server, .clientBidi(0), [], fin: true) == [.streamError(.clientBidi(0), .requestIncomplete)])
        #expect(
            try feed(&server, .clientBidi(1), [0x21, 0x01, 0xff], fin: true) == [
                .streamError(.clientBidi(1), .requestIncomplete)
            ])
    }

    @Test("malformed responses are H3_MESSAGE_ERROR at the client")
    func malformedResponses() throws {
        for fields in [
            [HTTPField("content-type", "text/plain")], [HTTPField(":status", "20")], [HTTPField(":status", "abc")],
            [HTTPField(":status", "101")], [HTTPField(":status", "200"), HTTPField(":path", "/")],
            [HTTPField(":status", "200"), HTTPField(":status", "200")],
        ] {
            var client = HTTP3Connection(role: .client)
            #expect(
                try feed(&client, .clientBidi(0), headersFrame(fields), fin: true) == [
                    .streamError(.clientBidi(0), .messageError)
                ], "\(fields)")
        }
        // Only interim responses, then the end: no final response.
        var client = HTTP3Connection(role: .client)
        let interim = headersFrame([HTTPField(":status", "100")])
        #expect(
            try feed(&client, .clientBidi(0), interim, fin: true).last == .streamError(.clientBidi(0), .messageError))
        // DATA after an interim response.
        var other = HTTP3Connection(role: .client)
        #expect(
            try feed(&other, .clientBidi(0), interim + dataFrame([1])).last
                == .streamError(.clientBidi(0), .messageError))
    }

    @Test("a response to HEAD may carry content-length without DATA (RFC 9110 §8.6)")
    func headResponse() throws {
        var client = HTTP3Connection(role: .client)
        _ = client.encodeRequest(stream: .clientBidi(0), method: "HEAD", authority: "h", path: "/")
        let fields = [HTTPField(":status", "200"), HTTPField("content-length", "1000")]
        #expect(
            try feed(&client, .clientBidi(0), headersFrame(fields), fin: true) == [
                .response(.clientBidi(0), fields), .end(.clientBidi(0)),
            ])
        var getter = HTTP3Connection(role: .client)
        _ = getter.encodeRequest(stream: .clientBidi(0), authority: "h", path: "/")
        #expect(
            try feed(&getter, .clientBidi(0), headersFrame(fields), fin: true).last
                == .streamError(.clientBidi(0), .messageError))
    }

    @Test("an oversized field section is a stream error H3_EXCESSIVE_LOAD; data after it is discarded")
    func oversizedSection() throws {
        var server = HTTP3Connection(role: .server)
        let big = getRequest + [HTTPField("cookie", String(repeating: "c", count: 70_000))]
        let seen = try feed(
            &server, .clientBidi(0), headersFrame(big) + dataFrame([1, 2]), fin: false, chunk: { _ in 1000 })
        #expect(seen == [.streamError(.clientBidi(0), .excessiveLoad)])
        #expect(try feed(&server, .clientBidi(0), dataFrame([3]), fin: true) == [])
        // A HEADERS frame too large to buffer is refused from its header alone.
        var other = HTTP3Connection(role: .server)
        #expect(
            try feed(&other, .clientBidi(0), [0x01, 0xbf, 0xff, 0xff, 0xff]) == [
                .streamError(.clientBidi(0), .excessiveLoad)
            ])
    }

    @Test("unknown and reserved stream types are read and discarded; STOP_SENDING is asked (§6.2, §6.2.3)")
    func unknownStreams() throws {
        var server = HTTP3Connection(role: .server)
        #expect(
            try feed(&server, .clientUni(3), [0x21, 1, 2, 3], chunk: { _ in 1 }) == [
                .stopReading(.clientUni(3), .streamCreationError)
            ])
        #expect(try feed(&server, .clientUni(3), [4, 5, 6], fin: true) == [])
        #expect(
            try feed(&server, .clientUni(4), [0x14], fin: false) == [.stopReading(.clientUni(4), .streamCreationError)])
        // Closed before its type arrived: tolerated (§6.2).
        #expect(try feed(&server, .clientUni(5), [0x40], fin: true) == [])
        #expect(try feed(&server, .clientUni(6), [], fin: true) == [])
    }

    @Test("unknown frame types are skipped on control and request streams (§9)")
    func unknownFrames() throws {
        var server = HTTP3Connection(role: .server)
        let control = peerControlStream([0x21, 0x03, 1, 2, 3] + [0x80, 0x0f, 0x07, 0x00, 0x02, 0xaa, 0xbb])
        #expect(try feed(&server, .clientUni(0), control, chunk: { _ in 1 }) == [.settings(HTTP3Settings())])
        let bytes =
            [0x40, 0x40, 0x00] + headersFrame(getRequest) + [0x21, 0x00] + dataFrame([9]) + [0x1f, 0x01, 0x02]
        #expect(
            try feed(&server, .clientBidi(0), bytes, fin: true, chunk: { _ in 2 }) == [
                .request(.clientBidi(0), getRequest), .data(.clientBidi(0), [9]), .end(.clientBidi(0)),
            ])
    }

    @Test("a peer reset of a request stream is reported once")
    func peerReset() throws {
        var server = HTTP3Connection(role: .server)
        _ = try feed(&server, .clientBidi(0), headersFrame(getRequest))
        #expect(
            try server.handleStreamReset(.clientBidi(0), errorCode: 0x10c) == [.reset(.clientBidi(0), errorCode: 0x10c)]
        )
        #expect(try server.handleStreamReset(.clientBidi(0), errorCode: 0x10c) == [])
    }
}
