@testable import QuicCore
import QuicCrypto
import QuicWire
import Testing

/// A client that breaks the rules gets CONNECTION_CLOSE with the error code RFC 9000 names:
/// the bad frames are sealed with the client's real keys and sent over the simulated network,
/// and the test reads the code the client receives.
@Suite("Rule violations close with the RFC's error code")
struct ProtocolViolationTests {
    func established(seed: UInt64, configure: ((inout ConnectionConfiguration, inout ConnectionConfiguration) -> Void)? = nil) throws -> Pair {
        let pair = Pair(seed: seed, configure: configure)
        try pair.connect()
        #expect(pair.run(for: .seconds(5)) { pair.isConnected && pair.clientConnection?.handshakeConfirmed == true })
        return pair
    }

    struct Violation: Sendable, CustomTestStringConvertible {
        let name: String
        let code: TransportErrorCode
        let payload: @Sendable () -> [UInt8]
        var testDescription: String { name }
    }

    static let violations: [Violation] = [
        Violation(name: "STREAM beyond the stream window", code: .flowControlError) {
            // The server's default stream window is 512 KiB.
            streamFrameBytes(id: 0, offset: (1 << 19) - 10, count: 20)
        },
        Violation(name: "STREAM beyond the stream window on a stream already open", code: .flowControlError) {
            // The first frame opens the stream; the second takes the path for open streams.
            streamFrameBytes(id: 8, offset: 0, count: 10) + streamFrameBytes(id: 8, offset: (1 << 19) - 10, count: 20)
        },
        Violation(name: "STREAM data past the final size on a stream already open", code: .finalSizeError) {
            streamFrameBytes(id: 12, offset: 0, count: 10, fin: true) + streamFrameBytes(id: 12, offset: 10, count: 5)
        },
        Violation(name: "STREAM on a stream beyond MAX_STREAMS", code: .streamLimitError) {
            streamFrameBytes(id: 4 * 128, offset: 0, count: 1)
        },
        Violation(name: "STREAM on the server's own unidirectional stream", code: .streamStateError) {
            streamFrameBytes(id: 3, offset: 0, count: 1)
        },
        Violation(name: "a changed final size", code: .finalSizeError) {
            streamFrameBytes(id: 0, offset: 0, count: 10, fin: true) + streamFrameBytes(id: 0, offset: 0, count: 20, fin: true)
        },
        Violation(name: "RESET_STREAM below data already received", code: .finalSizeError) {
            streamFrameBytes(id: 4, offset: 0, count: 100)
                + frameBytes(.resetStream(ResetStreamFrame(streamID: StreamID(rawValue: 4), applicationErrorCode: 0, finalSize: 50)))
        },
        Violation(name: "an unknown frame type", code: .frameEncodingError) { [0x21] },
        Violation(name: "a truncated PATH_CHALLENGE", code: .frameEncodingError) { [0x1a, 0x01, 0x02] },
        Violation(name: "HANDSHAKE_DONE from a client", code: .protocolViolation) { [0x1e] },
        Violation(name: "NEW_TOKEN from a client", code: .protocolViolation) { [0x07, 0x01, 0xaa] },
        Violation(name: "an ACK for a packet never sent", code: .protocolViolation) {
            frameBytes(.ping) + [0x02, 0x80, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00]
        },
        Violation(name: "CRYPTO data 100 kB ahead", code: .cryptoBufferExceeded) {
            [UInt8](arrayLiteral: 0x06, 0x80, 0x01, 0x86, 0xa0, 0x01, 0x00)
        },
        Violation(name: "more connection IDs than active_connection_id_limit", code: .connectionIDLimitError) {
            // The real client already announced sequences 1-3; these are new ones.
            (10...14).flatMap { sequence in
                frameBytes(.newConnectionID(NewConnectionIDFrame(
                    sequenceNumber: UInt64(sequence), retirePriorTo: 0,
                    connectionID: ConnectionID(bytes: [UInt8](repeating: UInt8(sequence), count: 8))!,
                    statelessResetToken: StatelessResetToken(high: UInt64(sequence), low: 0))))
            }
        },
        Violation(name: "RETIRE_CONNECTION_ID for a sequence never issued", code: .protocolViolation) {
            frameBytes(.retireConnectionID(sequenceNumber: 99))
        },
        Violation(name: "DATAGRAM when the server offered none", code: .protocolViolation) { [0x30, 0x01] },
    ]

    @Test("the server closes, and the client receives the code", arguments: violations)
    func violation(_ violation: Violation) throws {
        let pair = try established(seed: 200)
        pair.injectFromClient(violation.payload())
        let code = pair.serverCloseCodeSeenByClient()
        #expect(code == violation.code.rawValue, "client saw \(code.map { TransportErrorCode(rawValue: $0).description } ?? "nothing")")
        if case .transportError(let serverCode, _, _)? = pair.serverConnection?.closeReason ?? pair.server.handles.first.flatMap({ pair.server.connection($0)?.closeReason }) {
            #expect(serverCode == violation.code)
        }
    }

    @Test("transport parameters that break §7.3 or §18.2 end the handshake with TRANSPORT_PARAMETER_ERROR")
    func badTransportParameters() throws {
        let wrongID: @Sendable (inout TransportParameters) -> Void = { $0.initialSourceConnectionID = ConnectionID(bytes: [9, 9, 9]) }
        let noID: @Sendable (inout TransportParameters) -> Void = { $0.initialSourceConnectionID = nil }
        for (name, edit) in [("a wrong initial_source_connection_id", wrongID), ("no initial_source_connection_id", noID)] {
            let pair = Pair(seed: 300) { client, _ in client.transportParametersOverride = edit }
            try pair.connect()
            pair.run(for: TimeSpan.seconds(5)) { pair.clientEvents.contains { if case .closed = $0 { return true } else { return false } } }
            let received = pair.clientEvents.compactMap { event -> UInt64? in
                if case .closed(.peer(let code, false, _, _)) = event { return code } else { return nil }
            }
            #expect(received == [TransportErrorCode.transportParameterError.rawValue], "\(name): client saw \(pair.clientEvents)")
        }
    }

    @Test("a server whose transport parameters lie about the original destination ID is refused by the client")
    func serverLies() throws {
        let pair = Pair(seed: 301) { _, server in
            server.transportParametersOverride = { $0.originalDestinationConnectionID = ConnectionID(bytes: [1, 2, 3, 4, 5, 6, 7, 8]) }
        }
        try pair.connect()
        pair.run(for: .seconds(5)) { pair.clientConnection?.state == .closing || pair.clientConnection?.state == .closed }
        guard case .transportError(let code, _, _)? = pair.clientConnection?.closeReason else {
            Issue.record("client did not close: \(String(describing: pair.clientConnection?.closeReason))")
            return
        }
        #expect(code == .transportParameterError)
    }
}
