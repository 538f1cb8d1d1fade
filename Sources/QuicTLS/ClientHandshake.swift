import Glibc
import QuicCrypto
import QuicWire

/// The client state machine (RFC 8446 §2, Appendix A.1) with QUIC's changes (RFC 9001 §8):
/// ClientHello → [HelloRetryRequest → ClientHello] → ServerHello → EncryptedExtensions →
/// [CertificateRequest] → Certificate → CertificateVerify → Finished (Certificate and
/// CertificateVerify absent when a PSK is accepted), then NewSessionTickets at 1-RTT.
final class ClientHandshake: HandshakeCore {
    private enum State {
        case idle, waitServerHello, waitEncryptedExtensions, waitCertificateOrRequest, waitCertificate
        case waitCertificateVerify, waitFinished, connected
    }

    private var state = State.idle
    private var keyPair: EphemeralKeyPair?
    private var offeredExtensions = Set<ExtensionType>()
    private var receivedHelloRetryRequest = false
    private var helloRetrySuite: CipherSuite?
    private var ticket: ClientTicket?
    private var keySchedule: TLSKeySchedule?
    private var clientHandshakeSecret: [UInt8] = []
    private var serverHandshakeSecret: [UInt8] = []
    private var resumptionMasterSecret: [UInt8] = []
    private var serverPublicKey: PublicKey?
    private var certificateRequest: (context: [UInt8], schemes: [UInt16], extensions: Set<ExtensionType>)?

    /// Tickets larger than this are not kept: the ClientHello carrying one must fit its length
    /// fields, and should fit the first Initial packet (RFC 9001 §4.3).
    static let maximumTicketLength = 4096

    init(configuration: TLSConfiguration, localTransportParameters: [UInt8], serverName: String?) {
        super.init(configuration: configuration, localTransportParameters: localTransportParameters)
        self.serverName = serverName
    }

    // MARK: ClientHello

    override func start() throws(TLSAlert) {
        guard state == .idle else { return }
        let configuration = self.configuration
        guard !configuration.alpn.isEmpty else {
            throw .internalError("configure at least one ALPN protocol: QUIC requires ALPN (RFC 9001 §8.1)")
        }
        guard let firstGroup = configuration.groups.first, !configuration.cipherSuites.isEmpty,
            !configuration.signatureAlgorithms.isEmpty
        else { throw .internalError("the configuration lists no cipher suite, group or signature algorithm") }
        // Length limits of the fields these go into (RFC 7301 §3.1, RFC 6066 §3, RFC 8446 §4.2).
        guard configuration.alpn.allSatisfy({ (1...255).contains($0.utf8.count) }),
            configuration.alpn.reduce(0, { $0 + 1 + $1.utf8.count }) <= 4096
        else {
            throw .internalError("ALPN protocol names must be 1 to 255 bytes long, 4 KiB in all")
        }
        guard (serverName?.utf8.count ?? 0) <= 255, localTransportParameters.count <= 16_384 else {
            throw .internalError("the server name or the transport parameters are too long for a ClientHello")
        }
        if configuration.verification == .none {
            log("warning: certificate verification is off; the server is not authenticated")
        } else if serverName == nil {
            throw .internalError("a server name is needed to verify the server's certificate; pass serverName")
        }
        clientRandom = randomBytes(32)
        keyPair = try makeKeyPair(firstGroup)

        let now = configuration.wallClock()
        if let store = configuration.sessionTicketStore,
            let candidate = store.take(serverName: serverName ?? "", context: ticketContext, now: now),
            configuration.cipherSuites.contains(candidate.suite)
        {
            ticket = candidate
            resumptionTransportParameters = candidate.transportParameters
            resumptionALPN = candidate.alpn
        }
        let attemptEarlyData =
            configuration.enableEarlyData
            && (ticket.map { $0.allowsEarlyData && configuration.alpn.contains($0.alpn) } ?? false)

        let clientHello = makeClientHello(cookie: nil, earlyData: attemptEarlyData, now: now)
        send(clientHello, at: .initial)
        state = .waitServerHello

        if attemptEarlyData, let ticket {
            // RFC 8446 §7.1: client_early_traffic_secret over Hash(ClientHello), with the PSK's hash.
            let schedule = TLSKeySchedule(hash: ticket.suite.hash, psk: ticket.psk)
            let secret = schedule.clientEarlyTrafficSecret(ticket.suite.hash.hash(clientHello))
            keyLog(.clientEarlyTrafficSecret, secret)
            installWriteSecret(.zeroRTT, ticket.suite, secret)
            earlyDataState = .attempted
        }
    }

