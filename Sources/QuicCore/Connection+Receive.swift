import QuicCrypto
import QuicTLS
import QuicWire

extension Connection {
    /// A datagram from the network, decrypted in place (RFC 9000 §12.2: its coalesced packets
    /// are processed in order; packets for another connection ID are ignored). `local` is the
    /// address it arrived at, when the datapath knows it (needed to tell paths apart that differ
    /// only on our side, e.g. a server's preferred address, RFC 9000 §9.6).
    public func handle(
        datagram: UnsafeMutableRawBufferPointer, from remote: SocketAddress, to local: SocketAddress? = nil, ecn: ECNCodepoint,
        now: Instant
    ) {
        guard state != .closed, state != .draining else { return }
        var local = local
        if local?.isUnspecified == true { local = nil }
        let arrival = classifyArrival(remote: remote, local: local)
        if arrival == .refused {
            statistics.datagramsFromUnknownPaths += 1
            return
        }
        statistics.bytesReceived += datagram.count
        let wasAmplificationBlocked = amplificationBlocked
        switch arrival {
        case .current: path.bytesReceived += datagram.count
        case .alternate: alternatePath!.bytesReceived += datagram.count
        case .new, .refused: break
        }
        incomingChallenge = nil
        datagramMovesPeer = false
        let migrationsBefore = statistics.pathMigrations

        var offset = 0
        var firstDestination: ConnectionID?
        var decryptedAny = false
        while offset < datagram.count, state != .closed, state != .draining {
            let header: PacketHeader
            do {
                header = try PacketHeader.parse(
                    UnsafeRawBufferPointer(datagram), at: offset, shortHeaderCIDLength: localCIDLength)
            } catch {
                break
            }
            offset = header.end
            if let firstDestination, header.destinationCID != firstDestination { continue }
            firstDestination = header.destinationCID
            if processPacket(header, in: datagram, ecn: ecn, now: now) { decryptedAny = true }
        }
        if decryptedAny {
            if arrival == .current && incomingChallenge == nil && statistics.pathMigrations == migrationsBefore {
                // The common case, kept inline: a packet on the current path, which stayed put.
                if role == .server, let firstDestination, path.lastDestinationCID != firstDestination {
                    path.lastDestinationCID = firstDestination
                }
                datagramMovesPeer = false
            } else if state == .established || state == .handshaking {
                noteDatagramPath(
                    arrival, remote: remote, local: local, size: datagram.count, destination: firstDestination, now: now)
            }
        }

        if !decryptedAny, let token = StatelessReset.candidateToken(in: UnsafeRawBufferPointer(datagram)),
            peerIDs.isStatelessReset(token)
        {
            // RFC 9000 §10.3.1: a stateless reset ends the connection at once.
            closeReason = .statelessReset
            events.append(.closed(.statelessReset))
            enterDraining(now: now, announce: false)
            return
        }
        if state == .closing, decryptedAny, closesSentWhileClosing < 32 {
            // §10.2.1: answer packets in the closing state with CONNECTION_CLOSE.
            closeSendPending = true
        }
        if wasAmplificationBlocked && !amplificationBlocked {
            recovery.updateTimer(now: now, amplificationBlocked: false)
        }
    }

