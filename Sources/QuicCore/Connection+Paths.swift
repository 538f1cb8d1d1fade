import QuicCrypto
import QuicWire

/// Why `Connection.migrate(to:keepingPreviousPath:now:)` refused to move.
public enum MigrationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Only clients migrate (RFC 9000 §9: servers never initiate it).
    case notAClient
    /// RFC 9000 §9: not before the handshake is confirmed.
    case handshakeNotConfirmed
    /// The connection is closing or closed.
    case notEstablished
    /// The server sent disable_active_migration (§18.2) and we are still on its handshake address.
    case disabledByPeer
    /// The server has not supplied an unused connection ID (§9.5: a new path needs one).
    case noUnusedConnectionID
    /// Already sending from that address.
    case sameAddress

    public var description: String {
        switch self {
        case .notAClient: return "only a client can migrate a connection (RFC 9000 §9)"
        case .handshakeNotConfirmed: return "cannot migrate before the handshake is confirmed (RFC 9000 §9); retry after the handshakeConfirmed event"
        case .notEstablished: return "the connection is closing or closed"
        case .disabledByPeer: return "the server disabled active migration (disable_active_migration)"
        case .noUnusedConnectionID: return "the server has not supplied a spare connection ID yet; retry once it sends NEW_CONNECTION_ID"
        case .sameAddress: return "the connection already sends from that address"
        }
    }
}

extension Connection {
    // MARK: Application API

    /// The local address packets are sent from; nil when the datapath chooses it.
    public var localAddress: SocketAddress? { path.local }

    /// Whether the current path passed validation (RFC 9000 §8.2), or the handshake validated it.
    public var isPathValidated: Bool { path.validated }

    /// The current path's maximum datagram size (RFC 9000 §14.2): the UDP payload packets are
    /// sized to, raised by DPLPMTUD.
    public var currentMaxDatagramSize: Int { maxDatagramSize }

    /// DPLPMTUD on the current path (RFC 8899): phase, confirmed size, maximum.
    public var pathMTUDiscovery: PathMTUDiscovery { pmtu }

    /// The peer's connection ID packets on the current path carry.
    public var destinationConnectionID: ConnectionID { peerIDs.current }

    /// Whether the current path uses the server's preferred address (RFC 9000 §9.6): a client
    /// moved there, or a server's client did.
    public var isOnPreferredAddress: Bool { onPreferredAddress }

    /// Client: moves the connection to `localAddress` (RFC 9000 §9.2). Packets leave from the new
    /// address at once (`Transmit.source`) with a connection ID the server has not seen (§9.5),
    /// and the new path is validated (§8.2). Unless only the port changes, congestion control,
    /// the RTT estimate and PMTU start over (§9.4) and ECN is validated again (§13.4.2).
    ///
    /// If validation fails, the connection returns to the previous path (§9.3.2) — or, when
    /// `keepingPreviousPath` is false (the old address is gone), closes silently with
    /// `CloseReason.noViablePath` (§8.2.4).
    public func migrate(to localAddress: SocketAddress, keepingPreviousPath: Bool = true, now: Instant) throws(MigrationError) {
        guard role == .client else { throw .notAClient }
        guard state == .established else { throw state == .handshaking ? .handshakeNotConfirmed : .notEstablished }
        guard handshakeConfirmed else { throw .handshakeNotConfirmed }
        if let peerParameters, peerParameters.disableActiveMigration, !onPreferredAddress { throw .disabledByPeer }
        guard localAddress != path.local else { throw .sameAddress }
        var next = makePath(remote: path.remote, local: localAddress, validated: false, now: now)
        if !peerIDs.current.isEmpty {
            // §9.5: never the same connection ID from two local addresses.
            guard let fresh = peerIDs.takeUnused() else { throw .noUnusedConnectionID }
            next.peerCID = fresh.id
            next.peerCIDSequence = fresh.sequence
        }
        if let candidate = alternatePath {
            // §9.6.3 allows probing both; this implementation abandons the probe instead.
            abandon(candidate, now: now)
            alternatePath = nil
        }
        qlogMigration("migration_started", path: next, now: now)
        moveToPath(next, keepPrevious: keepingPreviousPath, now: now)
        startValidation(now: now)
    }

