@testable import QuicCore
import QuicCrypto
import QuicWire
import Testing

/// Connection behaviours RFC 9000/9001/9221 require, each pinned on the simulated network.
@Suite("Connection behaviour (simulated network)")
struct ConnectionBehaviourTests {
    func established(seed: UInt64, _ conditions: LinkConditions = LinkConditions(),
                     configure: ((inout ConnectionConfiguration, inout ConnectionConfiguration) -> Void)? = nil) throws -> Pair {
        let pair = Pair(seed: seed, clientToServer: conditions, serverToClient: conditions, configure: configure)
        try pair.connect()
        #expect(pair.run(for: .seconds(10)) { pair.isConnected && pair.clientConnection?.handshakeConfirmed == true })
        return pair
    }

    @Test("every client datagram carrying an Initial is at least 1200 bytes (RFC 9000 §14.1)")
    func initialPadding() throws {
        let pair = Pair(seed: 400)
        var sizes: [Int] = []
        let original = pair.network
        try pair.connect()
        pair.run(for: .seconds(5)) { pair.isConnected }
        for (_, side, size, first) in original.trace where side == 0 && first & 0xb0 == 0x80 {
            // Long header, type Initial (0b00 in v1) in the first packet of the datagram.
            sizes.append(size)
        }
        #expect(!sizes.isEmpty)
        #expect(sizes.allSatisfy { $0 >= 1200 }, "client Initial datagrams: \(sizes)")
    }

    @Test("before validating the address a server sends at most three times what it received (RFC 9000 §8.1)")
    func antiAmplification() throws {
        // The client's first flight arrives; everything after is lost, so the server must stop.
        var link = LinkConditions()
        let pair = Pair(seed: 401, clientToServer: link, serverToClient: link)
        link.blackholes = [pair.now + .milliseconds(1)..<pair.now + .seconds(100)]
        pair.network.conditions[0] = link
        try pair.connect()
        pair.run(for: .seconds(10)) { false }
        let server = try #require(pair.server.handles.first.flatMap { pair.server.connection($0) })
        #expect(server.pathBytesReceived >= 1200)
        #expect(server.pathBytesSent <= 3 * server.pathBytesReceived, "sent \(server.pathBytesSent) for \(server.pathBytesReceived) received")
        #expect(server.pathBytesSent > 0)
    }

    @Test("Initial and Handshake keys are gone once the handshake is confirmed (RFC 9001 §4.9)")
    func keyDiscard() throws {
        let pair = try established(seed: 402)
        pair.run(for: .milliseconds(100)) { false }
        for connection in [pair.clientConnection!, pair.serverConnection!] {
            #expect(connection.sendKeys[EncryptionLevel.initial.rawValue] == nil)
            #expect(connection.receiveKeys[EncryptionLevel.initial.rawValue] == nil)
            #expect(connection.sendKeys[EncryptionLevel.handshake.rawValue] == nil)
            #expect(connection.receiveKeys[EncryptionLevel.handshake.rawValue] == nil)
            #expect(connection.sendKeys[EncryptionLevel.oneRTT.rawValue] != nil)
        }
    }

    @Test("after a transfer the connection goes quiet: ACK-only packets are not acknowledged")
    func quiescence() throws {
        let pair = try established(seed: 403)
        let transfer = StreamTransfer(pair: pair, sizes: [200_000])
        #expect(transfer.run() != nil)
        pair.run(for: .seconds(1)) { false }
        let before = pair.network.sent
        pair.run(for: .seconds(5)) { false }
        #expect(pair.network.sent == before, "datagrams kept flowing after the transfer: \(before) -> \(pair.network.sent)")
    }

    @Test("idle timeout closes both sides silently (RFC 9000 §10.1)")
    func idleTimeout() throws {
        let pair = try established(seed: 404) { client, server in
            client.maxIdleTimeout = .seconds(2)
            server.maxIdleTimeout = .seconds(5)
        }
        let start = pair.now
        pair.run(for: .seconds(10)) { pair.clientConnection == nil && pair.serverConnection?.isClosed != false }
        #expect(pair.clientEvents.contains(.closed(.idleTimeout)))
        #expect(pair.serverEvents.contains(.closed(.idleTimeout)))
        // The smaller timeout (2 s) applies to both.
        #expect(pair.now - start < .seconds(3))
    }

