import QuicCrypto
import QuicWire

/// The server state machine (RFC 8446 §2, Appendix A.2) with QUIC's changes (RFC 9001 §8):
/// ClientHello → [HelloRetryRequest, ClientHello] → ServerHello, EncryptedExtensions,
/// [CertificateRequest], Certificate, CertificateVerify, Finished → [client Certificate,
/// CertificateVerify] → client Finished → NewSessionTicket at 1-RTT.
final class ServerHandshake: HandshakeCore {
    private enum State {
        case waitClientHello, waitSecondClientHello, waitClientCertificate, waitClientCertificateVerify
        case waitClientFinished, connected
    }

    private struct Retry {
        var suite: CipherSuite
        var group: NamedGroup
        var random: [UInt8]
    }

    private struct AcceptedPSK {
        var index: Int
        var ticket: ServerTicket
        var id: TicketID
        var obfuscatedAge: UInt32
    }

    private var state = State.waitClientHello
    private let earlyDataContext: [UInt8]
    private let transportParametersForClient: (@Sendable ([UInt8]) -> [UInt8])?
    private var retry: Retry?
    private var clientAcceptsTickets = false
    private var keySchedule: TLSKeySchedule?
    private var clientHandshakeSecret: [UInt8] = []
    private var clientApplicationSecret: [UInt8] = []
    private var clientPublicKey: PublicKey?

    init(
        configuration: TLSConfiguration, localTransportParameters: [UInt8], earlyDataContext: [UInt8],
        transportParametersForClient: (@Sendable ([UInt8]) -> [UInt8])? = nil
    ) {
        self.earlyDataContext = earlyDataContext
        self.transportParametersForClient = transportParametersForClient
        super.init(configuration: configuration, localTransportParameters: localTransportParameters)
    }

    override func process(_ message: HandshakeMessage) throws(TLSAlert) {
        switch (state, message.type) {
        case (.waitClientHello, .clientHello), (.waitSecondClientHello, .clientHello): try processClientHello(message)
        case (.waitClientCertificate, .certificate): try processClientCertificate(message)
        case (.waitClientCertificateVerify, .certificateVerify): try processClientCertificateVerify(message)
        case (.waitClientFinished, .finished): try processClientFinished(message)
        case (_, .endOfEarlyData):
            throw TLSAlert(
                .unexpectedMessage, "EndOfEarlyData is not used in QUIC (RFC 9001 §8.3)", isQuicProtocolViolation: true)
        case (_, .keyUpdate):
            throw .unexpectedMessage("TLS KeyUpdate is forbidden in QUIC (RFC 9001 §6)")
        default:
            throw .unexpectedMessage("\(message.type) is not expected now")
        }
    }

    // MARK: ClientHello

