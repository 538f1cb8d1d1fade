import QuicCrypto
import QuicWire
import Synchronization

/// When a server asks a client to prove its address with a Retry before committing any state
/// (RFC 9000 §8.1.2). A client that brings a valid token from a NEW_TOKEN frame is not retried.
public enum RetryPolicy: Sendable, Equatable, CustomStringConvertible {
    /// No Retry; unvalidated clients are held to the anti-amplification limit (§8.1).
    case never
    /// Every Initial without a valid token gets a Retry.
    case always
    /// Retry while at least `handshakes` server connections of the endpoint are still
    /// handshaking (a cheap sign of load or of a flood of spoofed Initials).
    case underLoad(handshakes: Int)

    public var description: String {
        switch self {
        case .never: return "never"
        case .always: return "always"
        case .underLoad(let handshakes): return "under load (\(handshakes) handshakes in progress)"
        }
    }
}

/// How a server validates client addresses before and between connections (RFC 9000 §8.1).
public struct AddressValidationSettings: Sendable {
    public var retry: RetryPolicy = .never
    /// Seals Retry and NEW_TOKEN tokens. Share one among all endpoints (worker queues) of a
    /// server, so a token issued by one is accepted by another.
    public var tokenKeys: AddressTokenKeys
    /// How long a Retry token is accepted; clients echo it within a round trip (§8.1.4).
    public var retryTokenLifetime: TimeSpan = .seconds(10)
    /// How long a NEW_TOKEN token is accepted (§8.1.3). At most the keys' rotation interval, so
    /// a token never outlives the previous key it may have been sealed with.
    public var newTokenLifetime: TimeSpan = .seconds(24 * 3600)
    /// Send one NEW_TOKEN frame once the handshake is confirmed (§8.1.3).
    public var issueNewTokens = true

    public init(tokenKeys: AddressTokenKeys = AddressTokenKeys()) {
        self.tokenKeys = tokenKeys
    }
}

/// How the endpoint found a client's address validated when its first Initial arrived.
public enum AddressValidation: Sendable, Equatable {
    /// No token, or one that proved nothing (RFC 9000 §8.1.3: proceed as without one).
    case none
    /// The token came from our Retry: the client's very first Initial was sent to
    /// `originalDestinationCID` (§8.1.2, §7.3).
    case retry(originalDestinationCID: ConnectionID)
    /// The token came from a NEW_TOKEN frame on an earlier connection from the same IP address.
    case newToken
}

/// The keys that seal address-validation tokens (RFC 9000 §8.1.1, §8.1.4): AES-256-GCM under a
/// key only this server knows, so tokens cannot be forged or altered. A token names its kind
/// (Retry or NEW_TOKEN) in the clear, as §8.1.1 allows; the client address, the QUIC version
/// and, for a Retry token, the connection ID the client must send it to are authenticated as
/// associated data rather than carried, and the issue time and original Destination Connection
/// ID are encrypted.
///
/// Keys rotate every `rotationInterval` (or on `rotate(now:)`); the previous key still opens
/// tokens, older ones are gone. Times are the core's monotonic `Instant`s: tokens do not survive
/// a reboot, and the keys, made from `random` in the process, do not survive a restart.
public final class AddressTokenKeys: Sendable {
    public let rotationInterval: TimeSpan
    /// NEW_TOKEN tokens remembered as used, to accept each only once (§8.1.4); when full,
    /// further tokens are treated as absent until entries expire.
    public let replayCapacity: Int
    private let random: @Sendable (UnsafeMutableRawBufferPointer) -> Void
    private let state: Mutex<State>

    private struct State {
        var keys: [TokenKey] = []  // newest first, at most two
        var usedNewTokens: [TokenID: Instant] = [:]
    }

    private struct TokenID: Hashable {
        var keyID: UInt32
        var counter: UInt64
    }

    /// The key's counter is the AEAD nonce: unique per key because it is only used under the lock.
    private struct TokenKey {
        let key: SelfSealingKey
        let createdAt: Instant
        var id: UInt32 { key.id }
    }

    public init(
        rotationInterval: TimeSpan = .seconds(24 * 3600), replayCapacity: Int = 100_000,
        random: @escaping @Sendable (UnsafeMutableRawBufferPointer) -> Void = { secureRandomBytes($0) }
    ) {
        self.rotationInterval = max(rotationInterval, .seconds(1))
        self.replayCapacity = max(1, replayCapacity)
        self.random = random
        state = Mutex(State())
    }

    /// Makes a new sealing key now; tokens sealed under the one before still open, older ones
    /// do not.
    public func rotate(now: Instant) {
        state.withLock { addKey(&$0, now: now) }
    }

