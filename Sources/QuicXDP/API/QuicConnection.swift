import QuicCore
import QuicWire

/// A QUIC connection seen from application tasks: open and accept streams, send and receive
/// datagrams, close. All calls are safe from any task.
public final class QuicConnection: Sendable {
    let endpoint: QuicEndpoint
    let channel: ConnectionChannel

    init(endpoint: QuicEndpoint, channel: ConnectionChannel) {
        self.endpoint = endpoint
        self.channel = channel
    }

    var id: Int { channel.id }
    var mailbox: WorkerMailbox { channel.mailbox }

    /// The negotiated application protocol.
    public var alpn: String? { channel.alpn.value.flatMap { $0.isEmpty ? nil : $0 } }

    /// Why the connection ended, once it has.
    public var closeReason: String? { channel.closeReason.value }

    /// Opens a stream; waits while the peer's stream limit allows none.
    public func openStream(_ direction: StreamDirection = .bidirectional) async throws -> QuicStream {
        let stream = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<StreamChannel, any Error>) in
            mailbox.submit(.openStream(connection: channel, direction, continuation))
        }
        return QuicStream(connection: self, channel: stream)
    }

    /// The next stream the peer opened.
    public func acceptStream() async throws -> QuicStream {
        guard let stream = try await channel.incomingStreams.receive() else {
            throw QuicError.connectionClosed(channel.closeReason.value ?? "connection ended")
        }
        return QuicStream(connection: self, channel: stream)
    }

    /// Sends an unreliable DATAGRAM frame (RFC 9221); throws when the peer does not take them.
    public func sendDatagram(_ payload: [UInt8]) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            mailbox.submit(.datagram(connection: channel, bytes: payload, continuation))
        }
    }

    /// The next DATAGRAM payload received.
    public func receiveDatagram() async throws -> [UInt8] {
        guard let datagram = try await channel.datagrams.receive() else {
            throw QuicError.connectionClosed(channel.closeReason.value ?? "connection ended")
        }
        return datagram
    }

    /// Closes the connection with an application error code (CONNECTION_CLOSE, RFC 9000 §10.2).
    public func close(errorCode: UInt64 = 0, reason: String = "") {
        mailbox.submit(.close(connection: channel, code: errorCode, reason: reason))
    }
}

/// One stream of a `QuicConnection`.
public final class QuicStream: Sendable {
    public let connection: QuicConnection
    let channel: StreamChannel

    init(connection: QuicConnection, channel: StreamChannel) {
        self.connection = connection
        self.channel = channel
    }

    public var id: StreamID { channel.id }

    /// Writes `bytes` (and ends the stream with `fin`); returns once QUIC took them all, so a
    /// writer waits for flow-control window and buffer space.
    public func write(_ bytes: [UInt8], fin: Bool = false) async throws {
        let (owner, stream, mailbox) = (connection.channel, id, connection.mailbox)
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            mailbox.submit(.write(connection: owner, stream: stream, bytes: bytes, fin: fin, continuation))
        }
    }

    /// Ends the stream after what was written (FIN).
    public func finish() async throws { try await write([], fin: true) }

    /// The next bytes received, up to what arrived (at most `maxLength` when given); nil at the
    /// end of the stream. Throws `QuicError.streamReset` when the peer reset it, and
    /// `QuicError.connectionClosed` when the connection ended first.
    public func read(maxLength: Int = .max) async throws -> [UInt8]? {
        let limit = max(maxLength, 1)
        let bytes = try await channel.inbound.receive { chunk in
            chunk.count <= limit ? (chunk, nil) : (Array(chunk[..<limit]), Array(chunk[limit...]))
        }
        if let bytes, channel.consumed(bytes.count) {
            connection.mailbox.submit(.resumeReading(connection: connection.channel, stream: id))
        }
        return bytes
    }

    /// Reads to the end of the stream.
    public func readAll(limit: Int = 64 << 20) async throws -> [UInt8] {
        var all: [UInt8] = []
        while let chunk = try await read() {
            all += chunk
            if all.count > limit { throw QuicError.streamClosed }
        }
        return all
    }

    /// Abandons sending with an application error code (RESET_STREAM).
    public func reset(errorCode: UInt64) {
        connection.mailbox.submit(.reset(connection: connection.channel, stream: id, code: errorCode))
    }

    /// Asks the peer to stop sending (STOP_SENDING).
    public func stopSending(errorCode: UInt64) {
        connection.mailbox.submit(.stopSending(connection: connection.channel, stream: id, code: errorCode))
    }
}
