@testable import QuicCore
import QuicTLS
import QuicWire
import Testing

@Suite("Handshake over the simulated network")
struct HandshakeTests {
    @Test("client and server complete the handshake and confirm it")
    func basicHandshake() throws {
        let pair = Pair(seed: 1)
        try pair.connect()
        #expect(pair.run(for: .seconds(5)) { pair.isConnected && pair.clientConnection?.handshakeConfirmed == true })
        let client = try #require(pair.clientConnection)
        let server = try #require(pair.serverConnection)
        #expect(client.alpn == "test")
        #expect(server.alpn == "test")
        #expect(client.state == .established)
        #expect(server.handshakeConfirmed)
        // 10 ms each way: one round trip for the handshake plus a little.
        #expect(client.smoothedRTT > .milliseconds(15) && client.smoothedRTT < .milliseconds(40))
    }
}
