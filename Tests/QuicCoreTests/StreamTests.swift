@testable import QuicCore
import QuicWire
import Testing

@Suite("Streams and flow control (RFC 9000 §2–§4)")
struct StreamTests {
    func peerParameters(streams: UInt64 = 10, window: UInt64 = 1000, maxData: UInt64 = 10_000) -> TransportParameters {
        var parameters = TransportParameters()
        parameters.initialMaxStreamsBidi = streams
        parameters.initialMaxStreamsUni = streams
        parameters.initialMaxStreamDataBidiLocal = window
        parameters.initialMaxStreamDataBidiRemote = window
        parameters.initialMaxStreamDataUni = window
        parameters.initialMaxData = maxData
        return parameters
    }

    func limits(window: UInt64 = 1000, maxData: UInt64 = 5000, streams: UInt64 = 4) -> StreamLimits {
        var limits = StreamLimits()
        limits.initialStreamWindow = window
        limits.maximumStreamWindow = window
        limits.initialMaxData = maxData
        limits.maximumData = maxData
        limits.maxStreamsBidi = streams
        limits.maxStreamsUni = streams
        limits.sendBufferSize = 4096
        return limits
    }

    /// Feeds a STREAM frame with `count` bytes of `fill`.
    func receive(_ manager: StreamManager, id: UInt64, offset: UInt64, count: Int, fin: Bool = false, fill: UInt8 = 0x61)
        throws(WireError) -> RecvStream.FrameResult
    {
        let bytes = [UInt8](repeating: fill, count: count)
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(WireError) -> RecvStream.FrameResult in
                try manager.onStreamFrame(
                    StreamFrame(streamID: StreamID(rawValue: id), offset: offset, data: ByteView(raw), fin: fin))
            }
        }
        return try result.get()
    }

    func expectError(_ code: TransportErrorCode, _ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            try body()
            Issue.record("expected \(code)", sourceLocation: sourceLocation)
        } catch let error as WireError {
            #expect(error.code == code, sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test("out-of-order data reassembles and reads in order; FIN after the last byte")
    func reassembly() throws {
        let manager = StreamManager(role: .server, limits: limits())
        // Client bidi stream 0: bytes 100..<200 first, then 0..<100 with another fill.
        _ = try receive(manager, id: 0, offset: 100, count: 100, fin: true, fill: 0x62)
        #expect(manager.pollEvent() == .opened(StreamID(rawValue: 0)))
        #expect(manager.pollEvent() == nil, "nothing readable while the start is missing")
        _ = try receive(manager, id: 0, offset: 0, count: 100, fill: 0x61)
        #expect(manager.pollEvent() == .readable(StreamID(rawValue: 0)))
        var buffer = [UInt8](repeating: 0, count: 500)
        let (count, fin) = try buffer.withUnsafeMutableBytes { try manager.read(StreamID(rawValue: 0), into: $0) }
        #expect(count == 200)
        #expect(fin)
        #expect(buffer[..<100].allSatisfy { $0 == 0x61 } && buffer[100..<200].allSatisfy { $0 == 0x62 })
    }

    @Test("FLOW_CONTROL_ERROR beyond the stream window and beyond the connection window")
    func flowControl() {
        let manager = StreamManager(role: .server, limits: limits(window: 1000, maxData: 1500))
        expectError(.flowControlError) { _ = try receive(manager, id: 0, offset: 900, count: 101) }
        let second = StreamManager(role: .server, limits: limits(window: 1000, maxData: 1500))
        expectError(.flowControlError) {
            _ = try receive(second, id: 0, offset: 0, count: 1000)
            _ = try receive(second, id: 4, offset: 0, count: 501)
        }
    }

    @Test("FINAL_SIZE_ERROR: data past the final size, a changed final size, a reset below received data")
    func finalSize() {
        expectError(.finalSizeError) {
            let manager = StreamManager(role: .server, limits: limits())
            _ = try receive(manager, id: 0, offset: 0, count: 10, fin: true)
            _ = try receive(manager, id: 0, offset: 10, count: 1)
        }
        expectError(.finalSizeError) {
            let manager = StreamManager(role: .server, limits: limits())
            _ = try receive(manager, id: 0, offset: 0, count: 10, fin: true)
            _ = try receive(manager, id: 0, offset: 0, count: 5, fin: true)
        }
        expectError(.finalSizeError) {
            let manager = StreamManager(role: .server, limits: limits())
            _ = try receive(manager, id: 0, offset: 0, count: 50)
            try manager.onResetStream(ResetStreamFrame(streamID: StreamID(rawValue: 0), applicationErrorCode: 1, finalSize: 20))
        }
    }

    @Test("STREAM_LIMIT_ERROR past MAX_STREAMS; STREAM_STATE_ERROR on the wrong kind of stream")
    func streamRules() {
        // Server allows 4 client bidi streams: ids 0, 4, 8, 12. Stream 16 is the fifth.
        expectError(.streamLimitError) { _ = try receive(StreamManager(role: .server, limits: limits(streams: 4)), id: 16, offset: 0, count: 1) }
        // Stream 3 is a server-initiated unidirectional stream: the server cannot receive on it.
        expectError(.streamStateError) { _ = try receive(StreamManager(role: .server, limits: limits()), id: 3, offset: 0, count: 1) }
        // Stream 1 is server-initiated bidi and the server has not opened it.
        expectError(.streamStateError) { _ = try receive(StreamManager(role: .server, limits: limits()), id: 1, offset: 0, count: 1) }
        // STOP_SENDING for the client's unidirectional stream 2 (receive-only for the server).
        expectError(.streamStateError) {
            try StreamManager(role: .server, limits: limits()).onStopSending(StopSendingFrame(streamID: StreamID(rawValue: 2), applicationErrorCode: 0))
        }
        // MAX_STREAM_DATA for a receive-only stream.
        expectError(.streamStateError) {
            try StreamManager(role: .server, limits: limits()).onMaxStreamData(MaxStreamDataFrame(streamID: StreamID(rawValue: 2), maximumStreamData: 9))
        }
        // RESET_STREAM for a send-only stream (server's own unidirectional stream 3, opened).
        expectError(.streamStateError) {
            let manager = StreamManager(role: .server, limits: limits())
            manager.applyPeerParameters(peerParameters())
            _ = manager.open(.unidirectional)
            try manager.onResetStream(ResetStreamFrame(streamID: StreamID(rawValue: 3), applicationErrorCode: 0, finalSize: 0))
        }
    }

    @Test("opening a stream opens every lower-numbered one of its kind")
    func implicitOpen() throws {
        let manager = StreamManager(role: .server, limits: limits())
        _ = try receive(manager, id: 8, offset: 0, count: 1)
        var opened: [UInt64] = []
        while let event = manager.pollEvent() { if case .opened(let id) = event { opened.append(id.rawValue) } }
        #expect(opened == [0, 4, 8])
    }

    @Test("sending respects stream and connection credit, then retransmits lost ranges first")
    func sending() throws {
        let manager = StreamManager(role: .client, limits: limits())
        manager.applyPeerParameters(peerParameters(window: 300, maxData: 250))
        let id = try #require(manager.open(.bidirectional))
        let payload = [UInt8](repeating: 7, count: 1000)
        let written = try payload.withUnsafeBytes { try manager.write(id, $0, fin: false) }
        #expect(written == 1000)
        var packet = [UInt8](repeating: 0, count: 1500)
        var records: [SentFrame] = []
        packet.withUnsafeMutableBytes { raw in
            var writer = ByteWriter(raw)
            manager.writeStreamFrames(into: &writer, limit: raw.count) { records.append($0) }
        }
        #expect(records == [.stream(id: id, offset: 0, length: 250, fin: false)], "connection credit (250) binds first")
        manager.onMaxData(2000)
        records.removeAll()
        packet.withUnsafeMutableBytes { raw in
            var writer = ByteWriter(raw)
            manager.writeStreamFrames(into: &writer, limit: raw.count) { records.append($0) }
            manager.writeControlFrames(into: &writer, limit: raw.count, now: .zero, smoothedRTT: .milliseconds(10)) { records.append($0) }
        }
        #expect(records == [.stream(id: id, offset: 250, length: 50, fin: false), .streamDataBlocked(id)], "then the stream credit (300)")
        manager.onFrame(.stream(id: id, offset: 0, length: 250, fin: false), .lost)
        records.removeAll()
        packet.withUnsafeMutableBytes { raw in
            var writer = ByteWriter(raw)
            manager.writeStreamFrames(into: &writer, limit: raw.count) { records.append($0) }
        }
        #expect(records == [.stream(id: id, offset: 0, length: 250, fin: false)], "the lost range is re-sent")
    }
}
