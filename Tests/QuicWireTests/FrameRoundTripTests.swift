import QuicWire
import Testing

@Suite("Frames round-trip (RFC 9000 §19, RFC 9221 §4)")
struct FrameRoundTripTests {
    /// A random instance of every frame kind, with data views into `pool`.
    static func randomFrames(_ rng: inout SeededGenerator, pool: UnsafeRawBufferPointer, arena: inout ByteWriter)
        -> [Frame]
    {
        func view(_ maxCount: Int, nonEmpty: Bool = false) -> ByteView {
            let count = Int(rng.next() % UInt64(maxCount + 1)) | (nonEmpty ? 1 : 0)
            let start = Int(rng.next() % UInt64(pool.count - count))
            return ByteView(UnsafeRawBufferPointer(rebasing: pool[start..<(start + count)]))
        }
        func stream() -> StreamID { StreamID(rawValue: rng.varint()) }
        func cid() -> ConnectionID { ConnectionID(bytes: rng.bytes(1 + Int(rng.next() % 20)))! }
        func token() -> StatelessResetToken { StatelessResetToken(high: rng.next(), low: rng.next()) }
        let dataLength = min(rng.varint(), (1 << 62) - 1 - 2000)
        let ackRanges = randomAckRanges(&rng)
        return [
            .padding(count: 1 + Int(rng.next() % 50)),
            .ping,
            .ack(ackFrame(ranges: ackRanges, delay: rng.varint(), ecn: nil, arena: &arena)),
            .ack(ackFrame(ranges: ackRanges, delay: rng.varint(), ecn: ECNCounts(ect0: rng.varint(), ect1: rng.varint(), ce: rng.varint()), arena: &arena)),
            .resetStream(ResetStreamFrame(streamID: stream(), applicationErrorCode: rng.varint(), finalSize: rng.varint())),
            .stopSending(StopSendingFrame(streamID: stream(), applicationErrorCode: rng.varint())),
            .crypto(CryptoFrame(offset: dataLength, data: view(1000))),
            .newToken(view(100, nonEmpty: true)),
            .stream(StreamFrame(streamID: stream(), offset: dataLength, data: view(1000), fin: rng.next() & 1 == 0)),
            .stream(StreamFrame(streamID: stream(), offset: 0, data: view(1000), fin: true, hasExplicitLength: true)),
            .maxData(rng.varint()),
            .maxStreamData(MaxStreamDataFrame(streamID: stream(), maximumStreamData: rng.varint())),
            .maxStreams(MaxStreamsFrame(direction: .bidirectional, maximumStreams: rng.next() % (1 << 60 + 1))),
            .maxStreams(MaxStreamsFrame(direction: .unidirectional, maximumStreams: rng.next() % (1 << 60 + 1))),
            .dataBlocked(rng.varint()),
            .streamDataBlocked(StreamDataBlockedFrame(streamID: stream(), maximumStreamData: rng.varint())),
            .streamsBlocked(StreamsBlockedFrame(direction: .bidirectional, maximumStreams: rng.next() % (1 << 60))),
            .streamsBlocked(StreamsBlockedFrame(direction: .unidirectional, maximumStreams: rng.next() % (1 << 60))),
            {
                let sequence = rng.varint()
                return .newConnectionID(
                    NewConnectionIDFrame(
                        sequenceNumber: sequence, retirePriorTo: sequence == 0 ? 0 : rng.next() % sequence,
                        connectionID: cid(), statelessResetToken: token()))
            }(),
            .retireConnectionID(sequenceNumber: rng.varint()),
            .pathChallenge(rng.next()),
            .pathResponse(rng.next()),
            .connectionClose(ConnectionCloseFrame(isApplicationClose: false, errorCode: rng.varint(), frameType: rng.varint(), reason: view(64))),
            .connectionClose(ConnectionCloseFrame(isApplicationClose: true, errorCode: rng.varint(), reason: view(64))),
            .handshakeDone,
            .datagram(DatagramFrame(data: view(1000), hasExplicitLength: true)),
        ]
    }

    /// Disjoint, descending ranges with gaps of at least one packet.
    static func randomAckRanges(_ rng: inout SeededGenerator) -> [ClosedRange<UInt64>] {
        var ranges: [ClosedRange<UInt64>] = []
        var high = (1 << 40) + rng.next() % (1 << 40)
        for _ in 0..<(1 + Int(rng.next() % 20)) {
            let length = rng.next() % 1000
            guard high >= length else { break }
            ranges.append((high - length)...high)
            let gap = 2 + rng.next() % 5000
            guard high - length >= gap else { break }
            high = high - length - gap
        }
        return ranges
    }

