import QuicCrypto
import QuicTLS
import QuicWire

extension Connection {
    /// Smallest datagram a client sends Initial packets in, and a server pads ack-eliciting
    /// Initials to (RFC 9000 §14.1).
    static let minimumInitialDatagramSize = 1200

    /// Whether anti-amplification (RFC 9000 §8.1, §9.3.1) stops a server from sending on the
    /// current path. A client's peer is the server whose address it chose or was given.
    var amplificationBlocked: Bool { role == .server && !path.validated && path.bytesSent >= 3 * path.bytesReceived }

    var amplificationRoom: Int {
        role == .client || path.validated ? Int.max : max(0, 3 * path.bytesReceived - path.bytesSent)
    }

    /// Writes the next datagram, or a GSO batch of up to `maxDatagrams` equal-size datagrams,
    /// into `buffer`; nil when there is nothing to send now. Packets are built and protected in
    /// place: nothing is allocated.
    public func pollTransmit(now: Instant, into buffer: UnsafeMutableRawBufferPointer, maxDatagrams: Int = 1) -> Transmit? {
        guard state != .closed, state != .draining else { return nil }
        if alternatePath != nil, state != .closing, let transmit = pollAlternatePathTransmit(now: now, into: buffer) {
            return transmit
        }
        var total = 0
        var segmentSize = 0
        var count = 0
        // One codepoint for the whole batch: it ends where ECN's testing period does.
        let ecn = recovery.ecn.marking
        while count < maxDatagrams {
            let room = buffer.count - total
            let limit = segmentSize == 0 ? room : min(room, segmentSize)
            let size = buildDatagram(
                now: now, into: UnsafeMutableRawBufferPointer(rebasing: buffer[total..<(total + limit)]),
                padNearlyFullTo: segmentSize == 0 ? nil : segmentSize)
            if size == 0 { break }
            recovery.onDatagramSent(now: now)
            if count == 0 { segmentSize = size }
            total += size
            count += 1
            // Every segment but the last must have the first one's size (UDP_SEGMENT).
            if size < segmentSize || recovery.ecn.marking != ecn { break }
        }
        guard total > 0 else { return nil }
        if recovery.ecn.state != lastECNState { noteECNState(now: now) }
        return Transmit(
            destination: path.remote, ecn: ecn, size: total, segmentSize: count > 1 ? segmentSize : nil, source: path.local)
    }