    private func processClientHello(_ message: HandshakeMessage) throws(TLSAlert) {
        let configuration = self.configuration
        guard localTransportParameters.count <= 16_384 else {
            throw .internalError("the local transport parameters are too long for EncryptedExtensions")
        }
        let hello = try ClientHello.decode(message.body)
        guard hello.legacySessionID.isEmpty else {
            throw TLSAlert(
                .illegalParameter,
                "non-empty legacy_session_id: middlebox compatibility mode is forbidden in QUIC (RFC 9001 §8.4)",
                isQuicProtocolViolation: true)
        }
        let extensions = hello.extensions
        try extensions.validate(in: .clientHello, name: "ClientHello", requested: nil)
        if extensions.contains(.preSharedKey) && extensions.types.last != .preSharedKey {
            throw .illegalParameter("pre_shared_key is not the last extension (RFC 8446 §4.2.11)")
        }
        guard let versionsBody = extensions[.supportedVersions] else {
            throw TLSAlert(.protocolVersion, "ClientHello without supported_versions offers only TLS 1.2 or older")
        }
        guard try ExtensionCodec.decodeSupportedVersionsList(versionsBody).contains(ProtocolVersion.tls13) else {
            throw TLSAlert(.protocolVersion, "the client does not offer TLS 1.3 (RFC 9001 §4.2)")
        }
        guard let transportParameters = extensions[.quicTransportParameters] else {
            throw .missingExtension("ClientHello lacks quic_transport_parameters (RFC 9001 §8.2)")
        }
        // RFC 8446 §9.2: supported_groups and key_share go together; signature_algorithms is
        // required without a PSK. Only (EC)DHE modes are offered, so both are needed here.
        guard let groupsBody = extensions[.supportedGroups] else {
            throw .missingExtension("ClientHello lacks supported_groups (RFC 8446 §9.2)")
        }
        guard let sharesBody = extensions[.keyShare] else {
            throw .missingExtension("ClientHello lacks key_share (RFC 8446 §9.2)")
        }
        let clientGroups = try ExtensionCodec.decodeUInt16List(groupsBody, "supported_groups")
        let shares = try ExtensionCodec.decodeClientShares(sharesBody)
        var sharedGroups = Set<UInt16>()
        for share in shares {
            guard sharedGroups.insert(share.group).inserted else {
                throw .illegalParameter("two key shares for group \(share.group) (RFC 8446 §4.2.8)")
            }
            guard clientGroups.contains(share.group) else {
                throw .illegalParameter(
                    "a key share for group \(share.group), which supported_groups omits (RFC 8446 §4.2.8)")
            }
        }
        var clientSchemes: [UInt16]?
        if let body = extensions[.signatureAlgorithms] {
            clientSchemes = try ExtensionCodec.decodeUInt16List(body, "signature_algorithms")
        } else if !extensions.contains(.preSharedKey) {
            throw .missingExtension("ClientHello lacks signature_algorithms (RFC 8446 §9.2)")
        }
        if let body = extensions[.serverName], let name = try ExtensionCodec.decodeServerName(body) {
            serverName = String(decoding: name, as: UTF8.self)
        }
        guard let alpnBody = extensions[.applicationLayerProtocolNegotiation] else {
            throw TLSAlert(
                .noApplicationProtocol, "the client offered no application protocol; QUIC requires ALPN (RFC 9001 §8.1)"
            )
        }
        let offeredProtocols = try ExtensionCodec.decodeProtocolNames(alpnBody)
        guard let alpn = configuration.alpn.first(where: { offeredProtocols.contains(Array($0.utf8)) }) else {
            let offered = offeredProtocols.map { "\"\(String(decoding: $0, as: UTF8.self))\"" }.joined(separator: ", ")
            throw TLSAlert(
                .noApplicationProtocol, "none of the client's protocols (\(offered)) is served here (RFC 9001 §8.1)")
        }
        guard let suite = configuration.cipherSuites.first(where: { hello.cipherSuites.contains($0.rawValue) }) else {
            throw TLSAlert(.handshakeFailure, "no cipher suite in common")
        }
        let share = configuration.groups.lazy.compactMap { group in
            shares.first { $0.group == group.rawValue }.map { (group, $0) }
        }.first

        if let retry {
            // RFC 8446 §4.1.2, §4.1.4: the second hello may only change what the retry asked for.
            guard hello.random == retry.random else {
                throw .illegalParameter("the second ClientHello changed its random (RFC 8446 §4.1.2)")
            }
            guard suite == retry.suite else {
                throw .illegalParameter("the second ClientHello no longer allows \(retry.suite) (RFC 8446 §4.1.4)")
            }
            guard shares.count == 1, shares[0].group == retry.group.rawValue else {
                throw .illegalParameter(
                    "the second ClientHello must carry one key share, for \(retry.group) (RFC 8446 §4.2.8)")
            }
            guard !extensions.contains(.earlyData) else {
                throw .illegalParameter("early_data after a HelloRetryRequest (RFC 8446 §4.2.10)")
            }
        }
        guard let (group, clientShare) = share else {
            guard let group = configuration.groups.first(where: { clientGroups.contains($0.rawValue) }) else {
                throw TLSAlert(.handshakeFailure, "no key exchange group in common")
            }
            sendHelloRetryRequest(hello: hello, message: message, suite: suite, group: group)
            return
        }

        var modes: [UInt8] = []
        if let body = extensions[.pskKeyExchangeModes] {
            var reader = TLSReader(body)
            modes = try reader.readVector(lengthBytes: 1, min: 1, max: 255, "ke_modes")
            try reader.expectEnd("psk_key_exchange_modes")
        }
        clientAcceptsTickets = modes.contains(PSKKeyExchangeMode.pskDHEKE)
        var accepted: AcceptedPSK?
        if let body = extensions[.preSharedKey] {
            guard extensions.contains(.pskKeyExchangeModes) else {
                throw .missingExtension("pre_shared_key without psk_key_exchange_modes (RFC 8446 §4.2.9)")
            }
            accepted = try selectPSK(body, message: message, suite: suite)
        }
        if accepted == nil && clientSchemes == nil {
            throw .missingExtension("ClientHello lacks signature_algorithms and no PSK was accepted (RFC 8446 §9.2)")
        }
        // Without a PSK the server authenticates with its certificate (RFC 8446 §4.4.2, §4.4.3).
        var signing: (key: PrivateKey, scheme: SignatureScheme)?
        if accepted == nil {
            guard let key = configuration.privateKey, !configuration.certificateChain.isEmpty else {
                throw .internalError("the server has no certificate chain and private key configured")
            }
            guard let clientSchemes,
                let scheme = configuration.signatureAlgorithms.first(where: {
                    clientSchemes.contains($0.rawValue) && $0.keyType == key.keyType
                })
            else {
                throw TLSAlert(
                    .handshakeFailure,
                    "the client accepts no signature scheme this server's \(key.keyType) key can make")
            }
            signing = (key, scheme)
        }
        let keyPair = try makeKeyPair(group)
        guard let sharedSecret = keyPair.sharedSecret(peerPublicKey: clientShare.keyExchange) else {
            throw .illegalParameter("the client's key share is not a valid \(group) public key (RFC 8446 §4.2.8)")
        }
        var acceptEarlyData = false
        if let body = extensions[.earlyData] {
            try ExtensionCodec.expectEmpty(body, "early_data in ClientHello")
            if let refusal = earlyDataRefusal(accepted, suite: suite, alpn: alpn) {
                log("0-RTT rejected: \(refusal)")
                earlyDataState = .rejected
            } else {
                acceptEarlyData = true
                earlyDataState = .accepted
            }
        }

        clientRandom = hello.random
        transcript.append(message.encoded)
        if !transcript.isHashing { transcript.begin(suite.hash) }
        negotiatedSuite = suite
        negotiatedALPN = alpn
        peerTransportParameters = transportParameters
        if let transportParametersForClient {
            localTransportParameters = transportParametersForClient(transportParameters)
            guard localTransportParameters.count <= 16_384 else {
                throw .internalError("the local transport parameters are too long for EncryptedExtensions")
            }
        }
        isResumed = accepted != nil
        var schedule = TLSKeySchedule(hash: suite.hash, psk: accepted?.ticket.psk)
        if acceptEarlyData {
            let secret = schedule.clientEarlyTrafficSecret(transcript.currentHash())
            keyLog(.clientEarlyTrafficSecret, secret)
            installReadSecret(.zeroRTT, suite, secret)
        }

        var serverExtensions = ExtensionBlock()
        serverExtensions.append(.supportedVersions) { $0.writeUInt16(ProtocolVersion.tls13) }
        serverExtensions.append(.keyShare) {
            ExtensionCodec.encodeKeyShareEntry(.init(group: group.rawValue, keyExchange: keyPair.publicKey), into: &$0)
        }
        if let accepted { serverExtensions.append(.preSharedKey) { $0.writeUInt16(UInt16(accepted.index)) } }
        let serverHello = ServerHello(
            random: randomBytes(32), legacySessionIDEcho: hello.legacySessionID, cipherSuite: suite.rawValue,
            extensions: serverExtensions)
        send(serverHello.encode(), at: .initial)

        schedule.enterHandshake(sharedSecret: sharedSecret)
        let handshakeSecrets = schedule.handshakeTrafficSecrets(transcript.currentHash())
        clientHandshakeSecret = handshakeSecrets.client
        keyLog(.clientHandshakeTrafficSecret, handshakeSecrets.client)
        keyLog(.serverHandshakeTrafficSecret, handshakeSecrets.server)
        installWriteSecret(.handshake, suite, handshakeSecrets.server)
        installReadSecret(.handshake, suite, handshakeSecrets.client)

        var encrypted = ExtensionBlock()
        encrypted.append(.applicationLayerProtocolNegotiation, ExtensionCodec.encodeProtocolNames([alpn]))
        encrypted.append(.quicTransportParameters, localTransportParameters)
        if acceptEarlyData { encrypted.append(.earlyData, []) }
        send(EncryptedExtensions(extensions: encrypted).encode(), at: .handshake)

        let requestCertificate = configuration.requestClientCertificate && signing != nil
        if let signing {
            if requestCertificate {
                var requestExtensions = ExtensionBlock()
                requestExtensions.append(
                    .signatureAlgorithms,
                    ExtensionCodec.encodeUInt16List(configuration.signatureAlgorithms.map(\.rawValue)))
                send(CertificateRequest(extensions: requestExtensions).encode(), at: .handshake)
            }
            try sendCertificateAndVerify(context: [], scheme: signing.scheme, key: signing.key, sentBy: .server)
        }
        send(finishedMessage(baseKey: handshakeSecrets.server, hash: suite.hash), at: .handshake)

        schedule.enterMaster()
        let serverFinishedHash = transcript.currentHash()
        let applicationSecrets = schedule.applicationTrafficSecrets(serverFinishedHash)
        clientApplicationSecret = applicationSecrets.client
        keyLog(.clientTrafficSecret0, applicationSecrets.client)
        keyLog(.serverTrafficSecret0, applicationSecrets.server)
        keyLog(.exporterSecret, schedule.exporterMasterSecret(serverFinishedHash))
        installWriteSecret(.oneRTT, suite, applicationSecrets.server)
        keySchedule = schedule
        setReadLevel(.handshake)
        state = requestCertificate ? .waitClientCertificate : .waitClientFinished
    }

