import Glibc
import QuicCrypto
import QuicWire
import Synchronization

/// What a client keeps from a NewSessionTicket (RFC 8446 §4.6.1) together with what QUIC must
/// remember for 0-RTT: the server's transport parameters and the ALPN (RFC 9001 §4.6.1,
/// RFC 9000 §7.4.1), the server name it was issued for (RFC 8446 §4.2.11), and the ticket context
/// of the connection that received it (QUIC: its negotiated version, RFC 9369 §5).
struct ClientTicket: Sendable, Hashable {
    var serverName: String
    var ticket: [UInt8]
    var psk: [UInt8]
    var suite: CipherSuite
    /// Milliseconds since the epoch when the NewSessionTicket arrived.
    var receivedAt: UInt64
    /// Seconds.
    var lifetime: UInt32
    var ageAdd: UInt32
    /// max_early_data_size; nil when the server does not accept 0-RTT with this ticket.
    var maxEarlyDataSize: UInt32?
    var alpn: String
    var transportParameters: [UInt8]
    /// Only a connection with the same ticket context offers this ticket.
    var context: [UInt8]

    /// Usable until its lifetime ends (§4.6.1: never beyond 7 days).
    func isUsable(at now: UInt64) -> Bool {
        now >= receivedAt && now - receivedAt < UInt64(lifetime) * 1000
    }

    /// obfuscated_ticket_age: the age in milliseconds plus ticket_age_add, modulo 2^32 (§4.2.11.1).
    func obfuscatedAge(at now: UInt64) -> UInt32 {
        UInt32(truncatingIfNeeded: now &- receivedAt) &+ ageAdd
    }

    var allowsEarlyData: Bool { maxEarlyDataSize == NewSessionTicket.quicEarlyDataSentinel }

    func encode(into writer: inout TLSWriter) {
        writer.writeVector(lengthBytes: 2, Array(serverName.utf8))
        writer.writeVector(lengthBytes: 2, ticket)
        writer.writeVector(lengthBytes: 1, psk)
        writer.writeUInt16(suite.rawValue)
        writer.writeUInt64(receivedAt)
        writer.writeUInt32(lifetime)
        writer.writeUInt32(ageAdd)
        writer.writeUInt8(maxEarlyDataSize == nil ? 0 : 1)
        writer.writeUInt32(maxEarlyDataSize ?? 0)
        writer.writeVector(lengthBytes: 1, Array(alpn.utf8))
        writer.writeVector(lengthBytes: 2, transportParameters)
        writer.writeVector(lengthBytes: 1, context)
    }

    /// `hasContext`: false for the records of QXDP-TICKETS-1 files, which end before the context;
    /// such a ticket gets an empty one and is only read to be skipped.
    static func decode(_ reader: inout TLSReader, hasContext: Bool = true) throws(TLSAlert) -> ClientTicket {
        let serverName = String(decoding: try reader.readVector(lengthBytes: 2, "server name"), as: UTF8.self)
        let ticket = try reader.readVector(lengthBytes: 2, "ticket")
        let psk = try reader.readVector(lengthBytes: 1, "psk")
        guard let suite = CipherSuite(rawValue: try reader.readUInt16("suite")) else { throw .decodeError("suite") }
        let receivedAt = try reader.readInteger(8, "received at")
        let lifetime = try reader.readUInt32("lifetime")
        let ageAdd = try reader.readUInt32("age add")
        let hasEarlyData = try reader.readUInt8("early data flag") == 1
        let maxEarlyData = try reader.readUInt32("max early data")
        let alpn = String(decoding: try reader.readVector(lengthBytes: 1, "alpn"), as: UTF8.self)
        let parameters = try reader.readVector(lengthBytes: 2, "transport parameters")
        let context = hasContext ? try reader.readVector(lengthBytes: 1, "ticket context") : []
        return ClientTicket(
            serverName: serverName, ticket: ticket, psk: psk, suite: suite, receivedAt: receivedAt, lifetime: lifetime,
            ageAdd: ageAdd, maxEarlyDataSize: hasEarlyData ? maxEarlyData : nil, alpn: alpn,
            transportParameters: parameters, context: context)
    }
}

/// An address-validation token from a NEW_TOKEN frame (RFC 9000 §8.1.3, §19.7), for the next
/// connection to the same server in the same QUIC version (RFC 9369 §5).
struct ClientAddressToken: Sendable, Hashable {
    var serverName: String
    var version: QuicVersion
    var token: [UInt8]
    /// Milliseconds since the epoch when the NEW_TOKEN frame arrived.
    var receivedAt: UInt64

