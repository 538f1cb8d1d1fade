import QuicCrypto
import Testing

@testable import QuicTLS

/// RFC 8448 §3 "Simple 1-RTT Handshake" (TLS_AES_128_GCM_SHA256, x25519, RSA certificate): from
/// the trace's X25519 private keys and handshake messages, the key schedule reproduces every
/// secret, traffic key, Finished value and the resumption PSK byte for byte; the messages decode
/// and re-encode to the same bytes.
@Suite("RFC 8448 §3 simple 1-RTT handshake")
struct RFC8448Tests {
    let vectors: VectorFile

    init() throws { vectors = try VectorFile("tls13-rfc8448-simple-1rtt") }

    func body(_ name: String) throws -> [UInt8] { Array(try vectors.hex(name).dropFirst(4)) }

    @Test("X25519 key pairs from the trace's private keys, and the shared secret")
    func keyExchange() throws {
        let clientPrivate = try vectors.hex("client_x25519_private")
        let serverPrivate = try vectors.hex("server_x25519_private")
        let client = try EphemeralKeyPair(group: .x25519, random: { $0.copyBytes(from: clientPrivate) })
        let server = try EphemeralKeyPair(group: .x25519, random: { $0.copyBytes(from: serverPrivate) })
        #expect(client.publicKey == (try vectors.hex("client_x25519_public")))
        #expect(server.publicKey == (try vectors.hex("server_x25519_public")))
        let shared = try vectors.hex("ecdhe_shared_secret")
        #expect(client.sharedSecret(peerPublicKey: server.publicKey) == shared)
        #expect(server.sharedSecret(peerPublicKey: client.publicKey) == shared)
    }

    @Test("the key schedule reproduces every secret, key, IV, Finished and the PSK")
    func keySchedule() throws {
        let v = vectors
        var schedule = TLSKeySchedule(hash: .sha256)
        #expect(schedule.earlySecret == (try v.hex("early_secret")))
        #expect(
            schedule.deriveSecret(schedule.earlySecret, "derived", schedule.emptyHash)
                == (try v.hex("derived_for_handshake")))
        schedule.enterHandshake(sharedSecret: try v.hex("ecdhe_shared_secret"))
        let handshakeSecret = try #require(schedule.handshakeSecret)
        #expect(handshakeSecret == (try v.hex("handshake_secret")))

