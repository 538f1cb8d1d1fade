import QuicHTTP3
import QuicWire
import Testing

@Suite("HTTP/3 frames (RFC 9114 §7)")
struct FrameTests {
    static func sampleFrames() -> [HTTP3Frame] {
        var settings = HTTP3Settings()
        settings.maxFieldSectionSize = 65536
        settings.other = [.init(0x21, 7), .init(0x33, 1)]
        var qpack = HTTP3Settings()
        qpack.qpackMaxTableCapacity = 4096
        qpack.qpackBlockedStreams = 16
        return [
            .data([]), .data(Array("hello".utf8)), .data([UInt8](repeating: 0xab, count: 20000)),
            .headers(QPACKEncoder.encode(getRequest)), .cancelPush(pushID: 3), .settings(HTTP3Settings()),
            .settings(settings), .settings(qpack), .pushPromise(pushID: 1 << 40, fieldSection: [0, 0, 0xd1]),
            .goaway(id: 0), .goaway(id: (1 << 62) - 4), .maxPushID(pushID: 63), .maxPushID(pushID: 64),
            .unknown(type: 0x21, payload: []), .unknown(type: 0x1f * 1000 + 0x21, payload: [1, 2, 3]),
            .unknown(type: 0xf0700, payload: [0, 1]),
        ]
    }

    @Test("each frame kind round-trips through encode and decode")
    func roundTrip() throws {
        for frame in Self.sampleFrames() {
            let bytes = frame.encoded
            try bytes.withUnsafeBytes { (raw) throws in
                var reader = ByteReader(raw)
                let type = try reader.readVarIntValue()
                let length = try reader.readVarIntValue()
                #expect(type == frame.type)
                #expect(Int(length) == reader.remaining)
                #expect(try HTTP3Frame.decode(type: type, payload: reader.readRest()) == frame)
            }
        }
    }

    /// All sample frames back to back, split at every byte boundary, and one byte at a time.
    @Test("the frame reader gives the same frames however the bytes are split")
    func splitAtEveryByte() throws {
        let frames = Self.sampleFrames().filter {
            if case .data(let bytes) = $0 { return bytes.count < 100 }
            return true
        }
        let stream = frames.flatMap(\.encoded)
        let expected = try parse([stream])
        #expect(expected == frames)
        for cut in 0...stream.count {
            #expect(try parse([Array(stream[..<cut]), Array(stream[cut...])]) == frames, "split at \(cut)")
        }
        #expect(try parse(stream.map { [$0] }) == frames)
    }

    /// Reassembles frames from chunks: DATA streamed, known types gathered, unknown gathered too
    /// here so the test can compare them.
    func parse(_ chunks: [[UInt8]]) throws -> [HTTP3Frame] {
        var reader = HTTP3FrameReader()
        var frames: [HTTP3Frame] = []
        var dataInProgress: [UInt8]?
        var dataRemaining: UInt64 = 0
        for chunk in chunks {
            try chunk.withUnsafeBytes { (raw) throws in
                var offset = 0
                while let output = reader.next(raw, offset: &offset) {
                    switch output {
                    case .header(let type, let length):
                        if type == HTTP3FrameType.data {
                            reader.readPayload(as: .stream)
                            if length == 0 {
                                frames.append(.data([]))
                            } else {
                                dataInProgress = []
                                dataRemaining = length
                            }
                        } else {
                            reader.readPayload(as: .gather)
                        }
                    case .payloadChunk(let range):
                        dataInProgress!.append(contentsOf: raw[range])
                        dataRemaining -= UInt64(range.count)
                        if dataRemaining == 0 {
                            frames.append(.data(dataInProgress!))
                            dataInProgress = nil
                        }
                    case .payload(let type, let bytes):
                        frames.append(try HTTP3Frame.decode(type: type, payload: bytes))
                    }
                }
                #expect(offset == raw.count)
            }
        }
        #expect(reader.isAtFrameBoundary)
        return frames
    }

    @Test("a reader stopped inside a header or payload is not at a frame boundary")
    func boundary() {
        var reader = HTTP3FrameReader()
        let bytes: [UInt8] = [0x40]  // first byte of a 2-byte type
        bytes.withUnsafeBytes { raw in
            var offset = 0
            #expect(reader.next(raw, offset: &offset) == nil)
        }
        #expect(!reader.isAtFrameBoundary)
    }