    /// Encodes a ClientHello (RFC 8446 §4.1.2) with the extensions QUIC needs; with a ticket, a
    /// pre_shared_key extension last whose binder covers the truncated hello (§4.2.11.2).
    private func makeClientHello(cookie: [UInt8]?, earlyData: Bool, now: UInt64) -> [UInt8] {
        guard let keyPair else { preconditionFailure("ClientHello without a key share") }
        let configuration = self.configuration
        var extensions = ExtensionBlock()
        if let serverName, !ClientHandshake.isAddressLiteral(serverName) {
            // RFC 6066 §3: literal IP addresses are not sent as server names.
            extensions.append(.serverName, ExtensionCodec.encodeServerName(serverName))
        }
        extensions.append(.supportedVersions) {
            $0.writeVector(lengthBytes: 1) { $0.writeUInt16(ProtocolVersion.tls13) }
        }
        extensions.append(.supportedGroups, ExtensionCodec.encodeUInt16List(configuration.groups.map(\.rawValue)))
        extensions.append(
            .signatureAlgorithms, ExtensionCodec.encodeUInt16List(configuration.signatureAlgorithms.map(\.rawValue)))
        extensions.append(.keyShare) { writer in
            writer.writeVector(lengthBytes: 2) { list in
                ExtensionCodec.encodeKeyShareEntry(
                    .init(group: keyPair.group.rawValue, keyExchange: keyPair.publicKey), into: &list)
            }
        }
        extensions.append(.applicationLayerProtocolNegotiation, ExtensionCodec.encodeProtocolNames(configuration.alpn))
        extensions.append(.quicTransportParameters, localTransportParameters)
        if let cookie { extensions.append(.cookie) { $0.writeVector(lengthBytes: 2, cookie) } }
        if configuration.sessionTicketStore != nil || ticket != nil {
            extensions.append(.pskKeyExchangeModes) { $0.writeVector(lengthBytes: 1, [PSKKeyExchangeMode.pskDHEKE]) }
        }
        if earlyData { extensions.append(.earlyData, []) }
        let hashLength = ticket?.suite.hash.digestLength ?? 0
        if let ticket {
            extensions.append(.preSharedKey) { writer in
                writer.writeVector(lengthBytes: 2) { identities in
                    identities.writeVector(lengthBytes: 2, ticket.ticket)
                    identities.writeUInt32(ticket.obfuscatedAge(at: now))
                }
                // A zero binder of the right length; patched below once the hello is complete.
                writer.writeVector(lengthBytes: 2) {
                    $0.writeVector(lengthBytes: 1, [UInt8](repeating: 0, count: hashLength))
                }
            }
        }
        offeredExtensions = Set(extensions.types)
        var encoded = ClientHello(
            random: clientRandom, cipherSuites: configuration.cipherSuites.map(\.rawValue), extensions: extensions
        ).encode()
        if let ticket {
            let bindersLength = 2 + 1 + hashLength
            let truncated = Array(encoded.dropLast(bindersLength))
            let hash = ticket.suite.hash
            let binder = TLSKeySchedule.verifyData(
                baseKey: TLSKeySchedule(hash: hash, psk: ticket.psk).resumptionBinderKey,
                transcriptHash: transcript.hash(appending: truncated, hash: hash), hash: hash)
            encoded.replaceSubrange((encoded.count - hashLength)..., with: binder)
        }
        return encoded
    }