    /// Asks the peer to retire every connection ID issued to it so far (RFC 9000 §5.1.2, Retire
    /// Prior To), with fresh ones issued in the same breath. The old IDs keep working until the
    /// peer retires them. False before the handshake is confirmed, or while an earlier request is
    /// not yet answered.
    @discardableResult
    public func retireIssuedConnectionIDs() -> Bool {
        guard handshakeConfirmed, state == .established, localIDs.retireAll() else { return false }
        issueConnectionIDs()
        return true
    }

    // MARK: Preferred address (RFC 9000 §9.6)

    /// The preferred_address parameter a server sends, with its connection ID (sequence 1).
    static func preferredAddressParameter(
        _ configuration: ConnectionConfiguration, idGenerator: any ConnectionIDGenerator
    ) -> TransportParameters.PreferredAddress? {
        guard let preferred = configuration.preferredAddress, preferred.ipv4 != nil || preferred.ipv6 != nil else { return nil }
        let id = idGenerator.generate()
        let v4 = preferred.ipv4?.addressBytes ?? [0, 0, 0, 0]
        return TransportParameters.PreferredAddress(
            ipv4Address: (v4[0], v4[1], v4[2], v4[3]), ipv4Port: preferred.ipv4?.port ?? 0,
            ipv6Address: preferred.ipv6?.addressBytes ?? [UInt8](repeating: 0, count: 16), ipv6Port: preferred.ipv6?.port ?? 0,
            connectionID: id, statelessResetToken: StatelessResetTokens.token(for: id, key: configuration.statelessResetKey))
    }

    /// The server's preferred address of the current path's family, if it sent one (§9.6.3:
    /// a client uses the same family).
    var peerPreferredAddress: SocketAddress? {
        guard let preferred = peerParameters?.preferredAddress else { return nil }
        switch path.remote.family {
        case .ipv4:
            let a = preferred.ipv4Address
            guard a != (0, 0, 0, 0), preferred.ipv4Port != 0 else { return nil }
            return SocketAddress(ipv4: a, port: preferred.ipv4Port)
        case .ipv6:
            guard preferred.ipv6Address.contains(where: { $0 != 0 }), preferred.ipv6Port != 0 else { return nil }
            return SocketAddress(ipv6: preferred.ipv6Address, port: preferred.ipv6Port)
        }
    }

    /// Whether the connection runs on the server's preferred address (client: acted on it,
    /// which lifts disable_active_migration, §9; server: the client moved there).
    var onPreferredAddress: Bool {
        switch role {
        case .client: return peerPreferredAddress.map { $0 == path.remote } ?? false
        case .server: return path.local.map { configuration.preferredAddress?.contains($0) ?? false } ?? false
        }
    }

    /// The client's preferred_address bookkeeping when the parameters arrive: the connection ID
    /// is sequence 1 (§5.1.1); a server using a zero-length ID must not send one (§18.2).
    func applyPreferredAddressParameter(_ parameters: TransportParameters) throws(TransportFailure) {
        guard role == .client, let preferred = parameters.preferredAddress else { return }
        guard !peerIDs.current.isEmpty else {
            throw TransportFailure(
                code: .transportParameterError, frameType: nil, reason: "preferred_address from a server using a zero-length connection ID")
        }
        let frame = NewConnectionIDFrame(
            sequenceNumber: 1, retirePriorTo: 0, connectionID: preferred.connectionID, statelessResetToken: preferred.statelessResetToken)
        do throws(WireError) {
            try peerIDs.add(frame, limit: configuration.activeConnectionIDLimit)
        } catch {
            throw TransportFailure(code: .transportParameterError, frameType: nil, reason: "preferred_address connection ID: \(error.reason)")
        }
    }

    /// Client, handshake confirmed: validate the preferred address before moving (§9.6.1, §9.6.2).
    func probePreferredAddress(now: Instant) {
        guard role == .client, configuration.followPreferredAddress, alternatePath == nil,
            let target = peerPreferredAddress, target != path.remote
        else { return }
        guard let id = peerIDs.takeUnused() else { return }
        var candidate = makePath(remote: target, local: path.local, validated: false, now: now)
        candidate.peerCID = id.id
        candidate.peerCIDSequence = id.sequence
        candidate.challenge.start(deadline: now + validationTimeout)
        alternatePath = candidate
        qlogMigration("probing_started", path: candidate, now: now)
    }

    // MARK: Where a datagram came from