    /// RFC 8446 §4.1.4: ask for a share in `group`; the transcript restarts from message_hash.
    private func sendHelloRetryRequest(
        hello: ClientHello, message: HandshakeMessage, suite: CipherSuite, group: NamedGroup
    ) {
        var extensions = ExtensionBlock()
        extensions.append(.supportedVersions) { $0.writeUInt16(ProtocolVersion.tls13) }
        extensions.append(.keyShare) { $0.writeUInt16(group.rawValue) }
        let request = ServerHello(
            random: ServerHello.helloRetryRequestRandom, legacySessionIDEcho: hello.legacySessionID,
            cipherSuite: suite.rawValue, extensions: extensions)
        transcript.append(message.encoded)
        transcript.beginAfterHelloRetryRequest(suite.hash)
        send(request.encode(), at: .initial)
        retry = Retry(suite: suite, group: group, random: hello.random)
        if hello.extensions.contains(.earlyData) {
            log("0-RTT rejected: HelloRetryRequest sent")
            earlyDataState = .rejected
        }
        state = .waitSecondClientHello
    }

    /// Picks the first identity that is one of our tickets, unexpired, of the suite's hash and
    /// issued under this connection's ticket context, and validates its binder only (RFC 8446
    /// §4.2.11): a binder that does not verify ends the handshake with decrypt_error; other
    /// identities are ignored. A ticket of another context (QUIC version) is declined like an
    /// unknown one: a full handshake without 0-RTT, not an alert (RFC 9369 §5).
    private func selectPSK(
        _ body: [UInt8], message: HandshakeMessage, suite: CipherSuite
    ) throws(TLSAlert) -> AcceptedPSK? {
        let offered = try ExtensionCodec.decodeOfferedPSKs(body)
        guard offered.identities.count == offered.binders.count else {
            throw .illegalParameter("\(offered.identities.count) PSK identities but \(offered.binders.count) binders")
        }
        guard let ring = configuration.ticketKeys, clientAcceptsTickets else { return nil }
        let now = configuration.wallClock()
        for (index, identity) in offered.identities.enumerated() {
            guard let opened = ring.open(identity.identity), let ticket = ServerTicket.decode(opened.contents) else {
                continue
            }
            guard ticket.suite.hash == suite.hash, now >= ticket.issuedAt, now < ticket.expiresAt else { continue }
            guard ticket.ticketContext == ticketContext else {
                log("resumption declined: a ticket was issued under another ticket context (QUIC version, RFC 9369 §5)")
                continue
            }
            let truncated = Array(message.encoded.dropLast(offered.bindersLength))
            let hash = suite.hash
            let expected = TLSKeySchedule.verifyData(
                baseKey: TLSKeySchedule(hash: hash, psk: ticket.psk).resumptionBinderKey,
                transcriptHash: transcript.hash(appending: truncated, hash: hash), hash: hash)
            let binder = offered.binders[index]
            let matches = expected.withUnsafeBytes { e in binder.withUnsafeBytes { constantTimeEquals(e, $0) } }
            guard matches else { throw TLSAlert(.decryptError, "the PSK binder does not verify (RFC 8446 §4.2.11.2)") }
            return AcceptedPSK(index: index, ticket: ticket, id: opened.id, obfuscatedAge: identity.obfuscatedTicketAge)
        }
        log("resumption declined: no offered ticket is usable")
        return nil
    }