    /// Assembles one datagram of coalesced packets (RFC 9000 §12.2); returns its size. Within a
    /// GSO batch, a datagram that came out a few bytes short of the segment size is padded to it
    /// (`padNearlyFullTo`), so the batch goes on.
    func buildDatagram(now: Instant, into out: UnsafeMutableRawBufferPointer, padNearlyFullTo segmentSize: Int? = nil) -> Int {
        let probing = probes.contains { $0 > 0 }
        // PTO probes stay at the base size once PMTUD raised it: if the path stopped carrying
        // large datagrams, the probe still gets through and its ACK reveals the losses that
        // black-hole detection counts (RFC 8899 §4.3).
        let sizeLimit = probing && maxDatagramSize > pmtu.base ? pmtu.base : maxDatagramSize
        let limit = min(out.count, sizeLimit, amplificationRoom)
        guard limit >= 64 else { return 0 }
        if state == .closing { return buildClose(now: now, into: out, limit: limit) }

        var allowAckEliciting = probing || recovery.canSend(bytes: maxDatagramSize)
        if allowAckEliciting && !probing {
            if let wait = pacer.nextSendTime(
                bytes: maxDatagramSize, now: now, congestionWindow: recovery.congestionWindow,
                smoothedRTT: recovery.rtt.smoothedRTT, maxDatagramSize: maxDatagramSize,
                controllerRate: recovery.controller.pacingRate)
            {
                pacingDeadline = wait
                allowAckEliciting = false
            } else {
                pacingDeadline = nil
            }
        }

        if allowAckEliciting && !probing && segmentSize == nil, let size = mtuProbeSize(now: now, room: out.count) {
            let written = buildMTUProbe(size: size, into: out, now: now)
            if written > 0 { return written }
        }

        var writer = ByteWriter(UnsafeMutableRawBufferPointer(rebasing: out[..<limit]))
        pendingPackets.removeAll(keepingCapacity: true)
        padDatagramForPath = false
        challengeInDatagram = false
        for level in [EncryptionLevel.initial, .handshake, .zeroRTT, .oneRTT] {
            guard let keys = sendKeys[level.rawValue] else { continue }
            if level == .zeroRTT && (role == .server || sendKeys[EncryptionLevel.oneRTT.rawValue] != nil) { continue }
            if level == .oneRTT && role == .client && !handshakeComplete { continue }
            buildPacket(level: level, keys: keys, writer: &writer, now: now, allowAckEliciting: allowAckEliciting)
        }
        guard !pendingPackets.isEmpty else {
            if allowAckEliciting && !probing { appLimited = true }
            return 0
        }

        // RFC 9000 §14.1: Initial datagrams carry at least 1200 bytes (a client always, a server
        // when ack-eliciting). Padding goes into the last packet, before it is sealed.
        let hasInitial = pendingPackets.contains { $0.level == .initial }
        let initialAckEliciting = pendingPackets.contains { $0.level == .initial && $0.ackEliciting }
        if hasInitial && (role == .client || initialAckEliciting) && writer.offset < Connection.minimumInitialDatagramSize {
            let target = min(Connection.minimumInitialDatagramSize, limit)
            padLastPacket(to: target, writer: &writer)
        }
        if let segmentSize, writer.offset < segmentSize, writer.offset + 48 >= segmentSize, segmentSize <= limit {
            padLastPacket(to: segmentSize, writer: &writer)
        }
        if padDatagramForPath {
            // RFC 9000 §8.2.1, §8.2.2: PATH_CHALLENGE and PATH_RESPONSE travel in datagrams of at
            // least 1200 bytes, unless the anti-amplification limit forbids it.
            padLastPacket(to: min(Connection.minimumInitialDatagramSize, limit), writer: &writer)
            if challengeInDatagram && writer.offset >= Connection.minimumInitialDatagramSize { path.challenge.markPadded() }
        }
        finishPackets(in: out, now: now)
        if allowAckEliciting { appLimited = !streamsHaveMoreToSend }
        return writer.offset
    }

    var streamsHaveMoreToSend: Bool { streams.hasPendingFrames }