    /// Kept at most a week, like a ticket: the client cannot know the server's token lifetime.
    func isUsable(at now: UInt64) -> Bool { now >= receivedAt && now - receivedAt < 7 * 86_400_000 }

    func encode(into writer: inout TLSWriter) {
        writer.writeVector(lengthBytes: 2, Array(serverName.utf8))
        writer.writeUInt32(version.rawValue)
        writer.writeUInt64(receivedAt)
        writer.writeVector(lengthBytes: 2, token)
    }

    static func decode(_ reader: inout TLSReader) throws(TLSAlert) -> ClientAddressToken {
        let serverName = String(decoding: try reader.readVector(lengthBytes: 2, "server name"), as: UTF8.self)
        let version = QuicVersion(rawValue: try reader.readUInt32("version"))
        let receivedAt = try reader.readInteger(8, "received at")
        let token = try reader.readVector(lengthBytes: 2, "token")
        return ClientAddressToken(serverName: serverName, version: version, token: token, receivedAt: receivedAt)
    }
}

/// A client's session tickets by server name, and the address-validation tokens its servers
/// gave in NEW_TOKEN frames. Each ticket and token is used once (RFC 9001 §4.5, RFC 8446 §C.4,
/// RFC 9000 §8.1.3: reuse lets observers link connections). Kept in memory, or also in a file so
/// a command-line tool can resume across runs: the file is rewritten (mode 0600, atomically by
/// rename) after every change, and read once when the store is made. A missing or unreadable file
/// starts an empty store; a failed write is reported through `lastWriteError`. The tokens follow
/// the tickets in the file, so a reader that knows only tickets still reads the file.
///
/// File format: "QXDP-TICKETS-2", then the tickets, each ending with its ticket context, then the
/// tokens. A "QXDP-TICKETS-1" file (written before tickets had a context) still loads, without its
/// tickets: nothing says which QUIC version issued them (RFC 9369 §5); its tokens are kept.
public final class SessionTicketStore: Sendable {
    public let capacityPerServer: Int
    public let filePath: String?
    private let contents: Mutex<Contents>
    private let writeError = Mutex<String?>(nil)

    private struct Contents {
        var tickets: [String: [ClientTicket]] = [:]
        var tokens: [String: [ClientAddressToken]] = [:]
    }

    private static let fileMagic: [UInt8] = Array("QXDP-TICKETS-2".utf8)
    /// Tickets without a context; read only for the tokens after them.
    private static let contextlessFileMagic: [UInt8] = Array("QXDP-TICKETS-1".utf8)

    /// An in-memory store keeping at most `capacityPerServer` tickets per server name.
    public init(capacityPerServer: Int = 4) {
        self.capacityPerServer = max(1, capacityPerServer)
        filePath = nil
        contents = Mutex(Contents())
    }

    /// A store backed by the file at `filePath`, loading the tickets already there.
    public init(filePath: String, capacityPerServer: Int = 4) {
        self.capacityPerServer = max(1, capacityPerServer)
        self.filePath = filePath
        contents = Mutex(SessionTicketStore.load(filePath))
    }

    /// Tickets held, across all servers.
    public var count: Int { contents.withLock { $0.tickets.values.reduce(0) { $0 + $1.count } } }

    /// Address-validation tokens held, across all servers.
    public var addressTokenCount: Int { contents.withLock { $0.tokens.values.reduce(0) { $0 + $1.count } } }

    /// The reason the last file write failed, nil after a successful one.
    public var lastWriteError: String? { writeError.withLock { $0 } }

    public func removeAll() {
        contents.withLock { contents in
            contents = Contents()
            persist(contents)
        }
    }

    func insert(_ ticket: ClientTicket, now: UInt64) {
        contents.withLock { contents in
            var list = (contents.tickets[ticket.serverName] ?? []).filter { $0.isUsable(at: now) }
            list.append(ticket)
            if list.count > capacityPerServer { list.removeFirst(list.count - capacityPerServer) }
            contents.tickets[ticket.serverName] = list
            persist(contents)
        }
    }

    /// Removes and returns the newest usable ticket for `serverName` received in `context`,
    /// dropping expired ones. Tickets of other contexts stay (RFC 9369 §5: a v1 ticket waits for
    /// the next v1 connection).
    func take(serverName: String, context: [UInt8], now: UInt64) -> ClientTicket? {
        contents.withLock { contents in
            guard var list = contents.tickets[serverName] else { return nil }
            list.removeAll { !$0.isUsable(at: now) }
            let index = list.lastIndex { $0.context == context }
            let ticket = index.map { list.remove(at: $0) }
            contents.tickets[serverName] = list.isEmpty ? nil : list
            persist(contents)
            return ticket
        }
    }