    /// Why 0-RTT cannot be accepted, nil when it can (RFC 8446 §4.2.10, §8; RFC 9001 §4.6.3).
    /// The strike register is consulted last, so only a hello that passes everything else uses it.
    private func earlyDataRefusal(_ accepted: AcceptedPSK?, suite: CipherSuite, alpn: String) -> String? {
        guard configuration.enableEarlyData else { return "0-RTT is disabled" }
        guard retry == nil else { return "a HelloRetryRequest was sent" }
        guard let accepted, accepted.index == 0 else { return "the first PSK was not accepted" }
        let ticket = accepted.ticket
        guard ticket.allowsEarlyData else { return "the ticket was issued without 0-RTT" }
        guard ticket.suite == suite else { return "the cipher suite differs from the ticket's" }
        guard ticket.alpn == Array(alpn.utf8) else { return "the application protocol differs from the ticket's" }
        guard ticket.earlyDataContext == earlyDataContext else {
            return "the QUIC settings that 0-RTT depends on changed since the ticket was issued"
        }
        guard let ring = configuration.ticketKeys else { return "no ticket keys" }
        let now = configuration.wallClock()
        let clientAge = UInt64(accepted.obfuscatedAge &- ticket.ageAdd)
        let serverAge = now - ticket.issuedAt
        let skew = clientAge > serverAge ? clientAge - serverAge : serverAge - clientAge
        guard skew <= ring.earlyDataFreshnessWindow else {
            return "the client's ticket age is off by \(skew) ms (RFC 8446 §8.3)"
        }
        guard ring.admitEarlyData(accepted.id, expiresAt: ticket.expiresAt, now: now) else {
            return "the ticket already carried 0-RTT, or the strike register is full (RFC 8446 §8)"
        }
        return nil
    }