    /// An AckFrame value built by encoding into `arena` and decoding it back, since received ACK
    /// ranges are views into a packet.
    static func ackFrame(ranges: [ClosedRange<UInt64>], delay: UInt64, ecn: ECNCounts?, arena: inout ByteWriter)
        -> AckFrame
    {
        let start = arena.offset
        AckFrame.encode(ranges: ranges, ackDelay: delay, ecnCounts: ecn, into: &arena)
        var reader = FrameReader(
            payload: UnsafeRawBufferPointer(rebasing: arena.buffer[start..<arena.offset]), packetType: .oneRTT)
        guard case .ack(let frame)? = try? reader.next() else { fatalError("not an ACK") }
        return frame
    }

    @Test("every frame type: decode(encode(frame)) == frame, and encodedLength is exact")
    func roundTrip() throws {
        var rng = SeededGenerator(seed: 3)
        let pool = rng.bytes(8192)
        let arenaMemory = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 8)
        defer { arenaMemory.deallocate() }
        var arena = ByteWriter(arenaMemory)
        try pool.withUnsafeBytes { pool in
            for _ in 0..<300 {
                for frame in Self.randomFrames(&rng, pool: pool, arena: &arena) {
                    let bytes = encoded(capacity: 8192) { frame.encode(into: &$0) }
                    #expect(bytes.count == frame.encodedLength, "\(frame.type) length")
                    let decoded = try bytes.withUnsafeBytes { raw in
                        try FrameReader.decodeAll(raw, packetType: .oneRTT)
                    }
                    #expect(decoded == [frame], "\(frame.type) round trip")
                }
            }
        }
    }

    @Test("a STREAM or DATAGRAM frame without a length runs to the end of the packet")
    func implicitLength() throws {
        let data: [UInt8] = Array(0..<100)
        try data.withUnsafeBytes { raw in
            let view = ByteView(raw)
            for frame in [
                Frame.stream(StreamFrame(streamID: StreamID(rawValue: 4), offset: 77, data: view, fin: true, hasExplicitLength: false)),
                Frame.datagram(DatagramFrame(data: view, hasExplicitLength: false)),
            ] {
                let bytes = encoded { frame.encode(into: &$0) }
                let decoded = try bytes.withUnsafeBytes { try FrameReader.decodeAll($0, packetType: .oneRTT) }
                #expect(decoded == [frame])
            }
        }
    }

    @Test("ACK ranges decode highest first, as encoded")
    func ackRanges() throws {
        let ranges: [ClosedRange<UInt64>] = [95...100, 50...90, 10...10, 0...5]
        let bytes = encoded { AckFrame.encode(ranges: ranges, ackDelay: 12, ecnCounts: nil, into: &$0) }
        #expect(bytes.count == AckFrame.encodedLength(ranges: ranges, ackDelay: 12, ecnCounts: nil))
        let frames = try bytes.withUnsafeBytes { try FrameReader.decodeAll($0, packetType: .initial) }
        guard case .ack(let ack) = try #require(frames.first) else { Issue.record("not an ACK"); return }
        #expect(ack.largestAcknowledged == 100)
        #expect(ack.ackDelay == 12)
        #expect(Array(ack.ranges) == ranges)
        #expect(ack.ranges.smallest == 0)
    }

    @Test("consecutive PADDING collapses into one frame; data frames point into the payload")
    func paddingAndViews() throws {
        let payload: [UInt8] = [0x01] + [UInt8](repeating: 0, count: 30) + [0x06, 0x00, 0x03, 0xaa, 0xbb, 0xcc]
        try payload.withUnsafeBytes { raw in
            let frames = try FrameReader.decodeAll(raw, packetType: .handshake)
            #expect(frames.count == 3)
            #expect(frames[0] == .ping)
            #expect(frames[1] == .padding(count: 30))
            guard case .crypto(let crypto) = frames[2] else { Issue.record("expected CRYPTO"); return }
            #expect(crypto.data.bytes.baseAddress == raw.baseAddress! + 34, "CRYPTO data is a view, not a copy")
            #expect(crypto.data.array == [0xaa, 0xbb, 0xcc])
        }
    }

    @Test("the packet-type table: what each packet type may carry (RFC 9000 Table 3)")
    func allowedTable() {
        let initialOrHandshake: Set<FrameType> = [.padding, .ping, .ack, .ackECN, .crypto, .connectionCloseTransport]
        let notInZeroRTT: Set<FrameType> = [.ack, .ackECN, .crypto, .newToken, .pathResponse, .handshakeDone]
        for type in FrameType.allCases {
            #expect(type.isAllowed(in: .initial) == initialOrHandshake.contains(type), "\(type) in Initial")
            #expect(type.isAllowed(in: .handshake) == initialOrHandshake.contains(type), "\(type) in Handshake")
            #expect(type.isAllowed(in: .zeroRTT) == !notInZeroRTT.contains(type), "\(type) in 0-RTT")
            #expect(type.isAllowed(in: .oneRTT), "\(type) in 1-RTT")
        }
    }
}