    /// Builds one packet at `level` if it has something to carry; appends it to `pendingPackets`
    /// unsealed, with room for the tag.
    func buildPacket(level: EncryptionLevel, keys: PacketProtectionKeys, writer: inout ByteWriter, now: Instant, allowAckEliciting: Bool) {
        let space = level.packetNumberSpace
        let spaceIndex = space.rawValue
        let ackDue = received[spaceIndex].ackDue(at: now)
        let wantsAckEliciting = allowAckEliciting && hasAckElicitingData(level: level)
        guard ackDue || wantsAckEliciting else { return }

        let packetNumber = recovery.nextPacketNumber(space)
        let pnLength = PacketNumberCoding.encodedLength(for: packetNumber, largestAcknowledged: recovery.largestAcked(space))
        let dcid = peerIDs.current
        let headerLength =
            level == .oneRTT
            ? 1 + dcid.length + pnLength
            : HeaderEncoder.longHeaderLength(
                type: packetType(level), destinationCID: dcid, sourceCID: initialSourceCID,
                tokenLength: level == .initial ? retryToken.count : 0, packetNumberLength: pnLength)
        // Room for the header, a useful payload and the tag.
        guard writer.remaining >= headerLength + 24 + CipherSuite.tagLength else { return }

        let start = writer.offset
        let header: EncodedHeader
        if level == .oneRTT {
            header = HeaderEncoder.encodeShort(
                destinationCID: dcid, keyPhase: sendKeyPhase, packetNumber: packetNumber, packetNumberLength: pnLength,
                into: &writer)
        } else {
            // 0-RTT stays in the original version after a version switch (RFC 9369 §4.1).
            let packetVersion = level == .zeroRTT ? originalVersion : version
            header = retryToken.withUnsafeBytes { token in
                HeaderEncoder.encodeLong(
                    type: packetType(level), version: packetVersion, destinationCID: dcid, sourceCID: initialSourceCID,
                    token: level == .initial ? token : UnsafeRawBufferPointer(start: nil, count: 0),
                    packetNumber: packetNumber, packetNumberLength: pnLength, into: &writer)
            }
        }
        let payloadLimit = writer.buffer.count - CipherSuite.tagLength
        let firstFrame = recovery.frameCursor(space)
        var containsAck = false

        // ACK first: it is small and the peer's recovery depends on it.
        if received[spaceIndex].hasRangesToAcknowledge && (ackDue || received[spaceIndex].hasNewPackets) {
            let exponent = level == .oneRTT || level == .zeroRTT ? configuration.ackDelayExponent : 3
            let delay = received[spaceIndex].encodedAckDelay(now: now, exponent: exponent)
            let ecn: ECNCounts? = received[spaceIndex].sawECN ? received[spaceIndex].ecnCounts : nil
            received[spaceIndex].withAckRanges { ranges in
                let length = AckFrame.encodedLength(ranges: ranges, ackDelay: delay, ecnCounts: ecn)
                if writer.offset + length <= payloadLimit {
                    AckFrame.encode(ranges: ranges, ackDelay: delay, ecnCounts: ecn, into: &writer)
                    containsAck = true
                }
            }
            if containsAck, let largest = received[spaceIndex].largest {
                recovery.recordFrame(.ack(largest: largest), space: space)
            }
        }

        // Every frame recorded after the ACK is ack-eliciting (RFC 9002 §2: only ACK, PADDING and
        // CONNECTION_CLOSE are not, and those are not recorded here), so the packet is
        // ack-eliciting when the record grew past this point. (A flag set by `record` made the
        // closure capture a mutable local, which costs a dynamic exclusivity check per frame.)
        let firstAckElicitingFrame = recovery.frameCursor(space)
        if allowAckEliciting {
            func record(_ frame: SentFrame) { recovery.recordFrame(frame, space: space) }
            if level == .oneRTT && handshakeDonePending && writer.offset + 1 <= payloadLimit {
                Frame.handshakeDone.encode(into: &writer)
                handshakeDonePending = false
                record(.handshakeDone)
            }
            if level != .zeroRTT {
                // Every handshake probe carries the unacknowledged CRYPTO data, not only the first
                // (RFC 9002 §6.2.4 prefers data to PING): a lone PING Initial reaching a server
                // first is refused by some servers (aioquic: "Packet contains no CRYPTO frame").
                if probes[spaceIndex] > 0 && level != .oneRTT && !crypto[spaceIndex].hasDataToSend
                    && crypto[spaceIndex].hasUnacknowledgedData
                {
                    crypto[spaceIndex].retransmitUnacknowledged()
                }
                while let frame = crypto[spaceIndex].writeFrame(into: &writer, limit: payloadLimit) { record(frame) }
            }
            if level == .oneRTT || level == .zeroRTT {
                writeApplicationFrames(level: level, writer: &writer, limit: payloadLimit, now: now, record: record)
            }
            let wantsPing = probes[spaceIndex] > 0 || (level == .oneRTT && pingPending)
            if wantsPing && recovery.frameCursor(space) == firstAckElicitingFrame && writer.offset + 1 <= payloadLimit {
                Frame.ping.encode(into: &writer)
                record(.ping)
                if level == .oneRTT { pingPending = false }
            }
        }

        guard writer.offset > header.payloadOffset else {
            writer.offset = start
            return
        }
        let ackEliciting = recovery.frameCursor(space) > firstAckElicitingFrame
        // The header-protection sample needs 4 bytes of packet number and payload (RFC 9001 §5.4.2).
        let shortfall = 4 - (writer.offset - header.packetNumberOffset)
        if shortfall > 0 { writer.writeZeros(shortfall) }
        if probes[spaceIndex] > 0 && ackEliciting { probes[spaceIndex] -= 1 }
        pendingPackets.append(
            PendingPacket(
                level: level, header: header, packetNumber: packetNumber, firstFrame: firstFrame,
                payloadEnd: writer.offset, ackEliciting: ackEliciting, containsAck: containsAck, padded: shortfall > 0))
        writer.offset += CipherSuite.tagLength
    }

