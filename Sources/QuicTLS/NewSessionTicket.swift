/// NewSessionTicket (RFC 8446 §4.6.1), sent by the server at the 1-RTT level after the handshake.
struct NewSessionTicket {
    /// Seconds; at most 604800 (7 days).
    var lifetime: UInt32
    var ageAdd: UInt32
    var nonce: [UInt8]
    var ticket: [UInt8]
    var extensions: ExtensionBlock

    static let maximumLifetime: UInt32 = 604_800
    /// max_early_data_size as QUIC uses it: only this sentinel is allowed (RFC 9001 §4.6.1).
    static let quicEarlyDataSentinel: UInt32 = 0xffff_ffff

    func encode() -> [UInt8] {
        HandshakeMessage.encode(.newSessionTicket) { writer in
            writer.writeUInt32(lifetime)
            writer.writeUInt32(ageAdd)
            writer.writeVector(lengthBytes: 1, nonce)
            writer.writeVector(lengthBytes: 2, ticket)
            extensions.encode(into: &writer)
        }
    }

    static func decode(_ body: [UInt8]) throws(TLSAlert) -> NewSessionTicket {
        var reader = TLSReader(body)
        let lifetime = try reader.readUInt32("ticket_lifetime")
        let ageAdd = try reader.readUInt32("ticket_age_add")
        let nonce = try reader.readVector(lengthBytes: 1, "ticket_nonce")
        let ticket = try reader.readVector(lengthBytes: 2, min: 1, "ticket")
        let extensions = try ExtensionBlock(reading: &reader, in: "NewSessionTicket")
        try reader.expectEnd("NewSessionTicket")
        guard lifetime <= maximumLifetime else {
            throw .illegalParameter("ticket_lifetime \(lifetime) s exceeds 7 days (RFC 8446 §4.6.1)")
        }
        return NewSessionTicket(
            lifetime: lifetime, ageAdd: ageAdd, nonce: nonce, ticket: ticket, extensions: extensions)
    }

    /// max_early_data_size from the early_data extension, nil when absent.
    func maxEarlyDataSize() throws(TLSAlert) -> UInt32? {
        guard let body = extensions[.earlyData] else { return nil }
        var reader = TLSReader(body)
        let size = try reader.readUInt32("max_early_data_size")
        try reader.expectEnd("early_data")
        return size
    }
}
