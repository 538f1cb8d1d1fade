import Foundation
import QuicXDP
import Testing

/// The async embedding API over the UDP socket on loopback: a real endpoint, engine threads,
/// TLS with the test PKI.
@Suite("Embedding API", .serialized, .dedicatedThreads)
struct EmbeddingAPITests {
    static var pki: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("PKI").path
    }

    static func serverConfiguration() throws -> ConnectionConfiguration {
        var configuration = ConnectionConfiguration(
            tls: try TLSSetup.server(certificate: pki + "/server-p256-chain.pem", key: pki + "/server-p256.key", alpn: ["echo"]))
        configuration.maxDatagramFrameSize = 1200
        return configuration
    }

    static func clientConfiguration() throws -> ConnectionConfiguration {
        var configuration = ConnectionConfiguration(tls: try TLSSetup.client(alpn: ["echo"], caFile: pki + "/ca.pem", insecure: false))
        configuration.maxDatagramFrameSize = 1200
        return configuration
    }

    /// Below the kernel's ephemeral range (32768 and up), so no client socket of this or another
    /// test holds it.
    static let port = UInt16.random(in: 20000...32000)

    /// A server on `port` and a client connected to it: (server, client, the client's
    /// connection, the server's).
    /// Megabyte arrays compared to a Bool: a failed `#expect(a == b)` on them has Swift Testing
    /// compute their difference, which takes minutes.
    static func same(_ a: [UInt8], _ b: [UInt8]) -> Bool { a == b }

    static func connectedPair(port: UInt16) async throws -> (QuicServer, QuicClient, QuicConnection, QuicConnection) {
        let server = try QuicServer(listen: "127.0.0.1:\(port)", configuration: serverConfiguration())
        let client = try QuicClient()
        let connection = try await client.connect(
            to: QuicCore.SocketAddress("127.0.0.1:\(port)")!, serverName: "server.test", configuration: clientConfiguration())
        return (server, client, connection, try await server.accept())
    }

    @Test("echo: 2 MB out and back on one stream, three streams at once, a datagram each way")
    func echo() async throws {
        let server = try QuicServer(listen: "127.0.0.1:\(Self.port)", configuration: Self.serverConfiguration())
        defer { server.shutdown() }
        let serving = Task(executorPreference: DedicatedThreads.executor) {
            let connection = try await server.accept()
            #expect(connection.alpn == "echo")
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    let datagram = try await connection.receiveDatagram()
                    try await connection.sendDatagram(datagram.reversed())
                }
                for _ in 0..<3 {
                    let stream = try await connection.acceptStream()
                    group.addTask {
                        while let chunk = try await stream.read() { try await stream.write(chunk) }
                        try await stream.finish()
                    }
                }
                try await group.waitForAll()
            }
        }
        let client = try QuicClient()
        defer { client.shutdown() }
        let connection = try await client.connect(
            to: QuicCore.SocketAddress("127.0.0.1:\(Self.port)")!, serverName: "server.test", configuration: Self.clientConfiguration())
        try await connection.sendDatagram([1, 2, 3])
        #expect(try await connection.receiveDatagram() == [3, 2, 1])
        try await withThrowingTaskGroup(of: Void.self) { group in
            for size in [2 << 20, 100_000, 7] {
                group.addTask {
                    let payload = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ size) }
                    let stream = try await connection.openStream()
                    async let sent: Void = stream.write(payload, fin: true)
                    let back = try await stream.readAll()
                    try await sent
                    #expect(Self.same(back, payload), "\(size)-byte echo")
                }
            }
            try await group.waitForAll()
        }
        try await serving.value
        connection.close()
    }

    @Test("echo of 1-6 MB, repeated: each comes back whole", arguments: [1, 2, 3, 5, 6])
    func bigEchoes(megabytes: Int) async throws {
        let port = Self.port &+ 10 &+ UInt16(megabytes)
        let server = try QuicServer(listen: "127.0.0.1:\(port)", configuration: Self.serverConfiguration())
        defer { server.shutdown() }
        let serving = Task(executorPreference: DedicatedThreads.executor) {
            let connection = try await server.accept()
            let stream = try await connection.acceptStream()
            while let chunk = try await stream.read() { try await stream.write(chunk) }
            try await stream.finish()
        }
        let client = try QuicClient()
        defer { client.shutdown() }
        let connection = try await client.connect(
            to: QuicCore.SocketAddress("127.0.0.1:\(port)")!, serverName: "server.test", configuration: Self.clientConfiguration())
        let payload = (0..<(megabytes << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 11) }
        let stream = try await connection.openStream()
        async let sent: Void = stream.write(payload, fin: true)
        let back = try await stream.readAll(limit: 64 << 20)
        try await sent
        #expect(back.count == payload.count)
        #expect(Self.same(back, payload))
        try await serving.value
        connection.close()
    }

    @Test("twelve connections in a row to one server (endpoint handles are reused), each echo intact")
    func sequentialConnections() async throws {
        let port = Self.port &+ 30
        let server = try QuicServer(listen: "127.0.0.1:\(port)", configuration: Self.serverConfiguration())
        defer { server.shutdown() }
        let serving = Task(executorPreference: DedicatedThreads.executor) {
            while let connection = try? await server.accept() {
                Task(executorPreference: DedicatedThreads.executor) {
                    while let stream = try? await connection.acceptStream() {
                        Task(executorPreference: DedicatedThreads.executor) {
                            while let chunk = try await stream.read() { try await stream.write(chunk) }
                            try await stream.finish()
                        }
                    }
                }
            }
        }
        defer { serving.cancel() }
        let client = try QuicClient()
        defer { client.shutdown() }
        for round in 0..<12 {
            let connection = try await client.connect(
                to: QuicCore.SocketAddress("127.0.0.1:\(port)")!, serverName: "server.test", configuration: Self.clientConfiguration())
            let payload = (0..<(300_000 + round * 1000)).map { UInt8(truncatingIfNeeded: $0 &+ round) }
            let stream = try await connection.openStream()
            async let sent: Void = stream.write(payload, fin: true)
            let back = try await stream.readAll()
            try await sent
            #expect(Self.same(back, payload), "round \(round)")
            connection.close()
            // Let the server drain the connection so its handle is reused by the next one.
            try await Task.sleep(for: .milliseconds(150))
        }
    }

    @Test("backpressure: a writer waits while the reader does not read; nothing is lost")
    func backpressure() async throws {
        let port = Self.port &+ 1
        let (server, client, connection, peer) = try await Self.connectedPair(port: port)
        defer { server.shutdown() }
        defer { client.shutdown() }
        let stream = try await connection.openStream()
        let total = 24 << 20  // far more than the stream window and both buffers together
        let written = Counter()
        let writer = Task(executorPreference: DedicatedThreads.executor) {
            var offset = 0
            while offset < total {
                let chunk = (0..<65536).map { UInt8(truncatingIfNeeded: (offset + $0) % 251) }
                try await stream.write(chunk, fin: offset + chunk.count >= total)
                offset += chunk.count
                written.set(offset)
            }
        }
        let incoming = try await peer.acceptStream()
        // Do not read for a while: the writer must stall well short of the total.
        try await Task.sleep(for: .milliseconds(500))
        let stalledAt = written.value
        #expect(stalledAt < total, "the writer was not held back")
        #expect(stalledAt > 0)
        var received = 0
        var corrupt = false
        while let chunk = try await incoming.read() {
            for (index, byte) in chunk.enumerated() where byte != UInt8((received + index) % 251) { corrupt = true }
            received += chunk.count
        }
        try await writer.value
        #expect(received == total)
        #expect(!corrupt)
        connection.close()
    }
}