    /// Decrypts and processes one packet; returns whether it was authentic.
    func processPacket(_ header: PacketHeader, in datagram: UnsafeMutableRawBufferPointer, ecn: ECNCodepoint, now: Instant) -> Bool {
        switch header.type {
        case .versionNegotiation:
            handleVersionNegotiation(header, now: now)
            return false
        case .retry:
            handleRetry(header, in: UnsafeRawBufferPointer(datagram), now: now)
            return false
        default:
            break
        }
        guard let level = EncryptionLevel(header.type) else { return false }
        // Performance: the key objects are referenced without retaining them. They stay owned by
        // `receiveKeys`, the previous/next 1-RTT keys or `versionCandidate` until the payload is
        // open, and nothing below uses them after that. (Copying the keys struct retained and
        // released three objects per packet; `unowned(unsafe)` still retained each around its
        // call.)
        let headerKey: Unmanaged<HeaderProtectionKey>
        var aead: Unmanaged<AEADKey>
        var switchingVersion = false
        if let packetVersion = header.version, packetVersion != version {
            guard let other = keysForOtherVersion(packetVersion, level: level) else {
                statistics.undecryptablePackets += 1
                return false
            }
            headerKey = .passUnretained(other.headerProtection)
            aead = .passUnretained(other.aead)
            switchingVersion = role == .client
        } else {
            guard receiveKeys[level.rawValue] != nil else {
                statistics.undecryptablePackets += 1
                return false
            }
            headerKey = .passUnretained(receiveKeys[level.rawValue].unsafelyUnwrapped.headerProtection)
            aead = .passUnretained(receiveKeys[level.rawValue].unsafelyUnwrapped.aead)
        }
        let space = level.packetNumberSpace
        let packet = UnsafeMutableRawBufferPointer(rebasing: datagram[header.start..<header.end])
        let packetNumberOffset = header.packetNumberOffset - header.start
        guard
            let unmasked = headerKey._withUnsafeGuaranteedRef({ key in
                PacketProtection.removeHeaderProtection(packet: packet, packetNumberOffset: packetNumberOffset, key: key)
            })
        else {
            statistics.undecryptablePackets += 1
            return false
        }
        let packetNumber = PacketNumberCoding.decode(
            truncated: unmasked.truncatedPacketNumber, length: unmasked.packetNumberLength,
            largestProcessed: received[space.rawValue].largest)

        // 1-RTT: the key phase bit picks the keys (RFC 9001 §6.3).
        var isKeyUpdate = false
        if level == .oneRTT {
            let phase = unmasked.firstByte & HeaderBits.shortKeyPhase != 0
            if phase != receiveKeyPhase {
                if previousReceiveKeys != nil, packetNumber < firstPacketNumberInReceivePhase {
                    aead = .passUnretained(previousReceiveKeys.unsafelyUnwrapped.aead)
                } else if nextReceiveKeys != nil {
                    aead = .passUnretained(nextReceiveKeys.unsafelyUnwrapped.aead)
                    isKeyUpdate = true
                } else {
                    statistics.undecryptablePackets += 1
                    return false
                }
            }
        }
        guard
            aead._withUnsafeGuaranteedRef({ key in
                PacketProtection.openPayload(
                    packet: packet, payloadOffset: unmasked.payloadOffset, packetNumber: packetNumber, key: key)
            })
        else {
            statistics.undecryptablePackets += 1
            authenticationFailures += 1
            if authenticationFailures > aeadLimits.integrity {
                // RFC 9001 §6.6: too many forgery attempts for this AEAD.
                fail(TransportFailure(code: .aeadLimitReached, frameType: nil, reason: "integrity limit reached"), now: now)
            }
            return false
        }
        if switchingVersion, let candidate = versionCandidate {
            // The first authentic packet of another version: the server chose it (RFC 9369 §4.1).
            // Its version_information must confirm this (checked with the transport parameters).
            version = candidate.version
            sendKeys[EncryptionLevel.initial.rawValue] = candidate.keys.send
            receiveKeys[EncryptionLevel.initial.rawValue] = candidate.keys.receive
            versionCandidate = nil
        }
        do {
            try HeaderBits.checkReservedBits(unmasked.firstByte)
        } catch {
            fail(TransportFailure(error), now: now)
            return true
        }
        if received[space.rawValue].isDuplicate(packetNumber) {
            statistics.duplicatePackets += 1
            return true
        }
        if isKeyUpdate {
            if peerKeyUpdateAwaitingAck != nil {
                // RFC 9001 §6.2: a second update before we acknowledged the first with new keys.
                fail(TransportFailure(code: .keyUpdateError, frameType: nil, reason: "consecutive key update before acknowledgment"), now: now)
                return true
            }
            if packetNumber < (received[space.rawValue].largest ?? 0) {
                // RFC 9001 §6.4: a new phase must not come from an older packet number.
                fail(TransportFailure(code: .keyUpdateError, frameType: nil, reason: "key phase changed on a reordered packet"), now: now)
                return true
            }
            commitReceiveKeyUpdate(firstPacketNumber: packetNumber, now: now)
        }

        // What the first packets of the other side settle (RFC 9000 §7.2, RFC 9001 §4.9.1).
        if role == .client, header.type == .initial, !receivedFirstServerPacket {
            receivedFirstServerPacket = true
            peerIDs.replaceInitial(header.sourceCID)
            peerInitialSourceCID = header.sourceCID
        }
        if role == .client, !receivedFirstServerPacket, header.type == .handshake {
            receivedFirstServerPacket = true
        }
        if role == .server, level == .handshake {
            addressValidated = true
            discardKeys(.initial, now: now)
        }

        let payload = UnsafeRawBufferPointer(rebasing: packet[unmasked.payloadOffset..<(packet.count - CipherSuite.tagLength)])
        let outcome: FrameProcessing
        do {
            outcome = try processFrames(
                payload, packetType: header.type, level: level, packetDestination: header.destinationCID, now: now)
        } catch {
            fail(error, now: now)
            return true
        }
        if outcome == .refused {
            statistics.refusedPackets += 1
            return true
        }
        // RFC 9000 §9.3: only the largest-numbered non-probing packet moves the peer's address
        // (clients never follow the server, §9).
        if role == .server, level == .oneRTT, !packetWasProbing,
            received[space.rawValue].largest.map({ packetNumber > $0 }) ?? true
        {
            datagramMovesPeer = true
        }
        received[space.rawValue].onPacketReceived(
            packetNumber, ackEliciting: outcome == .ackEliciting, ecn: ecn, now: now, maxAckDelay: configuration.maxAckDelay,
            immediate: space != .applicationData)
        statistics.packetsReceived += 1
        restartIdleTimer(now: now, receiving: true)
        if qlogSink != nil {
            qlog(QlogEvents.packetReceived(
                time: now, type: header.type, number: packetNumber, length: header.end - header.start,
                frameTypes: frameTypeNames(payload, header.type)))
        }
        return true
    }