    /// Frames only 0-RTT and 1-RTT packets carry: path and connection-ID frames, flow control,
    /// DATAGRAM and STREAM frames.
    func writeApplicationFrames(
        level: EncryptionLevel, writer: inout ByteWriter, limit: Int, now: Instant, record: (SentFrame) -> Void
    ) {
        if level == .oneRTT { writePathFrames(writer: &writer, limit: limit, now: now, record: record) }
        if level == .oneRTT, newTokenPending, let token = newToken {
            // RFC 9000 §8.1.3, §19.7: a token for the client's next connection.
            token.withUnsafeBytes { bytes in
                let frame = Frame.newToken(ByteView(bytes))
                guard writer.offset + frame.encodedLength <= limit else { return }
                frame.encode(into: &writer)
                newTokenPending = false
                record(.newToken)
            }
        }
        if level == .oneRTT {
            let retirePriorTo = localIDs.retirePriorTo
            localIDs.forEachPendingAnnouncement { entry in
                let frame = Frame.newConnectionID(
                    NewConnectionIDFrame(
                        sequenceNumber: entry.sequence, retirePriorTo: retirePriorTo, connectionID: entry.id,
                        statelessResetToken: entry.resetToken))
                guard writer.offset + frame.encodedLength <= limit else { return false }
                frame.encode(into: &writer)
                record(.newConnectionID(sequence: entry.sequence))
                return true
            }
        }
        while let sequence = peerIDs.takeRetirement() {
            let frame = Frame.retireConnectionID(sequenceNumber: sequence)
            guard writer.offset + frame.encodedLength <= limit else {
                peerIDs.unsendRetirement(sequence)
                break
            }
            frame.encode(into: &writer)
            record(.retireConnectionID(sequence: sequence))
        }
        streams.writeControlFrames(into: &writer, limit: limit, now: now, smoothedRTT: recovery.rtt.smoothedRTT, record: record)
        while let payload = datagramsToSend.first {
            let length = DatagramFrame.headerLength(dataLength: payload.count, explicitLength: true) + payload.count
            if length > maxDatagramSize - (1 + peerIDs.current.length + 4 + CipherSuite.tagLength) {
                // The datagram size shrank (a PMTU black hole) below what was queued: it can
                // never be sent; DATAGRAM frames are unreliable (RFC 9221 §5), so drop it.
                datagramsToSend.popFirst()
                continue
            }
            guard writer.offset + length <= limit else { break }
            DatagramFrame.encodeHeader(dataLength: payload.count, explicitLength: true, into: &writer)
            payload.withUnsafeBytes { writer.writeBytes($0) }
            datagramsToSend.popFirst()
            record(.datagram)
        }
        let before = writer.offset
        streams.writeStreamFrames(into: &writer, limit: limit, record: record)
        statistics.streamBytesSent += writer.offset - before
    }

    /// Whether `level` has ack-eliciting frames waiting.
    func hasAckElicitingData(level: EncryptionLevel) -> Bool {
        let space = level.packetNumberSpace.rawValue
        if probes[space] > 0 { return true }
        if level != .zeroRTT && crypto[space].hasDataToSend { return true }
        guard level == .oneRTT || level == .zeroRTT else { return false }
        if level == .oneRTT
            && (handshakeDonePending || hasPathFramesToSend || pingPending || newTokenPending
                || localIDs.hasPendingAnnouncements)
        {
            return true
        }
        return !datagramsToSend.isEmpty || streams.hasPendingFrames
    }

    func packetType(_ level: EncryptionLevel) -> PacketType {
        switch level {
        case .initial: return .initial
        case .zeroRTT: return .zeroRTT
        case .handshake: return .handshake
        case .oneRTT: return .oneRTT
        }
    }

