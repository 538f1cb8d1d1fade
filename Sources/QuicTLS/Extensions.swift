/// Extension code points (RFC 8446 §4.2; RFC 9001 §8.2 for quic_transport_parameters).
struct ExtensionType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    var rawValue: UInt16
    init(rawValue: UInt16) { self.rawValue = rawValue }

    static let serverName = ExtensionType(rawValue: 0)
    static let maxFragmentLength = ExtensionType(rawValue: 1)
    static let statusRequest = ExtensionType(rawValue: 5)
    static let supportedGroups = ExtensionType(rawValue: 10)
    static let signatureAlgorithms = ExtensionType(rawValue: 13)
    static let useSRTP = ExtensionType(rawValue: 14)
    static let heartbeat = ExtensionType(rawValue: 15)
    static let applicationLayerProtocolNegotiation = ExtensionType(rawValue: 16)
    static let signedCertificateTimestamp = ExtensionType(rawValue: 18)
    static let clientCertificateType = ExtensionType(rawValue: 19)
    static let serverCertificateType = ExtensionType(rawValue: 20)
    static let padding = ExtensionType(rawValue: 21)
    static let preSharedKey = ExtensionType(rawValue: 41)
    static let earlyData = ExtensionType(rawValue: 42)
    static let supportedVersions = ExtensionType(rawValue: 43)
    static let cookie = ExtensionType(rawValue: 44)
    static let pskKeyExchangeModes = ExtensionType(rawValue: 45)
    static let certificateAuthorities = ExtensionType(rawValue: 47)
    static let oidFilters = ExtensionType(rawValue: 48)
    static let postHandshakeAuth = ExtensionType(rawValue: 49)
    static let signatureAlgorithmsCert = ExtensionType(rawValue: 50)
    static let keyShare = ExtensionType(rawValue: 51)
    /// The same code point for QUIC v1 and v2 (RFC 9001 §8.2, RFC 9369).
    static let quicTransportParameters = ExtensionType(rawValue: 0x39)

    /// The messages a known extension may appear in (the table of RFC 8446 §4.2, plus RFC 9001
    /// §8.2); nil for extensions this implementation does not know.
    var permittedIn: MessageContext? {
        switch self {
        case .serverName, .maxFragmentLength, .supportedGroups, .useSRTP, .heartbeat,
            .applicationLayerProtocolNegotiation, .clientCertificateType, .serverCertificateType,
            .quicTransportParameters:
            return [.clientHello, .encryptedExtensions]
        case .statusRequest, .signedCertificateTimestamp: return [.clientHello, .certificateRequest, .certificate]
        case .signatureAlgorithms, .certificateAuthorities, .signatureAlgorithmsCert:
            return [.clientHello, .certificateRequest]
        case .padding, .pskKeyExchangeModes, .postHandshakeAuth: return [.clientHello]
        case .preSharedKey: return [.clientHello, .serverHello]
        case .earlyData: return [.clientHello, .encryptedExtensions, .newSessionTicket]
        case .cookie: return [.clientHello, .helloRetryRequest]
        case .supportedVersions, .keyShare: return [.clientHello, .serverHello, .helloRetryRequest]
        case .oidFilters: return [.certificateRequest]
        default: return nil
        }
    }

    var description: String {
        switch self {
        case .serverName: return "server_name"
        case .supportedGroups: return "supported_groups"
        case .signatureAlgorithms: return "signature_algorithms"
        case .applicationLayerProtocolNegotiation: return "application_layer_protocol_negotiation"
        case .preSharedKey: return "pre_shared_key"
        case .earlyData: return "early_data"
        case .supportedVersions: return "supported_versions"
        case .cookie: return "cookie"
        case .pskKeyExchangeModes: return "psk_key_exchange_modes"
        case .keyShare: return "key_share"
        case .quicTransportParameters: return "quic_transport_parameters"
        default: return "extension \(rawValue)"
        }
    }
}

/// The messages of RFC 8446 §4.2's table, as a set.
struct MessageContext: OptionSet, Sendable {
    let rawValue: UInt8
    static let clientHello = MessageContext(rawValue: 1 << 0)
    static let serverHello = MessageContext(rawValue: 1 << 1)
    static let encryptedExtensions = MessageContext(rawValue: 1 << 2)
    static let certificate = MessageContext(rawValue: 1 << 3)
    static let certificateRequest = MessageContext(rawValue: 1 << 4)
    static let newSessionTicket = MessageContext(rawValue: 1 << 5)
    static let helloRetryRequest = MessageContext(rawValue: 1 << 6)
}

/// An extensions block (RFC 8446 §4.2), in wire order, without duplicates.
struct ExtensionBlock {
    var entries: [(type: ExtensionType, body: [UInt8])] = []

    init() {}

