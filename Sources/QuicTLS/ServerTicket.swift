import QuicCrypto

/// What a server seals into a ticket so it can resume statelessly (RFC 8446 §4.6.1) and decide on
/// 0-RTT (§4.2.10; RFC 9001 §4.6.3): the PSK and its suite, the ticket's timing, the ALPN and the
/// QUIC 0-RTT context the ticket was issued with, and the ticket context (the QUIC version,
/// RFC 9369 §5) it may be used in.
struct ServerTicket {
    /// 2 added `ticketContext`; tickets of version 1 no longer decode, so they cannot resume in a
    /// QUIC version other than the one that issued them.
    static let version: UInt8 = 2

    var suite: CipherSuite
    var psk: [UInt8]
    /// Milliseconds since the epoch.
    var issuedAt: UInt64
    var lifetime: UInt32
    var ageAdd: UInt32
    var allowsEarlyData: Bool
    var alpn: [UInt8]
    var earlyDataContext: [UInt8]
    var ticketContext: [UInt8]

    var expiresAt: UInt64 { issuedAt + UInt64(lifetime) * 1000 }

    func encode() -> [UInt8] {
        var writer = TLSWriter()
        writer.writeUInt8(ServerTicket.version)
        writer.writeUInt16(suite.rawValue)
        writer.writeVector(lengthBytes: 1, psk)
        writer.writeUInt64(issuedAt)
        writer.writeUInt32(lifetime)
        writer.writeUInt32(ageAdd)
        writer.writeUInt8(allowsEarlyData ? 1 : 0)
        writer.writeVector(lengthBytes: 1, alpn)
        writer.writeVector(lengthBytes: 2, earlyDataContext)
        writer.writeVector(lengthBytes: 1, ticketContext)
        return writer.bytes
    }

    /// nil when the bytes are not a ticket of this version (they were authenticated, so only a
    /// format change can cause it).
    static func decode(_ bytes: [UInt8]) -> ServerTicket? {
        var reader = TLSReader(bytes)
        do throws(TLSAlert) {
            guard try reader.readUInt8("version") == version,
                let suite = CipherSuite(rawValue: try reader.readUInt16("suite"))
            else { return nil }
            let psk = try reader.readVector(lengthBytes: 1, "psk")
            let issuedAt = try reader.readInteger(8, "issued at")
            let lifetime = try reader.readUInt32("lifetime")
            let ageAdd = try reader.readUInt32("age add")
            let allowsEarlyData = try reader.readUInt8("early data") == 1
            let alpn = try reader.readVector(lengthBytes: 1, "alpn")
            let context = try reader.readVector(lengthBytes: 2, "early data context")
            let ticketContext = try reader.readVector(lengthBytes: 1, "ticket context")
            try reader.expectEnd("ticket")
            return ServerTicket(
                suite: suite, psk: psk, issuedAt: issuedAt, lifetime: lifetime, ageAdd: ageAdd,
                allowsEarlyData: allowsEarlyData, alpn: alpn, earlyDataContext: context, ticketContext: ticketContext)
        } catch {
            return nil
        }
    }
}