        var transcript = Transcript()
        transcript.append(try v.hex("client_hello"))
        transcript.begin(.sha256)
        transcript.append(try v.hex("server_hello"))
        #expect(transcript.currentHash() == (try v.hex("transcript_hash_ch_sh")))
        let handshake = schedule.handshakeTrafficSecrets(transcript.currentHash())
        #expect(handshake.client == (try v.hex("client_handshake_traffic_secret")))
        #expect(handshake.server == (try v.hex("server_handshake_traffic_secret")))
        #expect(
            schedule.deriveSecret(handshakeSecret, "derived", schedule.emptyHash) == (try v.hex("derived_for_master")))
        schedule.enterMaster()
        #expect(schedule.masterSecret == (try v.hex("master_secret")))

        // Traffic keys with TLS's own labels (QUIC uses "quic key"/"quic iv" on the same secrets).
        func key(_ secret: [UInt8]) -> [UInt8] {
            HKDF.expandLabel(secret: secret, label: "key", length: 16, hash: .sha256)
        }
        func iv(_ secret: [UInt8]) -> [UInt8] {
            HKDF.expandLabel(secret: secret, label: "iv", length: 12, hash: .sha256)
        }
        #expect(key(handshake.server) == (try v.hex("server_handshake_key")))
        #expect(iv(handshake.server) == (try v.hex("server_handshake_iv")))
        #expect(key(handshake.client) == (try v.hex("client_handshake_key")))
        #expect(iv(handshake.client) == (try v.hex("client_handshake_iv")))

        for name in ["encrypted_extensions", "certificate", "certificate_verify"] { transcript.append(try v.hex(name)) }
        #expect(TLSKeySchedule.finishedKey(handshake.server, hash: .sha256) == (try v.hex("server_finished_key")))
        let serverVerifyData = TLSKeySchedule.verifyData(
            baseKey: handshake.server, transcriptHash: transcript.currentHash(), hash: .sha256)
        #expect(serverVerifyData == (try v.hex("server_finished_verify_data")))
        #expect(Finished(verifyData: serverVerifyData).encode() == (try v.hex("server_finished")))

        transcript.append(try v.hex("server_finished"))
        let serverFinishedHash = transcript.currentHash()
        #expect(serverFinishedHash == (try v.hex("transcript_hash_ch_server_finished")))
        let application = schedule.applicationTrafficSecrets(serverFinishedHash)
        #expect(application.client == (try v.hex("client_application_traffic_secret_0")))
        #expect(application.server == (try v.hex("server_application_traffic_secret_0")))
        #expect(schedule.exporterMasterSecret(serverFinishedHash) == (try v.hex("exporter_master_secret")))
        #expect(key(application.server) == (try v.hex("server_application_key")))
        #expect(iv(application.server) == (try v.hex("server_application_iv")))
        #expect(key(application.client) == (try v.hex("client_application_key")))
        #expect(iv(application.client) == (try v.hex("client_application_iv")))

        #expect(TLSKeySchedule.finishedKey(handshake.client, hash: .sha256) == (try v.hex("client_finished_key")))
        let clientVerifyData = TLSKeySchedule.verifyData(
            baseKey: handshake.client, transcriptHash: transcript.currentHash(), hash: .sha256)
        #expect(clientVerifyData == (try v.hex("client_finished_verify_data")))
        #expect(Finished(verifyData: clientVerifyData).encode() == (try v.hex("client_finished")))

        transcript.append(try v.hex("client_finished"))
        #expect(transcript.currentHash() == (try v.hex("transcript_hash_ch_client_finished")))
        let resumptionMaster = schedule.resumptionMasterSecret(transcript.currentHash())
        #expect(resumptionMaster == (try v.hex("resumption_master_secret")))

        let ticket = try NewSessionTicket.decode(try body("new_session_ticket"))
        #expect(ticket.nonce == (try v.hex("new_session_ticket.nonce")))
        #expect(ticket.ticket == (try v.hex("new_session_ticket.ticket")))
        #expect(ticket.lifetime == 30)
        #expect(try ticket.maxEarlyDataSize() == 0x400)
        let psk = TLSKeySchedule.resumptionPSK(
            resumptionMasterSecret: resumptionMaster, nonce: ticket.nonce, hash: .sha256)
        #expect(psk == (try v.hex("resumption_psk")))
    }

    @Test("the trace's messages decode and encode back to the same bytes")
    func messageCodecs() throws {
        let clientHello = try ClientHello.decode(try body("client_hello"))
        #expect(clientHello.cipherSuites == [0x1301, 0x1303, 0x1302])
        #expect(clientHello.legacySessionID.isEmpty)
        let shares = try ExtensionCodec.decodeClientShares(try #require(clientHello.extensions[.keyShare]))
        #expect(shares.count == 1 && shares[0].group == NamedGroup.x25519.rawValue)
        #expect(shares[0].keyExchange == (try vectors.hex("client_x25519_public")))
        #expect(
            try ExtensionCodec.decodeServerName(try #require(clientHello.extensions[.serverName]))
                == Array("server".utf8))
        #expect(clientHello.encode() == (try vectors.hex("client_hello")))

        let serverHello = try ServerHello.decode(try body("server_hello"))
        #expect(serverHello.cipherSuite == 0x1301 && !serverHello.isHelloRetryRequest)
        #expect(
            try ExtensionCodec.decodeSelectedVersion(try #require(serverHello.extensions[.supportedVersions])) == 0x0304
        )
        #expect(
            try ExtensionCodec.decodeServerShare(try #require(serverHello.extensions[.keyShare])).keyExchange
                == (try vectors.hex("server_x25519_public")))
        #expect(serverHello.encode() == (try vectors.hex("server_hello")))

        #expect(
            try EncryptedExtensions.decode(try body("encrypted_extensions")).encode()
                == (try vectors.hex("encrypted_extensions")))
        let certificate = try CertificateMessage.decode(try body("certificate"))
        #expect(certificate.entries.count == 1)
        #expect(certificate.encode() == (try vectors.hex("certificate")))
        #expect(
            try CertificateVerify.decode(try body("certificate_verify")).encode()
                == (try vectors.hex("certificate_verify")))
        #expect(
            try NewSessionTicket.decode(try body("new_session_ticket")).encode()
                == (try vectors.hex("new_session_ticket")))
    }

    @Test("the server's rsa_pss_rsae_sha256 CertificateVerify verifies with the trace's certificate")
    func certificateVerifySignature() throws {
        let certificate = try CertificateMessage.decode(try body("certificate"))
        let publicKey = try Certificate(der: certificate.entries[0].data).publicKey()
        #expect(publicKey.keyType == .rsa)
        let verify = try CertificateVerify.decode(try body("certificate_verify"))
        #expect(verify.scheme == SignatureScheme.rsaPSSRSAESHA256.rawValue)
        var transcript = Transcript()
        for name in ["client_hello", "server_hello", "encrypted_extensions", "certificate"] {
            transcript.append(try vectors.hex(name))
        }
        let content = CertificateVerify.signedContent(
            transcriptHash: transcript.hash(appending: [], hash: .sha256), sentBy: .server)
        #expect(publicKey.verify(signature: verify.signature, message: content, scheme: .rsaPSSRSAESHA256))
        #expect(!publicKey.verify(signature: verify.signature, message: content + [0], scheme: .rsaPSSRSAESHA256))
        let clientContent = CertificateVerify.signedContent(
            transcriptHash: transcript.hash(appending: [], hash: .sha256), sentBy: .client)
        #expect(!publicKey.verify(signature: verify.signature, message: clientContent, scheme: .rsaPSSRSAESHA256))
    }
}
