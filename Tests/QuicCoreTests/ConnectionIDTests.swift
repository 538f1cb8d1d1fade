@testable import QuicCore
import QuicCrypto
import QuicWire
import Testing

/// Connection IDs (RFC 9000 §5.1, §19.15, §19.16, §10.3.1): issuing up to the peer's limit,
/// retire_prior_to in both directions, retirement and re-issue, the limits and rules enforced on
/// what the peer sends (checked by the error code the peer receives), and stateless reset tokens
/// per connection ID.
@Suite("Connection IDs (RFC 9000 §5.1, §19.15, §19.16)")
struct ConnectionIDTests {
    func established(
        seed: UInt64, configure: ((inout ConnectionConfiguration, inout ConnectionConfiguration) -> Void)? = nil
    ) throws -> Pair {
        try Pair.established(seed: seed, configure: configure)
    }

    func randomID(_ seed: UInt8) -> ConnectionID { ConnectionID(bytes: (0..<8).map { seed &+ UInt8($0) &* 37 })! }

    func newConnectionID(sequence: UInt64, retirePriorTo: UInt64 = 0, id: ConnectionID) -> [UInt8] {
        frameBytes(
            .newConnectionID(
                NewConnectionIDFrame(
                    sequenceNumber: sequence, retirePriorTo: retirePriorTo, connectionID: id,
                    statelessResetToken: StatelessResetToken(high: UInt64(sequence), low: 0x5151))))
    }

