import QuicHTTP3
import QuicWire
import Testing

/// Two HTTP3Connection values joined by an in-memory shuttle that carries each stream's bytes,
/// in chunks of random size, to the other side.
struct Pair {
    var client = HTTP3Connection(role: .client)
    var server = HTTP3Connection(role: .server)
    var rng: SeededGenerator
    /// Bytes written but not yet delivered, per stream and direction.
    var toServer: [StreamID: (bytes: [UInt8], fin: Bool)] = [:]
    var toClient: [StreamID: (bytes: [UInt8], fin: Bool)] = [:]
    var clientSaw: [Seen] = []
    var serverSaw: [Seen] = []
    let maxChunk: Int

    init(seed: UInt64, maxChunk: Int = 3000, clientConfiguration: HTTP3Configuration = .init()) {
        rng = SeededGenerator(seed: seed)
        self.maxChunk = maxChunk
        client = HTTP3Connection(role: .client, configuration: clientConfiguration)
        for (index, type) in HTTP3Connection.localStreamTypes.enumerated() {
            let clientStream = StreamID.clientUni(UInt64(index))
            toServer[clientStream] = (client.openLocalStream(type, id: clientStream), false)
            let serverStream = StreamID.serverUni(UInt64(index))
            toClient[serverStream] = (server.openLocalStream(type, id: serverStream), false)
        }
    }

    mutating func clientWrites(_ stream: StreamID, _ bytes: [UInt8], fin: Bool = false) {
        toServer[stream, default: ([], false)].bytes += bytes
        if fin { toServer[stream]!.fin = true }
    }

    mutating func serverWrites(_ stream: StreamID, _ bytes: [UInt8], fin: Bool = false) {
        toClient[stream, default: ([], false)].bytes += bytes
        if fin { toClient[stream]!.fin = true }
    }

    /// Delivers everything pending, streams in random order, each in random chunks.
    mutating func run() throws(HTTP3Error) {
        while !toServer.isEmpty || !toClient.isEmpty {
            for stream in toServer.keys.shuffled(using: &rng) {
                let (bytes, fin) = toServer.removeValue(forKey: stream)!
                var generator = rng
                serverSaw += try feed(&server, stream, bytes, fin: fin) { remaining in
                    1 + generator.below(min(remaining, maxChunk))
                }
                rng = generator
            }
            for stream in toClient.keys.shuffled(using: &rng) {
                let (bytes, fin) = toClient.removeValue(forKey: stream)!
                var generator = rng
                clientSaw += try feed(&client, stream, bytes, fin: fin) { remaining in
                    1 + generator.below(min(remaining, maxChunk))
                }
                rng = generator
            }
        }
    }

    /// All body bytes seen for `stream`, concatenated.
    static func body(_ seen: [Seen], _ stream: StreamID) -> [UInt8] {
        seen.flatMap { event -> [UInt8] in
            if case .data(stream, let bytes) = event { return bytes }
            return []
        }
    }
}