extension EmbeddingAPITests {
    @Test("errors reach the reader: a reset after data (data first, then the code), the peer closing, our shutdown")
    func errorsReachReaders() async throws {
        let port = Self.port &+ 2
        let (server, client, connection, peer) = try await Self.connectedPair(port: port)
        defer { client.shutdown() }

        // Reset after some data: the reader gets the data, then the reset with its code.
        let resetStream = try await connection.openStream()
        try await resetStream.write([1, 2, 3, 4, 5])
        let incoming = try await peer.acceptStream()
        #expect(try await incoming.read(maxLength: 2) == [1, 2])
        var rest: [UInt8] = []
        while rest.count < 3, let chunk = try await incoming.read() { rest += chunk }
        #expect(rest == [3, 4, 5])
        resetStream.reset(errorCode: 77)
        await #expect(throws: QuicError.streamReset(77)) { _ = try await incoming.read() }

        // A reader waiting when the peer closes the connection gets the close.
        let quiet = try await connection.openStream()
        try await quiet.write([9])
        let waiting = try await peer.acceptStream()
        #expect(try await waiting.read() == [9])
        let pendingRead = Task(executorPreference: DedicatedThreads.executor) { try await waiting.read() }
        let pendingAccept = Task(executorPreference: DedicatedThreads.executor) { try await peer.acceptStream() }
        try await Task.sleep(for: .milliseconds(50))
        connection.close(errorCode: 3, reason: "bye")
        do {
            _ = try await pendingRead.value
            Issue.record("the read returned after the peer closed")
        } catch let error as QuicError {
            guard case .connectionClosed = error else { Issue.record("unexpected \(error)"); return }
        }
        await #expect(throws: QuicError.self) { _ = try await pendingAccept.value }
        #expect(peer.closeReason != nil)

        // Calls waiting when the endpoint shuts down fail with endpointStopped, and so do later ones.
        let pendingServerAccept = Task(executorPreference: DedicatedThreads.executor) { try await server.accept() }
        try await Task.sleep(for: .milliseconds(50))
        server.shutdown()
        await #expect(throws: QuicError.endpointStopped) { _ = try await pendingServerAccept.value }
        await #expect(throws: QuicError.endpointStopped) { _ = try await server.accept() }
        await #expect(throws: QuicError.endpointStopped) { try await waiting.write([1]) }
    }