    @Test("an idle timeout shorter than three PTOs is stretched to three PTOs (RFC 9000 §10.1)")
    func idleTimeoutAtLeastThreePTOs() throws {
        // 200 ms each way: PTO is at least 400 ms (RTT + 4 × rttvar, plus max_ack_delay), so the
        // 100 ms idle timeout must stretch past 1.2 s.
        var slow = LinkConditions()
        slow.delay = .milliseconds(200)
        let pair = try established(seed: 409, slow) { client, server in
            client.maxIdleTimeout = .milliseconds(100)
            server.maxIdleTimeout = .milliseconds(100)
        }
        let pto = pair.clientConnection!.recovery.rtt.probeTimeout
        #expect(pto >= .milliseconds(400), "PTO \(pto)")
        let start = pair.now
        pair.run(for: .seconds(20)) { pair.clientConnection == nil || pair.clientConnection?.isClosed == true }
        #expect(pair.clientEvents.contains(.closed(.idleTimeout)))
        // The PTO only settles (smoothed RTT stays near 400 ms): at least 3 × 400 ms.
        let idle = pair.now - start
        #expect(idle >= .milliseconds(1200), "closed after \(idle), three PTOs are about \(pto * 3)")
        #expect(idle < pto * 3 + .seconds(1), "closed after \(idle), long after three PTOs (\(pto * 3))")
    }

    @Test("an application close reaches the peer with its code and reason; both endpoints drain")
    func applicationClose() throws {
        let pair = try established(seed: 405)
        pair.clientConnection!.close(errorCode: 0x42, reason: "bye", now: pair.now)
        pair.run(for: .seconds(5)) { pair.client.connectionCount == 0 && pair.server.connectionCount == 0 }
        #expect(pair.serverEvents.contains(.closed(.peer(errorCode: 0x42, isApplication: true, frameType: 0, reason: "bye"))))
        #expect(pair.client.connectionCount == 0, "the client drained after the closing period")
        #expect(pair.server.connectionCount == 0, "the server drained after the draining period")
    }

    @Test("DATAGRAM frames flow both ways when both sides offer them (RFC 9221)")
    func datagrams() throws {
        let pair = try established(seed: 406) { client, server in
            client.maxDatagramFrameSize = 1200
            server.maxDatagramFrameSize = 1200
        }
        let client = pair.clientConnection!
        let server = pair.serverConnection!
        #expect(client.maxDatagramPayload != nil)
        #expect(client.sendDatagram(Array("ping".utf8)))
        #expect(!client.sendDatagram(Array(repeating: 0, count: 5000)), "too large for one packet")
        pair.run(for: .seconds(1)) { pair.serverEvents.contains(.datagramReceived) }
        #expect(server.readDatagram() == Array("ping".utf8))
        #expect(server.sendDatagram(Array("pong".utf8)))
        pair.run(for: .seconds(1)) { pair.clientEvents.contains(.datagramReceived) }
        #expect(client.readDatagram() == Array("pong".utf8))
    }

    @Test("without the transport parameter, DATAGRAM cannot be sent")
    func datagramsNotOffered() throws {
        let pair = try established(seed: 407)
        #expect(pair.clientConnection!.maxDatagramPayload == nil)
        #expect(!pair.clientConnection!.sendDatagram([1, 2, 3]))
    }