    /// Receive keys for a long-header packet whose version is not the one in use, or nil to
    /// drop it (RFC 9369 §4.1). A server that switched versions still reads the client's Initials
    /// and 0-RTT packets in the original version. A client that has not yet read the server's
    /// first handshake message accepts an Initial in another version it offered: the server's
    /// choice by compatible version negotiation (RFC 9368 §2.3); the switch happens only once
    /// such a packet decrypts.
    func keysForOtherVersion(_ packetVersion: QuicVersion, level: EncryptionLevel) -> PacketProtectionKeys? {
        switch role {
        case .server:
            guard packetVersion == originalVersion else { return nil }
            switch level {
            case .initial: return originalVersionInitialReceiveKeys
            case .zeroRTT: return receiveKeys[EncryptionLevel.zeroRTT.rawValue]
            default: return nil
            }
        case .client:
            // Offered: what clientAvailableVersions lists, without building the list.
            let offered =
                configuration.availableVersions.isEmpty
                ? packetVersion.isSupported : configuration.availableVersions.contains(packetVersion)
            guard level == .initial, version == originalVersion, receiveKeys[EncryptionLevel.handshake.rawValue] == nil,
                receiveKeys[EncryptionLevel.initial.rawValue] != nil, offered,
                CompatibleVersionNegotiation.areCompatible(originalVersion, packetVersion)
            else { return nil }
            if let candidate = versionCandidate, candidate.version == packetVersion { return candidate.keys.receive }
            guard
                let keys = try? InitialSecrets.keys(
                    version: packetVersion, clientDestinationCID: retrySourceCID ?? originalDestinationCID, role: .client)
            else { return nil }
            versionCandidate = (packetVersion, keys)
            return keys.receive
        }
    }

    enum FrameProcessing: Equatable {
        case ackEliciting, notAckEliciting
        /// A frame could not be taken now; drop the packet without acknowledging it.
        case refused
    }

    /// Processes every frame of a decrypted payload (RFC 9000 §12.4, §19).
    func processFrames(
        _ payload: UnsafeRawBufferPointer, packetType: PacketType, level: EncryptionLevel,
        packetDestination: ConnectionID, now: Instant
    ) throws(TransportFailure) -> FrameProcessing {
        var reader = FrameReader(payload: payload, packetType: packetType)
        var ackEliciting = false
        var count = 0
        packetWasProbing = true
        while !reader.isAtEnd {
            // STREAM frames carry nearly all data: decoded and handed to the stream directly.
            let streamFrame: StreamFrame?
            do throws(WireError) { streamFrame = try reader.nextStreamFrame() } catch { throw TransportFailure(error) }
            if let streamFrame {
                count += 1
                ackEliciting = true
                packetWasProbing = false
                if try onStreamFrame(streamFrame) == false { return .refused }
                continue
            }
            let next: Frame?
            do throws(WireError) { next = try reader.next() } catch { throw TransportFailure(error) }
            guard let frame = next else { break }
            count += 1
            if frame.type.isAckEliciting { ackEliciting = true }
            if !frame.type.isProbing { packetWasProbing = false }
            if try handleFrame(frame, level: level, packetDestination: packetDestination, now: now) == false {
                return .refused
            }
            if state == .draining || state == .closed { break }
        }
        guard count > 0 else {
            throw TransportFailure(code: .protocolViolation, frameType: nil, reason: "packet without frames")
        }
        return ackEliciting ? .ackEliciting : .notAckEliciting
    }