    @Test("each side issues IDs up to the other's active_connection_id_limit, and its endpoint routes every active one")
    func issuedUpToLimit() throws {
        let pair = try established(seed: 700) { client, server in
            client.activeConnectionIDLimit = 2
            server.activeConnectionIDLimit = 6
        }
        let client = try #require(pair.clientConnection)
        let server = try #require(pair.serverConnection)
        _ = pair.run(for: .seconds(1)) { false }
        // The server may give the client only 2; the client gives the server min(6, its own 2).
        #expect(server.localIDs.active.count == 2)
        #expect(client.peerIDs.active.count == 2)
        #expect(client.localIDs.active.count == 2)
        for entry in server.localIDs.active { #expect(pair.server.route(of: entry.id) == pair.serverHandles.first) }
        for entry in client.localIDs.active { #expect(pair.client.route(of: entry.id) != nil) }
        #expect(client.closeReason == nil && server.closeReason == nil)
    }

    @Test("retire_prior_to from the server: the client moves to a new ID, retires every older one, the server issues replacements and stops routing the old IDs; data keeps flowing", arguments: [false, true])
    func retirePriorTo(serverRotates: Bool) throws {
        let pair = try established(seed: serverRotates ? 701 : 702)
        let client = try #require(pair.clientConnection)
        let server = try #require(pair.serverConnection)
        let (issuer, follower, issuerEndpoint) = serverRotates ? (server, client, pair.server) : (client, server, pair.client)
        let oldIDs = issuer.localIDs.active.map(\.id)
        let oldDestination = follower.destinationConnectionID
        #expect(oldIDs.contains(oldDestination))
        let first = issuer.retireIssuedConnectionIDs()
        let second = issuer.retireIssuedConnectionIDs()
        #expect(first)
        #expect(!second, "a second request waits for the first to be answered (§5.1.2)")
        let rotatedAt = pair.now
        let transfer = StreamTransfer(pair: pair, sizes: [1 << 20])
        #expect(transfer.run() != nil && transfer.isComplete && transfer.corruptions == 0)
        let cutoff = issuer.localIDs.retirePriorTo
        #expect(cutoff == UInt64(oldIDs.count))
        // The follower retired all of them and uses a new one.
        #expect(follower.peerIDs.active.allSatisfy { $0.sequence >= cutoff })
        #expect(!oldIDs.contains(follower.destinationConnectionID))
        // The issuer heard the retirements, stopped routing and issued replacements.
        #expect(issuer.localIDs.active.allSatisfy { $0.sequence >= cutoff })
        #expect(issuer.localIDs.active.count == oldIDs.count)
        for id in oldIDs { #expect(issuerEndpoint.route(of: id) == nil, "\(id) still routed") }
        for entry in issuer.localIDs.active { #expect(issuerEndpoint.route(of: entry.id) != nil) }
        // On the wire: after the switch, the follower's packets carry none of the old IDs.
        let followerSide: SimulatedNetwork.Side = serverRotates ? .client : .server
        let late = pair.datagrams(from: followerSide, after: rotatedAt + .milliseconds(60)).compactMap(\.shortHeaderDCID)
        #expect(!late.isEmpty)
        #expect(late.allSatisfy { !oldIDs.contains($0) })
        #expect(issuer.retireIssuedConnectionIDs(), "once answered, another rotation may start")
    }

    @Test("a peer that gives more IDs than our active_connection_id_limit: CONNECTION_ID_LIMIT_ERROR")
    func limitExceeded() throws {
        let pair = try established(seed: 703)
        let server = try #require(pair.serverConnection)
        #expect(server.peerIDs.active.count == Int(pair.serverConfiguration.activeConnectionIDLimit))
        pair.injectFromClient(newConnectionID(sequence: 9, id: randomID(1)))
        #expect(pair.serverCloseCodeSeenByClient() == TransportErrorCode.connectionIDLimitError.rawValue)
    }

    @Test("retire_prior_to is applied before the limit is checked; the retired IDs are owed RETIRE_CONNECTION_ID; a peer that makes us owe too many: CONNECTION_ID_LIMIT_ERROR")
    func peerIDsRules() throws {
        func frame(_ sequence: UInt64, retirePriorTo: UInt64 = 0) -> NewConnectionIDFrame {
            NewConnectionIDFrame(
                sequenceNumber: sequence, retirePriorTo: retirePriorTo, connectionID: randomID(UInt8(sequence)),
                statelessResetToken: StatelessResetToken(high: sequence, low: 1))
        }
        var ids = PeerConnectionIDs(initial: randomID(200))
        for sequence in 1...3 { try ids.add(frame(UInt64(sequence)), limit: 4) }
        // Full (4 of 4): one more is an error, unless it retires enough first (§5.1.1).
        var full = ids
        #expect(throws: WireError.self) { try full.add(frame(4), limit: 4) }
        try ids.add(frame(4, retirePriorTo: 2), limit: 4)
        #expect(ids.active.map(\.sequence) == [2, 3, 4])
        // The ID in use (sequence 0) was retired: the connection moved to an unused one.
        #expect(ids.currentSequence == 2)
        #expect(ids.takeRetirement() == 0 && ids.takeRetirement() == 1 && ids.takeRetirement() == nil)
        // A frame below retire_prior_to is retired at once, and only once when repeated.
        try ids.add(frame(1), limit: 4)
        try ids.add(frame(1), limit: 4)
        #expect(ids.takeRetirement() == 1 && ids.takeRetirement() == nil)
        // Retirements never acknowledged pile up: beyond twice the limit (at least 8) it is an error.
        var backlog = PeerConnectionIDs(initial: randomID(201))
        var sequence: UInt64 = 1
        var failed = false
        while sequence < 40 && !failed {
            do {
                try backlog.add(frame(sequence, retirePriorTo: sequence), limit: 2)
                while backlog.takeRetirement() != nil {}
            } catch {
                #expect(error.code == .connectionIDLimitError)
                failed = true
            }
            sequence += 1
        }
        #expect(failed && sequence <= 12)
    }

    @Test("a sequence number reused for another ID, or a known ID under a new sequence number: PROTOCOL_VIOLATION", arguments: [false, true])
    func reusedSequence(sameID: Bool) throws {
        let pair = try established(seed: sameID ? 705 : 706)
        let server = try #require(pair.serverConnection)
        let existing = try #require(server.peerIDs.active.last)
        let frame =
            sameID
            ? newConnectionID(sequence: existing.sequence + 10, retirePriorTo: existing.sequence + 10, id: existing.id)
            : newConnectionID(sequence: existing.sequence, id: randomID(3))
        pair.injectFromClient(frame)
        #expect(pair.serverCloseCodeSeenByClient() == TransportErrorCode.protocolViolation.rawValue)
    }

    @Test("an exact repeat of a NEW_CONNECTION_ID is no error (RFC 9000 §19.15)")
    func repeatedFrame() throws {
        let pair = try established(seed: 707)
        let server = try #require(pair.serverConnection)
        let existing = try #require(server.peerIDs.active.last)
        let repeatFrame = frameBytes(
            .newConnectionID(
                NewConnectionIDFrame(
                    sequenceNumber: existing.sequence, retirePriorTo: 0, connectionID: existing.id,
                    statelessResetToken: try #require(existing.resetToken))))
        pair.injectFromClient(repeatFrame)
        _ = pair.run(for: .milliseconds(200)) { false }
        #expect(server.closeReason == nil)
    }

    @Test("RETIRE_CONNECTION_ID for a sequence never issued, or of the very ID its packet was sent to: PROTOCOL_VIOLATION", arguments: [false, true])
    func retireRules(ownDestination: Bool) throws {
        let pair = try established(seed: ownDestination ? 709 : 708)
        let client = try #require(pair.clientConnection)
        let server = try #require(pair.serverConnection)
        let sequence =
            ownDestination ? try #require(server.localIDs.active.first { $0.id == client.destinationConnectionID }?.sequence) : 50
        pair.injectFromClient(frameBytes(.retireConnectionID(sequenceNumber: sequence)))
        #expect(pair.serverCloseCodeSeenByClient() == TransportErrorCode.protocolViolation.rawValue)
    }

    @Test("the peer retires an ID: a replacement is issued and the retired ID is no longer routed")
    func replacementOnRetire() throws {
        let pair = try established(seed: 710)
        let client = try #require(pair.clientConnection)
        let server = try #require(pair.serverConnection)
        // The client gives up a spare ID (as after a path it used is abandoned).
        let spare = try #require(client.peerIDs.active.first { !$0.used })
        let next = server.localIDs.nextSequence
        client.peerIDs.retire(sequence: spare.sequence)
        client.ping()
        #expect(pair.run(for: .seconds(1)) { client.peerIDs.active.contains { $0.sequence == next } })
        #expect(pair.server.route(of: spare.id) == nil)
        #expect(!server.localIDs.active.contains { $0.sequence == spare.sequence })
        #expect(server.localIDs.active.count == 4 && client.peerIDs.active.count == 4)
        #expect(server.closeReason == nil && client.closeReason == nil)
    }

    @Test("stateless reset: the token of an ID in use ends the connection; the token of an ID never used does not (RFC 9000 §10.3.1)")
    func statelessResetTokens() throws {
        for used in [false, true] {
            let pair = try established(seed: used ? 711 : 712)
            let client = try #require(pair.clientConnection)
            let server = try #require(pair.serverConnection)
            // Make the client use a non-initial ID first (via retire_prior_to), so the token
            // checked is one that came in a NEW_CONNECTION_ID frame.
            let rotated = server.retireIssuedConnectionIDs()
            #expect(rotated)
            #expect(pair.run(for: .seconds(1)) { client.peerIDs.currentSequence >= 4 })
            let entry = try #require(
                used
                    ? client.peerIDs.active.first { $0.sequence == client.peerIDs.currentSequence }
                    : client.peerIDs.active.first { !$0.used })
            let token = try #require(entry.resetToken)
            #expect(token == StatelessResetTokens.token(for: entry.id, key: pair.serverConfiguration.statelessResetKey))
            var reset = [UInt8](repeating: 0x33, count: 43)
            reset[0] = 0x4b
            reset.replaceSubrange(27..<43, with: token.bytes)
            pair.network.send(reset, from: .server, address: pair.serverAddress, to: pair.clientAddress, now: pair.now)
            _ = pair.run(for: .milliseconds(100)) { false }
            if used {
                #expect(client.closeReason == .statelessReset)
            } else {
                #expect(client.closeReason == nil)
            }
        }
    }
}