    enum Arrival {
        case current, alternate
        /// A new path (server only: the peer's address changed, or it probes).
        case new
        /// Dropped: an unknown server address (client, §9), a migration the server does not
        /// allow (§9 disable_active_migration, before confirmation), or the old server address
        /// after a move to the preferred one (§9.6.2).
        case refused
    }

    /// Which path a datagram from `remote` to `local` belongs to.
    func classifyArrival(remote: SocketAddress, local: SocketAddress?) -> Arrival {
        // Field by field: the common case costs two comparisons.
        if remote == path.remote && (local == nil || path.local == nil || local == path.local) { return .current }
        if let alternate = alternatePath, alternate.matches(remote: remote, local: local) { return .alternate }
        switch role {
        case .client:
            // Only the server's address matters to a client; its own local address may be one the
            // datapath reports differently (§9: discard packets from an unknown server address).
            if remote == path.remote { return .current }
            if remote == alternatePath?.remote { return .alternate }
            return .refused
        case .server:
            guard handshakeConfirmed, state == .established else { return .refused }
            let toPreferred = local.map { configuration.preferredAddress?.contains($0) ?? false } ?? false
            if configuration.disableActiveMigration && !toPreferred { return .refused }
            // §9.6.2: once moved to the preferred address, newer packets to the old one are dropped.
            if onPreferredAddress, local != nil, !toPreferred { return .refused }
            return .new
        }
    }

    /// After a datagram's packets were processed, unless it simply arrived on the current path
    /// (handled inline by the caller): answer its PATH_CHALLENGE on the path it came on
    /// (§8.2.2), and follow a peer that moved (server, §9.3).
    func noteDatagramPath(
        _ arrival: Arrival, remote: SocketAddress, local: SocketAddress?, size: Int, destination: ConnectionID?, now: Instant
    ) {
        let challenge = incomingChallenge
        let moves = datagramMovesPeer && role == .server
        incomingChallenge = nil
        datagramMovesPeer = false
        // The packets may have moved paths around (a PATH_RESPONSE completing a move): look again.
        var arrival = arrival
        if path.matches(remote: remote, local: local) {
            arrival = .current
        } else if let alternate = alternatePath, alternate.matches(remote: remote, local: local) {
            arrival = .alternate
        } else if arrival != .new {
            arrival = .refused
        }
        switch arrival {
        case .current:
            if let challenge { path.responsePending = challenge }
            if let destination { path.lastDestinationCID = destination }
        case .refused:
            break
        case .alternate:
            if let challenge { alternatePath!.responsePending = challenge }
            if moves { followPeer(remote: remote, local: local, receivedBytes: 0, destination: destination, now: now) }
        case .new:
            if moves {
                followPeer(remote: remote, local: local, receivedBytes: size, destination: destination, now: now)
                if let challenge { path.responsePending = challenge }
            } else if let challenge {
                // A probe from a new address (§9.1, §9.6.2): answer it there, and probe back
                // (§9.6.3 SHOULD), unless the other slot holds a path to return to.
                if let alternate = alternatePath {
                    guard !alternate.isPrevious else { return }
                    abandon(alternate, now: now)
                }
                var probe = makePath(remote: remote, local: local, validated: false, now: now)
                probe.bytesReceived = size
                probe.responsePending = challenge
                probe.lastDestinationCID = destination
                probe.challenge.start(deadline: now + validationTimeout)
                alternatePath = probe
            }
        }
    }