    /// One frame; false asks to drop the packet unacknowledged.
    func handleFrame(_ frame: Frame, level: EncryptionLevel, packetDestination: ConnectionID, now: Instant)
        throws(TransportFailure) -> Bool
    {
        let space = level.packetNumberSpace
        switch frame {
        case .padding, .ping:
            break
        case .ack(let ack):
            let exponent = space == .applicationData ? (peerParameters?.ackDelayExponent ?? 3) : 3
            let scaled = ack.ackDelay.multipliedReportingOverflow(by: 1 << exponent)
            let delay = TimeSpan.microseconds(Int64(clamping: scaled.overflow ? UInt64.max : scaled.partialValue))
            do throws(WireError) {
                try recovery.onAckReceived(
                    ack, space: space, ackDelay: delay, now: now, isAppLimited: appLimited,
                    amplificationBlocked: amplificationBlocked
                ) { space, sent, outcome in onSentFrame(space, sent, outcome) }
            } catch {
                throw TransportFailure(error)
            }
            noteLostPackets(now: now, trigger: "reordering_threshold")
            if space == .applicationData { notePathMTUSignals(now: now) }
            statistics.ecnCongestionEvents = recovery.ecnCongestionEvents
            if recovery.ecn.state != lastECNState { noteECNState(now: now) }
            if qlogSink != nil { qlogMetrics(now: now) }
        case .crypto(let crypto):
            do throws(WireError) { try self.crypto[space.rawValue].receive(offset: crypto.offset, data: crypto.data.bytes) } catch { throw TransportFailure(error) }
            while let bytes = self.crypto[space.rawValue].takeContiguous() {
                do throws(TLSAlert) {
                    try tls.handle(bytes, at: level)
                } catch {
                    throw TransportFailure(error)
                }
            }
            try driveTLS(now: now)
        case .newToken(let token):
            guard role == .client else {
                throw TransportFailure(code: .protocolViolation, frameType: FrameType.newToken.rawValue, reason: "NEW_TOKEN from a client")
            }
            // Kept for the next connection to this server in this version (RFC 9000 §8.1.3,
            // RFC 9369 §5); the store drops duplicates (§19.7).
            if let store = configuration.addressTokenStore, let serverName = tls.serverName {
                store.insertAddressToken(token.array, serverName: serverName, version: version, now: configuration.tls.wallClock())
            }
        case .stream(let stream):
            if try onStreamFrame(stream) == false { return false }
        case .resetStream(let reset):
            do throws(WireError) { try streams.onResetStream(reset) } catch { throw TransportFailure(error) }
        case .stopSending(let stop):
            do throws(WireError) { try streams.onStopSending(stop) } catch { throw TransportFailure(error) }
        case .maxData(let maximum):
            streams.onMaxData(maximum)
        case .maxStreamData(let update):
            do throws(WireError) { try streams.onMaxStreamData(update) } catch { throw TransportFailure(error) }
        case .maxStreams(let update):
            streams.onMaxStreams(update)
        case .dataBlocked(let limit):
            streams.onDataBlocked(limit)
        case .streamDataBlocked(let blocked):
            do throws(WireError) { try streams.onStreamDataBlocked(blocked) } catch { throw TransportFailure(error) }
        case .streamsBlocked(let blocked):
            streams.onStreamsBlocked(blocked)
        case .newConnectionID(let new):
            guard !peerIDs.current.isEmpty else {
                throw TransportFailure(
                    code: .protocolViolation, frameType: FrameType.newConnectionID.rawValue,
                    reason: "NEW_CONNECTION_ID while using a zero-length connection ID")
            }
            let before = peerIDs.current
            do throws(WireError) { try peerIDs.add(new, limit: configuration.activeConnectionIDLimit) } catch { throw TransportFailure(error) }
            // retire_prior_to may have retired the IDs in use (§5.1.2): the paths switch.
            checkAlternatePathConnectionID()
            if qlogSink != nil, before != peerIDs.current {
                qlog(QlogEvents.connectionIDUpdated(time: now, initiator: "remote", old: before, new: peerIDs.current))
            }
        case .retireConnectionID(let sequence):
            var retired: ConnectionID?
            do throws(WireError) { retired = try localIDs.retire(sequence: sequence, packetDestination: packetDestination) } catch { throw TransportFailure(error) }
            if let retired {
                endpointEvents.append(.retired(retired))
                issueConnectionIDs()
            }
        case .pathChallenge(let data):
            // Answered on the path it arrived on, once the datagram's path is known (§8.2.2).
            incomingChallenge = data
        case .pathResponse(let data):
            handlePathResponse(data, now: now)
        case .connectionClose(let close):
            let reason = String(decoding: close.reason.bytes, as: UTF8.self)
            closeReason = .peer(
                errorCode: close.errorCode, isApplication: close.isApplicationClose, frameType: close.frameType, reason: reason)
            events.append(.closed(closeReason!))
            enterDraining(now: now, announce: true)
        case .handshakeDone:
            guard role == .client else {
                throw TransportFailure(
                    code: .protocolViolation, frameType: FrameType.handshakeDone.rawValue, reason: "HANDSHAKE_DONE from a client")
            }
            confirmHandshake(now: now)
        case .datagram(let datagram):
            guard let limit = configuration.maxDatagramFrameSize, limit > 0 else {
                throw TransportFailure(
                    code: .protocolViolation, frameType: FrameType.datagram.rawValue, reason: "DATAGRAM frames were not offered")
            }
            let frameSize = 1 + (datagram.hasExplicitLength ? VarInt.encodedLength(UInt64(datagram.data.count)) : 0) + datagram.data.count
            guard UInt64(frameSize) <= limit else {
                throw TransportFailure(
                    code: .protocolViolation, frameType: FrameType.datagram.rawValue, reason: "DATAGRAM frame above max_datagram_frame_size")
            }
            if datagramsReceived.count >= configuration.datagramReceiveQueueLength { datagramsReceived.popFirst() }
            datagramsReceived.append(datagram.data.array)
            events.append(.datagramReceived)
        }
        return true
    }

