import QuicWire
import Testing

@Suite("Transport parameters (RFC 9000 §18, RFC 9368 §3, RFC 9221 §3, RFC 9287 §3)")
struct TransportParametersTests {
    static func everything() -> TransportParameters {
        var parameters = TransportParameters()
        parameters.originalDestinationConnectionID = ConnectionID(bytes: [1, 2, 3, 4, 5, 6, 7, 8])
        parameters.maxIdleTimeout = 30_000
        parameters.statelessResetToken = StatelessResetToken(high: 0x0102_0304_0506_0708, low: 0x090a_0b0c_0d0e_0f10)
        parameters.maxUDPPayloadSize = 1472
        parameters.initialMaxData = 1 << 24
        parameters.initialMaxStreamDataBidiLocal = 1 << 20
        parameters.initialMaxStreamDataBidiRemote = 1 << 21
        parameters.initialMaxStreamDataUni = 1 << 19
        parameters.initialMaxStreamsBidi = 100
        parameters.initialMaxStreamsUni = 3
        parameters.ackDelayExponent = 8
        parameters.maxAckDelay = 40
        parameters.disableActiveMigration = true
        parameters.preferredAddress = TransportParameters.PreferredAddress(
            ipv4Address: (10, 0, 0, 1), ipv4Port: 4433, ipv6Address: Array(0..<16), ipv6Port: 4434,
            connectionID: ConnectionID(bytes: [9, 9, 9, 9])!, statelessResetToken: StatelessResetToken(high: 1, low: 2))
        parameters.activeConnectionIDLimit = 8
        parameters.initialSourceConnectionID = ConnectionID(bytes: [0xaa, 0xbb])
        parameters.retrySourceConnectionID = ConnectionID(bytes: [0xcc])
        parameters.versionInformation = .init(chosenVersion: .v2, availableVersions: [.v2, .v1])
        parameters.maxDatagramFrameSize = 65535
        parameters.greaseQuicBit = true
        return parameters
    }

