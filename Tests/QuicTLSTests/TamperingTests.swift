import QuicCrypto
import QuicWire
import Testing

@testable import QuicTLS

/// A change made to one flight in transit, and the alert RFC 8446 (or RFC 9001) says the
/// receiver must answer it with.
struct Tampering: Sendable, CustomTestStringConvertible {
    var name: String
    var from: Role
    var level: EncryptionLevel
    /// Which flight from `from` at `level`: 0 for the first.
    var occurrence = 0
    var expected: AlertDescription
    var protocolViolation = false
    var configure: @Sendable (inout TLSConfiguration, inout TLSConfiguration) -> Void = { _, _ in }
    var change: @Sendable (inout Flight) -> Void

    var testDescription: String { name }
}

// MARK: message editors

extension Flight {
    mutating func editClientHello(_ edit: (inout ClientHello) -> Void) {
        rewrite(.clientHello) { bytes in
            guard var hello = try? ClientHello.decode(Array(bytes.dropFirst(4))) else { return bytes }
            edit(&hello)
            return hello.encode()
        }
    }

    mutating func editServerHello(_ edit: (inout ServerHello) -> Void) {
        rewrite(.serverHello) { bytes in
            guard var hello = try? ServerHello.decode(Array(bytes.dropFirst(4))) else { return bytes }
            edit(&hello)
            return hello.encode()
        }
    }

    mutating func editEncryptedExtensions(_ edit: (inout ExtensionBlock) -> Void) {
        rewrite(.encryptedExtensions) { bytes in
            guard var message = try? EncryptedExtensions.decode(Array(bytes.dropFirst(4))) else { return bytes }
            edit(&message.extensions)
            return message.encode()
        }
    }

    mutating func editCertificate(_ edit: (inout CertificateMessage) -> Void) {
        rewrite(.certificate) { bytes in
            guard var message = try? CertificateMessage.decode(Array(bytes.dropFirst(4))) else { return bytes }
            edit(&message)
            return message.encode()
        }
    }

    /// Flips one bit `fromEnd` bytes before the end of the first message of `type`.
    mutating func flipBit(in type: HandshakeType, fromEnd: Int = 1) {
        rewrite(type) { bytes in
            var bytes = bytes
            bytes[bytes.count - fromEnd] ^= 0x01
            return bytes
        }
    }
}

/// Swaps one key share's bytes for the all-zero X25519 point, whose shared secret is zero.
func zeroKeyShare(_ block: inout ExtensionBlock, client: Bool) {
    var writer = TLSWriter()
    let entry = ExtensionCodec.KeyShareEntry(
        group: NamedGroup.x25519.rawValue, keyExchange: [UInt8](repeating: 0, count: 32))
    if client {
        writer.writeVector(lengthBytes: 2) { ExtensionCodec.encodeKeyShareEntry(entry, into: &$0) }
    } else {
        ExtensionCodec.encodeKeyShareEntry(entry, into: &writer)
    }
    block.remove(.keyShare)
    block.append(.keyShare, writer.bytes)
}

extension ExtensionBlock {
    /// The same extensions with `type` moved to the front.
    mutating func moveToFront(_ type: ExtensionType) {
        guard let index = entries.firstIndex(where: { $0.type == type }) else { return }
        entries.insert(entries.remove(at: index), at: 0)
    }
}

