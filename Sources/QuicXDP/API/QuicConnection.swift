import QuicCore
import QuicWire

/// A QUIC connection seen from application tasks: open and accept streams, send and receive
/// datagrams, close. All calls are safe from any task.
public final class QuicConnection: Sendable {
    let endpoint: QuicEndpoint
    let id: Int

    init(endpoint: QuicEndpoint, id: Int) {
        self.endpoint = endpoint
        self.id = id
    }

    private var bridge: Bridge { endpoint.bridge }

    /// The negotiated application protocol.
    public var alpn: String? { bridge.state.withLock { $0.connections[id]?.alpn } }

    /// Why the connection ended, once it has.
    public var closeReason: String? { bridge.state.withLock { $0.connections[id]?.closed } }

    /// Opens a stream; waits while the peer's stream limit allows none.
    public func openStream(_ direction: StreamDirection = .bidirectional) async throws -> QuicStream {
        let stream = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<StreamID, any Error>) in
            bridge.submit(.openStream(connection: id, direction, continuation))
        }
        return QuicStream(connection: self, id: stream)
    }

    /// The next stream the peer opened.
    public func acceptStream() async throws -> QuicStream {
        let bridge = self.bridge
        let id = self.id
        let stream = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<StreamID, any Error>) in
            let ready = bridge.state.withLock { state -> Result<StreamID?, QuicError> in
                guard var connection = state.connections[id] else { return .failure(.connectionClosed("gone")) }
                if !connection.incomingStreams.isEmpty {
                    let stream = connection.incomingStreams.removeFirst()
                    state.connections[id] = connection
                    return .success(stream)
                }
                if let reason = connection.closed { return .failure(.connectionClosed(reason)) }
                connection.streamWaiters.append(continuation)
                state.connections[id] = connection
                return .success(nil)
            }
            switch ready {
            case .success(let stream?): continuation.resume(returning: stream)
            case .failure(let error): continuation.resume(throwing: error)
            case .success(nil): break
            }
        }
        return QuicStream(connection: self, id: stream)
    }

    /// Sends an unreliable DATAGRAM frame (RFC 9221); throws when the peer does not take them.
    public func sendDatagram(_ payload: [UInt8]) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            bridge.submit(.datagram(connection: id, bytes: payload, continuation))
        }
    }

    /// The next DATAGRAM payload received.
    public func receiveDatagram() async throws -> [UInt8] {
        let bridge = self.bridge
        let id = self.id
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[UInt8], any Error>) in
            let ready = bridge.state.withLock { state -> Result<[UInt8]?, QuicError> in
                guard var connection = state.connections[id] else { return .failure(.connectionClosed("gone")) }
                if !connection.datagrams.isEmpty {
                    let datagram = connection.datagrams.removeFirst()
                    state.connections[id] = connection
                    return .success(datagram)
                }
                if let reason = connection.closed { return .failure(.connectionClosed(reason)) }
                connection.datagramWaiters.append(continuation)
                state.connections[id] = connection
                return .success(nil)
            }
            switch ready {
            case .success(let datagram?): continuation.resume(returning: datagram)
            case .failure(let error): continuation.resume(throwing: error)
            case .success(nil): break
            }
        }
    }

    /// Closes the connection with an application error code (CONNECTION_CLOSE, RFC 9000 §10.2).
    public func close(errorCode: UInt64 = 0, reason: String = "") {
        bridge.submit(.close(connection: id, code: errorCode, reason: reason))
    }
}

/// One stream of a `QuicConnection`.
public final class QuicStream: Sendable {
    public let connection: QuicConnection
    public let id: StreamID

    init(connection: QuicConnection, id: StreamID) {
        self.connection = connection
        self.id = id
    }

    private var bridge: Bridge { connection.endpoint.bridge }

    /// Writes `bytes` (and ends the stream with `fin`); returns once QUIC took them all, so a
    /// writer waits for flow-control window and buffer space.
    public func write(_ bytes: [UInt8], fin: Bool = false) async throws {
        let id = self.id
        let connectionID = connection.id
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            bridge.submit(.write(connection: connectionID, stream: id, bytes: bytes, fin: fin, continuation))
        }
    }

    /// Ends the stream after what was written (FIN).
    public func finish() async throws { try await write([], fin: true) }

    /// The next bytes received, up to what arrived (at most `maxLength` when given); nil at the
    /// end of the stream. Throws `QuicError.streamReset` when the peer reset it.
    public func read(maxLength: Int = .max) async throws -> [UInt8]? {
        let bridge = self.bridge
        let connectionID = connection.id
        let stream = id
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[UInt8]?, any Error>) in
            let ready = bridge.state.withLock { state -> (Result<[UInt8]?, any Error>?, Bool) in
                guard var connectionState = state.connections[connectionID] else {
                    return (.failure(QuicError.connectionClosed("gone")), false)
                }
                var streamState = connectionState.streams[stream] ?? Bridge.StreamState()
                let result: Result<[UInt8]?, any Error>?
                if !streamState.inbound.isEmpty {
                    let count = min(maxLength, streamState.inbound.count)
                    result = .success(Array(streamState.inbound[..<count]))
                    streamState.inbound.removeFirst(count)
                } else if let error = streamState.inboundError {
                    result = .failure(error)
                } else if streamState.inboundFin {
                    result = .success(nil)
                } else if let reason = connectionState.closed {
                    result = .failure(QuicError.connectionClosed(reason))
                } else {
                    streamState.reader = continuation
                    result = nil
                }
                // Whatever this call did: once there is room again, the worker reads on.
                var resume = false
                if streamState.readPaused && streamState.inbound.count < Bridge.inboundLimit / 2 {
                    streamState.readPaused = false
                    resume = true
                }
                connectionState.streams[stream] = streamState
                state.connections[connectionID] = connectionState
                return (result, resume)
            }
            if ready.1 { bridge.submit(.resumeReading(connection: connectionID, stream: stream)) }
            if let result = ready.0 { continuation.resume(with: result) }
        }
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
        bridge.submit(.reset(connection: connection.id, stream: id, code: errorCode))
    }

    /// Asks the peer to stop sending (STOP_SENDING).
    public func stopSending(errorCode: UInt64) {
        bridge.submit(.stopSending(connection: connection.id, stream: id, code: errorCode))
    }
}
