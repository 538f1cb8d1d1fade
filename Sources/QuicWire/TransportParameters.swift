/// QUIC transport parameters (RFC 9000 §18), with version_information (RFC 9368 §3),
/// max_datagram_frame_size (RFC 9221 §3) and grease_quic_bit (RFC 9287 §3).
///
/// Fields hold the values in effect: a parameter absent on the wire reads as its default.
public struct TransportParameters: Hashable, Sendable {
    /// Parameter IDs (RFC 9000 §18.2 and the extensions above).
    public enum ID: UInt64, Sendable {
        case originalDestinationConnectionID = 0x00
        case maxIdleTimeout = 0x01
        case statelessResetToken = 0x02
        case maxUDPPayloadSize = 0x03
        case initialMaxData = 0x04
        case initialMaxStreamDataBidiLocal = 0x05
        case initialMaxStreamDataBidiRemote = 0x06
        case initialMaxStreamDataUni = 0x07
        case initialMaxStreamsBidi = 0x08
        case initialMaxStreamsUni = 0x09
        case ackDelayExponent = 0x0a
        case maxAckDelay = 0x0b
        case disableActiveMigration = 0x0c
        case preferredAddress = 0x0d
        case activeConnectionIDLimit = 0x0e
        case initialSourceConnectionID = 0x0f
        case retrySourceConnectionID = 0x10
        case versionInformation = 0x11
        case maxDatagramFrameSize = 0x20
        case greaseQuicBit = 0x2ab2
    }

    public var originalDestinationConnectionID: ConnectionID?
    /// Milliseconds; 0 disables the idle timeout.
    public var maxIdleTimeout: UInt64 = 0
    public var statelessResetToken: StatelessResetToken?
    public var maxUDPPayloadSize: UInt64 = 65527
    public var initialMaxData: UInt64 = 0
    public var initialMaxStreamDataBidiLocal: UInt64 = 0
    public var initialMaxStreamDataBidiRemote: UInt64 = 0
    public var initialMaxStreamDataUni: UInt64 = 0
    public var initialMaxStreamsBidi: UInt64 = 0
    public var initialMaxStreamsUni: UInt64 = 0
    public var ackDelayExponent: UInt64 = 3
    /// Milliseconds.
    public var maxAckDelay: UInt64 = 25
    public var disableActiveMigration = false
    public var preferredAddress: PreferredAddress?
    public var activeConnectionIDLimit: UInt64 = 2
    public var initialSourceConnectionID: ConnectionID?
    public var retrySourceConnectionID: ConnectionID?
    public var versionInformation: VersionInformation?
    /// nil: DATAGRAM frames not supported (RFC 9221 §3).
    public var maxDatagramFrameSize: UInt64?
    public var greaseQuicBit = false
    /// A reserved parameter ID (31 * N + 27, §18.1) to send with an empty value, to exercise the
    /// peer's handling of unknown parameters. Never set by decoding.
    public var greaseParameterID: UInt64?

    public init() {}

    /// Version Information (RFC 9368 §3).
    public struct VersionInformation: Hashable, Sendable {
        public var chosenVersion: QuicVersion
        public var availableVersions: [QuicVersion]
        public init(chosenVersion: QuicVersion, availableVersions: [QuicVersion]) {
            self.chosenVersion = chosenVersion
            self.availableVersions = availableVersions
        }
    }

    /// preferred_address (RFC 9000 §18.2).
    public struct PreferredAddress: Hashable, Sendable {
        /// IPv4 address in network byte order and port; zeros mean absent.
        public var ipv4Address: (UInt8, UInt8, UInt8, UInt8)
        public var ipv4Port: UInt16
        public var ipv6Address: [UInt8]
        public var ipv6Port: UInt16
        public var connectionID: ConnectionID
        public var statelessResetToken: StatelessResetToken

        public init(
            ipv4Address: (UInt8, UInt8, UInt8, UInt8), ipv4Port: UInt16, ipv6Address: [UInt8], ipv6Port: UInt16,
            connectionID: ConnectionID, statelessResetToken: StatelessResetToken
        ) {
            precondition(ipv6Address.count == 16)
            self.ipv4Address = ipv4Address
            self.ipv4Port = ipv4Port
            self.ipv6Address = ipv6Address
            self.ipv6Port = ipv6Port
            self.connectionID = connectionID
            self.statelessResetToken = statelessResetToken
        }

        public static func == (lhs: Self, rhs: Self) -> Bool {
            lhs.ipv4Address == rhs.ipv4Address && lhs.ipv4Port == rhs.ipv4Port && lhs.ipv6Address == rhs.ipv6Address
                && lhs.ipv6Port == rhs.ipv6Port && lhs.connectionID == rhs.connectionID
                && lhs.statelessResetToken == rhs.statelessResetToken
        }

        public func hash(into hasher: inout Hasher) {
            hasher.combine(ipv4Address.0)
            hasher.combine(ipv4Address.1)
            hasher.combine(ipv4Address.2)
            hasher.combine(ipv4Address.3)
            hasher.combine(ipv4Port)
            hasher.combine(ipv6Address)
            hasher.combine(ipv6Port)
            hasher.combine(connectionID)
            hasher.combine(statelessResetToken)
        }
    }
}