@Suite("Bad input ends the handshake with the RFC's alert")
struct TamperingTests {
    static let cases: [Tampering] = [
        // ClientHello, checked by the server.
        Tampering(
            name: "ClientHello legacy_version 0x0301 → protocol_version", from: .client, level: .initial,
            expected: .protocolVersion
        ) {
            $0.rewrite(.clientHello) {
                var b = $0
                b[5] = 0x01
                return b
            }
        },
        Tampering(
            name: "ClientHello cut short (message length fixed up) → decode_error", from: .client, level: .initial,
            expected: .decodeError
        ) { flight in
            flight.rewrite(.clientHello) { bytes in
                var cut = Array(bytes.dropLast(7))
                let length = cut.count - 4
                cut[1] = UInt8(length >> 16)
                cut[2] = UInt8(length >> 8 & 0xff)
                cut[3] = UInt8(length & 0xff)
                return cut
            }
        },
        Tampering(
            name: "ClientHello extensions length past the end → decode_error", from: .client, level: .initial,
            expected: .decodeError
        ) { flight in
            flight.rewrite(.clientHello) { bytes in
                // header 4, version 2, random 32, session id 1, suites 2 + n, compression 2.
                let suites = Int(bytes[39]) << 8 | Int(bytes[40])
                let offset = 41 + suites + 2
                var changed = bytes
                let length = (Int(changed[offset]) << 8 | Int(changed[offset + 1])) + 9
                changed[offset] = UInt8(length >> 8)
                changed[offset + 1] = UInt8(length & 0xff)
                return changed
            }
        },
        Tampering(
            name: "ClientHello with supported_groups twice → illegal_parameter", from: .client, level: .initial,
            expected: .illegalParameter
        ) { $0.editClientHello { $0.extensions.append(.supportedGroups, ExtensionCodec.encodeUInt16List([0x17])) } },
        Tampering(
            name: "ClientHello without quic_transport_parameters → missing_extension", from: .client, level: .initial,
            expected: .missingExtension
        ) { $0.editClientHello { $0.extensions.remove(.quicTransportParameters) } },
        Tampering(
            name: "ClientHello without supported_versions → protocol_version", from: .client, level: .initial,
            expected: .protocolVersion
        ) { $0.editClientHello { $0.extensions.remove(.supportedVersions) } },
        Tampering(
            name: "ClientHello without key_share → missing_extension", from: .client, level: .initial,
            expected: .missingExtension
        ) { $0.editClientHello { $0.extensions.remove(.keyShare) } },
        Tampering(
            name: "ClientHello without signature_algorithms → missing_extension", from: .client, level: .initial,
            expected: .missingExtension
        ) { $0.editClientHello { $0.extensions.remove(.signatureAlgorithms) } },
        Tampering(
            name: "ClientHello without ALPN → no_application_protocol", from: .client, level: .initial,
            expected: .noApplicationProtocol
        ) { $0.editClientHello { $0.extensions.remove(.applicationLayerProtocolNegotiation) } },
        Tampering(
            name: "ClientHello with a legacy_session_id → illegal_parameter, QUIC PROTOCOL_VIOLATION", from: .client,
            level: .initial, expected: .illegalParameter, protocolViolation: true
        ) {
            $0.editClientHello { $0.legacySessionID = [UInt8](repeating: 7, count: 32) }
        },
        Tampering(
            name: "ClientHello compression methods [0, 1] → illegal_parameter", from: .client, level: .initial,
            expected: .illegalParameter
        ) { flight in
            flight.rewrite(.clientHello) { bytes in
                let suites = Int(bytes[39]) << 8 | Int(bytes[40])
                var changed = bytes
                changed.replaceSubrange((41 + suites)..<(43 + suites), with: [2, 0, 1])
                let length = changed.count - 4
                changed[1] = UInt8(length >> 16)
                changed[2] = UInt8(length >> 8 & 0xff)
                changed[3] = UInt8(length & 0xff)
                return changed
            }
        },
        Tampering(
            name: "ClientHello with pre_shared_key not last → illegal_parameter", from: .client, level: .initial,
            expected: .illegalParameter
        ) { flight in
            flight.editClientHello { hello in
                hello.extensions.append(.preSharedKey, [0, 0])
                hello.extensions.moveToFront(.preSharedKey)
            }
        },
        Tampering(
            name: "ClientHello X25519 share of all zeros → illegal_parameter", from: .client, level: .initial,
            expected: .illegalParameter
        ) { $0.editClientHello { zeroKeyShare(&$0.extensions, client: true) } },
        Tampering(
            name: "ClientHello with two shares for one group → illegal_parameter", from: .client, level: .initial,
            expected: .illegalParameter
        ) { flight in
            flight.editClientHello { hello in
                guard let body = hello.extensions[.keyShare], let shares = try? ExtensionCodec.decodeClientShares(body)
                else { return }
                var writer = TLSWriter()
                writer.writeVector(lengthBytes: 2) {
                    for share in shares + shares { ExtensionCodec.encodeKeyShareEntry(share, into: &$0) }
                }
                hello.extensions.remove(.keyShare)
                hello.extensions.append(.keyShare, writer.bytes)
            }
        },

        // ServerHello, checked by the client.
        Tampering(
            name: "ServerHello legacy_version 0x0302 → protocol_version", from: .server, level: .initial,
            expected: .protocolVersion
        ) {
            $0.rewrite(.serverHello) {
                var b = $0
                b[5] = 0x02
                return b
            }
        },
        Tampering(
            name: "ServerHello with a suite the client did not offer → illegal_parameter", from: .server,
            level: .initial,
            expected: .illegalParameter, configure: { client, _ in client.cipherSuites = [.aes128GCMSHA256] }
        ) {
            $0.editServerHello { $0.cipherSuite = CipherSuite.chacha20Poly1305SHA256.rawValue }
        },
        Tampering(
            name: "ServerHello without supported_versions → protocol_version", from: .server, level: .initial,
            expected: .protocolVersion
        ) { $0.editServerHello { $0.extensions.remove(.supportedVersions) } },
        Tampering(
            name: "ServerHello selecting TLS 1.2 in supported_versions → illegal_parameter", from: .server,
            level: .initial, expected: .illegalParameter
        ) { flight in
            flight.editServerHello { hello in
                hello.extensions.remove(.supportedVersions)
                hello.extensions.append(.supportedVersions, [0x03, 0x03])
            }
        },
        Tampering(
            name: "ServerHello X25519 share of all zeros → illegal_parameter", from: .server, level: .initial,
            expected: .illegalParameter
        ) { $0.editServerHello { zeroKeyShare(&$0.extensions, client: false) } },
        Tampering(
            name: "ServerHello with an extension the client never sent → unsupported_extension", from: .server,
            level: .initial, expected: .unsupportedExtension
        ) { $0.editServerHello { $0.extensions.append(ExtensionType(rawValue: 0x7a7a), []) } },
        Tampering(
            name: "ServerHello carrying ALPN, which belongs in EncryptedExtensions → illegal_parameter", from: .server,
            level: .initial, expected: .illegalParameter
        ) {
            $0.editServerHello {
                $0.extensions.append(.applicationLayerProtocolNegotiation, ExtensionCodec.encodeProtocolNames(["h3"]))
            }
        },
        Tampering(
            name: "ServerHello echoing a session id the client did not send → illegal_parameter", from: .server,
            level: .initial, expected: .illegalParameter
        ) { $0.editServerHello { $0.legacySessionIDEcho = [1, 2, 3] } },
        Tampering(
            name: "bytes after ServerHello at Initial → unexpected_message, QUIC PROTOCOL_VIOLATION", from: .server,
            level: .initial, expected: .unexpectedMessage, protocolViolation: true
        ) { $0.data.append(0x08) },

        // The server's Handshake flight, checked by the client.
        Tampering(
            name: "EncryptedExtensions without quic_transport_parameters → missing_extension", from: .server,
            level: .handshake, expected: .missingExtension
        ) { $0.editEncryptedExtensions { $0.remove(.quicTransportParameters) } },
        Tampering(
            name: "EncryptedExtensions without ALPN → no_application_protocol", from: .server, level: .handshake,
            expected: .noApplicationProtocol
        ) { $0.editEncryptedExtensions { $0.remove(.applicationLayerProtocolNegotiation) } },
        Tampering(
            name: "EncryptedExtensions selecting a protocol not offered → no_application_protocol", from: .server,
            level: .handshake, expected: .noApplicationProtocol
        ) { flight in
            flight.editEncryptedExtensions { block in
                block.remove(.applicationLayerProtocolNegotiation)
                block.append(.applicationLayerProtocolNegotiation, ExtensionCodec.encodeProtocolNames(["smb"]))
            }
        },
        Tampering(
            name: "EncryptedExtensions carrying key_share → illegal_parameter", from: .server, level: .handshake,
            expected: .illegalParameter
        ) { $0.editEncryptedExtensions { $0.append(.keyShare, [0, 0x1d, 0, 1, 0]) } },
        Tampering(
            name: "EncryptedExtensions with an extension the client never sent → unsupported_extension", from: .server,
            level: .handshake, expected: .unsupportedExtension
        ) { $0.editEncryptedExtensions { $0.append(ExtensionType(rawValue: 0xfe00), [1]) } },
        Tampering(
            name: "EncryptedExtensions accepting 0-RTT nobody offered → unsupported_extension", from: .server,
            level: .handshake, expected: .unsupportedExtension
        ) { $0.editEncryptedExtensions { $0.append(.earlyData, []) } },
        Tampering(
            name: "EncryptedExtensions missing (Certificate first) → unexpected_message", from: .server,
            level: .handshake,
            expected: .unexpectedMessage
        ) { $0.messages.removeFirst() },
        Tampering(
            name: "Certificate entry with an extension → unsupported_extension", from: .server, level: .handshake,
            expected: .unsupportedExtension
        ) { flight in
            flight.editCertificate { message in
                var block = ExtensionBlock()
                block.append(.statusRequest, [1, 0, 0, 0, 0])
                message.entries[0].extensions = block
            }
        },
        Tampering(
            name: "empty server Certificate → decode_error", from: .server, level: .handshake,
            expected: .decodeError
        ) { $0.editCertificate { $0.entries = [] } },
        Tampering(
            name: "Certificate that is not X.509 → bad_certificate", from: .server, level: .handshake,
            expected: .badCertificate
        ) { $0.editCertificate { $0.entries[0].data = [0x30, 0x03, 0x02, 0x01, 0x01] } },
        Tampering(
            name: "leaf certificate with a corrupted issuer signature → bad_certificate", from: .server,
            level: .handshake, expected: .badCertificate,
            configure: { _, server in
                server.certificateChain = (try? TestPKI.chain("server-rsa")) ?? []
                server.privateKey = try? TestPKI.key("server-rsa")
            }
        ) { flight in
            flight.editCertificate { $0.entries[0].data[$0.entries[0].data.count - 3] ^= 0x01 }
        },
        Tampering(
            name: "CertificateVerify signature altered → decrypt_error", from: .server, level: .handshake,
            expected: .decryptError
        ) { flight in
            var list = flight.messages
            if let index = list.firstIndex(where: { $0.type == 15 }) {
                list[index].bytes[list[index].bytes.count - 3] ^= 0x01
            }
            flight.messages = list
        },
        Tampering(
            name: "CertificateVerify with a scheme the client did not offer → illegal_parameter", from: .server,
            level: .handshake, expected: .illegalParameter,
            configure: { client, _ in client.signatureAlgorithms = [.ecdsaSecp256r1SHA256, .ed25519] }
        ) { flight in
            var list = flight.messages
            if let index = list.firstIndex(where: { $0.type == 15 }) {
                list[index].bytes[4] = 0x05
                list[index].bytes[5] = 0x03
            }
            flight.messages = list
        },
        Tampering(
            name: "server Finished altered → decrypt_error", from: .server, level: .handshake,
            expected: .decryptError
        ) { $0.flipBit(in: .finished) },
        Tampering(
            name: "server Finished one byte short → decode_error", from: .server, level: .handshake,
            expected: .decodeError
        ) { flight in
            flight.rewrite(.finished) { bytes in
                var cut = Array(bytes.dropLast())
                cut[3] -= 1
                return cut
            }
        },
        Tampering(
            name: "unknown handshake message type → unexpected_message", from: .server, level: .handshake,
            expected: .unexpectedMessage
        ) { $0.data = [0x63, 0, 0, 1, 0] + $0.data },
        Tampering(
            name: "message header announcing 1 MiB → illegal_parameter before any body arrives", from: .server,
            level: .handshake, expected: .illegalParameter
        ) { $0.data = [11, 0x10, 0x00, 0x00] },

        // The client's Handshake flight, checked by the server.
        Tampering(
            name: "client Finished altered → decrypt_error", from: .client, level: .handshake,
            expected: .decryptError
        ) { $0.flipBit(in: .finished) },
        Tampering(
            name: "EndOfEarlyData from a QUIC client → unexpected_message, QUIC PROTOCOL_VIOLATION", from: .client,
            level: .handshake, expected: .unexpectedMessage, protocolViolation: true
        ) { $0.data = [5, 0, 0, 0] + $0.data },
        Tampering(
            name: "client Certificate nobody asked for → unexpected_message", from: .client, level: .handshake,
            expected: .unexpectedMessage
        ) { $0.data = CertificateMessage(entries: []).encode() + $0.data },

        // HelloRetryRequest, checked by the client.
        Tampering(
            name: "HelloRetryRequest selecting the group already sent → illegal_parameter", from: .server,
            level: .initial, expected: .illegalParameter, configure: helloRetry
        ) { flight in
            flight.editServerHello { hello in
                hello.extensions.remove(.keyShare)
                hello.extensions.append(.keyShare) { $0.writeUInt16(NamedGroup.x25519.rawValue) }
            }
        },
        Tampering(
            name: "HelloRetryRequest selecting a group never offered → illegal_parameter", from: .server,
            level: .initial, expected: .illegalParameter, configure: helloRetry
        ) { flight in
            flight.editServerHello { hello in
                hello.extensions.remove(.keyShare)
                hello.extensions.append(.keyShare) { $0.writeUInt16(0x0018) }
            }
        },
        Tampering(
            name: "HelloRetryRequest that changes nothing → illegal_parameter", from: .server, level: .initial,
            expected: .illegalParameter, configure: helloRetry
        ) { $0.editServerHello { $0.extensions.remove(.keyShare) } },
        Tampering(
            name: "a second HelloRetryRequest → unexpected_message", from: .server, level: .initial, occurrence: 1,
            expected: .unexpectedMessage, configure: helloRetry
        ) {
            $0.editServerHello { $0.random = ServerHello.helloRetryRequestRandom }
        },
        Tampering(
            name: "ServerHello after HelloRetryRequest with another suite → illegal_parameter", from: .server,
            level: .initial, occurrence: 1, expected: .illegalParameter, configure: helloRetry
        ) {
            $0.editServerHello { $0.cipherSuite = CipherSuite.aes256GCMSHA384.rawValue }
        },
    ]