@Suite("HTTP3Connection: client ⇄ server exchanges")
struct ExchangeTests {
    @Test("GET, then response headers and a 1 MB body in DATA frames, then the end", arguments: [1, 2, 3] as [UInt64])
    func oneMegabyte(seed: UInt64) throws {
        var pair = Pair(seed: seed, maxChunk: seed == 1 ? 7 : 9000)
        let stream = StreamID.clientBidi(0)
        let request = pair.client.encodeRequest(
            stream: stream, authority: "example.com", path: "/1048576",
            headers: [HTTPField("user-agent", "quicxdp-test")])
        pair.clientWrites(stream, request, fin: true)
        try pair.run()

        #expect(pair.serverSaw.contains(.settings(pair.client.localSettings)))
        let expectedRequest =
            getRequest.map { $0.name == ":authority" ? HTTPField(":authority", "example.com") : $0 }
            .map { $0.name == ":path" ? HTTPField(":path", "/1048576") : $0 } + [
                HTTPField("user-agent", "quicxdp-test")
            ]
        let requestEvents = pair.serverSaw.filter {
            if case .settings = $0 { return false }
            return true
        }
        #expect(requestEvents == [.request(stream, expectedRequest), .end(stream)])

        var rng = SeededGenerator(seed: seed)
        let body = rng.bytes(1 << 20)
        let responseFields = [
            HTTPField("content-type", "application/octet-stream"), HTTPField("content-length", String(body.count)),
        ]
        pair.serverWrites(stream, pair.server.encodeResponse(status: 200, headers: responseFields))
        var offset = 0
        while offset < body.count {
            let count = min(body.count - offset, 1 + rng.below(70_000))
            pair.serverWrites(stream, HTTP3Connection.encodeDataFrameHeader(length: count))
            pair.serverWrites(stream, Array(body[offset..<(offset + count)]))
            offset += count
        }
        pair.serverWrites(stream, [], fin: true)
        try pair.run()

        #expect(
            pair.clientSaw.first {
                if case .settings = $0 { return true }
                return false
            } == .settings(pair.server.localSettings))
        let responseEvents = pair.clientSaw.filter {
            if case .settings = $0 { return false }
            return true
        }
        #expect(responseEvents.first == .response(stream, [HTTPField(":status", "200")] + responseFields))
        #expect(responseEvents.last == .end(stream))
        #expect(Pair.body(pair.clientSaw, stream) == body)
        #expect(pair.client.peerSettings?.maxFieldSectionSize == 65536)
    }

    @Test("a request stream split into two reads at every byte gives the same events")
    func splitRequestStream() throws {
        let stream = StreamID.clientBidi(0)
        let bytes =
            headersFrame(getRequest + [HTTPField("content-length", "5")])
            + HTTP3Frame.unknown(type: 0x40, payload: [7]).encoded
            + dataFrame([1, 2]) + dataFrame([3, 4, 5]) + headersFrame([HTTPField("x-t", "done")])
        let expected: [Seen] = [
            .request(stream, getRequest + [HTTPField("content-length", "5")]), .data(stream, [1, 2, 3, 4, 5]),
            .trailers(stream, [HTTPField("x-t", "done")]), .end(stream),
        ]
        for cut in 0...bytes.count {
            var server = HTTP3Connection(role: .server)
            var seen = try feed(&server, stream, Array(bytes[..<cut]))
            seen += try feed(&server, stream, Array(bytes[cut...]), fin: true)
            // Data split across the two reads arrives as two events; join them to compare.
            var joined: [Seen] = []
            for event in seen {
                if case .data(let s, let more) = event, case .data(s, let earlier)? = joined.last {
                    joined[joined.count - 1] = .data(s, earlier + more)
                } else {
                    joined.append(event)
                }
            }
            #expect(joined == expected, "split at \(cut)")
        }
    }

    @Test("120 concurrent requests on one connection, delivered interleaved")
    func concurrentRequests() throws {
        var pair = Pair(seed: 99, maxChunk: 50)
        let streams = (0..<120).map { StreamID.clientBidi(UInt64($0)) }
        for (index, stream) in streams.enumerated() {
            pair.clientWrites(
                stream, pair.client.encodeRequest(stream: stream, authority: "h", path: "/\(index)"), fin: true)
        }
        try pair.run()
        var paths: [StreamID: String] = [:]
        for case .request(let stream, let fields) in pair.serverSaw { paths[stream] = fields[":path"] }
        #expect(paths.count == 120)
        for (stream, path) in paths {
            let body = Array("body of \(path)".utf8)
            pair.serverWrites(stream, pair.server.encodeResponse(status: 200) + dataFrame(body), fin: true)
        }
        try pair.run()
        for (index, stream) in streams.enumerated() {
            #expect(Pair.body(pair.clientSaw, stream) == Array("body of /\(index)".utf8))
            #expect(pair.clientSaw.contains(.end(stream)))
        }
    }

    @Test("interim responses, trailers and GREASE frames on a request stream")
    func interimAndTrailers() throws {
        var pair = Pair(seed: 5, maxChunk: 3)
        let stream = StreamID.clientBidi(0)
        pair.clientWrites(
            stream,
            pair.client.encodeRequest(
                stream: stream, method: "POST", authority: "h", path: "/upload",
                headers: [HTTPField("content-length", "4")]))
        pair.clientWrites(
            stream,
            HTTP3Frame.unknown(type: 0x21, payload: [1, 2, 3]).encoded + dataFrame([1, 2]) + dataFrame([])
                + dataFrame([3, 4]))
        pair.clientWrites(stream, pair.client.encodeHeaders([HTTPField("x-checksum", "abc")]), fin: true)
        try pair.run()
        let serverEvents = pair.serverSaw.filter {
            if case .settings = $0 { return false }
            return true
        }
        #expect(serverEvents.count == 4)
        #expect(serverEvents[1] == .data(stream, [1, 2, 3, 4]))
        #expect(serverEvents[2] == .trailers(stream, [HTTPField("x-checksum", "abc")]))
        #expect(serverEvents[3] == .end(stream))

        pair.serverWrites(stream, pair.server.encodeResponse(status: 103, headers: [HTTPField("link", "</s.css>")]))
        pair.serverWrites(stream, pair.server.encodeResponse(status: 100))
        pair.serverWrites(
            stream, pair.server.encodeResponse(status: 204, headers: [HTTPField("content-length", "10")]), fin: true)
        try pair.run()
        let clientEvents = pair.clientSaw.filter {
            if case .settings = $0 { return false }
            return true
        }
        #expect(
            clientEvents.map {
                if case .response(_, let f) = $0 { return f[":status"] ?? "" }
                return "other"
            } == ["103", "100", "204", "other"])
        #expect(clientEvents.last == .end(stream))
    }

    @Test("GOAWAY: the server rejects requests at or above its identifier; the client sees it")
    func goaway() throws {
        var pair = Pair(seed: 11)
        for index in 0..<3 {
            let stream = StreamID.clientBidi(UInt64(index))
            pair.clientWrites(stream, pair.client.encodeRequest(stream: stream, authority: "h", path: "/"), fin: true)
        }
        try pair.run()
        let goaway = pair.server.encodeGoaway()
        #expect(goaway == HTTP3Frame.goaway(id: 12).encoded)
        pair.serverWrites(.serverUni(0), goaway)
        try pair.run()
        #expect(pair.clientSaw.contains(.goaway(12)))
        #expect(pair.client.peerGoawayID == 12)
        // A request the client sent before it saw the GOAWAY.
        let late = StreamID.clientBidi(3)
        pair.clientWrites(late, pair.client.encodeRequest(stream: late, authority: "h", path: "/late"), fin: true)
        try pair.run()
        #expect(pair.serverSaw.contains(.streamError(late, .requestRejected)))
        #expect(
            !pair.serverSaw.contains {
                if case .request(late, _) = $0 { return true }
                return false
            })
        // A later GOAWAY may only lower the identifier.
        #expect(pair.server.encodeGoaway(id: 40) == HTTP3Frame.goaway(id: 12).encoded)
        #expect(pair.server.encodeGoaway(id: 4) == HTTP3Frame.goaway(id: 4).encoded)
    }

    @Test("the control stream starts with the stream type and SETTINGS with QPACK capacity 0")
    func controlStreamBytes() throws {
        var configuration = HTTP3Configuration()
        configuration.grease = false
        var connection = HTTP3Connection(role: .client, configuration: configuration)
        // Type 0x00; SETTINGS (0x04), length 5: MAX_FIELD_SECTION_SIZE (0x06) = 65536. QPACK
        // capacity and blocked streams are left at their default of 0.
        #expect(
            connection.openLocalStream(.control, id: .clientUni(0)) == [0x00, 0x04, 0x05, 0x06, 0x80, 0x01, 0x00, 0x00])
        #expect(connection.openLocalStream(.qpackEncoder, id: .clientUni(1)) == [0x02])
        #expect(connection.openLocalStream(.qpackDecoder, id: .clientUni(2)) == [0x03])

        var greasy = HTTP3Connection(role: .server, configuration: HTTP3Configuration())
        let bytes = greasy.openLocalStream(.control, id: .serverUni(0))
        // It parses as our own settings (with a reserved identifier) followed by a reserved frame.
        var peer = HTTP3Connection(role: .client)
        let seen = try feed(&peer, .serverUni(0), bytes)
        #expect(seen == [.settings(greasy.localSettings)])
        #expect(greasy.localSettings.other.count == 1)
        #expect(greasy.localSettings.other.allSatisfy { isGreaseValue($0.identifier) })
        let settingsFrame = HTTP3Frame.settings(greasy.localSettings).encoded
        #expect(Array(bytes[1..<(1 + settingsFrame.count)]) == settingsFrame)
        #expect(isGreaseValue(UInt64(bytes[1 + settingsFrame.count])))
    }
}