// MARK: - Encoding

extension TransportParameters {
    /// The encoded parameters, as carried in the TLS quic_transport_parameters extension.
    /// Parameters equal to their default are left out.
    public func encode() -> [UInt8] {
        var out: [UInt8] = []
        func varint(_ value: UInt64) {
            var buffer: (UInt64, UInt64) = (0, 0)
            withUnsafeMutableBytes(of: &buffer) { raw in
                var writer = ByteWriter(raw)
                writer.writeVarInt(value)
                out.append(contentsOf: writer.written)
            }
        }
        func parameter(_ id: UInt64, _ value: [UInt8]) {
            varint(id)
            varint(UInt64(value.count))
            out.append(contentsOf: value)
        }
        func integer(_ id: ID, _ value: UInt64, default defaultValue: UInt64?) {
            guard value != defaultValue else { return }
            varint(id.rawValue)
            varint(UInt64(VarInt.encodedLength(value)))
            varint(value)
        }

        if let id = originalDestinationConnectionID { parameter(ID.originalDestinationConnectionID.rawValue, id.bytes) }
        integer(.maxIdleTimeout, maxIdleTimeout, default: 0)
        if let token = statelessResetToken { parameter(ID.statelessResetToken.rawValue, token.bytes) }
        integer(.maxUDPPayloadSize, maxUDPPayloadSize, default: 65527)
        integer(.initialMaxData, initialMaxData, default: 0)
        integer(.initialMaxStreamDataBidiLocal, initialMaxStreamDataBidiLocal, default: 0)
        integer(.initialMaxStreamDataBidiRemote, initialMaxStreamDataBidiRemote, default: 0)
        integer(.initialMaxStreamDataUni, initialMaxStreamDataUni, default: 0)
        integer(.initialMaxStreamsBidi, initialMaxStreamsBidi, default: 0)
        integer(.initialMaxStreamsUni, initialMaxStreamsUni, default: 0)
        integer(.ackDelayExponent, ackDelayExponent, default: 3)
        integer(.maxAckDelay, maxAckDelay, default: 25)
        if disableActiveMigration { parameter(ID.disableActiveMigration.rawValue, []) }
        if let address = preferredAddress {
            var value: [UInt8] = [address.ipv4Address.0, address.ipv4Address.1, address.ipv4Address.2, address.ipv4Address.3]
            value += [UInt8(address.ipv4Port >> 8), UInt8(address.ipv4Port & 0xff)]
            value += address.ipv6Address
            value += [UInt8(address.ipv6Port >> 8), UInt8(address.ipv6Port & 0xff)]
            value.append(UInt8(address.connectionID.length))
            value += address.connectionID.bytes
            value += address.statelessResetToken.bytes
            parameter(ID.preferredAddress.rawValue, value)
        }
        integer(.activeConnectionIDLimit, activeConnectionIDLimit, default: 2)
        if let id = initialSourceConnectionID { parameter(ID.initialSourceConnectionID.rawValue, id.bytes) }
        if let id = retrySourceConnectionID { parameter(ID.retrySourceConnectionID.rawValue, id.bytes) }
        if let info = versionInformation {
            var value: [UInt8] = []
            for version in [info.chosenVersion] + info.availableVersions {
                value += [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: version.rawValue >> $0) }
            }
            parameter(ID.versionInformation.rawValue, value)
        }
        if let size = maxDatagramFrameSize { integer(.maxDatagramFrameSize, size, default: nil) }
        if greaseQuicBit { parameter(ID.greaseQuicBit.rawValue, []) }
        if let grease = greaseParameterID { parameter(grease, []) }
        return out
    }
}

// MARK: - Decoding

extension TransportParameters {
    /// Decodes the parameters `sender` sent. Malformed values, duplicates and server-only
    /// parameters from a client are TRANSPORT_PARAMETER_ERROR (§7.4, §18.2); unknown and
    /// reserved parameters are skipped (§18.1).
    public static func decode(_ bytes: UnsafeRawBufferPointer, sentBy sender: Role) throws(WireError)
        -> TransportParameters
    {
        func failure(_ reason: WireError.Reason) -> WireError { WireError(.transportParameterError, reason) }
        var reader = ByteReader(bytes)
        var result = TransportParameters()
        var seen = Set<UInt64>()
        do throws(WireError) {
            while !reader.isAtEnd {
                let id = try reader.readVarIntValue()
                let length = try reader.readVarIntValue()
                guard length <= UInt64(reader.remaining) else { throw failure(.lengthPastEnd) }
                let value = try reader.readBytes(Int(length))
                guard seen.insert(id).inserted else { throw failure(.duplicateParameter) }
                guard let known = ID(rawValue: id) else { continue }
                try result.decodeValue(known, value, sender: sender)
            }
        } catch {
            throw WireError(.transportParameterError, error.reason)
        }
        return result
    }