    static let helloRetry: @Sendable (inout TLSConfiguration, inout TLSConfiguration) -> Void = { client, server in
        client.groups = [.x25519, .secp256r1]
        server.groups = [.secp256r1]
    }

    @Test("tampered handshake → expected alert", arguments: cases)
    func tampered(_ tampering: Tampering) throws {
        var client = TestConfiguration.client()
        var server = try TestConfiguration.server()
        tampering.configure(&client, &server)
        let pair = HandshakePair(client: client, server: server)
        var seen = 0
        var changed = false
        pair.intercept = { flight in
            guard flight.from == tampering.from, flight.level == tampering.level else { return }
            defer { seen += 1 }
            guard seen == tampering.occurrence else { return }
            let before = flight.data
            tampering.change(&flight)
            changed = flight.data != before
        }
        pair.run()
        #expect(changed, "the tampering did not apply")
        let alert = tampering.from == .client ? pair.serverAlert : pair.clientAlert
        let other = tampering.from == .client ? pair.clientAlert : pair.serverAlert
        #expect(alert?.description == tampering.expected, "\(alert.map { String(reflecting: $0) } ?? "no alert")")
        #expect(alert?.isQuicProtocolViolation == tampering.protocolViolation)
        #expect(other == nil)
        #expect(!pair.client.isHandshakeComplete || !pair.server.isHandshakeComplete)
    }

