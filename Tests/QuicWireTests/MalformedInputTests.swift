import QuicWire
import Testing

/// Bad bytes from the network: each must produce the error the RFC names, never a trap.
@Suite("Malformed input")
struct MalformedInputTests {
    struct FrameCase: Sendable, CustomTestStringConvertible {
        let name: String
        let payload: String
        let packetType: PacketType
        let code: TransportErrorCode
        let reason: WireError.Reason
        /// Whether the frame type was readable (and so is reported in CONNECTION_CLOSE).
        var typeReadable = true
        var testDescription: String { name }
    }

    static let token16 = String(repeating: "ab", count: 16)

    static let frameCases: [FrameCase] = [
        FrameCase(name: "unknown frame type 0x1f", payload: "1f", packetType: .oneRTT, code: .frameEncodingError, reason: .unknownFrameType),
        FrameCase(name: "unknown extension type 0x21", payload: "21", packetType: .oneRTT, code: .frameEncodingError, reason: .unknownFrameType),
        FrameCase(name: "truncated frame type", payload: "40", packetType: .oneRTT, code: .frameEncodingError, reason: .truncated, typeReadable: false),
        FrameCase(name: "PING with a 2-byte type", payload: "4001", packetType: .oneRTT, code: .protocolViolation, reason: .nonMinimalFrameType),
        FrameCase(name: "STREAM in Initial", payload: "0800", packetType: .initial, code: .protocolViolation, reason: .frameNotAllowedInPacketType),
        FrameCase(name: "HANDSHAKE_DONE in Handshake", payload: "1e", packetType: .handshake, code: .protocolViolation, reason: .frameNotAllowedInPacketType),
        FrameCase(name: "ACK in 0-RTT", payload: "0200000000", packetType: .zeroRTT, code: .protocolViolation, reason: .frameNotAllowedInPacketType),
        FrameCase(name: "CRYPTO in 0-RTT", payload: "060000", packetType: .zeroRTT, code: .protocolViolation, reason: .frameNotAllowedInPacketType),
        FrameCase(name: "application CONNECTION_CLOSE in Initial", payload: "1d0000", packetType: .initial, code: .protocolViolation, reason: .frameNotAllowedInPacketType),
        FrameCase(name: "DATAGRAM in Handshake", payload: "30", packetType: .handshake, code: .protocolViolation, reason: .frameNotAllowedInPacketType),
        FrameCase(name: "NEW_TOKEN in 0-RTT", payload: "0701aa", packetType: .zeroRTT, code: .protocolViolation, reason: .frameNotAllowedInPacketType),
        FrameCase(name: "ACK first range above largest", payload: "0205000006", packetType: .initial, code: .frameEncodingError, reason: .ackRangeUnderflow),
        FrameCase(name: "ACK gap below zero", payload: "020a0001020700", packetType: .initial, code: .frameEncodingError, reason: .ackRangeUnderflow),
        FrameCase(name: "ACK range length below zero", payload: "020a0001020009", packetType: .initial, code: .frameEncodingError, reason: .ackRangeUnderflow),
        FrameCase(name: "ACK range count beyond the packet", payload: "020a003f00", packetType: .initial, code: .frameEncodingError, reason: .truncated),
        FrameCase(name: "ACK truncated", payload: "020a", packetType: .initial, code: .frameEncodingError, reason: .truncated),
        FrameCase(name: "ACK_ECN missing counts", payload: "030a00000001", packetType: .oneRTT, code: .frameEncodingError, reason: .truncated),
        FrameCase(name: "RESET_STREAM truncated", payload: "040000", packetType: .oneRTT, code: .frameEncodingError, reason: .truncated),
        FrameCase(name: "CRYPTO length past end", payload: "060005aa", packetType: .handshake, code: .frameEncodingError, reason: .lengthPastEnd),
        FrameCase(name: "CRYPTO beyond 2^62-1", payload: "06ffffffffffffffff01aa", packetType: .handshake, code: .frameEncodingError, reason: .offsetTooLarge),
        FrameCase(name: "empty NEW_TOKEN", payload: "0700", packetType: .oneRTT, code: .frameEncodingError, reason: .emptyToken),
        FrameCase(name: "STREAM length past end", payload: "0a0410aa", packetType: .oneRTT, code: .frameEncodingError, reason: .lengthPastEnd),
        FrameCase(name: "STREAM beyond 2^62-1", payload: "0e00ffffffffffffffff01aa", packetType: .oneRTT, code: .frameEncodingError, reason: .offsetTooLarge),
        FrameCase(name: "STREAM truncated offset", payload: "0c00ff", packetType: .oneRTT, code: .frameEncodingError, reason: .truncated),
        FrameCase(name: "MAX_STREAMS above 2^60", payload: "12d000000000000001", packetType: .oneRTT, code: .frameEncodingError, reason: .invalidValue),
        FrameCase(name: "STREAMS_BLOCKED above 2^60", payload: "17d000000000000001", packetType: .oneRTT, code: .frameEncodingError, reason: .invalidValue),
        FrameCase(name: "NEW_CONNECTION_ID with empty CID", payload: "18010000" + token16, packetType: .oneRTT, code: .frameEncodingError, reason: .invalidConnectionIDLength),
        FrameCase(name: "NEW_CONNECTION_ID with 21-byte CID", payload: "18010015" + String(repeating: "01", count: 21) + token16, packetType: .oneRTT, code: .frameEncodingError, reason: .invalidConnectionIDLength),
        FrameCase(name: "NEW_CONNECTION_ID retire_prior_to above sequence", payload: "1801020401020304" + token16, packetType: .oneRTT, code: .frameEncodingError, reason: .invalidValue),
        FrameCase(name: "NEW_CONNECTION_ID short token", payload: "180100040102030401", packetType: .oneRTT, code: .frameEncodingError, reason: .truncated),
        FrameCase(name: "PATH_CHALLENGE truncated", payload: "1a010203", packetType: .oneRTT, code: .frameEncodingError, reason: .truncated),
        FrameCase(name: "CONNECTION_CLOSE reason past end", payload: "1c00000561", packetType: .initial, code: .frameEncodingError, reason: .lengthPastEnd),
        FrameCase(name: "DATAGRAM length past end", payload: "3105aa", packetType: .oneRTT, code: .frameEncodingError, reason: .lengthPastEnd),
    ]

