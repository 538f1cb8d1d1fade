import QuicCrypto
import QuicTLS
import QuicWire

extension Connection {
    /// Moves TLS output into CRYPTO streams and installs keys as TLS releases secrets
    /// (RFC 9001 §4.1).
    func driveTLS(now: Instant) throws(TransportFailure) {
        while let (level, data) = tls.pollOutput() {
            let space = level == .zeroRTT ? PacketNumberSpace.applicationData : level.packetNumberSpace
            crypto[space.rawValue].enqueue(data)
        }
        if peerParameters == nil, let raw = tls.peerTransportParameters {
            try applyPeerParameters(raw, now: now)
        }
        while let event = tls.pollEvent() {
            switch event {
            case .readSecret(let level, let suite, let secret):
                let keys = try makeKeys(level, suite: suite, secret: secret, direction: .open)
                receiveKeys[level.rawValue] = keys
                if level == .oneRTT {
                    nextReceiveKeys = try? keys.nextGeneration()
                }
                if level == .handshake { recovery.hasHandshakeKeys = true }
                if level == .zeroRTT { zeroRTTAccepted = true }
            case .writeSecret(let level, let suite, let secret):
                sendKeys[level.rawValue] = try makeKeys(level, suite: suite, secret: secret, direction: .seal)
                if level == .oneRTT { aeadLimits = configuration.aeadLimitsOverride ?? AEADLimits(suite: suite) }
                if level == .zeroRTT, peerParameters == nil, let remembered = tls.resumptionTransportParameters {
                    // 0-RTT runs under the limits the server gave last time (RFC 9000 §7.4.1).
                    let result = remembered.withUnsafeBytes { raw in
                        Result { () throws(WireError) -> TransportParameters in try TransportParameters.decode(raw, sentBy: .server) }
                    }
                    if case .success(let parameters) = result { streams.applyPeerParameters(parameters) }
                }
            case .handshakeComplete:
                handshakeComplete = true
                guard peerParameters != nil else {
                    throw TransportFailure(
                        code: .crypto(alert: AlertDescription.missingExtension.rawValue), frameType: nil,
                        reason: "peer sent no quic_transport_parameters")
                }
                state = .established
                events.append(.connected)
                if role == .server {
                    // RFC 9001 §4.1.2: the server's handshake is confirmed once complete.
                    handshakeDonePending = true
                    confirmHandshake(now: now)
                }
            case .earlyDataRejected:
                events.append(.zeroRTTRejected)
                sendKeys[EncryptionLevel.zeroRTT.rawValue] = nil
                recovery.declareAllLost(space: .applicationData, now: now) { space, frame, outcome in
                    onSentFrame(space, frame, outcome)
                }
            case .sessionTicketReceived:
                events.append(.sessionTicketReceived)
            }
        }
    }

    /// Packet keys for `level`, labelled for the version in use; 0-RTT always runs in the original
    /// version (RFC 9369 §4.1).
    func makeKeys(_ level: EncryptionLevel, suite: CipherSuite, secret: [UInt8], direction: AEADKey.Direction)
        throws(TransportFailure) -> PacketProtectionKeys
    {
        do {
            return try PacketProtectionKeys(
                suite: suite, secret: secret, version: level == .zeroRTT ? originalVersion : version, direction: direction)
        } catch {
            throw TransportFailure(code: .internalError, frameType: nil, reason: "packet keys: \(error)")
        }
    }