    func decode(_ bytes: [UInt8], sentBy role: Role) throws(WireError) -> TransportParameters {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(WireError) -> TransportParameters in try TransportParameters.decode(raw, sentBy: role) }
        }
        return try result.get()
    }

    @Test("every parameter round-trips")
    func roundTrip() throws {
        let parameters = Self.everything()
        #expect(try decode(parameters.encode(), sentBy: .server) == parameters)
        // Defaults are left off the wire and read back as defaults.
        #expect(TransportParameters().encode().isEmpty)
        #expect(try decode([], sentBy: .client) == TransportParameters())
    }

    @Test("unknown and reserved parameters are skipped")
    func unknownSkipped() throws {
        var parameters = TransportParameters()
        parameters.initialMaxData = 1000
        parameters.greaseParameterID = 31 * 7 + 27
        var bytes = parameters.encode()
        bytes += [0x40, 0x99, 0x03, 0x01, 0x02, 0x03]  // unknown 0x99 with 3 bytes of value
        var expected = parameters
        expected.greaseParameterID = nil
        #expect(try decode(bytes, sentBy: .client) == expected)
    }

    struct BadCase: Sendable, CustomTestStringConvertible {
        let name: String
        let bytes: [UInt8]
        let sender: Role
        let reason: WireError.Reason
        var testDescription: String { name }
    }

    static let badCases: [BadCase] = [
        BadCase(name: "duplicate initial_max_data", bytes: [0x04, 0x01, 0x05, 0x04, 0x01, 0x06], sender: .client, reason: .duplicateParameter),
        BadCase(name: "duplicate unknown parameter", bytes: [0x3f, 0x00, 0x3f, 0x00], sender: .client, reason: .duplicateParameter),
        BadCase(name: "original_destination_connection_id from a client", bytes: [0x00, 0x01, 0x01], sender: .client, reason: .forbiddenParameter),
        BadCase(name: "stateless_reset_token from a client", bytes: [0x02, 0x10] + Array(repeating: 1, count: 16), sender: .client, reason: .forbiddenParameter),
        BadCase(name: "preferred_address from a client", bytes: [0x0d, 0x00], sender: .client, reason: .forbiddenParameter),
        BadCase(name: "retry_source_connection_id from a client", bytes: [0x10, 0x00], sender: .client, reason: .forbiddenParameter),
        BadCase(name: "max_udp_payload_size 1199", bytes: [0x03, 0x02, 0x44, 0xaf], sender: .server, reason: .invalidValue),
        BadCase(name: "ack_delay_exponent 21", bytes: [0x0a, 0x01, 21], sender: .server, reason: .invalidValue),
        BadCase(name: "max_ack_delay 2^14", bytes: [0x0b, 0x04, 0x80, 0x00, 0x40, 0x00], sender: .server, reason: .invalidValue),
        BadCase(name: "active_connection_id_limit 1", bytes: [0x0e, 0x01, 0x01], sender: .server, reason: .invalidValue),
        BadCase(name: "initial_max_streams_bidi above 2^60", bytes: [0x08, 0x08, 0xd0, 0, 0, 0, 0, 0, 0, 1], sender: .server, reason: .invalidValue),
        BadCase(name: "integer with trailing bytes", bytes: [0x04, 0x02, 0x05, 0x00], sender: .server, reason: .invalidValue),
        BadCase(name: "integer value truncated", bytes: [0x04, 0x01, 0x40], sender: .server, reason: .truncated),
        BadCase(name: "stateless_reset_token of 15 bytes", bytes: [0x02, 0x0f] + Array(repeating: 1, count: 15), sender: .server, reason: .invalidValue),
        BadCase(name: "disable_active_migration with a value", bytes: [0x0c, 0x01, 0x00], sender: .server, reason: .invalidValue),
        BadCase(name: "grease_quic_bit with a value", bytes: [0x80, 0x00, 0x2a, 0xb2, 0x01, 0x00], sender: .server, reason: .invalidValue),
        BadCase(name: "initial_source_connection_id of 21 bytes", bytes: [0x0f, 0x15] + Array(repeating: 1, count: 21), sender: .server, reason: .invalidConnectionIDLength),
        BadCase(name: "preferred_address with an empty CID", bytes: [0x0d, 41] + Array(repeating: 0, count: 24) + [0x00] + Array(repeating: 0, count: 16), sender: .server, reason: .invalidConnectionIDLength),
        BadCase(name: "preferred_address cut short", bytes: [0x0d, 0x05, 1, 2, 3, 4, 5], sender: .server, reason: .truncated),
        BadCase(name: "version_information of 6 bytes", bytes: [0x11, 0x06, 0, 0, 0, 1, 0, 0], sender: .server, reason: .invalidValue),
        BadCase(name: "version_information choosing version 0", bytes: [0x11, 0x04, 0, 0, 0, 0], sender: .server, reason: .invalidValue),
        BadCase(name: "client version_information whose chosen version is not available", bytes: [0x11, 0x08, 0, 0, 0, 1, 0x6b, 0x33, 0x43, 0xcf], sender: .client, reason: .invalidValue),
        BadCase(name: "parameter length past end", bytes: [0x04, 0x09, 0x01], sender: .server, reason: .lengthPastEnd),
        BadCase(name: "truncated parameter id", bytes: [0x80, 0x00], sender: .server, reason: .truncated),
    ]

    @Test("malformed parameters are TRANSPORT_PARAMETER_ERROR", arguments: badCases)
    func malformed(_ testCase: BadCase) {
        do {
            let parameters = try decode(testCase.bytes, sentBy: testCase.sender)
            Issue.record("decoded \(parameters) instead of failing")
        } catch {
            #expect(error.code == .transportParameterError)
            #expect(error.reason == testCase.reason)
        }
    }

    @Test("presence rules: both sides send initial_source_connection_id; a server also the original DCID")
    func presence() throws {
        var client = TransportParameters()
        #expect(throws: WireError.self) { try client.validatePresence(sentBy: .client) }
        client.initialSourceConnectionID = ConnectionID(bytes: [1])
        try client.validatePresence(sentBy: .client)
        var server = client
        #expect(throws: WireError.self) { try server.validatePresence(sentBy: .server) }
        server.originalDestinationConnectionID = ConnectionID(bytes: [2])
        try server.validatePresence(sentBy: .server)
    }
}
