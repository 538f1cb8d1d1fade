import QuicCrypto
import QuicWire

/// What the client and server state machines share: message framing per encryption level, the
/// transcript, the output and event queues, key logging and the negotiated results.
/// Subclasses implement `start()` and `process(_:)`.
class HandshakeCore {
    let configuration: TLSConfiguration
    /// The quic_transport_parameters body this endpoint sends (a server may replace it once the
    /// client's are known, before EncryptedExtensions).
    var localTransportParameters: [UInt8]
    /// Opaque bytes a session ticket is bound to: sealed into the tickets a server issues and
    /// kept with those a client stores; a ticket resumes only under the same context. QUIC puts
    /// its version here (RFC 9369 §5).
    var ticketContext: [UInt8] = []

    private var outputs: [(level: EncryptionLevel, data: [UInt8])] = []
    private var events: [TLSEvent] = []
    private var reassembler = HandshakeReassembler()
    private(set) var readLevel: EncryptionLevel = .initial
    private var failure: TLSAlert?

    var transcript = Transcript()
    var clientRandom: [UInt8] = []

    // Negotiated results, read through TLSConnection.
    var serverName: String?
    var negotiatedSuite: CipherSuite?
    var peerTransportParameters: [UInt8]?
    var negotiatedALPN: String?
    var isHandshakeComplete = false
    var isResumed = false
    var earlyDataState: EarlyDataState = .notAttempted
    var peerCertificateChain: [Certificate] = []
    var resumptionTransportParameters: [UInt8]?
    var resumptionALPN: String?

    init(configuration: TLSConfiguration, localTransportParameters: [UInt8]) {
        self.configuration = configuration
        self.localTransportParameters = localTransportParameters
    }

    func start() throws(TLSAlert) {}

    func process(_ message: HandshakeMessage) throws(TLSAlert) {
        preconditionFailure("HandshakeCore.process is implemented by the client and server")
    }

    // MARK: input

    /// Feeds in-order CRYPTO bytes received at `level`. The first alert is sticky: every later
    /// call throws it again.
    final func handle(_ data: UnsafeRawBufferPointer, at level: EncryptionLevel) throws(TLSAlert) {
        if let failure { throw failure }
        do {
            try handleUnchecked(data, at: level)
        } catch {
            failure = error
            throw error
        }
    }

    private func handleUnchecked(_ data: UnsafeRawBufferPointer, at level: EncryptionLevel) throws(TLSAlert) {
        guard !data.isEmpty else { return }
        guard level != .zeroRTT else {
            throw TLSAlert(
                .unexpectedMessage, "CRYPTO data in a 0-RTT packet (RFC 9001 §8.3)", isQuicProtocolViolation: true)
        }
        guard level == readLevel else {
            if level < readLevel {
                throw TLSAlert(
                    .unexpectedMessage,
                    "new handshake data at \(level) after TLS moved to \(readLevel) (RFC 9001 §4.1.3)",
                    isQuicProtocolViolation: true)
            }
            throw .unexpectedMessage("handshake data at \(level) while TLS reads \(readLevel)")
        }
        reassembler.append(data)
        while let message = try reassembler.nextMessage() {
            let levelBefore = readLevel
            try process(message)
            if readLevel != levelBefore && !reassembler.isEmpty {
                // RFC 8446 §5.1: handshake messages must not span a key change.
                throw TLSAlert(
                    .unexpectedMessage, "data after \(message.type) at \(levelBefore), where the keys change",
                    isQuicProtocolViolation: true)
            }
        }
    }

    /// Moves reading to `level`; called by the state machines right after the message that
    /// changes the peer's keys.
    final func setReadLevel(_ level: EncryptionLevel) { readLevel = level }

    // MARK: output

    /// Queues a handshake message at `level`, adding it to the transcript unless it is a
    /// post-handshake message.
    final func send(_ message: [UInt8], at level: EncryptionLevel, inTranscript: Bool = true) {
        if inTranscript { transcript.append(message) }
        if let last = outputs.indices.last, outputs[last].level == level {
            outputs[last].data += message
        } else {
            outputs.append((level, message))
        }
    }

    final func pollOutput() -> (level: EncryptionLevel, data: [UInt8])? {
        outputs.isEmpty ? nil : outputs.removeFirst()
    }

    final func emit(_ event: TLSEvent) { events.append(event) }

    final func pollEvent() -> TLSEvent? { events.isEmpty ? nil : events.removeFirst() }

    final func installReadSecret(_ level: EncryptionLevel, _ suite: CipherSuite, _ secret: [UInt8]) {
        emit(.readSecret(level: level, suite: suite, secret: secret))
    }

    final func installWriteSecret(_ level: EncryptionLevel, _ suite: CipherSuite, _ secret: [UInt8]) {
        emit(.writeSecret(level: level, suite: suite, secret: secret))
    }

    final func keyLog(_ label: KeyLogLabel, _ secret: [UInt8]) {
        configuration.keyLog?(label.line(clientRandom: clientRandom, secret: secret))
    }

    final func log(_ message: @autoclosure () -> String) { configuration.log?(message()) }

    // MARK: helpers for both sides

    final func randomBytes(_ count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        bytes.withUnsafeMutableBytes { configuration.random($0) }
        return bytes
    }