    /// Reads `Extension extensions<minLength..2^16-1>`. A repeated type is refused with
    /// illegal_parameter: well-formed but forbidden by RFC 8446 §4.2 ("There MUST NOT be more
    /// than one extension of the same type").
    init(reading reader: inout TLSReader, minLength: Int = 0, in message: String) throws(TLSAlert) {
        var list = try reader.readSubReader(lengthBytes: 2, min: minLength, "extensions of \(message)")
        var seen = Set<UInt16>()
        while !list.isAtEnd {
            let type = ExtensionType(rawValue: try list.readUInt16("extension type in \(message)"))
            let body = try list.readVector(lengthBytes: 2, "\(type) in \(message)")
            guard seen.insert(type.rawValue).inserted else {
                throw .illegalParameter("\(message) carries \(type) twice")
            }
            entries.append((type, body))
        }
    }

    subscript(type: ExtensionType) -> [UInt8]? { entries.first { $0.type == type }?.body }

    func contains(_ type: ExtensionType) -> Bool { entries.contains { $0.type == type } }

    var types: [ExtensionType] { entries.map(\.type) }

    mutating func append(_ type: ExtensionType, _ body: [UInt8]) { entries.append((type, body)) }

    mutating func remove(_ type: ExtensionType) { entries.removeAll { $0.type == type } }

    mutating func append(_ type: ExtensionType, _ write: (inout TLSWriter) -> Void) {
        var writer = TLSWriter()
        write(&writer)
        entries.append((type, writer.bytes))
    }

    func encode(into writer: inout TLSWriter) {
        writer.writeVector(lengthBytes: 2) { list in
            for (type, body) in entries {
                list.writeUInt16(type.rawValue)
                list.writeVector(lengthBytes: 2, body)
            }
        }
    }

    /// Applies RFC 8446 §4.2's rules to a received block: a known extension outside the messages
    /// it is defined for is illegal_parameter; in a response (`requested` non-nil) any extension
    /// the request did not carry is unsupported_extension, except cookie in a HelloRetryRequest.
    /// Unknown extensions in ClientHello, CertificateRequest and NewSessionTicket are ignored.
    func validate(in context: MessageContext, name: String, requested: Set<ExtensionType>?) throws(TLSAlert) {
        for type in types {
            if let permitted = type.permittedIn, !permitted.contains(context) {
                throw .illegalParameter("\(type) is not allowed in \(name)")
            }
            guard let requested else { continue }
            if type == .cookie && context == .helloRetryRequest { continue }
            guard requested.contains(type) else {
                throw TLSAlert(.unsupportedExtension, "\(name) carries \(type), which was not requested")
            }
        }
    }
}

/// TLS protocol version code points (RFC 8446 §4.2.1).
enum ProtocolVersion {
    static let tls12: UInt16 = 0x0303
    static let tls13: UInt16 = 0x0304
}

/// psk_key_exchange_modes values (RFC 8446 §4.2.9).
enum PSKKeyExchangeMode {
    static let pskKE: UInt8 = 0
    static let pskDHEKE: UInt8 = 1
}

/// Typed codecs for the extension bodies this implementation sends and reads.
enum ExtensionCodec {
    // MARK: supported_versions (RFC 8446 §4.2.1)

    static func decodeSupportedVersionsList(_ body: [UInt8]) throws(TLSAlert) -> [UInt16] {
        var reader = TLSReader(body)
        var list = try reader.readSubReader(lengthBytes: 1, min: 2, max: 254, "supported_versions")
        try reader.expectEnd("supported_versions")
        guard list.remaining % 2 == 0 else { throw .decodeError("supported_versions has an odd length") }
        var versions: [UInt16] = []
        while !list.isAtEnd { versions.append(try list.readUInt16("version")) }
        return versions
    }

    static func decodeSelectedVersion(_ body: [UInt8]) throws(TLSAlert) -> UInt16 {
        var reader = TLSReader(body)
        let version = try reader.readUInt16("selected_version")
        try reader.expectEnd("supported_versions")
        return version
    }

    // MARK: lists of uint16 (supported_groups §4.2.7, signature_algorithms §4.2.3)

    static func encodeUInt16List(_ values: [UInt16]) -> [UInt8] {
        var writer = TLSWriter()
        writer.writeVector(lengthBytes: 2) { for value in values { $0.writeUInt16(value) } }
        return writer.bytes
    }

    static func decodeUInt16List(_ body: [UInt8], _ what: String) throws(TLSAlert) -> [UInt16] {
        var reader = TLSReader(body)
        var list = try reader.readSubReader(lengthBytes: 2, min: 2, what)
        try reader.expectEnd(what)
        guard list.remaining % 2 == 0 else { throw .decodeError("\(what) has an odd length") }
        var values: [UInt16] = []
        while !list.isAtEnd { values.append(try list.readUInt16(what)) }
        return values
    }

    // MARK: key_share (RFC 8446 §4.2.8)

    struct KeyShareEntry {
        var group: UInt16
        var keyExchange: [UInt8]
    }