    /// STREAM; false asks to drop the packet unacknowledged. (Always inlined: it is the per-packet
    /// step between the frame loop and the stream, and a call here showed in the receive profile.)
    @inline(__always)
    func onStreamFrame(_ frame: StreamFrame) throws(TransportFailure) -> Bool {
        let result: RecvStream.FrameResult
        do throws(WireError) { result = try streams.onStreamFrame(frame) } catch { throw TransportFailure(error) }
        return result != .refused
    }

    /// A sent frame was acknowledged or declared lost.
    func onSentFrame(_ space: PacketNumberSpace, _ frame: SentFrame, _ outcome: FrameOutcome) {
        switch frame {
        case .ack(let largest):
            if outcome == .acknowledged { received[space.rawValue].onAckAcknowledged(largest: largest) }
        case .crypto(let offset, let length):
            if outcome == .acknowledged {
                crypto[space.rawValue].onAcknowledged(offset: offset, length: length)
            } else {
                crypto[space.rawValue].onLost(offset: offset, length: length)
            }
        case .handshakeDone:
            if outcome == .lost { handshakeDonePending = true }
        case .newToken:
            if outcome == .lost && newToken != nil { newTokenPending = true }
            if outcome == .acknowledged {
                newToken = nil
                newTokenPending = false
            }
        case .newConnectionID(let sequence):
            if outcome == .lost { localIDs.reannounce(sequence: sequence) }
        case .retireConnectionID(let sequence):
            if outcome == .lost { peerIDs.requeueRetirement(sequence) } else { peerIDs.onRetirementAcknowledged() }
        case .pathChallenge:
            // §8.2.1: a lost challenge is sent again (with new data) while validation goes on.
            if outcome == .lost {
                if path.challenge.isActive { path.challenge.sendPending = true }
                if alternatePath?.challenge.isActive == true { alternatePath!.challenge.sendPending = true }
            }
        case .mtuProbe(let size, let generation):
            noteMTUProbeOutcome(size: size, path: generation, outcome)
        case .stream(_, _, let length, _):
            if outcome == .lost { statistics.streamBytesRetransmitted += length }
            streams.onFrame(frame, outcome)
        case .ping, .datagram, .pathResponse, .connectionClose:
            break
        default:
            streams.onFrame(frame, outcome)
        }
    }

    func noteLostPackets(now: Instant, trigger: String) {
        statistics.packetsLost = recovery.lostPacketCount
        guard qlogSink != nil else { return }
        for (space, number) in recovery.lostPackets {
            let type: PacketType = space == .initial ? .initial : space == .handshake ? .handshake : .oneRTT
            qlog(QlogEvents.packetLost(time: now, type: type, number: number, trigger: trigger))
        }
    }