    /// Decodes, checks and applies the peer's transport parameters (RFC 9000 §7.3, §7.4, §18).
    func applyPeerParameters(_ raw: [UInt8], now: Instant) throws(TransportFailure) {
        let decoded = raw.withUnsafeBytes { bytes in
            Result { () throws(WireError) -> TransportParameters in try TransportParameters.decode(bytes, sentBy: role.peer) }
        }
        let parameters: TransportParameters
        switch decoded {
        case .success(let value): parameters = value
        case .failure(let error): throw TransportFailure(error)
        }
        do { try parameters.validatePresence(sentBy: role.peer) } catch { throw TransportFailure(error) }

        func mismatch(_ what: String) -> TransportFailure {
            TransportFailure(code: .transportParameterError, frameType: nil, reason: what)
        }
        // §7.3: the connection IDs both sides saw must match what the parameters claim.
        guard parameters.initialSourceConnectionID == peerInitialSourceCID else {
            throw mismatch("initial_source_connection_id does not match the peer's Source Connection ID")
        }
        if role == .client {
            guard parameters.originalDestinationConnectionID == originalDestinationCID else {
                throw mismatch("original_destination_connection_id does not match our first Destination Connection ID")
            }
            guard parameters.retrySourceConnectionID == retrySourceCID else {
                throw mismatch(retrySourceCID == nil ? "unexpected retry_source_connection_id" : "retry_source_connection_id missing or wrong")
            }
            if let token = parameters.statelessResetToken { peerIDs.setResetToken(sequence: 0, token) }
            try applyPreferredAddressParameter(parameters)
        }
        try negotiateVersion(parameters.versionInformation, now: now)
        // Tickets from here on (a client's stored NewSessionTicket, a server's issued one) belong
        // to the negotiated version (RFC 9369 §5); the one offered was checked against the
        // version the client started in, which its 0-RTT also uses (§4.1).
        tls.ticketContext = Connection.ticketContext(version)
        peerParameters = parameters
        streams.applyPeerParameters(parameters)
        recovery.maxAckDelay = .milliseconds(Int64(parameters.maxAckDelay))
        peerMaxDatagramFrameSize = parameters.maxDatagramFrameSize
        if parameters.maxUDPPayloadSize < UInt64(maxDatagramSize) {
            maxDatagramSize = max(1200, Int(parameters.maxUDPPayloadSize))
        }
        // §10.1: the effective idle timeout is the smaller of the two advertised.
        let local = configuration.maxIdleTimeout.nanoseconds > 0 ? configuration.maxIdleTimeout : nil
        let remote = parameters.maxIdleTimeout > 0 ? TimeSpan.milliseconds(Int64(parameters.maxIdleTimeout)) : nil
        switch (local, remote) {
        case (let a?, let b?): idleTimeout = min(a, b)
        case (let a?, nil): idleTimeout = a
        case (nil, let b?): idleTimeout = b
        case (nil, nil): idleTimeout = nil
        }
    }

    /// Checks the peer's version_information against the versions our packets used, and on a
    /// server adopts the version chosen from the client's offer (RFC 9368 §4, §2.3).
    func negotiateVersion(_ information: TransportParameters.VersionInformation?, now: Instant) throws(TransportFailure) {
        func failure(_ reason: String) -> TransportFailure {
            TransportFailure(code: .versionNegotiationError, frameType: nil, reason: reason)
        }
        switch role {
        case .server:
            // The client's Chosen Version must be the version of the packets that carried it.
            if let information, information.chosenVersion != originalVersion {
                throw failure(
                    "the client's chosen version \(information.chosenVersion) is not the version of its packets (\(originalVersion))")
            }
            let chosen = CompatibleVersionNegotiation.serverChoice(
                original: originalVersion, client: information, preferred: configuration.preferredVersions)
            if chosen != version { try switchServerVersion(to: chosen) }
            if qlogSink != nil {
                qlog(QlogEvents.versionInformation(
                    time: now,
                    serverVersions: CompatibleVersionNegotiation.serverAvailableVersions(configured: configuration.availableVersions),
                    clientVersions: information?.availableVersions,
                    chosen: version))
            }
        case .client:
            guard let information else {
                // Servers that support v2 must send it (RFC 9369 §4); a switch without it is unverifiable.
                if version != originalVersion {
                    throw failure("the server switched to \(version) without version_information")
                }
                return
            }
            guard information.chosenVersion == version else {
                throw failure(
                    "the server's chosen version \(information.chosenVersion) is not the version its packets use (\(version))")
            }
            let offered = CompatibleVersionNegotiation.clientAvailableVersions(
                chosen: originalVersion, configured: configuration.availableVersions)
            guard offered.contains(information.chosenVersion) else {
                throw failure("the server chose \(information.chosenVersion), which we did not offer")
            }
            if qlogSink != nil {
                qlog(QlogEvents.versionInformation(
                    time: now, serverVersions: information.availableVersions, clientVersions: offered, chosen: version))
            }
        }
    }

    /// Server: answer in `negotiated` from now on (RFC 9369 §4.1). Initial packets of the
    /// original version are still read with the original keys until Initial keys are discarded.
    func switchServerVersion(to negotiated: QuicVersion) throws(TransportFailure) {
        do {
            let keys = try InitialSecrets.keys(version: negotiated, clientDestinationCID: originalDestinationCID, role: .server)
            originalVersionInitialReceiveKeys = receiveKeys[EncryptionLevel.initial.rawValue]
            sendKeys[EncryptionLevel.initial.rawValue] = keys.send
            receiveKeys[EncryptionLevel.initial.rawValue] = keys.receive
        } catch {
            throw TransportFailure(code: .internalError, frameType: nil, reason: "initial keys for \(negotiated): \(error)")
        }
        version = negotiated
    }