    @Test("the peer sends, finishes and closes while our reader sleeps: what arrived stays readable, then the end")
    func dataBeforeCloseIsKept() async throws {
        let (server, client, connection, peer) = try await Self.connectedPair(port: Self.port &+ 4)
        defer { server.shutdown() }
        defer { client.shutdown() }
        // More than the stream channel holds (1 MiB), less than it plus QUIC's window, so part
        // of it is still inside QUIC when the close arrives.
        let payload = (0..<(1_080_000)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) }
        let stream = try await peer.openStream()
        try await stream.write(payload, fin: true)
        // Delivered and acknowledged: 1 MB on loopback takes milliseconds; the margin is for a
        // machine busy with the rest of the suite (800 ms once delivered only 615 kB).
        try await Task.sleep(for: .seconds(3))
        peer.close(errorCode: 0, reason: "done")
        let incoming = try await connection.acceptStream()
        try await Task.sleep(for: .milliseconds(400))  // the close is in
        #expect(connection.closeReason != nil)
        var received: [UInt8] = []
        do {
            while let chunk = try await incoming.read() { received += chunk }
        } catch {
            Issue.record("after \(received.count) of \(payload.count) bytes: \(error)")
        }
        #expect(received.count == payload.count)
        #expect(Self.same(received, payload))
    }

    @Test("many tasks write to one stream at once: every write completes and the bytes arrive whole")
    func concurrentWriters() async throws {
        let port = Self.port &+ 3
        let (server, client, connection, peer) = try await Self.connectedPair(port: port)
        defer { server.shutdown() }
        defer { client.shutdown() }
        let stream = try await connection.openStream()
        let writers = 16, perWriter = 200
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<writers {
                group.addTask {
                    for index in 0..<perWriter { try await stream.write([UInt8(writer), UInt8(index & 0xff), 0xee]) }
                }
            }
            try await group.waitForAll()
        }
        try await stream.finish()
        let incoming = try await peer.acceptStream()
        let bytes = try await incoming.readAll()
        #expect(bytes.count == writers * perWriter * 3)
        // Each 3-byte write arrives intact, and each writer's writes in order.
        var next = [Int](repeating: 0, count: writers)
        var intact = true
        for offset in stride(from: 0, to: bytes.count, by: 3) {
            let writer = Int(bytes[offset])
            guard writer < writers, bytes[offset + 2] == 0xee, Int(bytes[offset + 1]) == next[writer] & 0xff else { intact = false; break }
            next[writer] += 1
        }
        #expect(intact)
        connection.close()
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var stored = 0
    var value: Int { lock.withLock { stored } }
    func set(_ value: Int) { lock.withLock { stored = value } }
}
