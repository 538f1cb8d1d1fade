/// Handshake message types (RFC 8446 §4, §B.3). `messageHash` only ever appears inside the
/// transcript after a HelloRetryRequest (§4.4.1).
enum HandshakeType: UInt8, Sendable, CustomStringConvertible {
    case clientHello = 1
    case serverHello = 2
    case newSessionTicket = 4
    case endOfEarlyData = 5
    case encryptedExtensions = 8
    case certificate = 11
    case certificateRequest = 13
    case certificateVerify = 15
    case finished = 20
    case keyUpdate = 24
    case messageHash = 254

    /// The largest body accepted from a peer. TLS allows 2^24-1; these bounds keep what a peer
    /// can make us buffer small while leaving room for real chains and tickets.
    var maximumBodyLength: Int {
        switch self {
        case .certificate: return 64 * 1024
        case .newSessionTicket: return 65_535 + 1024
        case .clientHello, .encryptedExtensions, .certificateRequest: return 16 * 1024
        case .serverHello: return 4096
        case .certificateVerify: return 2048
        case .finished: return 64
        case .keyUpdate: return 1
        case .endOfEarlyData, .messageHash: return 0
        }
    }

    var description: String {
        switch self {
        case .clientHello: return "ClientHello"
        case .serverHello: return "ServerHello"
        case .newSessionTicket: return "NewSessionTicket"
        case .endOfEarlyData: return "EndOfEarlyData"
        case .encryptedExtensions: return "EncryptedExtensions"
        case .certificate: return "Certificate"
        case .certificateRequest: return "CertificateRequest"
        case .certificateVerify: return "CertificateVerify"
        case .finished: return "Finished"
        case .keyUpdate: return "KeyUpdate"
        case .messageHash: return "message_hash"
        }
    }
}

/// One complete handshake message: its type, its body, and the whole encoding (header included)
/// that goes into the transcript.
struct HandshakeMessage {
    let type: HandshakeType
    let body: [UInt8]
    let encoded: [UInt8]

    /// Frames `body` as a Handshake structure: type, uint24 length, body (RFC 8446 §4).
    static func encode(_ type: HandshakeType, _ body: (inout TLSWriter) -> Void) -> [UInt8] {
        var writer = TLSWriter()
        writer.writeUInt8(type.rawValue)
        writer.writeVector(lengthBytes: 3, body)
        return writer.bytes
    }
}

/// Collects in-order CRYPTO bytes for the current encryption level into whole handshake
/// messages. A message's header is checked against its type's bound before its body is awaited,
/// so at most one bounded partial message is ever held.
struct HandshakeReassembler {
    private var buffer: [UInt8] = []

    var isEmpty: Bool { buffer.isEmpty }

    mutating func append(_ data: UnsafeRawBufferPointer) { buffer.append(contentsOf: data) }

    /// The next complete message, nil when more bytes are needed. Unknown or oversized messages
    /// throw as soon as their header is in.
    mutating func nextMessage() throws(TLSAlert) -> HandshakeMessage? {
        guard buffer.count >= 4 else { return nil }
        guard let type = HandshakeType(rawValue: buffer[0]), type != .messageHash else {
            throw .unexpectedMessage("unknown handshake message type \(buffer[0])")
        }
        let length = Int(buffer[1]) << 16 | Int(buffer[2]) << 8 | Int(buffer[3])
        guard length <= type.maximumBodyLength else {
            // RFC 8446 §6: well-formed but unacceptable; this implementation's size limit.
            throw .illegalParameter("\(type) of \(length) bytes exceeds the \(type.maximumBodyLength)-byte limit")
        }
        guard buffer.count >= 4 + length else { return nil }
        let encoded = Array(buffer[..<(4 + length)])
        buffer.removeFirst(4 + length)
        return HandshakeMessage(type: type, body: Array(encoded[4...]), encoded: encoded)
    }
}