    @Test("an unknown extension in ClientHello is ignored (RFC 8446 §4.2)")
    func unknownClientExtensionIgnored() throws {
        let pair = HandshakePair(client: TestConfiguration.client(), server: try TestConfiguration.server())
        pair.intercept = { flight in
            guard flight.from == .client, flight.level == .initial else { return }
            flight.editClientHello { $0.extensions.append(ExtensionType(rawValue: 0x1a1a), [0xde, 0xad]) }
        }
        pair.run()
        #expect(pair.serverAlert == nil)
        // The server answered the altered hello; the client's transcript differs, so its check of
        // the server's Finished is what fails.
        #expect(pair.clientAlert?.description == .decryptError)
    }

    @Test("a NewSessionTicket with max_early_data_size other than 0xffffffff is a QUIC PROTOCOL_VIOLATION")
    func newSessionTicketEarlyDataSize() throws {
        var setup = try ResumptionSetup()
        setup.server.ticketKeys = setup.ring
        var client = setup.client
        client.sessionTicketStore = setup.store
        var server = setup.server
        server.ticketKeys = setup.ring
        let pair = HandshakePair(client: client, server: server)
        pair.intercept = { flight in
            guard flight.level == .oneRTT else { return }
            flight.rewrite(.newSessionTicket) { bytes in
                var changed = bytes
                changed.replaceSubrange((changed.count - 4)..., with: [0, 0, 0x04, 0])
                return changed
            }
        }
        pair.run()
        #expect(pair.clientAlert?.description == .illegalParameter)
        #expect(pair.clientAlert?.isQuicProtocolViolation == true)
        #expect(pair.clientAlert?.quicErrorCode == 0x0a)
        #expect(setup.store.count == 0)
    }