    @Test("frame decoding errors carry the RFC's error code", arguments: frameCases)
    func frames(_ testCase: FrameCase) {
        let bytes = hex(testCase.payload)
        do {
            let frames = try bytes.withUnsafeBytes { try FrameReader.decodeAll($0, packetType: testCase.packetType) }
            Issue.record("decoded \(frames) instead of failing")
        } catch let error as WireError {
            #expect(error.code == testCase.code)
            #expect(error.reason == testCase.reason)
            #expect((error.frameType != nil) == testCase.typeReadable, "the failing frame type is reported")
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test("a packet without frames is a PROTOCOL_VIOLATION")
    func emptyPayload() {
        #expect(throws: WireError(.protocolViolation, .emptyPayload)) {
            try [UInt8]().withUnsafeBytes { _ = try FrameReader.decodeAll($0, packetType: .oneRTT) }
        }
    }

    struct HeaderCase: Sendable, CustomTestStringConvertible {
        let name: String
        let bytes: String
        let reason: WireError.Reason
        var testDescription: String { name }
    }

    static let headerCases: [HeaderCase] = [
        HeaderCase(name: "empty datagram", bytes: "", reason: .truncated),
        HeaderCase(name: "long header cut inside the version", bytes: "c00000", reason: .truncated),
        HeaderCase(name: "v1 DCID length 21", bytes: "c00000000115" + String(repeating: "00", count: 25), reason: .invalidConnectionIDLength),
        HeaderCase(name: "SCID cut short", bytes: "c0000000010001050102", reason: .truncated),
        HeaderCase(name: "Initial token length past end", bytes: "c000000001000005aabb", reason: .lengthPastEnd),
        HeaderCase(name: "Initial Length past end", bytes: "c00000000100000044000102", reason: .lengthPastEnd),
        HeaderCase(name: "Handshake missing Length", bytes: "e0000000010000", reason: .truncated),
        HeaderCase(name: "fixed bit clear", bytes: "800000000100000005000102030405", reason: .fixedBitZero),
        HeaderCase(name: "short header fixed bit clear", bytes: "0001020304050607080900", reason: .fixedBitZero),
        HeaderCase(name: "short header shorter than its CID", bytes: "400102", reason: .truncated),
        HeaderCase(name: "Version Negotiation with a partial version", bytes: "80000000000000010203", reason: .invalidPacket),
        HeaderCase(name: "Retry shorter than its tag", bytes: "f0000000010000aabbcc", reason: .truncated),
        HeaderCase(name: "unknown version", bytes: "c0abcdef120000", reason: .unsupportedVersion),
    ]

    @Test("header parsing rejects malformed packets", arguments: headerCases)
    func headers(_ testCase: HeaderCase) {
        let bytes = hex(testCase.bytes)
        do {
            let header = try bytes.withUnsafeBytes { try PacketHeader.parse($0, shortHeaderCIDLength: 8) }
            Issue.record("parsed \(header.type) instead of failing")
        } catch let error as WireError {
            #expect(error.reason == testCase.reason)
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test("non-zero reserved bits after unprotection are a PROTOCOL_VIOLATION")
    func reservedBits() throws {
        for first: UInt8 in [0xc4, 0xc8, 0xe0 | 0x0c, 0x48, 0x50, 0x58] {
            #expect(throws: WireError(.protocolViolation, .reservedBits)) { try HeaderBits.checkReservedBits(first) }
        }
        for first: UInt8 in [0xc0, 0xc3, 0xf3, 0x40, 0x47, 0x67] {
            try HeaderBits.checkReservedBits(first)
        }
    }

    @Test("random bytes never trap the decoders")
    func fuzz() {
        var rng = SeededGenerator(seed: 99)
        for _ in 0..<20_000 {
            let bytes = rng.bytes(Int(rng.next() % 64))
            bytes.withUnsafeBytes { raw in
                for type in [PacketType.initial, .handshake, .zeroRTT, .oneRTT] {
                    _ = try? FrameReader.decodeAll(raw, packetType: type)
                }
                _ = try? PacketHeader.parse(raw, shortHeaderCIDLength: Int(rng.next() % 21))
                _ = try? InvariantHeader.parse(raw, shortHeaderCIDLength: 8)
                _ = try? TransportParameters.decode(raw, sentBy: .server)
                var packets = CoalescedPackets(raw, shortHeaderCIDLength: 4)
                while packets.next() != nil {}
            }
        }
    }
}
