import QuicWire
import Testing

@Suite("Packet headers (RFC 9000 §17, RFC 9369 §3.2, RFC 8999)")
struct HeaderTests {
    static let longTypes: [(PacketType, QuicVersion)] = [
        (.initial, .v1), (.zeroRTT, .v1), (.handshake, .v1), (.initial, .v2), (.zeroRTT, .v2), (.handshake, .v2),
    ]

    @Test("v2 permutes the long-header type bits")
    func typeBits() {
        #expect(PacketType.initial.longHeaderBits(version: .v1) == 0)
        #expect(PacketType.retry.longHeaderBits(version: .v1) == 3)
        #expect(PacketType.initial.longHeaderBits(version: .v2) == 1)
        #expect(PacketType.zeroRTT.longHeaderBits(version: .v2) == 2)
        #expect(PacketType.handshake.longHeaderBits(version: .v2) == 3)
        #expect(PacketType.retry.longHeaderBits(version: .v2) == 0)
        for version in [QuicVersion.v1, .v2] {
            for type in [PacketType.initial, .zeroRTT, .handshake, .retry] {
                #expect(PacketType.longHeaderType(bits: type.longHeaderBits(version: version), version: version) == type)
            }
        }
    }

    @Test("long headers round-trip over random values", arguments: longTypes)
    func longRoundTrip(type: PacketType, version: QuicVersion) throws {
        var rng = SeededGenerator(seed: UInt64(type.rawValue) << 8 | UInt64(version.rawValue & 0xff))
        for _ in 0..<200 {
            let dcid = ConnectionID(bytes: rng.bytes(Int(rng.next() % 21)))!
            let scid = ConnectionID(bytes: rng.bytes(Int(rng.next() % 21)))!
            let token = type == .initial ? rng.bytes(Int(rng.next() % 60)) : []
            let pnLength = 1 + Int(rng.next() % 4)
            let packetNumber = rng.next() & ((1 << UInt64(8 * pnLength)) - 1)
            let payloadLength = 20 + Int(rng.next() % 1000)
            var encodedHeader: EncodedHeader?
            var bytes = encoded(capacity: 2048) { writer in
                token.withUnsafeBytes { token in
                    encodedHeader = HeaderEncoder.encodeLong(
                        type: type, version: version, destinationCID: dcid, sourceCID: scid, token: token,
                        packetNumber: packetNumber, packetNumberLength: pnLength, into: &writer)
                }
                writer.writeZeros(payloadLength)
            }
            let header = try #require(encodedHeader)
            #expect(
                header.payloadOffset
                    == HeaderEncoder.longHeaderLength(
                        type: type, destinationCID: dcid, sourceCID: scid, tokenLength: token.count,
                        packetNumberLength: pnLength))
            bytes.withUnsafeMutableBytes { header.patchLength(packetEnd: $0.count, in: $0) }
            // A second packet coalesced behind it.
            bytes += [0x40, 1, 2, 3, 4]
            let parsed = try bytes.withUnsafeBytes { try PacketHeader.parse($0, shortHeaderCIDLength: 4) }
            #expect(parsed.type == type)
            #expect(parsed.version == version)
            #expect(parsed.destinationCID == dcid)
            #expect(parsed.sourceCID == scid)
            #expect(Array(parsed.token) == token)
            #expect(parsed.packetNumberOffset == header.packetNumberOffset)
            #expect(parsed.end == bytes.count - 5)
            #expect(HeaderBits.packetNumberLength(parsed.firstByte) == pnLength)
            #expect(parsed.firstByte & HeaderBits.longReserved == 0)
        }
    }

    @Test("short headers: spin and key-phase bits, packet number length")
    func short() throws {
        let dcid = ConnectionID(bytes: [9, 8, 7, 6, 5, 4, 3, 2])!
        for (spin, keyPhase, pnLength) in [(false, false, 1), (true, false, 2), (false, true, 3), (true, true, 4)] {
            let bytes = encoded { writer in
                _ = HeaderEncoder.encodeShort(
                    destinationCID: dcid, spin: spin, keyPhase: keyPhase, packetNumber: 0x1234_5678 & ((1 << UInt64(8 * pnLength)) - 1),
                    packetNumberLength: pnLength, into: &writer)
                writer.writeZeros(30)
            }
            let parsed = try bytes.withUnsafeBytes { try PacketHeader.parse($0, shortHeaderCIDLength: 8) }
            #expect(parsed.type == .oneRTT)
            #expect(parsed.version == nil)
            #expect(parsed.destinationCID == dcid)
            #expect(parsed.packetNumberOffset == 9)
            #expect(parsed.end == bytes.count)
            #expect((parsed.firstByte & HeaderBits.shortSpin != 0) == spin)
            #expect((parsed.firstByte & HeaderBits.shortKeyPhase != 0) == keyPhase)
            #expect(HeaderBits.packetNumberLength(parsed.firstByte) == pnLength)
        }
    }

    @Test("coalesced Initial + Handshake + 1-RTT in one datagram")
    func coalesced() throws {
        let dcid = ConnectionID(bytes: [1, 2, 3, 4, 5, 6, 7, 8])!
        let scid = ConnectionID(bytes: [8, 7, 6, 5])!
        var datagram: [UInt8] = []
        for type in [PacketType.initial, .handshake] {
            var part = encoded { writer in
                let header = HeaderEncoder.encodeLong(
                    type: type, version: .v1, destinationCID: dcid, sourceCID: scid, packetNumber: 0,
                    packetNumberLength: 1, into: &writer)
                writer.writeZeros(40)
                header.patchLength(packetEnd: writer.offset, in: writer.buffer)
            }
            part = Array(part)
            datagram += part
        }
        datagram += encoded { writer in
            _ = HeaderEncoder.encodeShort(destinationCID: dcid, keyPhase: false, packetNumber: 1, packetNumberLength: 1, into: &writer)
            writer.writeZeros(25)
        }
        let types = datagram.withUnsafeBytes { raw -> [PacketType] in
            var iterator = CoalescedPackets(raw, shortHeaderCIDLength: 8)
            var types: [PacketType] = []
            while let header = iterator.next() { types.append(header.type) }
            #expect(iterator.error == nil)
            return types
        }
        #expect(types == [.initial, .handshake, .oneRTT])
    }

    @Test("Version Negotiation: encode, then parse the invariant header and the version list")
    func versionNegotiation() throws {
        let clientDCID: [UInt8] = Array(repeating: 0xaa, count: 30)  // other versions allow > 20 bytes
        let clientSCID: [UInt8] = [1, 2, 3]
        let bytes = encoded { writer in
            clientDCID.withUnsafeBytes { dcid in
                clientSCID.withUnsafeBytes { scid in
                    VersionNegotiation.encode(
                        clientDestinationCID: dcid, clientSourceCID: scid, supported: QuicVersion.supported,
                        greaseVersion: QuicVersion(rawValue: 0x1a2a_3a4a), unusedBits: 0x55, into: &writer)
                }
            }
        }
        #expect(bytes.count == VersionNegotiation.encodedLength(clientDestinationCIDLength: 30, clientSourceCIDLength: 3, versionCount: 3))
        #expect(bytes[0] & 0x80 != 0)
        // The client sees its own IDs swapped back (RFC 9000 §17.2.1).
        let invariant = try bytes.withUnsafeBytes { try InvariantHeader.parse($0, shortHeaderCIDLength: 0) }
        #expect(invariant.version == .negotiation)
        #expect(Array(invariant.destinationCID) == clientSCID)
        #expect(Array(invariant.sourceCID) == clientDCID)
        // A 30-byte CID is not a v1 CID: the v1 parser refuses it, the invariant parser does not.
        #expect(throws: WireError.self) { try bytes.withUnsafeBytes { try PacketHeader.parse($0, shortHeaderCIDLength: 0) } }

        let shortIDs = encoded { writer in
            clientSCID.withUnsafeBytes { scid in
                VersionNegotiation.encode(
                    clientDestinationCID: scid, clientSourceCID: scid, supported: QuicVersion.supported,
                    greaseVersion: nil, unusedBits: 0, into: &writer)
            }
        }
        let parsed = try shortIDs.withUnsafeBytes { try PacketHeader.parse($0, shortHeaderCIDLength: 0) }
        #expect(parsed.type == .versionNegotiation)
        #expect(parsed.versions == QuicVersion.supported)
        #expect(QuicVersion(rawValue: 0x1a2a_3a4a).isReservedForGrease)
    }

    @Test("an unknown version is readable through the invariant header only")
    func unknownVersion() throws {
        let bytes: [UInt8] = [0xc0, 0xff, 0x00, 0x00, 0x1d, 4, 1, 2, 3, 4, 2, 5, 6] + Array(repeating: 0, count: 1200)
        let invariant = try bytes.withUnsafeBytes { try InvariantHeader.parse($0, shortHeaderCIDLength: 0) }
        #expect(invariant.isLongHeader)
        #expect(invariant.version == QuicVersion(rawValue: 0xff00_001d))
        #expect(Array(invariant.destinationCID) == [1, 2, 3, 4])
        #expect(Array(invariant.sourceCID) == [5, 6])
        #expect(throws: WireError(.protocolViolation, .unsupportedVersion)) {
            try bytes.withUnsafeBytes { try PacketHeader.parse($0, shortHeaderCIDLength: 0) }
        }
    }

    @Test("a stateless reset's token is the datagram's last 16 bytes")
    func statelessReset() {
        let datagram: [UInt8] = [0x4b] + Array(repeating: 7, count: 10) + Array(1...16)
        let token = datagram.withUnsafeBytes { StatelessReset.candidateToken(in: $0) }
        #expect(token == StatelessResetToken(bytes: Array(1...16)))
        let tooShort: [UInt8] = [0x40] + Array(1...16)
        #expect(tooShort.withUnsafeBytes { StatelessReset.candidateToken(in: $0) } == nil)
    }
}