    @Test("RESET_STREAM and STOP_SENDING reach the peer's application")
    func resetAndStop() throws {
        let pair = try established(seed: 408)
        let client = pair.clientConnection!
        let stream = try #require(client.openStream(.bidirectional))
        _ = try client.write(stream, Array(repeating: 1, count: 1000))
        pair.run(for: .milliseconds(200)) { false }
        try client.resetStream(stream, errorCode: 77)
        pair.run(for: .milliseconds(200)) { false }
        let server = try #require(pair.serverConnection)
        var buffer = [UInt8](repeating: 0, count: 4096)
        var resetCode: UInt64?
        while true {
            do {
                let (count, _) = try buffer.withUnsafeMutableBytes { try server.read(stream, into: $0) }
                if count == 0 { break }
            } catch StreamError.resetByPeer(let code) {
                resetCode = code
                break
            }
        }
        #expect(resetCode == 77)

        // STOP_SENDING from the server makes the client's stream reset with the same code.
        let second = try #require(client.openStream(.bidirectional))
        _ = try client.write(second, Array(repeating: 2, count: 100))
        pair.run(for: .milliseconds(200)) { false }
        try server.stopSending(second, errorCode: 9)
        pair.run(for: .milliseconds(200)) { false }
        #expect(pair.clientEvents.contains(.stream(.stopped(second, errorCode: 9))))
        #expect(throws: StreamError.stoppedByPeer(9)) { _ = try client.write(second, [1]) }
    }

    @Test("a fast reader's stream window grows beyond its initial size")
    func windowGrowth() throws {
        var link = LinkConditions()
        link.bandwidth = 12_500_000
        let pair = try established(seed: 409, link) { _, server in
            server.streams.initialStreamWindow = 64 * 1024
            server.streams.maximumStreamWindow = 8 * 1024 * 1024
        }
        let transfer = StreamTransfer(pair: pair, sizes: [4 * 1024 * 1024])
        var largestWindow: UInt64 = 0
        pair.run(for: .seconds(60)) {
            transfer.pump()
            if let stream = pair.serverConnection?.streams.streams[StreamID(rawValue: 0)], let recv = stream.recv {
                largestWindow = max(largestWindow, recv.window.window)
            }
            return transfer.isComplete
        }
        #expect(transfer.isComplete)
        #expect(largestWindow > 64 * 1024, "window stayed at \(largestWindow)")
    }

    @Test("streams with data are served round-robin")
    func fairness() throws {
        var link = LinkConditions()
        link.bandwidth = 1_250_000
        let pair = try established(seed: 410, link)
        let transfer = StreamTransfer(pair: pair, sizes: [400_000, 400_000, 400_000])
        // Halfway through, the streams must be within 20 % of each other.
        pair.run(for: .seconds(30)) {
            transfer.pump()
            return transfer.receivedBytes.values.reduce(0, +) >= 600_000
        }
        let counts = transfer.receivedBytes.values.sorted()
        #expect(counts.count == 3)
        #expect(Double(counts.first!) > 0.8 * Double(counts.last!), "per-stream progress: \(counts)")
    }

    @Test("QUIC version 2 connections work end to end (RFC 9369)")
    func version2() throws {
        let pair = try established(seed: 411) { client, _ in client.version = .v2 }
        #expect(pair.clientConnection?.version == .v2)
        #expect(pair.serverConnection?.version == .v2)
        let transfer = StreamTransfer(pair: pair, sizes: [100_000])
        #expect(transfer.run() != nil)
        #expect(transfer.corruptions == 0)
    }

    @Test("GSO batches: several equal-size datagrams in one transmit")
    func gsoBatches() throws {
        let pair = try established(seed: 412)
        let client = pair.clientConnection!
        let stream = try #require(client.openStream(.bidirectional))
        _ = try client.write(stream, Array(repeating: 7, count: 20_000))
        var buffer = [UInt8](repeating: 0, count: 65536)
        let transmit = try #require(buffer.withUnsafeMutableBytes { client.pollTransmit(now: pair.now, into: $0, maxDatagrams: 8) })
        let segment = try #require(transmit.segmentSize)
        #expect(transmit.size > 2 * segment, "several full segments")
        #expect(segment > 1150 && segment <= 1200)
        // Each segment parses as a packet for the server's connection ID.
        for start in stride(from: 0, to: transmit.size, by: segment) {
            let header = try buffer.withUnsafeBytes {
                try PacketHeader.parse(UnsafeRawBufferPointer(rebasing: $0[start..<min(start + segment, transmit.size)]), shortHeaderCIDLength: 8)
            }
            #expect(header.destinationCID == client.peerIDs.current)
        }
    }