    static func isAddressLiteral(_ name: String) -> Bool {
        var address = in6_addr()
        return inet_pton(AF_INET, name, &address) == 1 || inet_pton(AF_INET6, name, &address) == 1
    }

    // MARK: receiving

    override func process(_ message: HandshakeMessage) throws(TLSAlert) {
        switch (state, message.type) {
        case (.waitServerHello, .serverHello): try processServerHello(message)
        case (.waitEncryptedExtensions, .encryptedExtensions): try processEncryptedExtensions(message)
        case (.waitCertificateOrRequest, .certificateRequest): try processCertificateRequest(message)
        case (.waitCertificateOrRequest, .certificate), (.waitCertificate, .certificate):
            try processCertificate(message)
        case (.waitCertificateVerify, .certificateVerify): try processCertificateVerify(message)
        case (.waitFinished, .finished): try processFinished(message)
        case (.connected, .newSessionTicket): try processNewSessionTicket(message)
        case (.connected, .certificateRequest):
            throw TLSAlert(
                .unexpectedMessage, "post-handshake CertificateRequest is forbidden in QUIC (RFC 9001 §4.4)",
                isQuicProtocolViolation: true)
        case (_, .keyUpdate):
            throw .unexpectedMessage("TLS KeyUpdate is forbidden in QUIC (RFC 9001 §6)")
        default:
            throw .unexpectedMessage("\(message.type) is not expected now")
        }
    }

    private func processServerHello(_ message: HandshakeMessage) throws(TLSAlert) {
        let serverHello = try ServerHello.decode(message.body)
        guard serverHello.legacySessionIDEcho.isEmpty else {
            throw .illegalParameter("legacy_session_id_echo differs from the empty session id sent (RFC 8446 §4.1.3)")
        }
        guard let suite = CipherSuite(rawValue: serverHello.cipherSuite), configuration.cipherSuites.contains(suite)
        else {
            throw .illegalParameter(
                "the server chose cipher suite 0x\(String(serverHello.cipherSuite, radix: 16)), which was not offered")
        }
        guard let versionBody = serverHello.extensions[.supportedVersions] else {
            if ServerHello.downgradeSentinels.contains(Array(serverHello.random.suffix(8))) {
                throw .illegalParameter("the ServerHello random carries a downgrade sentinel (RFC 8446 §4.1.3)")
            }
            throw TLSAlert(
                .protocolVersion, "the server negotiated TLS 1.2 or older; QUIC needs TLS 1.3 (RFC 9001 §4.2)")
        }
        let version = try ExtensionCodec.decodeSelectedVersion(versionBody)
        guard version == ProtocolVersion.tls13 else {
            throw .illegalParameter(
                "the server selected version 0x\(String(version, radix: 16)), which was not offered (RFC 8446 §4.2.1)")
        }
        if serverHello.isHelloRetryRequest {
            try processHelloRetryRequest(serverHello, suite: suite, message: message)
            return
        }
        try serverHello.extensions.validate(in: .serverHello, name: "ServerHello", requested: offeredExtensions)
        if let helloRetrySuite, helloRetrySuite != suite {
            throw .illegalParameter(
                "ServerHello changed the cipher suite chosen in HelloRetryRequest (RFC 8446 §4.1.4)")
        }
        guard let keyPair else { preconditionFailure("ServerHello before ClientHello") }
        guard let shareBody = serverHello.extensions[.keyShare] else {
            throw .missingExtension("ServerHello has no key_share; only psk_dhe_ke was offered (RFC 8446 §4.2.9)")
        }
        let share = try ExtensionCodec.decodeServerShare(shareBody)
        guard share.group == keyPair.group.rawValue else {
            throw .illegalParameter(
                "the server's key share is for group \(share.group), not the offered \(keyPair.group)")
        }
        guard let sharedSecret = keyPair.sharedSecret(peerPublicKey: share.keyExchange) else {
            throw .illegalParameter(
                "the server's key share is not a valid \(keyPair.group) public key (RFC 8446 §4.2.8)")
        }
        var psk: [UInt8]?
        if let pskBody = serverHello.extensions[.preSharedKey] {
            let index = try ExtensionCodec.decodeSelectedIdentity(pskBody)
            guard index == 0, let ticket else {
                throw .illegalParameter("selected_identity \(index) is outside the one PSK offered (RFC 8446 §4.2.11)")
            }
            guard ticket.suite.hash == suite.hash else {
                throw .illegalParameter(
                    "the server resumed with \(suite), whose hash differs from the ticket's (RFC 8446 §4.2.11)")
            }
            psk = ticket.psk
            isResumed = true
        }
        if !transcript.isHashing { transcript.begin(suite.hash) }
        transcript.append(message.encoded)
        negotiatedSuite = suite
        var schedule = TLSKeySchedule(hash: suite.hash, psk: psk)
        schedule.enterHandshake(sharedSecret: sharedSecret)
        let secrets = schedule.handshakeTrafficSecrets(transcript.currentHash())
        clientHandshakeSecret = secrets.client
        serverHandshakeSecret = secrets.server
        keySchedule = schedule
        keyLog(.clientHandshakeTrafficSecret, secrets.client)
        keyLog(.serverHandshakeTrafficSecret, secrets.server)
        installReadSecret(.handshake, suite, secrets.server)
        installWriteSecret(.handshake, suite, secrets.client)
        setReadLevel(.handshake)
        state = .waitEncryptedExtensions
    }