    /// Keeps a token from a NEW_TOKEN frame of a `version` connection to `serverName`
    /// (`now`: milliseconds since the epoch). A token already held is not added twice
    /// (RFC 9000 §19.7: a NEW_TOKEN frame may arrive again after a spurious loss).
    public func insertAddressToken(_ token: [UInt8], serverName: String, version: QuicVersion, now: UInt64) {
        guard !token.isEmpty else { return }
        contents.withLock { contents in
            var list = (contents.tokens[serverName] ?? []).filter { $0.isUsable(at: now) }
            guard !list.contains(where: { $0.token == token }) else { return }
            list.append(ClientAddressToken(serverName: serverName, version: version, token: token, receivedAt: now))
            if list.count > capacityPerServer { list.removeFirst(list.count - capacityPerServer) }
            contents.tokens[serverName] = list
            persist(contents)
        }
    }

    /// Removes and returns the newest usable token for a `version` connection to `serverName`
    /// (RFC 9000 §8.1.3: the most recent unused token; RFC 9369 §5: only from the same version).
    public func takeAddressToken(serverName: String, version: QuicVersion, now: UInt64) -> [UInt8]? {
        contents.withLock { contents in
            guard var list = contents.tokens[serverName] else { return nil }
            list.removeAll { !$0.isUsable(at: now) }
            let index = list.lastIndex { $0.version == version }
            let token = index.map { list.remove(at: $0).token }
            contents.tokens[serverName] = list.isEmpty ? nil : list
            persist(contents)
            return token
        }
    }

    private func persist(_ contents: Contents) {
        guard let filePath else { return }
        var writer = TLSWriter()
        writer.writeBytes(SessionTicketStore.fileMagic)
        let tickets = contents.tickets.keys.sorted().flatMap { contents.tickets[$0] ?? [] }
        writer.writeUInt32(UInt32(tickets.count))
        for ticket in tickets { ticket.encode(into: &writer) }
        let tokens = contents.tokens.keys.sorted().flatMap { contents.tokens[$0] ?? [] }
        writer.writeUInt32(UInt32(tokens.count))
        for token in tokens { token.encode(into: &writer) }
        let error = SessionTicketStore.writeAtomically(writer.bytes, to: filePath)
        writeError.withLock { $0 = error }
    }

    private static func load(_ path: String) -> Contents {
        guard let bytes = readWholeFile(path) else { return Contents() }
        let hasContext: Bool
        if bytes.starts(with: fileMagic) {
            hasContext = true
        } else if bytes.starts(with: contextlessFileMagic) {
            hasContext = false
        } else {
            return Contents()
        }
        // Both magics are the same length.
        var reader = TLSReader(Array(bytes.dropFirst(fileMagic.count)))
        var contents = Contents()
        do throws(TLSAlert) {
            let count = try reader.readUInt32("count")
            for _ in 0..<count {
                let ticket = try ClientTicket.decode(&reader, hasContext: hasContext)
                if hasContext { contents.tickets[ticket.serverName, default: []].append(ticket) }
            }
            // Files written before tokens were kept end here.
            guard !reader.isAtEnd else { return contents }
            let tokenCount = try reader.readUInt32("token count")
            for _ in 0..<tokenCount {
                let token = try ClientAddressToken.decode(&reader)
                contents.tokens[token.serverName, default: []].append(token)
            }
        } catch {
            return Contents()
        }
        return contents
    }

    private static func readWholeFile(_ path: String) -> [UInt8]? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var contents: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = read(descriptor, &chunk, chunk.count)
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { return nil }
            if count == 0 { return contents }
            contents += chunk[..<count]
            if contents.count > 16 << 20 { return nil }
        }
    }

    /// Writes to a temporary file beside `path` and renames it over `path`; the error text, or nil.
    private static func writeAtomically(_ bytes: [UInt8], to path: String) -> String? {
        let temporary = path + ".tmp"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { return "cannot create \(temporary): \(String(cString: strerror(errno)))" }
        var written = 0
        while written < bytes.count {
            let count = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress! + written, bytes.count - written) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else {
                let message = String(cString: strerror(errno))
                close(descriptor)
                unlink(temporary)
                return "cannot write \(temporary): \(message)"
            }
            written += count
        }
        close(descriptor)
        guard rename(temporary, path) == 0 else {
            let message = String(cString: strerror(errno))
            unlink(temporary)
            return "cannot rename \(temporary) to \(path): \(message)"
        }
        return nil
    }
}