    // MARK: the client's second flight

    private func processClientCertificate(_ message: HandshakeMessage) throws(TLSAlert) {
        let certificate = try CertificateMessage.decode(message.body)
        guard certificate.context.isEmpty else {
            throw .illegalParameter(
                "certificate_request_context differs from the CertificateRequest's (RFC 8446 §4.4.2)")
        }
        for entry in certificate.entries {
            try entry.extensions.validate(in: .certificate, name: "CertificateEntry", requested: [.signatureAlgorithms])
        }
        guard !certificate.entries.isEmpty else {
            throw TLSAlert(.certificateRequired, "the client sent no certificate (RFC 8446 §4.4.2.4)")
        }
        clientPublicKey = try authenticatePeer(certificate, purpose: .clientAuthentication, peerName: nil)
        transcript.append(message.encoded)
        state = .waitClientCertificateVerify
    }

    private func processClientCertificateVerify(_ message: HandshakeMessage) throws(TLSAlert) {
        guard let clientPublicKey else { preconditionFailure("CertificateVerify before Certificate") }
        try verifyCertificateVerify(message.body, publicKey: clientPublicKey, sentBy: .client)
        transcript.append(message.encoded)
        state = .waitClientFinished
    }

    private func processClientFinished(_ message: HandshakeMessage) throws(TLSAlert) {
        guard let schedule = keySchedule, let suite = negotiatedSuite else {
            preconditionFailure("Finished before ClientHello")
        }
        try verifyFinished(message.body, baseKey: clientHandshakeSecret, hash: suite.hash)
        transcript.append(message.encoded)
        installReadSecret(.oneRTT, suite, clientApplicationSecret)
        isHandshakeComplete = true
        emit(.handshakeComplete)
        setReadLevel(.oneRTT)
        state = .connected
        if configuration.ticketKeys != nil && clientAcceptsTickets {
            sendNewSessionTicket(
                resumptionMasterSecret: schedule.resumptionMasterSecret(transcript.currentHash()), suite: suite)
        }
    }

    /// One ticket per connection (RFC 8446 §4.6.1), with early_data 0xffffffff when 0-RTT is on
    /// (RFC 9001 §4.6.1). Sent at 1-RTT and not part of the transcript.
    private func sendNewSessionTicket(resumptionMasterSecret: [UInt8], suite: CipherSuite) {
        guard let ring = configuration.ticketKeys, let alpn = negotiatedALPN else { return }
        let nonce: [UInt8] = [0]
        let ageAddBytes = randomBytes(4)
        let ageAdd = ageAddBytes.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let now = configuration.wallClock()
        let contents = ServerTicket(
            suite: suite,
            psk: TLSKeySchedule.resumptionPSK(
                resumptionMasterSecret: resumptionMasterSecret, nonce: nonce, hash: suite.hash),
            issuedAt: now, lifetime: ring.ticketLifetime, ageAdd: ageAdd,
            allowsEarlyData: configuration.enableEarlyData,
            alpn: Array(alpn.utf8), earlyDataContext: earlyDataContext, ticketContext: ticketContext)
        var extensions = ExtensionBlock()
        if configuration.enableEarlyData {
            extensions.append(.earlyData) { $0.writeUInt32(NewSessionTicket.quicEarlyDataSentinel) }
        }
        let ticket = NewSessionTicket(
            lifetime: ring.ticketLifetime, ageAdd: ageAdd, nonce: nonce,
            ticket: ring.seal(contents.encode(), now: now).ticket,
            extensions: extensions)
        send(ticket.encode(), at: .oneRTT, inTranscript: false)
    }
}
