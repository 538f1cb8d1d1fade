import QuicCrypto
import Synchronization

/// A server's session-ticket keys (RFC 8446 §4.6.1, §C.4): tickets are sealed with AES-256-GCM
/// under the newest key and opened with any retained one. Keys rotate every `rotationInterval`;
/// a ticket whose key has been dropped just means a full handshake. The ring also holds the
/// 0-RTT strike register (RFC 8446 §8), so one ring serves all connections of a server.
///
/// Keys are made from `random` inside the process and never leave it: tickets do not survive a
/// restart, and servers behind a load balancer resume only on the node that issued the ticket.
public final class TicketKeyRing: Sendable {
    /// ticket_lifetime in seconds (RFC 8446 §4.6.1 caps it at 604800).
    public let ticketLifetime: UInt32
    /// Milliseconds a key seals new tickets before the next one takes over.
    public let rotationInterval: UInt64
    /// Keys kept for opening, the sealing key included.
    public let retainedKeys: Int
    /// Largest difference, in milliseconds, between the client's view of the ticket age and the
    /// server's for 0-RTT to be accepted (RFC 8446 §8.3).
    public let earlyDataFreshnessWindow: UInt64

    private let random: @Sendable (UnsafeMutableRawBufferPointer) -> Void
    private let state: Mutex<State>

    private struct State {
        var keys: [TicketKey] = []  // newest first
        var strikes: StrikeRegister
    }

    private struct TicketKey {
        let key: SelfSealingKey
        let createdAt: UInt64
        var id: UInt32 { key.id }
    }

    static let headerLength = 12  // key id (4) + counter (8), authenticated, in the clear

    public init(
        ticketLifetime: UInt32 = 86_400, rotationInterval: UInt64 = 6 * 3_600_000, retainedKeys: Int = 5,
        earlyDataFreshnessWindow: UInt64 = 10_000, replayCapacity: Int = 100_000,
        random: @escaping @Sendable (UnsafeMutableRawBufferPointer) -> Void = { secureRandomBytes($0) }
    ) {
        self.ticketLifetime = min(ticketLifetime, NewSessionTicket.maximumLifetime)
        self.rotationInterval = max(1, rotationInterval)
        self.retainedKeys = max(1, retainedKeys)
        self.earlyDataFreshnessWindow = earlyDataFreshnessWindow
        self.random = random
        state = Mutex(State(strikes: StrikeRegister(capacity: replayCapacity)))
    }

    /// Makes a new sealing key now, whatever the age of the current one.
    public func rotate(now: UInt64) {
        state.withLock { state in addKey(&state, now: now) }
    }

    private func addKey(_ state: inout State, now: UInt64) {
        var material = [UInt8](repeating: 0, count: 48)
        var id: UInt32 = 0
        repeat {
            material.withUnsafeMutableBytes { random($0) }
            id =
                UInt32(material[44]) << 24 | UInt32(material[45]) << 16 | UInt32(material[46]) << 8
                | UInt32(material[47])
        } while state.keys.contains { $0.id == id }
        // AES-256-GCM key setup only fails if OpenSSL itself is broken.
        guard let key = (try? SelfSealingKey(id: id, material: material)).map({ TicketKey(key: $0, createdAt: now) }) else {
            preconditionFailure("ticket key setup failed inside OpenSSL")
        }
        state.keys.insert(key, at: 0)
        if state.keys.count > retainedKeys { state.keys.removeLast(state.keys.count - retainedKeys) }
    }

    /// Seals `contents` under the current key, rotating first when it is due.
    func seal(_ contents: [UInt8], now: UInt64) -> (ticket: [UInt8], id: TicketID) {
        state.withLock { state in
            if state.keys.first.map({ now >= $0.createdAt + rotationInterval || now < $0.createdAt }) ?? true {
                addKey(&state, now: now)
            }
            let key = state.keys[0]
            let counter = key.key.nextCounter()
            var writer = TLSWriter()
            writer.writeUInt32(key.id)
            writer.writeUInt64(counter)
            writer.writeBytes(contents)
            writer.writeBytes([UInt8](repeating: 0, count: CipherSuite.tagLength))
            var sealed = writer.bytes
            let header = TicketKeyRing.headerLength
            let tagStart = sealed.count - CipherSuite.tagLength
            sealed.withUnsafeMutableBytes { raw in
                key.key.sealer.seal(
                    packetNumber: counter, associatedData: UnsafeRawBufferPointer(rebasing: raw[..<header]),
                    payload: UnsafeMutableRawBufferPointer(rebasing: raw[header..<tagStart]),
                    tag: raw.baseAddress! + tagStart)
            }
            return (sealed, TicketID(keyID: key.id, counter: counter))
        }
    }

    /// The contents of a ticket this ring sealed; nil for anything else (unknown or dropped key,
    /// altered bytes), which the server simply ignores (RFC 8446 §4.2.11).
    func open(_ ticket: [UInt8]) -> (contents: [UInt8], id: TicketID)? {
        let header = TicketKeyRing.headerLength
        guard ticket.count >= header + CipherSuite.tagLength else { return nil }
        let keyID = UInt32(ticket[0]) << 24 | UInt32(ticket[1]) << 16 | UInt32(ticket[2]) << 8 | UInt32(ticket[3])
        var counter: UInt64 = 0
        for byte in ticket[4..<12] { counter = counter << 8 | UInt64(byte) }
        return state.withLock { state -> (contents: [UInt8], id: TicketID)? in
            guard let key = state.keys.first(where: { $0.id == keyID }) else { return nil }
            var buffer = ticket
            let tagStart = buffer.count - CipherSuite.tagLength
            let opened = buffer.withUnsafeMutableBytes { raw in
                key.key.opener.open(
                    packetNumber: counter, associatedData: UnsafeRawBufferPointer(rebasing: raw[..<header]),
                    payload: UnsafeMutableRawBufferPointer(rebasing: raw[header..<tagStart]),
                    tag: UnsafeRawPointer(raw.baseAddress! + tagStart))
            }
            guard opened else { return nil }
            return (Array(buffer[header..<tagStart]), TicketID(keyID: keyID, counter: counter))
        }
    }

    /// Records that `ticket` carries 0-RTT now; false when it already did (a replay) or the
    /// register is full.
    func admitEarlyData(_ ticket: TicketID, expiresAt: UInt64, now: UInt64) -> Bool {
        state.withLock { $0.strikes.admit(ticket, expiresAt: expiresAt, now: now) }
    }
}