    final func makeKeyPair(_ group: NamedGroup) throws(TLSAlert) -> EphemeralKeyPair {
        do { return try EphemeralKeyPair(group: group, random: configuration.random) } catch {
            throw .internalError("cannot make a \(group) key share: \(error)")
        }
    }

    /// Parses the peer's chain, checks it against the configured trust anchors (unless
    /// verification is off) and returns the leaf's public key. Alerts follow RFC 8446 §6.2:
    /// unparsable → bad_certificate, unusable key → unsupported_certificate, then the chain's
    /// failure reason.
    final func authenticatePeer(
        _ message: CertificateMessage, purpose: TrustStore.Purpose, peerName: String?
    ) throws(TLSAlert) -> PublicKey {
        let chain = message.entries.map { Certificate(der: $0.data) }
        let parsed: CertificateChain
        do { parsed = try CertificateChain(chain) } catch {
            throw TLSAlert(.badCertificate, error.message)
        }
        peerCertificateChain = chain
        let publicKey: PublicKey
        do { publicKey = try parsed.leafPublicKey() } catch {
            throw TLSAlert(.unsupportedCertificate, "the certificate's key cannot be used: \(error.message)")
        }
        let store: TrustStore?
        do { store = try TrustStoreCache.store(for: configuration.verification) } catch {
            throw .internalError("cannot load trust anchors: \(error.message)")
        }
        guard let store else { return publicKey }
        do {
            try store.verify(
                chain: parsed, purpose: purpose, peerName: peerName, time: Int64(configuration.wallClock() / 1000))
        } catch {
            throw TLSAlert(HandshakeCore.alert(for: error.reason), error.description)
        }
        return publicKey
    }

    /// The alert RFC 8446 §6.2 names for a chain that failed validation.
    static func alert(for reason: CertificateVerificationError.Reason) -> AlertDescription {
        switch reason {
        case .expired, .notYetValid: return .certificateExpired
        case .untrustedIssuer: return .unknownCA
        case .hostnameMismatch, .badSignature, .malformed: return .badCertificate
        case .revoked: return .certificateRevoked
        case .wrongPurpose: return .unsupportedCertificate
        case .other: return .certificateUnknown
        }
    }

    /// Checks a peer's CertificateVerify (RFC 8446 §4.4.3): the scheme must be one we offered and
    /// fit the key (illegal_parameter), the signature must verify (decrypt_error).
    final func verifyCertificateVerify(
        _ body: [UInt8], publicKey: PublicKey, sentBy sender: SenderRole
    ) throws(TLSAlert) {
        let verify = try CertificateVerify.decode(body)
        guard let scheme = SignatureScheme(rawValue: verify.scheme), configuration.signatureAlgorithms.contains(scheme)
        else {
            throw .illegalParameter(
                "CertificateVerify uses scheme 0x\(String(verify.scheme, radix: 16)), which was not offered")
        }
        guard scheme.keyType == publicKey.keyType else {
            throw .illegalParameter("CertificateVerify uses \(scheme) with a \(publicKey.keyType) certificate")
        }
        let content = CertificateVerify.signedContent(transcriptHash: transcript.currentHash(), sentBy: sender)
        guard publicKey.verify(signature: verify.signature, message: content, scheme: scheme) else {
            throw TLSAlert(.decryptError, "the CertificateVerify signature does not verify")
        }
    }

    /// Certificate + CertificateVerify for our own chain, signed with `scheme`.
    final func sendCertificateAndVerify(
        context: [UInt8], scheme: SignatureScheme, key: PrivateKey, sentBy sender: SenderRole
    ) throws(TLSAlert) {
        let certificate = CertificateMessage(
            context: context, entries: configuration.certificateChain.map { ($0.der, ExtensionBlock()) })
        send(certificate.encode(), at: .handshake)
        let content = CertificateVerify.signedContent(transcriptHash: transcript.currentHash(), sentBy: sender)
        let signature: [UInt8]
        do { signature = try key.sign(content, scheme: scheme) } catch {
            throw .internalError("signing CertificateVerify failed: \(error.message)")
        }
        send(CertificateVerify(scheme: scheme.rawValue, signature: signature).encode(), at: .handshake)
    }

    /// Checks the peer's Finished against `baseKey` over the transcript so far (RFC 8446 §4.4.4).
    final func verifyFinished(_ body: [UInt8], baseKey: [UInt8], hash: HashAlgorithm) throws(TLSAlert) {
        let finished = try Finished.decode(body, hash: hash)
        let expected = TLSKeySchedule.verifyData(baseKey: baseKey, transcriptHash: transcript.currentHash(), hash: hash)
        let matches = expected.withUnsafeBytes { e in finished.verifyData.withUnsafeBytes { constantTimeEquals(e, $0) }
        }
        guard matches else { throw TLSAlert(.decryptError, "the peer's Finished does not verify") }
    }

    /// Our Finished over the transcript so far.
    final func finishedMessage(baseKey: [UInt8], hash: HashAlgorithm) -> [UInt8] {
        Finished(
            verifyData: TLSKeySchedule.verifyData(
                baseKey: baseKey, transcriptHash: transcript.currentHash(), hash: hash)
        )
        .encode()
    }
}