    /// RFC 8446 §4.1.4: check the request, then send ClientHello2 with a share for the selected
    /// group (and the cookie), no early_data, and the PSK only if its hash fits the suite.
    private func processHelloRetryRequest(
        _ request: ServerHello, suite: CipherSuite, message: HandshakeMessage
    )
        throws(TLSAlert)
    {
        guard !receivedHelloRetryRequest else {
            throw .unexpectedMessage("a second HelloRetryRequest (RFC 8446 §4.1.4)")
        }
        try request.extensions.validate(in: .helloRetryRequest, name: "HelloRetryRequest", requested: offeredExtensions)
        guard let keyPair else { preconditionFailure("HelloRetryRequest before ClientHello") }
        var newGroup: NamedGroup?
        if let body = request.extensions[.keyShare] {
            var reader = TLSReader(body)
            let selected = try reader.readUInt16("selected_group")
            try reader.expectEnd("key_share")
            guard let group = NamedGroup(rawValue: selected), configuration.groups.contains(group) else {
                throw .illegalParameter(
                    "HelloRetryRequest selects group \(selected), which was not offered (RFC 8446 §4.2.8)")
            }
            guard group != keyPair.group else {
                throw .illegalParameter(
                    "HelloRetryRequest selects \(group), for which a share was already sent (RFC 8446 §4.2.8)")
            }
            newGroup = group
        }
        var cookie: [UInt8]?
        if let body = request.extensions[.cookie] {
            var reader = TLSReader(body)
            cookie = try reader.readVector(lengthBytes: 2, min: 1, "cookie")
            try reader.expectEnd("cookie")
        }
        guard newGroup != nil || cookie != nil else {
            throw .illegalParameter("the HelloRetryRequest would not change the ClientHello (RFC 8446 §4.1.4)")
        }
        receivedHelloRetryRequest = true
        helloRetrySuite = suite
        transcript.beginAfterHelloRetryRequest(suite.hash)
        transcript.append(message.encoded)
        if earlyDataState == .attempted {
            // RFC 9001 §4.6.2: a HelloRetryRequest always rejects 0-RTT.
            earlyDataState = .rejected
            emit(.earlyDataRejected)
        }
        if let newGroup { self.keyPair = try makeKeyPair(newGroup) }
        if let ticket, ticket.suite.hash != suite.hash {
            // RFC 8446 §4.1.4: do not offer a PSK whose hash differs from the selected suite's.
            self.ticket = nil
            resumptionTransportParameters = nil
            resumptionALPN = nil
        }
        send(makeClientHello(cookie: cookie, earlyData: false, now: configuration.wallClock()), at: .initial)
    }

