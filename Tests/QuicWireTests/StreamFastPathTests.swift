import QuicWire
import Testing

/// The receive loop reads STREAM frames with `nextStreamFrame()` before falling back to
/// `next()`. Whatever the bytes, that loop must decode the same frames and fail with the same
/// error (code, reason, frame type) as `next()` alone.
@Suite("STREAM fast path agrees with the general decoder")
struct StreamFastPathTests {
    enum Outcome: Equatable {
        case frames([Frame])
        case failed(WireError)
    }

    static func general(_ payload: UnsafeRawBufferPointer, _ type: PacketType) -> Outcome {
        var reader = FrameReader(payload: payload, packetType: type)
        var frames: [Frame] = []
        do {
            while let frame = try reader.next() { frames.append(frame) }
        } catch {
            return .failed(error)
        }
        return .frames(frames)
    }

    /// The loop `Connection.processFrames` runs.
    static func fastPath(_ payload: UnsafeRawBufferPointer, _ type: PacketType) -> Outcome {
        var reader = FrameReader(payload: payload, packetType: type)
        var frames: [Frame] = []
        do {
            while !reader.isAtEnd {
                if let stream = try reader.nextStreamFrame() {
                    frames.append(.stream(stream))
                    continue
                }
                guard let frame = try reader.next() else { break }
                frames.append(frame)
            }
        } catch {
            return .failed(error)
        }
        return .frames(frames)
    }

    static let types: [PacketType] = [.initial, .handshake, .zeroRTT, .oneRTT]

    @Test("every malformed-frame case fails the same way")
    func malformed() {
        for testCase in MalformedInputTests.frameCases {
            hex(testCase.payload).withUnsafeBytes { raw in
                let expected = Self.general(raw, testCase.packetType)
                guard case .failed(let error) = expected else {
                    Issue.record("\(testCase.name): the general decoder accepted it")
                    return
                }
                #expect(error.code == testCase.code, "\(testCase.name)")
                #expect(Self.fastPath(raw, testCase.packetType) == expected, "\(testCase.name)")
            }
        }
    }

    @Test("packets of random frames, STREAM frames among them, decode to the same frames")
    func randomPackets() {
        var rng = SeededGenerator(seed: 41)
        let pool = rng.bytes(4096)
        let arenaMemory = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 8)
        defer { arenaMemory.deallocate() }
        var arena = ByteWriter(arenaMemory)
        pool.withUnsafeBytes { pool in
            var streamFrames = 0
            for _ in 0..<200 {
                arena = ByteWriter(arenaMemory)
                let all = FrameRoundTripTests.randomFrames(&rng, pool: pool, arena: &arena)
                // A few frames in random order; a STREAM frame without a length only last.
                // No PADDING: consecutive ones decode as one frame.
                let candidates = all.filter { $0.type != .padding }
                var chosen = (0..<4).map { _ in candidates[Int(rng.next() % UInt64(candidates.count))] }
                chosen.append(.stream(StreamFrame(
                    streamID: StreamID(rawValue: rng.next() % 64), offset: rng.next() % 100_000,
                    data: ByteView(UnsafeRawBufferPointer(rebasing: pool[0..<Int(rng.next() % 1200)])), fin: rng.next() & 1 == 0,
                    hasExplicitLength: rng.next() & 1 == 0)))
                let bytes = encoded(capacity: 16384) { writer in
                    for frame in chosen { frame.encode(into: &writer) }
                }
                bytes.withUnsafeBytes { raw in
                    for type in Self.types {
                        let expected = Self.general(raw, type)
                        #expect(Self.fastPath(raw, type) == expected, "\(type)")
                        if type == .oneRTT, case .frames(let frames) = expected {
                            #expect(frames == chosen)
                            streamFrames += frames.filter { $0.type == .stream }.count
                        }
                    }
                }
            }
            #expect(streamFrames >= 200, "the packets carried STREAM frames")
        }
    }

    @Test("random and bit-flipped STREAM bytes fail or succeed the same way")
    func fuzz() {
        var rng = SeededGenerator(seed: 1234)
        for _ in 0..<20_000 {
            var bytes = rng.bytes(Int(rng.next() % 48))
            // Mostly STREAM types, so the fast path sees its own frames broken in every place.
            if !bytes.isEmpty, rng.next() % 4 != 0 { bytes[0] = 0x08 | UInt8(rng.next() & 7) }
            bytes.withUnsafeBytes { raw in
                for type in Self.types {
                    #expect(Self.fastPath(raw, type) == Self.general(raw, type))
                }
            }
        }
    }
}