    /// The handshake is confirmed (RFC 9001 §4.1.2): discard Handshake keys, issue more
    /// connection IDs, and on a server a token for the client's next connection (RFC 9000 §8.1.3).
    func confirmHandshake(now: Instant) {
        guard !handshakeConfirmed else { return }
        handshakeConfirmed = true
        recovery.handshakeConfirmed = true
        discardKeys(.handshake, now: now)
        events.append(.handshakeConfirmed)
        issueConnectionIDs()
        // Paths: DPLPMTUD starts (RFC 9000 §14.3.1), a client moves to a preferred address (§9.6.1).
        startPathMTUDiscovery()
        probePreferredAddress(now: now)
        if role == .server && configuration.addressValidation.issueNewTokens {
            newToken = configuration.addressValidation.tokenKeys.sealNewToken(client: remoteAddress, version: version, now: now)
            newTokenPending = true
        }
    }

    /// RFC 9001 §4.9: Initial keys go when the client first sends (the server first receives) a
    /// Handshake packet; Handshake keys when the handshake is confirmed.
    func discardKeys(_ level: EncryptionLevel, now: Instant) {
        precondition(level == .initial || level == .handshake)
        guard sendKeys[level.rawValue] != nil || receiveKeys[level.rawValue] != nil else { return }
        sendKeys[level.rawValue] = nil
        receiveKeys[level.rawValue] = nil
        let space = level.packetNumberSpace
        recovery.discard(space: space, now: now, amplificationBlocked: amplificationBlocked)
        received[space.rawValue] = ReceivedPackets()
        probes[space.rawValue] = 0
        if level == .initial {
            originalVersionInitialReceiveKeys = nil
            versionCandidate = nil
        }
        if level == .handshake {
            // 0-RTT keys are no longer needed either once 1-RTT is confirmed.
            sendKeys[EncryptionLevel.zeroRTT.rawValue] = nil
            receiveKeys[EncryptionLevel.zeroRTT.rawValue] = nil
        }
    }

    /// The peer's packets moved to the next key phase (RFC 9001 §6.2): rotate receive keys, and
    /// answer with our own update if we did not start it.
    func commitReceiveKeyUpdate(firstPacketNumber: UInt64, now: Instant) {
        let oneRTT = EncryptionLevel.oneRTT.rawValue
        previousReceiveKeys = receiveKeys[oneRTT]
        previousReceiveKeysExpiry = now + recovery.rtt.probeTimeout * 3
        receiveKeys[oneRTT] = nextReceiveKeys
        nextReceiveKeys = try? nextReceiveKeys?.nextGeneration()
        receiveKeyPhase.toggle()
        firstPacketNumberInReceivePhase = firstPacketNumber
        if sendKeyPhase != receiveKeyPhase {
            // The peer started this one: follow, and expect no further update until our ACK of
            // its first packet in the new phase has gone out with the new keys.
            rotateSendKeys(initiated: false)
            peerKeyUpdateAwaitingAck = firstPacketNumber
        }
    }

    /// Offers the peer spare connection IDs, up to its active_connection_id_limit (RFC 9000
    /// §5.1.1), once the handshake is confirmed.
    func issueConnectionIDs() {
        guard handshakeConfirmed, let peerParameters else { return }
        let wanted = Int(min(peerParameters.activeConnectionIDLimit, configuration.activeConnectionIDLimit, 8))
        while localIDs.countTowardLimit < wanted {
            let id = idGenerator.generate()
            guard !localIDs.contains(id) else { continue }
            _ = localIDs.add(id, resetToken: StatelessResetTokens.token(for: id, key: configuration.statelessResetKey), announce: true)
            endpointEvents.append(.issued(id))
        }
    }

    /// Ends the connection with a transport error of our own (RFC 9000 §10.2).
    func fail(_ failure: TransportFailure, now: Instant) {
        guard state == .handshaking || state == .established else { return }
        enterClosing(
            CloseFrame(errorCode: failure.code.rawValue, frameType: failure.frameType ?? 0, isApplication: false, reason: failure.reason),
            reason: .transportError(failure.code, frameType: failure.frameType, reason: failure.reason), now: now)
    }

    /// Closing state (§10.2.1): send CONNECTION_CLOSE, then wait three PTOs.
    func enterClosing(_ frame: CloseFrame, reason: CloseReason, now: Instant) {
        closeFrame = frame
        closeSendPending = true
        closeReason = reason
        events.append(.closed(reason))
        state = .closing
        closeDeadline = now + recovery.rtt.probeTimeout * 3
        pacingDeadline = nil
    }

    /// Draining state (§10.2.2): send nothing, wait three PTOs.
    func enterDraining(now: Instant, announce: Bool) {
        state = .draining
        closeSendPending = false
        closeDeadline = now + recovery.rtt.probeTimeout * 3
    }
}