/// Captured from aioquic 1.7.2 driving its own H3Connection over a stub QUIC connection: the
/// bytes each side wrote on each stream (tools/h3/aioquic_capture.py prints them).
@Suite("HTTP3Connection against bytes written by aioquic")
struct AioquicCaptureTests {
    /// aioquic client: control stream (SETTINGS: QPACK capacity 4096, blocked streams 16,
    /// ENABLE_CONNECT_PROTOCOL, a reserved 0x21; then MAX_PUSH_ID 8), encoder and decoder
    /// streams, and a GET with FIN.
    @Test("our server reads an aioquic client's streams and request")
    func serverReadsAioquicClient() throws {
        var server = HTTP3Connection(role: .server)
        var seen: [Seen] = []
        seen += try feed(&server, .clientUni(0), hex("0004090150000710080121010d0108"))
        seen += try feed(&server, .clientUni(1), hex("02"))
        seen += try feed(&server, .clientUni(2), hex("03"))
        seen += try feed(
            &server, .clientBidi(0),
            hex("01260000d1d7508aa0e41d139d09b8d34cb3518860d5485f2bce9a685f5089198fdad31180aeeae2"), fin: true)
        var settings = HTTP3Settings()
        settings.qpackMaxTableCapacity = 4096
        settings.qpackBlockedStreams = 16
        settings.other = [.init(0x08, 1), .init(0x21, 1)]
        #expect(
            seen == [
                .settings(settings),
                .request(
                    .clientBidi(0),
                    [
                        HTTPField(":method", "GET"), HTTPField(":scheme", "https"),
                        HTTPField(":authority", "localhost:4433"),
                        HTTPField(":path", "/index.html"), HTTPField("user-agent", "aioquic/1.7.2"),
                    ]),
                .end(.clientBidi(0)),
            ])
    }

    /// aioquic server answering a client that advertised QPACK capacity 0 (ours): its encoder
    /// stream carries only the type, and the response uses static and literal lines.
    @Test("our client reads an aioquic server's streams and response")
    func clientReadsAioquicServer() throws {
        var client = HTTP3Connection(role: .client)
        let stream = StreamID.clientBidi(0)
        _ = client.encodeRequest(stream: stream, authority: "localhost:4433", path: "/index.html")
        var seen: [Seen] = []
        seen += try feed(&client, .serverUni(0), hex("000409015000071008012101"))
        seen += try feed(&client, .serverUni(1), hex("02"))
        seen += try feed(&client, .serverUni(2), hex("03"))
        seen += try feed(
            &client, stream, hex("011c0000d95f4d89198fdad31180aeeae25f1d87497ca589d34d1f540135000568656c6c6f"),
            fin: true, chunk: { _ in 1 })
        #expect(
            seen.dropFirst() == [
                .response(
                    stream,
                    [
                        HTTPField(":status", "200"), HTTPField("server", "aioquic/1.7.2"),
                        HTTPField("content-type", "text/html"),
                        HTTPField("content-length", "5"),
                    ]),
                .data(stream, Array("hello".utf8)),
                .end(stream),
            ])
    }

    /// What aioquic's server sends a client that advertised capacity 4096: Set Dynamic Table
    /// Capacity 4096. Sent to us, who advertised 0, it must be refused (RFC 9204 §4.3.1).
    @Test("a capacity above our advertised 0 is QPACK_ENCODER_STREAM_ERROR")
    func capacityAboveZero() {
        var client = HTTP3Connection(role: .client)
        let error = connectionError { () throws(HTTP3Error) in _ = try feed(&client, .serverUni(1), hex("023fe11f")) }
        #expect(error?.code == .qpackEncoderStreamError)
    }
}