    /// Extends the last pending packet with PADDING so the datagram reaches `target` bytes.
    func padLastPacket(to target: Int, writer: inout ByteWriter) {
        guard var last = pendingPackets.last, writer.offset < target else { return }
        let extra = target - writer.offset
        // The tag room sits after the payload: move the payload end, zero the new bytes.
        let padStart = last.payloadEnd
        (writer.buffer.baseAddress! + padStart).initializeMemory(as: UInt8.self, repeating: 0, count: extra)
        last.payloadEnd += extra
        last.padded = true
        pendingPackets[pendingPackets.count - 1] = last
        writer.offset += extra
    }

    /// Seals every pending packet in place and records it for loss recovery.
    func finishPackets(in out: UnsafeMutableRawBufferPointer, now: Instant) {
        var sentHandshake = false
        var datagramSize = 0
        for packet in pendingPackets {
            let end = packet.payloadEnd + CipherSuite.tagLength
            datagramSize = max(datagramSize, end)
            packet.header.patchLength(packetEnd: end, in: out)
            let keys = sendKeys[packet.level.rawValue]!
            PacketProtection.protect(
                packet: UnsafeMutableRawBufferPointer(rebasing: out[packet.header.start..<end]),
                packetNumberOffset: packet.header.packetNumberOffset - packet.header.start,
                packetNumberLength: packet.header.packetNumberLength, packetNumber: packet.packetNumber, keys: keys)
            let space = packet.level.packetNumberSpace
            let size = end - packet.header.start
            // A packet on the other path is not in flight on this one (RFC 9000 §9.4).
            let offPath = packet.kind == .alternatePath
            let inFlight = (packet.ackEliciting || packet.padded) && !offPath
            recovery.onPacketSent(
                space: space, packetNumber: packet.packetNumber, firstFrame: packet.firstFrame, now: now, bytes: size,
                ackEliciting: packet.ackEliciting, inFlight: inFlight, amplificationBlocked: amplificationBlocked,
                ecnMarked: offPath ? false : nil, mtuProbe: packet.kind == .mtuProbe)
            if packet.containsAck { received[space.rawValue].onAckSent() }
            if packet.level == .oneRTT {
                packetsProtectedInSendPhase += 1
                if packet.containsAck { peerKeyUpdateAwaitingAck = nil }
            }
            if inFlight { pacer.onSent(bytes: size) }
            if packet.ackEliciting { restartIdleTimer(now: now, receiving: false) }
            if packet.level == .handshake { sentHandshake = true }
            statistics.packetsSent += 1
            if qlogSink != nil {
                qlog(QlogEvents.packetSent(
                    time: now, type: packetType(packet.level), number: packet.packetNumber, length: size,
                    frames: recordedFrames(space: space, from: packet.firstFrame)))
            }
        }
        if pendingPackets.first?.kind == .alternatePath {
            alternatePath?.bytesSent += datagramSize
        } else {
            path.bytesSent += datagramSize
        }
        statistics.bytesSent += datagramSize
        // RFC 9001 §4.9.1: a client discards Initial keys once it sends a Handshake packet.
        if role == .client && sentHandshake { discardKeys(.initial, now: now) }
        if packetsProtectedInSendPhase >= keyUpdateThreshold { keyUpdateDue(now: now) }
    }

    /// Packets after which the send keys are updated: the configured interval, and in any case
    /// at half the AEAD's confidentiality limit (RFC 9001 §6.6), leaving the other half for the
    /// packets sent while the update waits for the peer (2^22 packets for AES-GCM).
    var keyUpdateThreshold: UInt64 {
        min(configuration.keyUpdateInterval ?? .max, aeadLimits.confidentiality / 2)
    }

    /// The send keys have protected enough packets: update them, or close with
    /// AEAD_LIMIT_REACHED when the limit itself is reached and no update is possible (§6.6).
    func keyUpdateDue(now: Instant) {
        if initiateKeyUpdate() { return }
        if packetsProtectedInSendPhase >= aeadLimits.confidentiality {
            fail(TransportFailure(code: .aeadLimitReached, frameType: nil, reason: "confidentiality limit reached"), now: now)
        }
    }