    /// ECN's state moved (RFC 9000 Appendix A.4): qlog it.
    func noteECNState(now: Instant) {
        let new = recovery.ecn.state
        if qlogSink != nil { qlog(QlogEvents.ecnStateUpdated(time: now, old: lastECNState, new: new)) }
        lastECNState = new
    }

    /// ECN on the current path: testing, unknown, capable or failed.
    public var ecnState: ECNValidation.State { recovery.ecn.state }

    /// Why ECN validation failed on the current path, if it did.
    public var ecnFailure: ECNValidation.Failure? { recovery.ecn.failure }

    /// The ECN codepoints of the packets received in `space` (what our ACK frames report).
    public func receivedECNCounts(_ space: PacketNumberSpace) -> ECNCounts { received[space.rawValue].ecnCounts }

    func qlogMetrics(now: Instant) {
        qlog(QlogEvents.metricsUpdated(
            time: now, rtt: recovery.rtt, congestionWindow: recovery.congestionWindow, bytesInFlight: recovery.bytesInFlight,
            ssthresh: recovery.controller.slowStartThreshold, ptoCount: recovery.ptoCount))
    }

    func frameTypeNames(_ payload: UnsafeRawBufferPointer, _ type: PacketType) -> [String] {
        var reader = FrameReader(payload: payload, packetType: type)
        var names: [String] = []
        while let frame = try? reader.next() { names.append(frame.type.qlogName) }
        return names
    }

    // MARK: Version Negotiation and Retry (client)

    /// RFC 9000 §6.2: a Version Negotiation packet that does not list our version ends the
    /// attempt; one that lists it, or arrives after any other packet, is ignored.
    func handleVersionNegotiation(_ header: PacketHeader, now: Instant) {
        guard role == .client, !receivedFirstServerPacket, !receivedRetry, state == .handshaking else { return }
        guard header.destinationCID == initialSourceCID, header.sourceCID == originalDestinationCID else { return }
        let offered = header.versions
        guard !offered.contains(version) else { return }
        closeReason = .versionNegotiationFailed(offered)
        events.append(.closed(closeReason!))
        state = .closed
        endpointEvents.append(.drained)
    }

    /// RFC 9000 §17.2.5.2: follow one Retry whose integrity tag checks out; start over with its
    /// Source Connection ID and token. A Retry is in the original version (RFC 9369 §4.1).
    func handleRetry(_ header: PacketHeader, in datagram: UnsafeRawBufferPointer, now: Instant) {
        guard role == .client, !receivedRetry, !receivedFirstServerPacket, state == .handshaking else { return }
        guard header.version == version, version == originalVersion else { return }
        guard header.destinationCID == initialSourceCID, header.sourceCID != peerIDs.current, !header.token.isEmpty else { return }
        let packet = UnsafeRawBufferPointer(rebasing: datagram[header.start..<header.end])
        guard RetryIntegrity.isValid(version: version, originalDestinationCID: originalDestinationCID, retryPacket: packet) else {
            return
        }
        receivedRetry = true
        retrySourceCID = header.sourceCID
        retryToken = Array(header.token)
        peerIDs.replaceInitial(header.sourceCID)
        // New Initial keys from the Retry's SCID; resend the ClientHello (RFC 9001 §5.2).
        do {
            let keys = try InitialSecrets.keys(version: version, clientDestinationCID: header.sourceCID, role: .client)
            sendKeys[EncryptionLevel.initial.rawValue] = keys.send
            receiveKeys[EncryptionLevel.initial.rawValue] = keys.receive
        } catch {
            fail(TransportFailure(code: .internalError, frameType: nil, reason: "initial keys after Retry"), now: now)
            return
        }
        recovery.declareAllLost(space: .initial, now: now) { space, frame, outcome in onSentFrame(space, frame, outcome) }
        crypto[PacketNumberSpace.initial.rawValue].retransmitUnacknowledged()
        // The server kept nothing: 0-RTT sent so far is gone too; send it again, to the new ID
        // (§17.2.5.3, with packet numbers that go on).
        if sendKeys[EncryptionLevel.zeroRTT.rawValue] != nil {
            recovery.declareAllLost(space: .applicationData, now: now) { space, frame, outcome in onSentFrame(space, frame, outcome) }
        }
    }
}