    /// Server: the peer's non-probing packet with the largest packet number came from another
    /// address (§9.3): send there from now on and validate it unless already done.
    func followPeer(remote: SocketAddress, local: SocketAddress?, receivedBytes: Int, destination: ConnectionID?, now: Instant) {
        var next: Path
        if let alternate = alternatePath, alternate.matches(remote: remote, local: local) {
            next = alternate
            alternatePath = nil
        } else {
            next = makePath(remote: remote, local: local, validated: false, now: now)
            next.bytesReceived = receivedBytes
        }
        // §9.5: a peer that switched connection ID moved on purpose; answer with a fresh ID too.
        // A NAT rebinding (same ID) may keep ours.
        if next.peerCIDSequence == nil, !peerIDs.current.isEmpty, let destination, destination != path.lastDestinationCID,
            let fresh = peerIDs.takeUnused()
        {
            next.peerCID = fresh.id
            next.peerCIDSequence = fresh.sequence
        }
        if let destination { next.lastDestinationCID = destination }
        qlogMigration("migration_started", path: next, now: now)
        moveToPath(next, keepPrevious: path.validated, now: now)
        if path.validated {
            // A path validated before (a probe answered, or the path we came from): nothing
            // to return to is needed.
            completeMigration(now: now)
            return
        }
        startValidation(now: now)
        // §9.3.3: also validate the previous path, so that a spurious migration (a copied
        // packet) is undone by the genuine peer's next packet there.
        if var previous = alternatePath, previous.isPrevious {
            if previous.peerCIDSequence == peerIDs.currentSequence {
                // Not the same ID toward two addresses (§9.5).
                if let fresh = peerIDs.takeUnused() {
                    previous.peerCID = fresh.id
                    previous.peerCIDSequence = fresh.sequence
                } else {
                    previous.peerCIDSequence = nil
                }
            }
            if previous.peerCIDSequence != nil || peerIDs.current.isEmpty {
                previous.challenge.start(deadline: now + validationTimeout)
            }
            alternatePath = previous
        }
    }

    // MARK: Switching paths

    func makePath(remote: SocketAddress, local: SocketAddress?, validated: Bool, now: Instant) -> Path {
        var new = Path(remote: remote, local: local, validated: validated)
        pathsCreated += 1
        new.qlogID = pathsCreated
        if qlogSink != nil { qlog(QlogEvents.tupleAssigned(time: now, id: new.qlogID, remote: remote, local: local)) }
        return new
    }

    /// Makes `next` the current path. Its connection ID (if it has one of its own) becomes the
    /// current one; without one the current ID is kept (a NAT rebinding, §9.5). Loss recovery
    /// state: restored if the path has some set aside, fresh if an address changed, kept if only
    /// ports did (§9.4). The old current path becomes the previous one when `keepPrevious`, else
    /// it is abandoned and its connection ID retired.
    func moveToPath(_ destinationPath: Path, keepPrevious: Bool, now: Instant) {
        var old = path
        old.peerCID = peerIDs.current
        old.peerCIDSequence = peerIDs.currentSequence
        old.challenge.stop()
        old.isPrevious = true
        var next = destinationPath
        // Moving back to the previous path brings its state back.
        let restoring = next.isPrevious ? previousPathState : nil
        previousPathState = nil
        next.isPrevious = false
        // A validated path needs no answer to a challenge still out on it (§9.3.3's check of
        // the previous path): failing it must not undo the move.
        if next.validated { next.challenge.stop() }
        let oldID = peerIDs.current
        if let sequence = next.peerCIDSequence, peerIDs.isActive(sequence: sequence) { peerIDs.use(sequence) }
        next.peerCIDSequence = nil
        next.peerCID = .empty
        let setAside: SavedPathState?
        if let restoring {
            setAside = exchangeRecoveryState(with: restoring, now: now)
        } else if !next.hasSameAddresses(as: old) {
            setAside = exchangeRecoveryState(with: nil, now: now)
        } else {
            setAside = nil
            recovery.restartECNValidation()
            noteECNState(now: now)
        }
        path = next
        statistics.pathMigrations += 1
        if keepPrevious {
            alternatePath = old
            previousPathState = setAside
        } else {
            abandon(old, now: now)
        }
        if qlogSink != nil && oldID != peerIDs.current {
            qlog(QlogEvents.connectionIDUpdated(time: now, initiator: "local", old: oldID, new: peerIDs.current))
        }
    }

    /// Sets the current path's loss recovery, pacing and PMTU state aside and installs `saved`
    /// (a path we return to) or fresh state (a path never used). Returns what was set aside.
    func exchangeRecoveryState(with saved: SavedPathState?, now: Instant) -> SavedPathState {
        let base = pmtu.base
        let fresh = saved?.recovery
            ?? recovery.freshPathState(
                controller: SelectedCongestionController(configuration.congestionControl, maxDatagramSize: base))
        let oldRecovery = recovery.switchPath(to: fresh, now: now)
        let setAside = SavedPathState(recovery: oldRecovery, pacer: pacer, maxDatagramSize: maxDatagramSize, mtu: pmtu)
        if let saved {
            pacer = saved.pacer
            maxDatagramSize = saved.maxDatagramSize
            pmtu = saved.mtu
        } else {
            pacer = Pacer(maxDatagramSize: base)
            maxDatagramSize = base
            pmtu = PathMTUDiscovery(base: base, raiseInterval: configuration.pmtuRaiseInterval)
            startPathMTUDiscovery()
        }
        pacingDeadline = nil
        noteECNState(now: now)
        return setAside
    }