    private mutating func decodeValue(_ id: ID, _ value: UnsafeRawBufferPointer, sender: Role) throws(WireError) {
        func failure(_ reason: WireError.Reason) -> WireError { WireError(.transportParameterError, reason) }
        func integer() throws(WireError) -> UInt64 {
            var reader = ByteReader(value)
            let number = try reader.readVarIntValue()
            guard reader.isAtEnd else { throw failure(.invalidValue) }
            return number
        }
        func connectionID() throws(WireError) -> ConnectionID {
            guard let id = ConnectionID(value) else { throw failure(.invalidConnectionIDLength) }
            return id
        }
        func empty() throws(WireError) {
            guard value.isEmpty else { throw failure(.invalidValue) }
        }
        switch id {
        case .originalDestinationConnectionID, .statelessResetToken, .preferredAddress, .retrySourceConnectionID:
            guard sender == .server else { throw failure(.forbiddenParameter) }
        default:
            break
        }

        switch id {
        case .originalDestinationConnectionID: originalDestinationConnectionID = try connectionID()
        case .maxIdleTimeout: maxIdleTimeout = try integer()
        case .statelessResetToken:
            guard let token = StatelessResetToken(value) else { throw failure(.invalidValue) }
            statelessResetToken = token
        case .maxUDPPayloadSize:
            maxUDPPayloadSize = try integer()
            guard maxUDPPayloadSize >= 1200 else { throw failure(.invalidValue) }
        case .initialMaxData: initialMaxData = try integer()
        case .initialMaxStreamDataBidiLocal: initialMaxStreamDataBidiLocal = try integer()
        case .initialMaxStreamDataBidiRemote: initialMaxStreamDataBidiRemote = try integer()
        case .initialMaxStreamDataUni: initialMaxStreamDataUni = try integer()
        case .initialMaxStreamsBidi:
            initialMaxStreamsBidi = try integer()
            guard initialMaxStreamsBidi <= 1 << 60 else { throw failure(.invalidValue) }
        case .initialMaxStreamsUni:
            initialMaxStreamsUni = try integer()
            guard initialMaxStreamsUni <= 1 << 60 else { throw failure(.invalidValue) }
        case .ackDelayExponent:
            ackDelayExponent = try integer()
            guard ackDelayExponent <= 20 else { throw failure(.invalidValue) }
        case .maxAckDelay:
            maxAckDelay = try integer()
            guard maxAckDelay < 1 << 14 else { throw failure(.invalidValue) }
        case .disableActiveMigration:
            try empty()
            disableActiveMigration = true
        case .preferredAddress:
            var reader = ByteReader(value)
            let v4 = try reader.readBytes(4)
            let v4Port = try reader.readUInt16()
            let v6 = Array(try reader.readBytes(16))
            let v6Port = try reader.readUInt16()
            let cidLength = Int(try reader.readUInt8())
            // A zero-length connection ID is not allowed here (§18.2).
            guard (1...ConnectionID.maxLength).contains(cidLength) else { throw failure(.invalidConnectionIDLength) }
            let cid = try reader.readConnectionID(length: cidLength)
            let token = try reader.readStatelessResetToken()
            guard reader.isAtEnd else { throw failure(.invalidValue) }
            preferredAddress = PreferredAddress(
                ipv4Address: (v4[0], v4[1], v4[2], v4[3]), ipv4Port: v4Port, ipv6Address: v6, ipv6Port: v6Port,
                connectionID: cid, statelessResetToken: token)
        case .activeConnectionIDLimit:
            activeConnectionIDLimit = try integer()
            guard activeConnectionIDLimit >= 2 else { throw failure(.invalidValue) }
        case .initialSourceConnectionID: initialSourceConnectionID = try connectionID()
        case .retrySourceConnectionID: retrySourceConnectionID = try connectionID()
        case .versionInformation:
            // RFC 9368 §4: too short, not a multiple of four, or a zero version is a parse failure.
            guard value.count >= 4, value.count % 4 == 0 else { throw failure(.invalidValue) }
            var reader = ByteReader(value)
            let chosen = QuicVersion(rawValue: try reader.readUInt32())
            var available: [QuicVersion] = []
            while !reader.isAtEnd { available.append(QuicVersion(rawValue: try reader.readUInt32())) }
            guard chosen.rawValue != 0, !available.contains(.negotiation) else { throw failure(.invalidValue) }
            if sender == .client, !available.contains(chosen) { throw failure(.invalidValue) }
            versionInformation = VersionInformation(chosenVersion: chosen, availableVersions: available)
        case .maxDatagramFrameSize: maxDatagramFrameSize = try integer()
        case .greaseQuicBit:
            try empty()
            greaseQuicBit = true
        }
    }

    /// Checks the connection-ID parameters every peer must send (RFC 9000 §7.3): both sides send
    /// initial_source_connection_id; a server also sends original_destination_connection_id.
    public func validatePresence(sentBy sender: Role) throws(WireError) {
        guard initialSourceConnectionID != nil else {
            throw WireError(.transportParameterError, .missingParameter, frameType: nil)
        }
        if sender == .server, originalDestinationConnectionID == nil {
            throw WireError(.transportParameterError, .missingParameter, frameType: nil)
        }
    }
}