    func recordedFrames(space: PacketNumberSpace, from firstFrame: Int) -> [SentFrame] {
        recovery.recordedFrames(space: space, from: firstFrame)
    }

    /// Closing state: CONNECTION_CLOSE at each level the peer may be able to read
    /// (RFC 9000 §10.2.3).
    func buildClose(now: Instant, into out: UnsafeMutableRawBufferPointer, limit: Int) -> Int {
        guard closeSendPending, let close = closeFrame else { return 0 }
        var writer = ByteWriter(UnsafeMutableRawBufferPointer(rebasing: out[..<limit]))
        pendingPackets.removeAll(keepingCapacity: true)
        let levels: [EncryptionLevel] = handshakeConfirmed ? [.oneRTT] : [.initial, .handshake, .oneRTT]
        for level in levels {
            guard sendKeys[level.rawValue] != nil else { continue }
            if level == .oneRTT && role == .client && !handshakeComplete { continue }
            let space = level.packetNumberSpace
            let packetNumber = recovery.nextPacketNumber(space)
            let pnLength = PacketNumberCoding.encodedLength(for: packetNumber, largestAcknowledged: recovery.largestAcked(space))
            // An application close outside 1-RTT becomes APPLICATION_ERROR with no reason (§10.2.3).
            let frame: Frame
            let reasonBytes = Array(close.reason.utf8.prefix(256))
            if close.isApplication && level != .oneRTT {
                frame = .connectionClose(ConnectionCloseFrame(
                    isApplicationClose: false, errorCode: TransportErrorCode.applicationError.rawValue, frameType: 0))
            } else {
                frame = reasonBytes.withUnsafeBytes { reason in
                    .connectionClose(ConnectionCloseFrame(
                        isApplicationClose: close.isApplication, errorCode: close.errorCode, frameType: close.frameType,
                        reason: ByteView(reason)))
                }
            }
            let headerLength = level == .oneRTT ? 1 + peerIDs.current.length + pnLength : 64
            guard writer.remaining >= headerLength + frame.encodedLength + 4 + CipherSuite.tagLength + retryToken.count else { break }
            let header: EncodedHeader
            if level == .oneRTT {
                header = HeaderEncoder.encodeShort(
                    destinationCID: peerIDs.current, keyPhase: sendKeyPhase, packetNumber: packetNumber,
                    packetNumberLength: pnLength, into: &writer)
            } else {
                header = retryToken.withUnsafeBytes { token in
                    HeaderEncoder.encodeLong(
                        type: packetType(level), version: version, destinationCID: peerIDs.current, sourceCID: initialSourceCID,
                        token: level == .initial ? token : UnsafeRawBufferPointer(start: nil, count: 0),
                        packetNumber: packetNumber, packetNumberLength: pnLength, into: &writer)
                }
            }
            let firstFrame = recovery.frameCursor(space)
            reasonBytes.withUnsafeBytes { reason in
                if case .connectionClose(var body) = frame {
                    if !body.reason.isEmpty { body.reason = ByteView(reason) }
                    Frame.connectionClose(body).encode(into: &writer)
                }
            }
            recovery.recordFrame(.connectionClose, space: space)
            let shortfall = 4 - (writer.offset - header.packetNumberOffset)
            if shortfall > 0 { writer.writeZeros(shortfall) }
            pendingPackets.append(
                PendingPacket(
                    level: level, header: header, packetNumber: packetNumber, firstFrame: firstFrame,
                    payloadEnd: writer.offset, ackEliciting: false, containsAck: false, padded: shortfall > 0))
            writer.offset += CipherSuite.tagLength
        }
        guard !pendingPackets.isEmpty else { return 0 }
        if role == .client && pendingPackets.contains(where: { $0.level == .initial }) && writer.offset < Connection.minimumInitialDatagramSize {
            padLastPacket(to: min(Connection.minimumInitialDatagramSize, limit), writer: &writer)
        }
        finishPackets(in: out, now: now)
        closeSendPending = false
        closesSentWhileClosing += 1
        return writer.offset
    }
}