    private func processEncryptedExtensions(_ message: HandshakeMessage) throws(TLSAlert) {
        let extensions = try EncryptedExtensions.decode(message.body).extensions
        try extensions.validate(in: .encryptedExtensions, name: "EncryptedExtensions", requested: offeredExtensions)
        if let body = extensions[.serverName] {
            try ExtensionCodec.expectEmpty(body, "server_name in EncryptedExtensions")
        }
        guard let alpnBody = extensions[.applicationLayerProtocolNegotiation] else {
            throw TLSAlert(.noApplicationProtocol, "the server selected no application protocol (RFC 9001 §8.1)")
        }
        let names = try ExtensionCodec.decodeProtocolNames(alpnBody)
        guard names.count == 1 else {
            throw .illegalParameter(
                "the server's ALPN response lists \(names.count) protocols instead of one (RFC 7301 §3.1)")
        }
        let selected = String(decoding: names[0], as: UTF8.self)
        guard configuration.alpn.contains(selected) else {
            throw TLSAlert(
                .noApplicationProtocol, "the server selected \"\(selected)\", which was not offered (RFC 9001 §8.1)")
        }
        guard let parameters = extensions[.quicTransportParameters] else {
            throw .missingExtension("EncryptedExtensions lacks quic_transport_parameters (RFC 9001 §8.2)")
        }
        if let body = extensions[.earlyData] {
            try ExtensionCodec.expectEmpty(body, "early_data in EncryptedExtensions")
            guard earlyDataState == .attempted, isResumed, let ticket else {
                throw .illegalParameter("the server accepted 0-RTT without accepting the first PSK (RFC 8446 §4.2.11)")
            }
            guard ticket.alpn == selected else {
                throw .illegalParameter(
                    "the server accepted 0-RTT under a different application protocol (RFC 8446 §4.2.10)")
            }
            earlyDataState = .accepted
        } else if earlyDataState == .attempted {
            earlyDataState = .rejected
            emit(.earlyDataRejected)
        }
        negotiatedALPN = selected
        peerTransportParameters = parameters
        transcript.append(message.encoded)
        state = isResumed ? .waitFinished : .waitCertificateOrRequest
    }

    private func processCertificateRequest(_ message: HandshakeMessage) throws(TLSAlert) {
        let request = try CertificateRequest.decode(message.body)
        guard request.context.isEmpty else {
            throw .illegalParameter("certificate_request_context must be empty during the handshake (RFC 8446 §4.3.2)")
        }
        try request.extensions.validate(in: .certificateRequest, name: "CertificateRequest", requested: nil)
        guard let body = request.extensions[.signatureAlgorithms] else {
            throw .missingExtension("CertificateRequest lacks signature_algorithms (RFC 8446 §4.3.2)")
        }
        let schemes = try ExtensionCodec.decodeUInt16List(body, "signature_algorithms")
        certificateRequest = (request.context, schemes, Set(request.extensions.types))
        transcript.append(message.encoded)
        state = .waitCertificate
    }

    private func processCertificate(_ message: HandshakeMessage) throws(TLSAlert) {
        let certificate = try CertificateMessage.decode(message.body)
        guard certificate.context.isEmpty else {
            throw .illegalParameter("the server's certificate_request_context must be empty (RFC 8446 §4.4.2)")
        }
        guard !certificate.entries.isEmpty else {
            throw .decodeError("the server sent an empty Certificate (RFC 8446 §4.4.2.4)")
        }
        for entry in certificate.entries {
            try entry.extensions.validate(in: .certificate, name: "CertificateEntry", requested: offeredExtensions)
        }
        serverPublicKey = try authenticatePeer(certificate, purpose: .serverAuthentication, peerName: serverName)
        transcript.append(message.encoded)
        state = .waitCertificateVerify
    }

    private func processCertificateVerify(_ message: HandshakeMessage) throws(TLSAlert) {
        guard let serverPublicKey else { preconditionFailure("CertificateVerify before Certificate") }
        try verifyCertificateVerify(message.body, publicKey: serverPublicKey, sentBy: .server)
        transcript.append(message.encoded)
        state = .waitFinished
    }