    private func addKey(_ state: inout State, now: Instant) {
        var material = [UInt8](repeating: 0, count: 48)
        var id: UInt32 = 0
        repeat {
            material.withUnsafeMutableBytes { random($0) }
            id = material[44..<48].reduce(0) { $0 << 8 | UInt32($1) }
        } while state.keys.contains { $0.id == id }
        // AES-256-GCM key setup only fails if OpenSSL itself is broken.
        guard let key = (try? SelfSealingKey(id: id, material: material)).map({ TokenKey(key: $0, createdAt: now) }) else {
            preconditionFailure("address token key setup failed inside OpenSSL")
        }
        state.keys.insert(key, at: 0)
        if state.keys.count > 2 { state.keys.removeLast(state.keys.count - 2) }
        // Tokens of dropped keys no longer open: their replay entries can go.
        let live = Set(state.keys.map(\.id))
        state.usedNewTokens = state.usedNewTokens.filter { live.contains($0.key.keyID) }
    }

    // MARK: Token layout

    /// The first byte of a token, in the clear (RFC 9000 §8.1.1: servers must be able to tell
    /// the two apart; others may too).
    enum Kind: UInt8 {
        case retry = 0x52  // "R"
        case newToken = 0x4e  // "N"
    }

    /// kind (1), key ID (4), counter (8): authenticated, in the clear.
    static let headerLength = 13

    /// The kind a token claims to be, before any check.
    static func claimedKind(_ token: UnsafeRawBufferPointer) -> Kind? {
        token.isEmpty ? nil : Kind(rawValue: token[0])
    }

    /// What an opened token said.
    enum Contents: Equatable {
        case retry(originalDestinationCID: ConnectionID, issuedAt: Instant)
        case newToken(issuedAt: Instant)
    }

    /// A Retry token for a client at `client` (IP and port, §8.1.4) whose first Initial went to
    /// `originalDestinationCID`, valid only in Initials sent to `retrySourceCID` in `version`
    /// (RFC 9369 §4.1: the client must not switch versions after a Retry).
    func sealRetryToken(
        originalDestinationCID: ConnectionID, retrySourceCID: ConnectionID, client: SocketAddress, version: QuicVersion,
        now: Instant
    ) -> [UInt8] {
        var plaintext = [UInt8](repeating: 0, count: 8 + 1 + originalDestinationCID.length)
        plaintext.withUnsafeMutableBytes { raw in
            var writer = ByteWriter(raw)
            writer.writeUInt64(now.nanoseconds)
            writer.writeConnectionIDWithLength(originalDestinationCID)
        }
        return seal(.retry, plaintext: plaintext, now: now) { header in
            Self.associatedData(header, .retry, client: client, version: version, destinationCID: retrySourceCID)
        }
    }

    /// A NEW_TOKEN token for a client at `client`'s IP address (not its port, which will differ
    /// next time, §8.1.3), for connections of `version` (RFC 9369 §5). Each one is unique.
    func sealNewToken(client: SocketAddress, version: QuicVersion, now: Instant) -> [UInt8] {
        var plaintext = [UInt8](repeating: 0, count: 8)
        plaintext.withUnsafeMutableBytes { raw in
            var writer = ByteWriter(raw)
            writer.writeUInt64(now.nanoseconds)
        }
        return seal(.newToken, plaintext: plaintext, now: now) { header in
            Self.associatedData(header, .newToken, client: client, version: version, destinationCID: nil)
        }
    }

    private func seal(_ kind: Kind, plaintext: [UInt8], now: Instant, associatedData: ([UInt8]) -> [UInt8]) -> [UInt8] {
        state.withLock { state in
            let current = state.keys.first.map { now >= $0.createdAt && now - $0.createdAt < rotationInterval } ?? false
            if !current { addKey(&state, now: now) }
            let key = state.keys[0].key
            let counter = key.nextCounter()
            var token = [UInt8](repeating: 0, count: Self.headerLength + plaintext.count + CipherSuite.tagLength)
            token[0] = kind.rawValue
            for index in 0..<4 { token[1 + index] = UInt8(truncatingIfNeeded: key.id >> (24 - 8 * index)) }
            for index in 0..<8 { token[5 + index] = UInt8(truncatingIfNeeded: counter >> (56 - 8 * index)) }
            let aad = associatedData(Array(token[..<Self.headerLength]))
            let tagStart = token.count - CipherSuite.tagLength
            token.replaceSubrange(Self.headerLength..<tagStart, with: plaintext)
            token.withUnsafeMutableBytes { raw in
                aad.withUnsafeBytes { aad in
                    key.sealer.seal(
                        packetNumber: counter, associatedData: aad,
                        payload: UnsafeMutableRawBufferPointer(rebasing: raw[Self.headerLength..<tagStart]),
                        tag: raw.baseAddress! + tagStart)
                }
            }
            return token
        }
    }