    /// A path is given up: stop using its connection ID (§5.1.2 retire it) and tell qlog.
    func abandon(_ abandoned: Path, now: Instant) {
        if let sequence = abandoned.peerCIDSequence, sequence != peerIDs.currentSequence { peerIDs.retire(sequence: sequence) }
        if qlogSink != nil { qlog(QlogEvents.tupleAssigned(time: now, id: abandoned.qlogID, remote: nil, local: nil)) }
    }

    // MARK: Path validation (RFC 9000 §8.2)

    /// §8.2.4: three PTOs, and at least six initial RTTs (a new path may be slower).
    var validationTimeout: TimeSpan {
        max((recovery.rtt.probeTimeout + recovery.maxAckDelay) * 3, RTTEstimator.initialRTT * 6)
    }

    /// How long to wait for a PATH_RESPONSE before sending another challenge: the path's PTO
    /// (§8.2.1: no more often than an Initial would be sent; §9.4: timers no more aggressive
    /// than RFC 9002 §6.2.1). A path without an RTT sample uses kInitialRtt.
    func challengeInterval(current: Bool) -> TimeSpan {
        current ? recovery.rtt.probeTimeout + recovery.maxAckDelay : RTTEstimator().probeTimeout
    }

    /// Starts validating the current path: challenges go out in its packets.
    func startValidation(now: Instant) {
        path.challenge.start(deadline: now + validationTimeout)
    }

    /// PATH_RESPONSE (§8.2.3): a response on any path validates the path its challenge was sent on.
    func handlePathResponse(_ data: UInt64, now: Instant) {
        if path.challenge.matches(data) {
            let mtuProven = path.challenge.paddedSent
            path.challenge.stop()
            path.validated = true
            statistics.pathValidations += 1
            if !mtuProven {
                // §8.2.1: the challenge could not be padded to 1200 bytes (anti-amplification):
                // the address is valid, the MTU not yet; validate again with a full datagram.
                startValidation(now: now)
                return
            }
            completeMigration(now: now)
        } else if let alternate = alternatePath, alternate.challenge.matches(data) {
            alternatePath!.challenge.stop()
            alternatePath!.validated = true
            statistics.pathValidations += 1
            if !alternate.isPrevious {
                qlogMigration("probing_successful", path: alternate, now: now)
                if role == .client {
                    // §9.6.1: move to the validated preferred address; the old one is done.
                    var next = alternatePath!
                    alternatePath = nil
                    next.validated = true
                    moveToPath(next, keepPrevious: false, now: now)
                    qlogMigration("migration_complete", path: path, now: now)
                }
            }
        }
    }

    /// The current path is validated: the previous one is no longer needed.
    func completeMigration(now: Instant) {
        if let previous = alternatePath, previous.isPrevious {
            alternatePath = nil
            previousPathState = nil
            abandon(previous, now: now)
            qlogMigration("migration_complete", path: path, now: now)
        }
    }

    /// Path validation timers: another challenge when one went unanswered for a PTO, and
    /// abandoning the validation at its deadline (§8.2.4).
    func handlePathTimers(now: Instant) {
        if let deadline = path.challenge.deadline {
            if now >= deadline {
                currentPathValidationFailed(now: now)
            } else if let retransmitAt = path.challenge.retransmitAt, now >= retransmitAt {
                path.challenge.sendPending = true
                path.challenge.retransmitAt = nil
            }
        }
        guard let alternate = alternatePath, let deadline = alternate.challenge.deadline else { return }
        if now >= deadline {
            statistics.pathValidationFailures += 1
            if alternate.isPrevious {
                // The previous path did not answer (§9.3.3); it stays the one to return to.
                alternatePath!.challenge.stop()
            } else {
                alternatePath = nil
                abandon(alternate, now: now)
                qlogMigration("probing_abandoned", path: alternate, now: now)
            }
        } else if let retransmitAt = alternate.challenge.retransmitAt, now >= retransmitAt {
            alternatePath!.challenge.sendPending = true
            alternatePath!.challenge.retransmitAt = nil
        }
    }