    @Test("a key update started by either side is followed by the other (RFC 9001 §6)")
    func keyUpdate() throws {
        let pair = try established(seed: 413)
        let client = pair.clientConnection!
        let server = pair.serverConnection!
        #expect(client.initiateKeyUpdate())
        #expect(!client.initiateKeyUpdate(), "a second update waits for the peer to follow")
        let transfer = StreamTransfer(pair: pair, sizes: [300_000])
        #expect(transfer.run() != nil)
        #expect(client.sendKeyPhase == true && server.sendKeyPhase == true && server.receiveKeyPhase == true)
        #expect(server.initiateKeyUpdate())
        let second = StreamTransfer(pair: pair, sizes: [300_000, 300_000])
        #expect(second.run() != nil)
        #expect(client.receiveKeyPhase == false && client.sendKeyPhase == false)
        #expect(transfer.corruptions == 0 && second.corruptions == 0)
    }
}

/// qlog events collected in memory.
final class MemoryQlog: QlogSink, @unchecked Sendable {
    var records: [String] = []
    func record(_ json: String) { records.append(json) }
}

@Suite("qlog")
struct QlogTests {
    @Test("JSON-SEQ header, then packet_sent, packet_received, packet_lost and recovery_metrics_updated")
    func events() throws {
        let sink = MemoryQlog()
        var link = LinkConditions()
        link.loss = 0.05
        let pair = Pair(seed: 500, clientToServer: link, serverToClient: link) { client, _ in client.qlog = sink }
        try pair.connect()
        #expect(pair.run(for: .seconds(10)) { pair.isConnected })
        let transfer = StreamTransfer(pair: pair, sizes: [300_000])
        #expect(transfer.run() != nil)
        #expect(sink.records.first?.contains("\"file_schema\":\"urn:ietf:params:qlog:file:sequential\"") == true)
        for name in ["quic:packet_sent", "quic:packet_received", "quic:packet_lost", "quic:recovery_metrics_updated"] {
            #expect(sink.records.contains { $0.contains("\"name\":\"\(name)\"") }, "no \(name) event")
        }
        // Every record is one JSON object (balanced braces, no newline inside).
        for record in sink.records.prefix(200) {
            #expect(record.first == "{" && record.last == "}" && !record.contains("\n"))
            #expect(record.filter { $0 == "{" }.count == record.filter { $0 == "}" }.count)
        }
        let sent = sink.records.first { $0.contains("quic:packet_sent") && $0.contains("\"stream\"") }
        #expect(sent?.contains("\"stream_id\":0") == true)
    }
}

@Suite("Handshake probes")
struct HandshakeProbeTests {
    @Test("while the ClientHello is unacknowledged, every client Initial probe carries it (no PING-only Initial a server could refuse)")
    func probesCarryCrypto() throws {
        let sink = MemoryQlog()
        var link = LinkConditions()
        // Nothing gets through for the first 4 s: three PTOs of two probes each.
        link.blackholes = [Instant(nanoseconds: 0)..<Instant(nanoseconds: 5_000_000_000)]
        let pair = Pair(seed: 901, clientToServer: link) { client, _ in client.qlog = sink }
        try pair.connect()
        #expect(pair.run(for: .seconds(30)) { pair.isConnected })
        let initials = sink.records.filter { $0.contains("\"quic:packet_sent\"") && $0.contains("\"packet_type\":\"initial\"") }
        let beforeServer = initials.prefix(7)  // the first Initial and three PTOs' pairs
        #expect(beforeServer.count == 7, "\(initials.count) client Initials")
        for record in beforeServer {
            #expect(record.contains("\"frame_type\":\"crypto\""), "an Initial probe without the ClientHello: \(record)")
        }
    }
}
