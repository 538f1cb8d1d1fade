@testable import QuicCore
import QuicCrypto
import QuicWire

extension Pair {
    /// Seals `payload` (raw frame bytes) in a 1-RTT packet with the client's current keys and
    /// sends it to the server, as a client that breaks the rules would. The packet number is far
    /// ahead of the client's own, so it is never a duplicate. A 4-byte packet number leaves room
    /// for the header-protection sample without padding, so the payload is exactly `payload`.
    /// `address`: the source the server sees (default: the client's). `packetNumber`: an explicit
    /// full packet number instead of one far ahead.
    /// `direct`: handed to the server endpoint at once instead of crossing the network, so no
    /// other datagram is processed in between.
    func injectFromClient(
        _ payload: [UInt8], from address: SocketAddress? = nil, packetNumber explicit: UInt64? = nil, direct: Bool = false
    ) {
        guard let client = clientConnection, let keys = client.sendKeys[EncryptionLevel.oneRTT.rawValue] else {
            fatalError("inject needs an established client")
        }
        injectedPacketNumber += 1
        let packetNumber = explicit ?? client.recovery.nextPacketNumber(.applicationData) + 10_000 + injectedPacketNumber
        var packet = [UInt8](repeating: 0, count: 1 + client.peerIDs.current.length + 4 + payload.count + 16)
        packet.withUnsafeMutableBytes { raw in
            var writer = ByteWriter(raw)
            let header = HeaderEncoder.encodeShort(
                destinationCID: client.peerIDs.current, keyPhase: client.sendKeyPhase, packetNumber: packetNumber & 0xffff_ffff,
                packetNumberLength: 4, into: &writer)
            writer.writeBytes(payload)
            PacketProtection.protect(
                packet: raw, packetNumberOffset: header.packetNumberOffset, packetNumberLength: 4, packetNumber: packetNumber,
                keys: keys)
        }
        if direct {
            var reply = [UInt8](repeating: 0, count: 2048)
            _ = packet.withUnsafeMutableBytes { datagram in
                reply.withUnsafeMutableBytes { replyBuffer in
                    server.handle(
                        datagram: datagram, from: address ?? clientAddress, to: serverAddress, ecn: .notECT, now: now,
                        replyBuffer: replyBuffer)
                }
            }
            return
        }
        network.send(packet, from: .client, address: address ?? clientAddress, to: serverAddress, now: now)
    }

    /// Packet numbers of the client's to inject with, so that the client goes on afterwards: the
    /// client sends `count` PINGs that are dropped before the network (as if a copy had raced
    /// ahead of the genuine packet, RFC 9000 §9.3.2), and the server's acknowledgment of an
    /// injected packet then acknowledges a packet the client did send.
    func takeClientPacketNumbers(_ count: Int) -> [UInt64] {
        guard let client = clientConnection else { fatalError("needs a client") }
        var numbers: [UInt64] = []
        var scratch = [UInt8](repeating: 0, count: 2048)
        var attempts = 0
        while numbers.count < count {
            let number = client.recovery.nextPacketNumber(.applicationData)
            client.ping()
            let sent = scratch.withUnsafeMutableBytes { client.pollTransmit(now: now, into: $0) }
            guard sent != nil else {
                // Window or pacer full: let time pass and try again.
                attempts += 1
                precondition(attempts < 1000, "the client never had room to send")
                step()
                continue
            }
            precondition(client.recovery.nextPacketNumber(.applicationData) == number + 1, "one 1-RTT packet")
            numbers.append(number)
        }
        return numbers
    }

    /// Runs until the client learns the server closed, and returns the code it received.
    func serverCloseCodeSeenByClient(limit: TimeSpan = .seconds(5)) -> UInt64? {
        run(for: limit) { clientEvents.contains { if case .closed = $0 { return true } else { return false } } }
        for event in clientEvents {
            if case .closed(.peer(let code, false, _, _)) = event { return code }
        }
        return nil
    }
}

/// Frame bytes for tests.
func frameBytes(_ frame: Frame) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: frame.encodedLength)
    bytes.withUnsafeMutableBytes { raw in
        var writer = ByteWriter(raw)
        frame.encode(into: &writer)
    }
    return bytes
}

func streamFrameBytes(id: UInt64, offset: UInt64, count: Int, fin: Bool = false) -> [UInt8] {
    let data = [UInt8](repeating: 0x55, count: count)
    return data.withUnsafeBytes { frameBytes(.stream(StreamFrame(streamID: StreamID(rawValue: id), offset: offset, data: ByteView($0), fin: fin))) }
}
