import QuicCrypto

/// The TLS 1.3 key schedule (RFC 8446 §7.1): Early Secret → Handshake Secret → Master Secret,
/// each step an HKDF-Extract fed by Derive-Secret(previous, "derived", "").
struct TLSKeySchedule {
    let hash: HashAlgorithm
    private(set) var earlySecret: [UInt8]
    private(set) var handshakeSecret: [UInt8]?
    private(set) var masterSecret: [UInt8]?

    /// Early Secret = HKDF-Extract(0, PSK), with a zero-filled PSK when there is none.
    init(hash: HashAlgorithm, psk: [UInt8]? = nil) {
        self.hash = hash
        let zeros = [UInt8](repeating: 0, count: hash.digestLength)
        earlySecret = HKDF.extract(salt: zeros, inputKeyingMaterial: psk ?? zeros, hash: hash)
    }

    var emptyHash: [UInt8] { hash.hash([]) }

    func deriveSecret(_ secret: [UInt8], _ label: String, _ transcriptHash: [UInt8]) -> [UInt8] {
        HKDF.deriveSecret(secret: secret, label: label, transcriptHash: transcriptHash, hash: hash)
    }

    /// binder_key for a resumption PSK (§7.1 "res binder").
    var resumptionBinderKey: [UInt8] { deriveSecret(earlySecret, "res binder", emptyHash) }

    /// client_early_traffic_secret over Hash(ClientHello).
    func clientEarlyTrafficSecret(_ transcriptHash: [UInt8]) -> [UInt8] {
        deriveSecret(earlySecret, "c e traffic", transcriptHash)
    }

    /// Handshake Secret = HKDF-Extract(Derive-Secret(Early, "derived", ""), (EC)DHE).
    mutating func enterHandshake(sharedSecret: [UInt8]) {
        let salt = deriveSecret(earlySecret, "derived", emptyHash)
        handshakeSecret = HKDF.extract(salt: salt, inputKeyingMaterial: sharedSecret, hash: hash)
    }

    /// Master Secret = HKDF-Extract(Derive-Secret(Handshake, "derived", ""), 0).
    mutating func enterMaster() {
        guard let handshakeSecret else { preconditionFailure("master secret before handshake secret") }
        let salt = deriveSecret(handshakeSecret, "derived", emptyHash)
        masterSecret = HKDF.extract(
            salt: salt, inputKeyingMaterial: [UInt8](repeating: 0, count: hash.digestLength), hash: hash)
    }

    /// client/server_handshake_traffic_secret over Hash(ClientHello...ServerHello).
    func handshakeTrafficSecrets(_ transcriptHash: [UInt8]) -> (client: [UInt8], server: [UInt8]) {
        guard let handshakeSecret else { preconditionFailure("handshake traffic before handshake secret") }
        return (
            deriveSecret(handshakeSecret, "c hs traffic", transcriptHash),
            deriveSecret(handshakeSecret, "s hs traffic", transcriptHash)
        )
    }

    /// client/server_application_traffic_secret_0 over Hash(ClientHello...server Finished).
    func applicationTrafficSecrets(_ transcriptHash: [UInt8]) -> (client: [UInt8], server: [UInt8]) {
        guard let masterSecret else { preconditionFailure("application traffic before master secret") }
        return (
            deriveSecret(masterSecret, "c ap traffic", transcriptHash),
            deriveSecret(masterSecret, "s ap traffic", transcriptHash)
        )
    }

    /// exporter_master_secret over Hash(ClientHello...server Finished).
    func exporterMasterSecret(_ transcriptHash: [UInt8]) -> [UInt8] {
        guard let masterSecret else { preconditionFailure("exporter before master secret") }
        return deriveSecret(masterSecret, "exp master", transcriptHash)
    }

    /// resumption_master_secret over Hash(ClientHello...client Finished).
    func resumptionMasterSecret(_ transcriptHash: [UInt8]) -> [UInt8] {
        guard let masterSecret else { preconditionFailure("resumption before master secret") }
        return deriveSecret(masterSecret, "res master", transcriptHash)
    }

    /// finished_key = HKDF-Expand-Label(BaseKey, "finished", "", Hash.length) (§4.4.4).
    static func finishedKey(_ baseKey: [UInt8], hash: HashAlgorithm) -> [UInt8] {
        HKDF.expandLabel(secret: baseKey, label: "finished", length: hash.digestLength, hash: hash)
    }

    /// verify_data = HMAC(finished_key, transcript hash) (§4.4.4); also a PSK binder (§4.2.11.2).
    static func verifyData(baseKey: [UInt8], transcriptHash: [UInt8], hash: HashAlgorithm) -> [UInt8] {
        hash.hmac(key: finishedKey(baseKey, hash: hash), data: transcriptHash)
    }

    /// The PSK a ticket stands for: HKDF-Expand-Label(resumption_master_secret, "resumption",
    /// ticket_nonce, Hash.length) (§4.6.1).
    static func resumptionPSK(resumptionMasterSecret: [UInt8], nonce: [UInt8], hash: HashAlgorithm) -> [UInt8] {
        HKDF.expandLabel(
            secret: resumptionMasterSecret, label: "resumption", context: nonce, length: hash.digestLength, hash: hash)
    }
}

/// The running handshake transcript (RFC 8446 §4.4.1). Until the cipher suite (and so the hash)
/// is known the messages are kept as bytes; after a HelloRetryRequest the first ClientHello is
/// replaced by a synthetic message_hash message.
struct Transcript {
    private var pending: [UInt8] = []
    private var running: TranscriptHash?

    var isHashing: Bool { running != nil }

    mutating func append(_ message: [UInt8]) {
        if let running { running.update(message) } else { pending += message }
    }

    /// Starts hashing with `hash`, feeding what was kept so far.
    mutating func begin(_ hash: HashAlgorithm) {
        precondition(running == nil, "transcript hash chosen twice")
        let running = TranscriptHash(hash)
        running.update(pending)
        pending = []
        self.running = running
    }

    /// Replaces the ClientHello1 kept so far with message_hash(Hash(ClientHello1)) and starts
    /// hashing (§4.4.1), for the HelloRetryRequest path.
    mutating func beginAfterHelloRetryRequest(_ hash: HashAlgorithm) {
        precondition(running == nil, "transcript hash chosen twice")
        let digest = hash.hash(pending)
        pending = [HandshakeType.messageHash.rawValue, 0, 0, UInt8(digest.count)] + digest
        begin(hash)
    }

    /// Transcript-Hash of everything so far.
    func currentHash() -> [UInt8] {
        guard let running else { preconditionFailure("transcript hash read before the hash was chosen") }
        return running.current()
    }

    /// Transcript-Hash of everything so far followed by `extra`, without adding `extra`; with
    /// `hash` when hashing has not started (the PSK binder over a first ClientHello).
    func hash(appending extra: [UInt8], hash: HashAlgorithm) -> [UInt8] {
        if let running {
            precondition(running.algorithm == hash, "transcript hash algorithm mismatch")
            let fork = running.copy()
            fork.update(extra)
            return fork.current()
        }
        return hash.hash(pending + extra)
    }
}
