@testable import QuicCore
import QuicCrypto
import QuicWire
import Testing

/// RFC 9000 leaves it to the receiver to bound what a peer can make it store; each test has the
/// client send what would grow the server's state without limit, and checks the bound held.
@Suite("Memory per connection stays bounded")
struct MemoryBoundTests {
    func established(seed: UInt64) throws -> Pair {
        let pair = Pair(seed: seed)
        try pair.connect()
        #expect(pair.run(for: .seconds(5)) { pair.isConnected && pair.clientConnection?.handshakeConfirmed == true })
        return pair
    }

    @Test("fragmented stream data: received ranges stop growing; the packets are refused unacknowledged")
    func fragmentedStream() throws {
        let pair = try established(seed: 600)
        // One byte every 10 bytes across the window: 5000 gaps if nothing bounded them.
        for chunk in 0..<250 {
            var payload: [UInt8] = []
            for index in 0..<20 {
                payload += streamFrameBytes(id: 0, offset: UInt64((chunk * 20 + index) * 10 + 1), count: 1)
            }
            pair.injectFromClient(payload)
        }
        pair.run(for: .milliseconds(200)) { false }
        let server = try #require(pair.serverConnection)
        let stream = try #require(server.streams.streams[StreamID(rawValue: 0)]?.recv)
        #expect(stream.received.count <= RecvStream.maxReceivedRanges)
        #expect(server.statistics.refusedPackets > 0)
        #expect(server.state == .established, "refusing is not an error")
    }

    @Test("sparse packet numbers: the ACK state keeps a bounded number of ranges")
    func sparsePacketNumbers() throws {
        let pair = try established(seed: 601)
        for _ in 0..<500 {
            pair.injectedPacketNumber += 1  // leave a gap before every injected packet
            pair.injectFromClient(frameBytes(.ping))
        }
        pair.run(for: .milliseconds(200)) { false }
        let server = try #require(pair.serverConnection)
        let ranges = server.received[PacketNumberSpace.applicationData.rawValue].received.count
        #expect(ranges <= ReceivedPackets.maxRanges * 2, "\(ranges) ranges")
        #expect(server.state == .established)
    }

    @Test("an ACK frame with hundreds of ranges is processed without storing them")
    func manyAckRanges() throws {
        let pair = try established(seed: 602)
        let server = try #require(pair.serverConnection)
        let largest = server.recovery.nextPacketNumber(.applicationData) - 1
        var ranges: [ClosedRange<UInt64>] = [largest...largest]
        var high = largest >= 3 ? largest - 3 : 0
        while high > 2, ranges.count < 500 {
            ranges.append(high...high)
            high -= 2
        }
        let ack = encodedAck(ranges)
        #expect(ack.count < 1100, "the packet must fit the path, or the test proves nothing")
        let before = server.statistics.packetsReceived
        pair.injectFromClient(ack)
        pair.run(for: .milliseconds(100)) { false }
        #expect(server.statistics.packetsReceived > before, "the ACK packet was processed")
        #expect(server.state == .established)
    }

    func encodedAck(_ ranges: [ClosedRange<UInt64>]) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: AckFrame.encodedLength(ranges: ranges, ackDelay: 0, ecnCounts: nil))
        bytes.withUnsafeMutableBytes { raw in
            var writer = ByteWriter(raw)
            AckFrame.encode(ranges: ranges, ackDelay: 0, ecnCounts: nil, into: &writer)
        }
        return bytes
    }
}
