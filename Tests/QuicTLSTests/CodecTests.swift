import QuicCrypto
import Testing

@testable import QuicTLS

@Suite("TLS structure codecs at their boundaries")
struct CodecTests {
    /// The alert `body` throws, nil when it returns.
    func alert(_ body: () throws -> Void) -> AlertDescription? {
        do {
            try body()
            return nil
        } catch let error as TLSAlert {
            return error.description
        } catch {
            Issue.record("not a TLS alert: \(error)")
            return nil
        }
    }

    @Test("reads past the end, and vectors outside their bounds, are decode_error")
    func readerBounds() {
        #expect(
            alert {
                var r = TLSReader([0x01])
                _ = try r.readUInt16("x")
            } == .decodeError)
        #expect(
            alert {
                var r = TLSReader([0x00, 0x03, 1, 2])
                _ = try r.readVector(lengthBytes: 2, "v")
            } == .decodeError)
        #expect(
            alert {
                var r = TLSReader([0x00])
                _ = try r.readVector(lengthBytes: 1, min: 1, "v")
            } == .decodeError)
        #expect(
            alert {
                var r = TLSReader([0x03, 1, 2, 3])
                _ = try r.readVector(lengthBytes: 1, max: 2, "v")
            } == .decodeError)
        #expect(
            alert {
                var r = TLSReader([0x02, 1, 2])
                _ = try r.readVector(lengthBytes: 1, min: 2, max: 2, "v")
            } == nil)
        #expect(
            alert {
                let r = TLSReader([0x00])
                try r.expectEnd("x")
            } == .decodeError)
        // A sub-reader stops at its own end even when more bytes follow.
        #expect(
            alert {
                var r = TLSReader([0x01, 0xaa, 0xbb])
                var s = try r.readSubReader(lengthBytes: 1, "s")
                _ = try s.readUInt16("y")
            } == .decodeError)
    }

    @Test("the writer's length prefixes round-trip through the reader")
    func writerRoundTrip() throws {
        var writer = TLSWriter()
        writer.writeVector(lengthBytes: 3) {
            $0.writeVector(lengthBytes: 1, [1, 2, 3])
            $0.writeUInt32(0xdead_beef)
        }
        #expect(writer.bytes == [0, 0, 8, 3, 1, 2, 3, 0xde, 0xad, 0xbe, 0xef])
        var reader = TLSReader(writer.bytes)
        var inner = try reader.readSubReader(lengthBytes: 3, "outer")
        #expect(try inner.readVector(lengthBytes: 1, "inner") == [1, 2, 3])
        #expect(try inner.readUInt32("value") == 0xdead_beef)
        #expect(inner.isAtEnd && reader.isAtEnd)
    }

    @Test("extension blocks: duplicates are illegal_parameter; RFC 8446 §4.2 placement rules")
    func extensionRules() throws {
        #expect(
            alert {
                var r = TLSReader([0, 8, 0, 16, 0, 0, 0, 16, 0, 0])
                _ = try ExtensionBlock(reading: &r, in: "test")
            } == .illegalParameter)

        var block = ExtensionBlock()
        block.append(ExtensionType(rawValue: 0x7a7a), [])
        #expect(alert { try block.validate(in: .clientHello, name: "CH", requested: nil) } == nil)
        #expect(alert { try block.validate(in: .newSessionTicket, name: "NST", requested: nil) } == nil)
        #expect(
            alert { try block.validate(in: .encryptedExtensions, name: "EE", requested: [.keyShare]) }
                == .unsupportedExtension)

        var misplaced = ExtensionBlock()
        misplaced.append(.pskKeyExchangeModes, [1, 1])
        #expect(
            alert { try misplaced.validate(in: .encryptedExtensions, name: "EE", requested: [.pskKeyExchangeModes]) }
                == .illegalParameter)

        var cookie = ExtensionBlock()
        cookie.append(.cookie, [0, 1, 9])
        #expect(alert { try cookie.validate(in: .helloRetryRequest, name: "HRR", requested: [.keyShare]) } == nil)
        #expect(
            alert { try cookie.validate(in: .serverHello, name: "SH", requested: [.keyShare]) } == .illegalParameter)
    }

    @Test("typed extension bodies refuse malformed lengths")
    func extensionBodies() {
        #expect(alert { _ = try ExtensionCodec.decodeSupportedVersionsList([3, 3, 4, 3]) } == .decodeError)  // odd list length
        #expect(alert { _ = try ExtensionCodec.decodeUInt16List([0, 0], "supported_groups") } == .decodeError)  // empty
        #expect(alert { _ = try ExtensionCodec.decodeProtocolNames([0, 3, 0, 1, 0x68]) } == .decodeError)  // empty name
        #expect(alert { _ = try ExtensionCodec.decodeClientShares([0, 4, 0, 0x1d, 0, 0]) } == .decodeError)  // empty key_exchange
        #expect(alert { _ = try ExtensionCodec.decodeServerName([0, 3, 0, 0, 0]) } == .decodeError)  // empty host name
        #expect(alert { _ = try ExtensionCodec.decodeOfferedPSKs([0, 0, 0, 0]) } == .decodeError)  // no identities
        #expect(alert { _ = try ExtensionCodec.decodeSelectedIdentity([0, 0, 0]) } == .decodeError)
    }

    @Test("the reassembler waits for whole messages and judges a header on arrival")
    func reassembler() throws {
        var reassembler = HandshakeReassembler()
        let finished: [UInt8] = [20, 0, 0, 3, 7, 8, 9]
        finished[..<5].withUnsafeBytes { reassembler.append($0) }
        #expect(try reassembler.nextMessage() == nil)
        finished[5...].withUnsafeBytes { reassembler.append($0) }
        let message = try #require(try reassembler.nextMessage())
        #expect(message.type == .finished && message.body == [7, 8, 9] && message.encoded == finished)
        #expect(reassembler.isEmpty)

        var oversized = HandshakeReassembler()
        [UInt8]([15, 0, 0x10, 0]).withUnsafeBytes { oversized.append($0) }  // a 4 KiB CertificateVerify
        #expect(alert { _ = try oversized.nextMessage() } == .illegalParameter)

        var unknown = HandshakeReassembler()
        [UInt8]([254, 0, 0, 0]).withUnsafeBytes { unknown.append($0) }  // message_hash never travels
        #expect(alert { _ = try unknown.nextMessage() } == .unexpectedMessage)
    }

    @Test("tickets: sealed contents open only unaltered and only under a retained key")
    func ticketSealing() throws {
        let ring = TicketKeyRing()
        let contents = ServerTicket(
            suite: .aes256GCMSHA384, psk: [UInt8](repeating: 3, count: 48), issuedAt: 1_000, lifetime: 600, ageAdd: 77,
            allowsEarlyData: true, alpn: Array("h3".utf8), earlyDataContext: [1, 2], ticketContext: [0x6b, 0x33, 0x43, 0xcf])
        let sealed = ring.seal(contents.encode(), now: 1_000)
        let second = ring.seal(contents.encode(), now: 1_000)
        #expect(sealed.ticket != second.ticket && sealed.id != second.id)
        let opened = try #require(ring.open(sealed.ticket))
        #expect(opened.id == sealed.id)
        let decoded = try #require(ServerTicket.decode(opened.contents))
        #expect(decoded.psk == contents.psk && decoded.alpn == contents.alpn && decoded.earlyDataContext == [1, 2])
        #expect(decoded.ticketContext == [0x6b, 0x33, 0x43, 0xcf])
        #expect(decoded.expiresAt == 601_000)
        for index in [0, 5, 20, sealed.ticket.count - 1] {
            var altered = sealed.ticket
            altered[index] ^= 0x80
            #expect(ring.open(altered) == nil)
        }
        #expect(TicketKeyRing().open(sealed.ticket) == nil)
        #expect(ring.open([1, 2, 3]) == nil)
    }

    @Test("obfuscated_ticket_age is age + ticket_age_add modulo 2^32 (RFC 8446 §4.2.11.1)")
    func obfuscatedAge() {
        let ticket = ClientTicket(
            serverName: "s", ticket: [1], psk: [], suite: .aes128GCMSHA256, receivedAt: 10_000, lifetime: 100,
            ageAdd: 0xffff_fff0, maxEarlyDataSize: nil, alpn: "h3", transportParameters: [], context: [])
        #expect(ticket.obfuscatedAge(at: 10_020) == 4)
        #expect(ticket.isUsable(at: 109_999) && !ticket.isUsable(at: 110_000) && !ticket.isUsable(at: 9_999))
    }
}