    static func encodeKeyShareEntry(_ entry: KeyShareEntry, into writer: inout TLSWriter) {
        writer.writeUInt16(entry.group)
        writer.writeVector(lengthBytes: 2, entry.keyExchange)
    }

    static func decodeKeyShareEntry(_ reader: inout TLSReader) throws(TLSAlert) -> KeyShareEntry {
        let group = try reader.readUInt16("key share group")
        let keyExchange = try reader.readVector(lengthBytes: 2, min: 1, "key_exchange")
        return KeyShareEntry(group: group, keyExchange: keyExchange)
    }

    static func decodeClientShares(_ body: [UInt8]) throws(TLSAlert) -> [KeyShareEntry] {
        var reader = TLSReader(body)
        var list = try reader.readSubReader(lengthBytes: 2, "client_shares")
        try reader.expectEnd("key_share")
        var entries: [KeyShareEntry] = []
        while !list.isAtEnd { entries.append(try decodeKeyShareEntry(&list)) }
        return entries
    }

    static func decodeServerShare(_ body: [UInt8]) throws(TLSAlert) -> KeyShareEntry {
        var reader = TLSReader(body)
        let entry = try decodeKeyShareEntry(&reader)
        try reader.expectEnd("key_share")
        return entry
    }

    // MARK: application_layer_protocol_negotiation (RFC 7301 §3.1)

    static func encodeProtocolNames(_ names: [String]) -> [UInt8] {
        var writer = TLSWriter()
        writer.writeVector(lengthBytes: 2) { list in
            for name in names { list.writeVector(lengthBytes: 1, Array(name.utf8)) }
        }
        return writer.bytes
    }

    static func decodeProtocolNames(_ body: [UInt8]) throws(TLSAlert) -> [[UInt8]] {
        var reader = TLSReader(body)
        var list = try reader.readSubReader(lengthBytes: 2, min: 2, "protocol_name_list")
        try reader.expectEnd("application_layer_protocol_negotiation")
        var names: [[UInt8]] = []
        while !list.isAtEnd { names.append(try list.readVector(lengthBytes: 1, min: 1, "ProtocolName")) }
        return names
    }

    // MARK: server_name (RFC 6066 §3)

    static func encodeServerName(_ name: String) -> [UInt8] {
        var writer = TLSWriter()
        writer.writeVector(lengthBytes: 2) { list in
            list.writeUInt8(0)  // host_name
            list.writeVector(lengthBytes: 2, Array(name.utf8))
        }
        return writer.bytes
    }

    /// The host_name entry, if any.
    static func decodeServerName(_ body: [UInt8]) throws(TLSAlert) -> [UInt8]? {
        var reader = TLSReader(body)
        var list = try reader.readSubReader(lengthBytes: 2, min: 1, "server_name_list")
        try reader.expectEnd("server_name")
        var hostName: [UInt8]?
        while !list.isAtEnd {
            let type = try list.readUInt8("name_type")
            let name = try list.readVector(lengthBytes: 2, min: 1, "HostName")
            if type == 0 {
                guard hostName == nil else { throw .illegalParameter("server_name carries two host names") }
                hostName = name
            }
        }
        return hostName
    }

    // MARK: pre_shared_key (RFC 8446 §4.2.11)

    struct OfferedPSKs {
        var identities: [(identity: [UInt8], obfuscatedTicketAge: UInt32)]
        var binders: [[UInt8]]
        /// Size of the binders list including its length prefix: what Truncate() removes from the
        /// end of the ClientHello (§4.2.11.2).
        var bindersLength: Int
    }

    static func decodeOfferedPSKs(_ body: [UInt8]) throws(TLSAlert) -> OfferedPSKs {
        var reader = TLSReader(body)
        var identityList = try reader.readSubReader(lengthBytes: 2, min: 7, "PSK identities")
        var identities: [(identity: [UInt8], obfuscatedTicketAge: UInt32)] = []
        while !identityList.isAtEnd {
            let identity = try identityList.readVector(lengthBytes: 2, min: 1, "PSK identity")
            identities.append((identity, try identityList.readUInt32("obfuscated_ticket_age")))
        }
        let bindersLength = reader.remaining
        var binderList = try reader.readSubReader(lengthBytes: 2, min: 33, "PSK binders")
        try reader.expectEnd("pre_shared_key")
        var binders: [[UInt8]] = []
        while !binderList.isAtEnd { binders.append(try binderList.readVector(lengthBytes: 1, min: 32, "PSK binder")) }
        return OfferedPSKs(identities: identities, binders: binders, bindersLength: bindersLength)
    }

    static func decodeSelectedIdentity(_ body: [UInt8]) throws(TLSAlert) -> UInt16 {
        var reader = TLSReader(body)
        let index = try reader.readUInt16("selected_identity")
        try reader.expectEnd("pre_shared_key")
        return index
    }

    static func expectEmpty(_ body: [UInt8], _ what: String) throws(TLSAlert) {
        guard body.isEmpty else { throw .decodeError("\(what) must be empty here, has \(body.count) bytes") }
    }
}
