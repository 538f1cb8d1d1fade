@testable import QuicCore
import QuicWire
import Testing

/// Authentic packets full of garbage: random frame payloads sealed with the client's real 1-RTT
/// keys and handed straight to the server's endpoint. Mostly STREAM types on streams that are
/// open, so the receive path's fast route for open streams sees every kind of broken frame.
/// The server must never trap; it either carries on or closes with an error code RFC 9000 (or
/// RFC 9001, for TLS alerts) defines, and it never closes with INTERNAL_ERROR.
@Suite("Garbage frames in authentic packets")
struct GarbageFrameTests {
    @Test("40 connections × up to 25 random payloads: no trap, only the RFC's error codes")
    func garbage() throws {
        var rng = SplitMix64(seed: 2026)
        var closed: [TransportErrorCode: Int] = [:]
        var survived = 0
        var survivedPackets = 0
        for seed in UInt64(0)..<40 {
            let pair = Pair(seed: 500 + seed)
            try pair.connect()
            #expect(pair.run(for: .seconds(5)) { pair.isConnected && pair.clientConnection?.handshakeConfirmed == true })
            // Streams 0 and 4 open, with data, before the garbage starts.
            pair.injectFromClient(streamFrameBytes(id: 0, offset: 0, count: 100) + streamFrameBytes(id: 4, offset: 0, count: 50), direct: true)
            var packets = 0
            for _ in 0..<25 {
                var payload = (0..<(1 + Int(rng.next() % 80))).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                if rng.next() % 4 != 0 {
                    // A STREAM type on stream 0 or 4, the rest random.
                    payload[0] = 0x08 | UInt8(rng.next() & 7)
                    if payload.count > 1 { payload[1] = rng.next() & 1 == 0 ? 0 : 4 }
                }
                pair.injectFromClient(payload, direct: true)
                packets += 1
                if let connection = pair.serverConnection, connection.isClosed || connection.closeReason != nil { break }
            }
            switch pair.serverConnection?.closeReason {
            case .transportError(let code, _, _)?:
                closed[code, default: 0] += 1
                #expect(code != .internalError, "seed \(seed): INTERNAL_ERROR")
                #expect(code.rawValue <= 0x10 || (0x100...0x1ff).contains(code.rawValue), "seed \(seed): code \(code)")
            case .peer?:
                break  // a random CONNECTION_CLOSE from the "client"
            case nil:
                survived += 1
                survivedPackets += packets
            case let other?:
                Issue.record("seed \(seed): closed with \(other)")
            }
        }
        print("garbage frames: closed \(closed.map { "\($0.key)×\($0.value)" }.sorted()), \(survived) connections took all their garbage")
        #expect(closed.values.reduce(0, +) >= 20, "most garbage is a protocol error")
        #expect(closed.count >= 3, "several different error codes: \(closed)")
    }
}