    /// §9.3.2: return to the last validated path; with none, close silently (§8.2.4).
    func currentPathValidationFailed(now: Instant) {
        statistics.pathValidationFailures += 1
        path.challenge.stop()
        qlogMigration("migration_abandoned", path: path, now: now)
        if let previous = alternatePath, previous.isPrevious {
            alternatePath = nil
            var back = previous
            back.challenge.stop()
            moveToPath(back, keepPrevious: false, now: now)
            return
        }
        closeReason = .noViablePath
        events.append(.closed(.noViablePath))
        state = .closed
        endpointEvents.append(.drained)
    }

    /// The earliest path validation timer.
    var pathTimer: Instant? {
        let current = path.challenge.nextEvent
        guard let other = alternatePath?.challenge.nextEvent else { return current }
        guard let current else { return other }
        return min(current, other)
    }

    /// After NEW_CONNECTION_ID: a retire_prior_to may have retired the other path's ID.
    func checkAlternatePathConnectionID() {
        guard let sequence = alternatePath?.peerCIDSequence, !peerIDs.isActive(sequence: sequence) else { return }
        if let fresh = peerIDs.takeUnused() {
            alternatePath!.peerCID = fresh.id
            alternatePath!.peerCIDSequence = fresh.sequence
        } else {
            alternatePath!.peerCIDSequence = nil
        }
    }

    // MARK: Sending on paths

    /// Writes the current path's PATH_RESPONSE and PATH_CHALLENGE into a 1-RTT packet; the
    /// datagram is then padded to 1200 bytes (§8.2.1, §8.2.2).
    func writePathFrames(writer: inout ByteWriter, limit: Int, now: Instant, record: (SentFrame) -> Void) {
        if let data = path.responsePending, writer.offset + 9 <= limit {
            Frame.pathResponse(data).encode(into: &writer)
            path.responsePending = nil
            record(.pathResponse)
            padDatagramForPath = true
        }
        if path.challenge.sendPending, writer.offset + 9 <= limit {
            let data = randomChallengeData()
            Frame.pathChallenge(data).encode(into: &writer)
            record(.pathChallenge)
            path.challenge.onSent(data, now: now, interval: challengeInterval(current: true))
            padDatagramForPath = true
            challengeInDatagram = true
        }
    }

    var hasPathFramesToSend: Bool { path.responsePending != nil || path.challenge.sendPending }

    func randomChallengeData() -> UInt64 {
        var data: UInt64 = 0
        withUnsafeMutableBytes(of: &data) { configuration.random($0) }
        return data
    }

    /// A datagram for the other path, when it owes a PATH_RESPONSE or a PATH_CHALLENGE is due:
    /// one 1-RTT packet with the path's own connection ID, padded to 1200 bytes unless the
    /// anti-amplification limit forbids (§8.2.1, §8.2.2). Not in flight: its loss does not
    /// touch the current path's congestion controller (§9.4).
    func pollAlternatePathTransmit(now: Instant, into buffer: UnsafeMutableRawBufferPointer) -> Transmit? {
        guard let alternate = alternatePath, alternate.responsePending != nil || alternate.challenge.sendPending,
            sendKeys[EncryptionLevel.oneRTT.rawValue] != nil, state == .established
        else { return nil }
        if alternate.peerCIDSequence == nil && !peerIDs.current.isEmpty {
            if let fresh = peerIDs.takeUnused() {
                alternatePath!.peerCID = fresh.id
                alternatePath!.peerCIDSequence = fresh.sequence
            } else if alternate.remote == path.remote {
                // Only our address differs (a client probing our preferred address before its
                // NEW_CONNECTION_ID frames arrived): the destination is the same, so the ID in use
                // may go there (§9.5). No sequence is recorded, so a fresh ID is taken once the
                // peer supplies one.
                alternatePath!.peerCID = peerIDs.current
            } else {
                // No ID to use toward another address (§9.5): nothing can be sent there for now.
                alternatePath!.responsePending = nil
                alternatePath!.challenge.sendPending = false
                return nil
            }
        }
        let room = role == .server && !alternate.validated ? max(0, 3 * alternate.bytesReceived - alternate.bytesSent) : Int.max
        let limit = min(buffer.count, Connection.minimumInitialDatagramSize, room)
        let dcid = peerIDs.current.isEmpty ? ConnectionID.empty : alternatePath!.peerCID
        var challengeData: UInt64?
        let size = buildSinglePacketDatagram(
            into: buffer, limit: limit, destination: dcid, padTo: Connection.minimumInitialDatagramSize, kind: .alternatePath,
            now: now
        ) { writer, payloadLimit, record in
            if let data = alternatePath!.responsePending, writer.offset + 9 <= payloadLimit {
                Frame.pathResponse(data).encode(into: &writer)
                record(.pathResponse)
            }
            if alternatePath!.challenge.sendPending, writer.offset + 9 <= payloadLimit {
                let data = randomChallengeData()
                Frame.pathChallenge(data).encode(into: &writer)
                record(.pathChallenge)
                challengeData = data
            }
        }
        guard size > 0 else { return nil }
        alternatePath!.responsePending = nil
        if let challengeData {
            alternatePath!.challenge.onSent(challengeData, now: now, interval: challengeInterval(current: false))
            if size >= Connection.minimumInitialDatagramSize { alternatePath!.challenge.markPadded() }
        }
        return Transmit(destination: alternate.remote, ecn: .notECT, size: size, segmentSize: nil, source: alternate.local)
    }