    @Test("a PSK binder that does not verify → decrypt_error")
    func badBinder() throws {
        let setup = try ResumptionSetup()
        _ = setup.connect()
        var client = setup.client
        client.sessionTicketStore = setup.store
        var server = setup.server
        server.ticketKeys = setup.ring
        let pair = HandshakePair(client: client, server: server, earlyDataContext: setup.earlyDataContext)
        pair.intercept = { flight in
            if flight.from == .client && flight.level == .initial { flight.flipBit(in: .clientHello) }
        }
        pair.run()
        #expect(pair.serverAlert?.description == .decryptError)
    }

    @Test("after the handshake: KeyUpdate, a new ClientHello, CRYPTO in 0-RTT and old-level data are refused")
    func afterHandshake() throws {
        func completed() throws -> HandshakePair {
            let pair = HandshakePair(client: TestConfiguration.client(), server: try TestConfiguration.server()).run()
            try #require(pair.client.isHandshakeComplete && pair.server.isHandshakeComplete)
            return pair
        }
        let keyUpdate: [UInt8] = [24, 0, 0, 1, 0]
        #expect(throws: TLSAlert(.unexpectedMessage, "TLS KeyUpdate is forbidden in QUIC (RFC 9001 §6)")) {
            try completed().client.handle(keyUpdate, at: .oneRTT)
        }
        let server = try completed().server
        do {
            try server.handle(
                ClientHello(
                    random: [UInt8](repeating: 1, count: 32), cipherSuites: [0x1301], extensions: ExtensionBlock()
                ).encode(), at: .oneRTT)
            Issue.record("renegotiation accepted")
        } catch {
            #expect(error.description == .unexpectedMessage)
        }
        let zeroRTTServer = try completed().server
        do {
            try zeroRTTServer.handle([8, 0, 0, 2, 0, 0], at: .zeroRTT)
            Issue.record("CRYPTO in 0-RTT accepted")
        } catch {
            #expect(error.isQuicProtocolViolation)
        }
        let client = try completed().client
        do {
            try client.handle([8, 0, 0, 2, 0, 0], at: .initial)
            Issue.record("new Initial data accepted after the handshake")
        } catch {
            #expect(error.isQuicProtocolViolation && error.description == .unexpectedMessage)
        }
    }

    @Test("the first alert is sticky")
    func stickyFailure() throws {
        let server = TLSConnection(
            role: .server, configuration: try TestConfiguration.server(), localTransportParameters: [])
        let garbage: [UInt8] = [1, 0, 0, 4, 3, 1, 0, 0]
        var first: TLSAlert?
        do { try server.handle(garbage, at: .initial) } catch { first = error }
        #expect(first?.description == .protocolVersion)
        #expect(throws: try #require(first)) { try server.handle([1], at: .initial) }
    }
}