    private func processFinished(_ message: HandshakeMessage) throws(TLSAlert) {
        guard var schedule = keySchedule, let suite = negotiatedSuite else {
            preconditionFailure("Finished before ServerHello")
        }
        try verifyFinished(message.body, baseKey: serverHandshakeSecret, hash: suite.hash)
        transcript.append(message.encoded)
        schedule.enterMaster()
        let serverFinishedHash = transcript.currentHash()
        let secrets = schedule.applicationTrafficSecrets(serverFinishedHash)
        keyLog(.clientTrafficSecret0, secrets.client)
        keyLog(.serverTrafficSecret0, secrets.server)
        keyLog(.exporterSecret, schedule.exporterMasterSecret(serverFinishedHash))
        installReadSecret(.oneRTT, suite, secrets.server)
        if let request = certificateRequest { try sendClientCertificate(request) }
        send(finishedMessage(baseKey: clientHandshakeSecret, hash: suite.hash), at: .handshake)
        resumptionMasterSecret = schedule.resumptionMasterSecret(transcript.currentHash())
        keySchedule = schedule
        installWriteSecret(.oneRTT, suite, secrets.client)
        isHandshakeComplete = true
        emit(.handshakeComplete)
        setReadLevel(.oneRTT)
        state = .connected
    }

    /// RFC 8446 §4.4.2: our chain if a scheme fits both the server's list and our key, else an
    /// empty Certificate and no CertificateVerify.
    private func sendClientCertificate(
        _ request: (context: [UInt8], schemes: [UInt16], extensions: Set<ExtensionType>)
    )
        throws(TLSAlert)
    {
        if let key = configuration.privateKey, !configuration.certificateChain.isEmpty,
            let scheme = configuration.signatureAlgorithms.first(where: {
                request.schemes.contains($0.rawValue) && $0.keyType == key.keyType
            })
        {
            try sendCertificateAndVerify(context: request.context, scheme: scheme, key: key, sentBy: .client)
        } else {
            log("the server asked for a client certificate and none fits; sending an empty Certificate")
            send(CertificateMessage(context: request.context, entries: []).encode(), at: .handshake)
        }
    }

    /// Stores the ticket with what 0-RTT needs (RFC 8446 §4.6.1, RFC 9001 §4.6.1).
    private func processNewSessionTicket(_ message: HandshakeMessage) throws(TLSAlert) {
        let ticket = try NewSessionTicket.decode(message.body)
        try ticket.extensions.validate(in: .newSessionTicket, name: "NewSessionTicket", requested: nil)
        let maxEarlyData = try ticket.maxEarlyDataSize()
        if let maxEarlyData, maxEarlyData != NewSessionTicket.quicEarlyDataSentinel {
            throw TLSAlert(
                .illegalParameter,
                "NewSessionTicket max_early_data_size is \(maxEarlyData), not 0xffffffff (RFC 9001 §4.6.1)",
                isQuicProtocolViolation: true)
        }
        guard ticket.ticket.count <= ClientHandshake.maximumTicketLength else {
            log("ignoring a \(ticket.ticket.count)-byte session ticket: too large to offer in a ClientHello")
            return
        }
        guard ticket.lifetime > 0, let store = configuration.sessionTicketStore, let suite = negotiatedSuite,
            let alpn = negotiatedALPN, let parameters = peerTransportParameters
        else { return }
        let psk = TLSKeySchedule.resumptionPSK(
            resumptionMasterSecret: resumptionMasterSecret, nonce: ticket.nonce, hash: suite.hash)
        store.insert(
            ClientTicket(
                serverName: serverName ?? "", ticket: ticket.ticket, psk: psk, suite: suite,
                receivedAt: configuration.wallClock(), lifetime: ticket.lifetime, ageAdd: ticket.ageAdd,
                maxEarlyDataSize: maxEarlyData, alpn: alpn, transportParameters: parameters, context: ticketContext),
            now: configuration.wallClock())
        emit(.sessionTicketReceived)
    }
}
