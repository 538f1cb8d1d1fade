@testable import QuicCore
import QuicCrypto
import QuicWire

/// What a test can see of a packet on the wire without keys.
struct WirePacket: Equatable {
    var type: PacketType
    var version: QuicVersion?
    var destinationCID: ConnectionID
    var sourceCID: ConnectionID
    var token: [UInt8]
}

/// The packets of a datagram, as far as their headers parse (coalesced long-header packets, then
/// a short-header one). Our connection IDs are all 8 bytes long.
func wirePackets(_ datagram: [UInt8], shortHeaderCIDLength: Int = 8) -> [WirePacket] {
    datagram.withUnsafeBytes { raw in
        var packets: [WirePacket] = []
        var offset = 0
        while offset < raw.count, let header = try? PacketHeader.parse(raw, at: offset, shortHeaderCIDLength: shortHeaderCIDLength) {
            packets.append(
                WirePacket(
                    type: header.type, version: header.version, destinationCID: header.destinationCID, sourceCID: header.sourceCID,
                    token: Array(header.token)))
            if header.type == .oneRTT || header.end <= offset { break }
            offset = header.end
        }
        return packets
    }
}

extension SimulatedNetwork {
    /// Headers of every recorded datagram a side sent, datagram by datagram.
    func packets(from side: Side) -> [[WirePacket]] {
        datagrams.filter { $0.side == side }.map { wirePackets($0.bytes) }
    }
}

/// A Retry packet (RFC 9000 §17.2.5) as a server would send it to a client whose first Initial
/// went to `originalDestinationCID`; `corruptTag` flips a bit of the integrity tag.
func retryPacket(
    version: QuicVersion, destinationCID: ConnectionID, sourceCID: ConnectionID, token: [UInt8],
    originalDestinationCID: ConnectionID, corruptTag: Bool = false
) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: 1 + 4 + 1 + destinationCID.length + 1 + sourceCID.length + token.count + 16)
    bytes.withUnsafeMutableBytes { raw in
        var writer = ByteWriter(raw)
        token.withUnsafeBytes { token in
            _ = RetryPacket.encodeWithoutTag(
                version: version, destinationCID: destinationCID, sourceCID: sourceCID, token: token, unusedBits: 0,
                into: &writer)
        }
        let tag = RetryIntegrity.tag(
            version: version, originalDestinationCID: originalDestinationCID, retryWithoutTag: UnsafeRawBufferPointer(writer.written))
        writer.writeBytes(tag)
    }
    if corruptTag { bytes[bytes.count - 1] ^= 0x01 }
    return bytes
}

extension Pair {
    /// The close codes the client got from the server, in order.
    var transportCloseCodesFromServer: [UInt64] {
        clientEvents.compactMap { event in
            if case .closed(.peer(let code, false, _, _)) = event { return code } else { return nil }
        }
    }

    var clientClosed: Bool {
        clientEvents.contains { if case .closed = $0 { return true } else { return false } }
    }
}
