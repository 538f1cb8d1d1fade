@testable import QuicCore
import QuicCrypto
import QuicWire

extension Pair {
    /// Seals `payload` (raw frame bytes) in a 1-RTT packet with the client's current keys and
    /// sends it to the server, as a client that breaks the rules would. The packet number is far
    /// ahead of the client's own, so it is never a duplicate. A 4-byte packet number leaves room
    /// for the header-protection sample without padding, so the payload is exactly `payload`.
    func injectFromClient(_ payload: [UInt8]) {
        guard let client = clientConnection, let keys = client.sendKeys[EncryptionLevel.oneRTT.rawValue] else {
            fatalError("inject needs an established client")
        }
        injectedPacketNumber += 1
        let packetNumber = client.recovery.nextPacketNumber(.applicationData) + 10_000 + injectedPacketNumber
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
        network.send(packet, from: .client, address: clientAddress, now: now)
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