    @Test("a payload longer or shorter than its fields is H3_FRAME_ERROR (§7.1, §10.8)")
    func exactPayloads() {
        for (type, payload) in [
            (HTTP3FrameType.goaway, [0x04, 0x00]), (HTTP3FrameType.goaway, []), (HTTP3FrameType.goaway, [0x40]),
            (HTTP3FrameType.maxPushID, [0x01, 0x01]), (HTTP3FrameType.cancelPush, [0x80, 0x00]),
            (HTTP3FrameType.settings, [0x06]), (HTTP3FrameType.settings, [0x06, 0x40]),
            (HTTP3FrameType.pushPromise, []),
        ] as [(UInt64, [UInt8])] {
            #expect(
                connectionError { () throws(HTTP3Error) in _ = try HTTP3Frame.decode(type: type, payload: payload) }?
                    .code == .frameError)
        }
    }

    @Test("SETTINGS: duplicate and HTTP/2 identifiers are H3_SETTINGS_ERROR; unknown ones are kept (§7.2.4)")
    func settingsRules() throws {
        func decode(_ payload: [UInt8]) -> HTTP3ErrorCode? {
            connectionError { () throws(HTTP3Error) in _ = try HTTP3Settings.decodePayload(payload) }?.code
        }
        #expect(decode([0x06, 0x10, 0x06, 0x20]) == .settingsError)
        for reserved: UInt8 in [0x00, 0x02, 0x03, 0x04, 0x05] { #expect(decode([reserved, 0x00]) == .settingsError) }
        let settings = try HTTP3Settings.decodePayload([
            0x01, 0x00, 0x07, 0x00, 0x21, 0x05, 0x08, 0x01, 0x06, 0x44, 0x00,
        ])
        #expect(settings.qpackMaxTableCapacity == 0 && settings.qpackBlockedStreams == 0)
        #expect(settings.maxFieldSectionSize == 0x400)
        #expect(settings.other == [.init(0x21, 5), .init(0x08, 1)])
    }

    @Test("GREASE values are 0x1f * N + 0x21")
    func grease() {
        #expect(isGreaseValue(0x21) && isGreaseValue(0x40) && isGreaseValue(0x3fff_ffff_ffff_fffe))
        #expect(!isGreaseValue(0x20) && !isGreaseValue(0x00) && !isGreaseValue(0x41))
        #expect(HTTP3ErrorCode.isReserved(0x21 + 0x1f * 5))
    }

    @Test("error codes have the RFC 9114 §8.1 and RFC 9204 §6 values")
    func errorCodes() {
        #expect(HTTP3ErrorCode.noError.rawValue == 0x100)
        #expect(HTTP3ErrorCode.frameUnexpected.rawValue == 0x105)
        #expect(HTTP3ErrorCode.missingSettings.rawValue == 0x10a)
        #expect(HTTP3ErrorCode.messageError.rawValue == 0x10e)
        #expect(HTTP3ErrorCode.versionFallback.rawValue == 0x110)
        #expect(HTTP3ErrorCode.qpackDecompressionFailed.rawValue == 0x200)
        #expect(HTTP3ErrorCode.qpackDecoderStreamError.rawValue == 0x202)
        #expect(HTTP3ErrorCode.closedCriticalStream.description == "H3_CLOSED_CRITICAL_STREAM")
    }

    @Test("DATA frame headers written for the lead match the frame encoding")
    func dataHeaders() {
        for length in [0, 1, 63, 64, 16383, 16384, 1 << 30] {
            let header = HTTP3Connection.encodeDataFrameHeader(length: length)
            #expect(header.count == HTTP3Connection.dataFrameHeaderLength(length: length))
            if length < 20000 {
                #expect(
                    header + [UInt8](repeating: 7, count: length)
                        == HTTP3Frame.data([UInt8](repeating: 7, count: length)).encoded)
            }
            var buffer = [UInt8](repeating: 0, count: 16)
            let written = buffer.withUnsafeMutableBytes { raw -> Int in
                var writer = ByteWriter(raw)
                HTTP3Connection.writeDataFrameHeader(length: length, into: &writer)
                return writer.offset
            }
            #expect(Array(buffer[..<written]) == header)
        }
    }
}