    /// Opens a token from an Initial sent by `client` to `destinationCID` in `version`; nil when
    /// it is not one of ours, was altered, or was issued for another address, connection ID or
    /// version. Lifetimes are for the caller to check.
    func open(
        _ token: UnsafeRawBufferPointer, destinationCID: ConnectionID, client: SocketAddress, version: QuicVersion
    ) -> Contents? {
        guard token.count >= Self.headerLength + 8 + CipherSuite.tagLength, let kind = Self.claimedKind(token) else {
            return nil
        }
        let keyID = token[1..<5].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let counter = token[5..<13].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let header = Array(token[..<Self.headerLength])
        let aad = Self.associatedData(
            header, kind, client: client, version: version, destinationCID: kind == .retry ? destinationCID : nil)
        var body = Array(token[Self.headerLength...])
        let tagStart = body.count - CipherSuite.tagLength
        let opened = state.withLock { state -> Bool in
            guard let key = state.keys.first(where: { $0.id == keyID })?.key else { return false }
            return body.withUnsafeMutableBytes { raw in
                aad.withUnsafeBytes { aad in
                    key.opener.open(
                        packetNumber: counter, associatedData: aad,
                        payload: UnsafeMutableRawBufferPointer(rebasing: raw[..<tagStart]),
                        tag: UnsafeRawPointer(raw.baseAddress! + tagStart))
                }
            }
        }
        guard opened else { return nil }
        return body[..<tagStart].withUnsafeBytes { raw -> Contents? in
            var reader = ByteReader(raw)
            guard let issued = try? reader.readUInt64() else { return nil }
            let issuedAt = Instant(nanoseconds: issued)
            switch kind {
            case .newToken:
                return reader.isAtEnd ? .newToken(issuedAt: issuedAt) : nil
            case .retry:
                guard let length = try? reader.readUInt8(), length <= ConnectionID.maxLength,
                    let bytes = try? reader.readBytes(Int(length)), reader.isAtEnd, let id = ConnectionID(bytes)
                else { return nil }
                return .retry(originalDestinationCID: id, issuedAt: issuedAt)
            }
        }
    }

    /// Records a NEW_TOKEN token (already opened) as used until `expiresAt`; false when it was
    /// used before, or when the register is full of unexpired entries (§8.1.4: replay of tokens
    /// must be prevented or limited).
    func admitNewToken(_ token: UnsafeRawBufferPointer, expiresAt: Instant, now: Instant) -> Bool {
        guard token.count >= Self.headerLength else { return false }
        let id = TokenID(
            keyID: token[1..<5].reduce(UInt32(0)) { $0 << 8 | UInt32($1) },
            counter: token[5..<13].reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        return state.withLock { state in
            if let until = state.usedNewTokens[id], until > now { return false }
            if state.usedNewTokens.count >= replayCapacity {
                state.usedNewTokens = state.usedNewTokens.filter { $0.value > now }
                guard state.usedNewTokens.count < replayCapacity else { return false }
            }
            state.usedNewTokens[id] = expiresAt
            return true
        }
    }

    /// header | version | address family, IP (16 bytes, IPv4 in the first 4) [| port] [| the
    /// connection ID the token must arrive on, length-prefixed].
    private static func associatedData(
        _ header: [UInt8], _ kind: Kind, client: SocketAddress, version: QuicVersion, destinationCID: ConnectionID?
    ) -> [UInt8] {
        var aad = header
        aad.reserveCapacity(header.count + 4 + 1 + 16 + 2 + 1 + ConnectionID.maxLength)
        for shift in stride(from: 24, through: 0, by: -8) { aad.append(UInt8(truncatingIfNeeded: version.rawValue >> shift)) }
        aad.append(client.family.rawValue)
        for shift in stride(from: 56, through: 0, by: -8) { aad.append(UInt8(truncatingIfNeeded: client.high >> UInt64(shift))) }
        for shift in stride(from: 56, through: 0, by: -8) { aad.append(UInt8(truncatingIfNeeded: client.low >> UInt64(shift))) }
        if kind == .retry {
            aad.append(UInt8(client.port >> 8))
            aad.append(UInt8(client.port & 0xff))
        }
        if let destinationCID {
            aad.append(UInt8(destinationCID.length))
            aad.append(contentsOf: destinationCID.bytes)
        }
        return aad
    }
}