    /// One datagram holding one 1-RTT packet to `destination` whose frames `writeFrames` writes
    /// (it calls `record` for each), padded to `padTo` bytes within `limit`; sealed and recorded.
    /// Returns its size, 0 when nothing was written.
    func buildSinglePacketDatagram(
        into out: UnsafeMutableRawBufferPointer, limit: Int, destination: ConnectionID, padTo: Int, kind: PendingPacket.Kind,
        now: Instant, writeFrames: (inout ByteWriter, Int, (SentFrame) -> Void) -> Void
    ) -> Int {
        let space = PacketNumberSpace.applicationData
        let packetNumber = recovery.nextPacketNumber(space)
        let pnLength = PacketNumberCoding.encodedLength(for: packetNumber, largestAcknowledged: recovery.largestAcked(space))
        guard limit >= 1 + destination.length + pnLength + 24 + CipherSuite.tagLength else { return 0 }
        var writer = ByteWriter(UnsafeMutableRawBufferPointer(rebasing: out[..<limit]))
        pendingPackets.removeAll(keepingCapacity: true)
        let header = HeaderEncoder.encodeShort(
            destinationCID: destination, keyPhase: sendKeyPhase, packetNumber: packetNumber, packetNumberLength: pnLength,
            into: &writer)
        let firstFrame = recovery.frameCursor(space)
        var ackEliciting = false
        writeFrames(&writer, limit - CipherSuite.tagLength) { frame in
            recovery.recordFrame(frame, space: space)
            ackEliciting = true
        }
        guard writer.offset > header.payloadOffset else { return 0 }
        let shortfall = 4 - (writer.offset - header.packetNumberOffset)
        if shortfall > 0 { writer.writeZeros(shortfall) }
        pendingPackets.append(
            PendingPacket(
                level: .oneRTT, header: header, packetNumber: packetNumber, firstFrame: firstFrame, payloadEnd: writer.offset,
                ackEliciting: ackEliciting, containsAck: false, padded: shortfall > 0, kind: kind))
        writer.offset += CipherSuite.tagLength
        padLastPacket(to: min(padTo, limit), writer: &writer)
        finishPackets(in: out, now: now)
        return writer.offset
    }

    // MARK: DPLPMTUD (RFC 8899, RFC 9000 §14.3)

    /// IP and UDP header bytes on top of a datagram.
    static func headerOverhead(_ family: SocketAddress.Family) -> Int { family == .ipv6 ? 48 : 28 }

    /// Starts the search on the current path once the handshake is confirmed (§14.3.1).
    func startPathMTUDiscovery() {
        guard configuration.pathMTUDiscovery, handshakeConfirmed, let peerParameters else { return }
        let local = configuration.maxPathMTU - Connection.headerOverhead(path.remote.family)
        let peer = Int(clamping: peerParameters.maxUDPPayloadSize)
        pmtu.start(maximum: min(local, peer, 65527))
    }