/// Captured from nghttp3 0.8.0 (Debian libnghttp3-3, the HTTP/3 library of ngtcp2's
/// gtlsclient/gtlsserver), configured as the ngtcp2 examples configure it (QPACK capacity 4096,
/// 100 blocked streams); tools/h3/nghttp3_harness.c prints these bytes.
@Suite("HTTP3Connection against bytes written by nghttp3")
struct Nghttp3CaptureTests {
    /// nghttp3's control stream: SETTINGS with MAX_FIELD_SECTION_SIZE 2^62 − 1 (an 8-byte
    /// varint), QPACK capacity 4096 and 100 blocked streams.
    static let controlStream = hex("00040f06ffffffffffffffff015000074064")

    static var settings: HTTP3Settings {
        var settings = HTTP3Settings()
        settings.maxFieldSectionSize = (1 << 62) - 1
        settings.qpackMaxTableCapacity = 4096
        settings.qpackBlockedStreams = 100
        return settings
    }

    @Test("our server reads an nghttp3 client's streams and request")
    func serverReadsNghttp3Client() throws {
        var server = HTTP3Connection(role: .server)
        var seen: [Seen] = []
        seen += try feed(&server, .clientUni(0), Self.controlStream, chunk: { _ in 1 })
        seen += try feed(&server, .clientUni(2), hex("03"))
        seen += try feed(&server, .clientUni(1), hex("02"))
        seen += try feed(
            &server, .clientBidi(0),
            hex("012c0000d1d7508aa0e41d139d09b8d34cb3518860d5485f2bce9a685f508faa69d29ad962a9924ac4a128316a4f"),
            fin: true)
        #expect(
            seen == [
                .settings(Self.settings),
                .request(
                    .clientBidi(0),
                    [
                        HTTPField(":method", "GET"), HTTPField(":scheme", "https"),
                        HTTPField(":authority", "localhost:4433"),
                        HTTPField(":path", "/index.html"), HTTPField("user-agent", "nghttp3/ngtcp2 client"),
                    ]),
                .end(.clientBidi(0)),
            ])
    }

    /// nghttp3 answering after it read our SETTINGS (capacity 0): static and literal lines only.
    @Test("our client reads an nghttp3 server's streams and response")
    func clientReadsNghttp3Server() throws {
        var client = HTTP3Connection(role: .client)
        let stream = StreamID.clientBidi(0)
        _ = client.encodeRequest(stream: stream, authority: "localhost:4433", path: "/index.html")
        var seen: [Seen] = []
        seen += try feed(&client, .serverUni(0), Self.controlStream)
        seen += try feed(&client, .serverUni(2), hex("03"))
        seen += try feed(&client, .serverUni(1), hex("02"))
        let response = hex(
            "011a0000d95f4d8faa69d29ad962a9924ac4a20b6772d9f554023138001268656c6c6f2066726f6d206e676874747033")
        seen += try feed(&client, stream, response, fin: true, chunk: { _ in 3 })
        #expect(
            seen == [
                .settings(Self.settings),
                .response(
                    stream,
                    [
                        HTTPField(":status", "200"), HTTPField("server", "nghttp3/ngtcp2 server"),
                        HTTPField("content-type", "text/plain"),
                        HTTPField("content-length", "18"),
                    ]),
                .data(stream, Array("hello from nghttp3".utf8)),
                .end(stream),
            ])
    }
}