    /// The size of a PMTU probe to send now: the search wants one, the path is validated and the
    /// window has room. A buffer smaller than the probe caps the search.
    func mtuProbeSize(now: Instant, room: Int) -> Int? {
        guard pmtu.phase != .disabled, state == .established, path.validated, alternatePath?.isPrevious != true,
            let size = pmtu.probeSize(now: now)
        else { return nil }
        if size > room {
            pmtu.limit(to: room)
            return nil
        }
        guard size <= amplificationRoom, recovery.canSend(bytes: size) else { return nil }
        return size
    }

    /// A probe: PING and PADDING only, in a datagram of exactly `size` bytes (§14.4).
    func buildMTUProbe(size: Int, into out: UnsafeMutableRawBufferPointer, now: Instant) -> Int {
        let generation = recovery.pathGeneration
        let written = buildSinglePacketDatagram(
            into: out, limit: size, destination: peerIDs.current, padTo: size, kind: .mtuProbe, now: now
        ) { writer, _, record in
            Frame.ping.encode(into: &writer)
            record(.mtuProbe(size: size, path: generation))
        }
        if written > 0 {
            pmtu.onProbeSent(size: size)
            statistics.mtuProbesSent += 1
        }
        return written
    }

    /// A probe's fate, from loss recovery's frame records; applied in `notePathMTUSignals`, once
    /// the whole ACK frame or loss pass is processed. Probes of an earlier path say nothing about
    /// this one.
    func noteMTUProbeOutcome(size: Int, path generation: UInt8, _ outcome: FrameOutcome) {
        guard generation == recovery.pathGeneration else { return }
        switch outcome {
        case .acknowledged: mtuProbeAcknowledged = max(mtuProbeAcknowledged ?? 0, size)
        case .lost: mtuProbeLost = size
        }
    }

    /// What an ACK frame or a loss detection pass told DPLPMTUD: probe outcomes, and the
    /// acknowledgments and losses black-hole detection watches (RFC 8899 §4.3).
    func notePathMTUSignals(now: Instant) {
        if let size = mtuProbeAcknowledged {
            mtuProbeAcknowledged = nil
            if let grown = pmtu.onProbeAcknowledged(size: size, now: now) { setMaxDatagramSize(grown, now: now) }
        }
        if let size = mtuProbeLost {
            mtuProbeLost = nil
            statistics.mtuProbesLost += 1
            pmtu.onProbeLost(size: size, now: now)
        }
        if recovery.largestNewlyAckedBytes > 0 { pmtu.onAcknowledged(largest: recovery.largestNewlyAckedBytes) }
        if recovery.largestLostBytes > 0, pmtu.onPacketsLost(largest: recovery.largestLostBytes, now: now) {
            statistics.mtuBlackHoles += 1
            setMaxDatagramSize(pmtu.current, now: now)
        }
    }

    func setMaxDatagramSize(_ size: Int, now: Instant) {
        guard size != maxDatagramSize else { return }
        let old = maxDatagramSize
        maxDatagramSize = size
        recovery.onMaxDatagramSizeChanged(size)
        if qlogSink != nil {
            qlog(QlogEvents.mtuUpdated(time: now, old: old, new: size, done: pmtu.phase == .complete))
        }
    }

    // MARK: Stateless reset tokens

    /// Tells the endpoint which of the peer's reset tokens count: those of IDs we sent to and
    /// have not retired (RFC 9000 §10.3.1), so a reset whose first bytes route nowhere (the peer
    /// lost our connection ID with its state) still reaches this connection.
    func announceResetTokens() {
        announcedPeerIDsVersion = peerIDs.version
        var index = 0
        while index < announcedResetTokens.count {
            let token = announcedResetTokens[index]
            if peerIDs.isStatelessReset(token) {
                index += 1
            } else {
                announcedResetTokens.remove(at: index)
                endpointEvents.append(.resetTokenRetired(token))
            }
        }
        for entry in peerIDs.active where entry.used {
            guard let token = entry.resetToken, !announcedResetTokens.contains(token) else { continue }
            announcedResetTokens.append(token)
            endpointEvents.append(.resetTokenActive(token))
        }
    }

    // MARK: qlog

    func qlogMigration(_ state: String, path: Path, now: Instant) {
        guard qlogSink != nil else { return }
        qlog(QlogEvents.migrationStateUpdated(time: now, state: state, tupleID: path.qlogID, remote: path.remote, local: path.local))
    }
}
