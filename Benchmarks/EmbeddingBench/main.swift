// Embedding-API benchmarks (not tests): what the hand-off between application tasks and the
// engine's worker thread costs, measured through the public API over the UDP socket on loopback.
//  1. Bulk echo: one stream, N MiB written in 64 KiB chunks and read back concurrently (MiB/s
//     of echoed payload).
//  2. Ping-pong: one stream, a 64-byte message out and back, strictly one at a time (round
//     trips/s): every round trip crosses the hand-off four times (write, server read, server
//     write, client read).
//  3. The command queue alone: producer threads hand integers to a consumer thread that
//     sleeps in poll(2) on an eventfd when idle, through the design before the lock-free
//     hand-off (a mutex-guarded array, an atomic flag, an eventfd write per command) and
//     through `MPSCQueue` with a wakeup only when it goes non-empty while the consumer sleeps.
import Foundation
import CQuicShim
import Glibc
import QuicDatapath
import QuicXDP
import Synchronization

let arguments = CommandLine.arguments
func option(_ name: String) -> String? {
    arguments.first { $0.hasPrefix("--\(name)=") }.map { String($0.dropFirst(name.count + 3)) }
}
let megabytes = Int(option("megabytes") ?? "") ?? 32
let pingPongs = Int(option("round-trips") ?? "") ?? 5000
let rounds = Int(option("rounds") ?? "") ?? 3
let pki = option("pki") ?? "Tests/PKI"

func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

func serverConfiguration() throws -> ConnectionConfiguration {
    ConnectionConfiguration(tls: try TLSSetup.server(
        certificate: pki + "/server-p256-chain.pem", key: pki + "/server-p256.key", alpn: ["echo"]))
}

func clientConfiguration() throws -> ConnectionConfiguration {
    ConnectionConfiguration(tls: try TLSSetup.client(alpn: ["echo"], caFile: pki + "/ca.pem", insecure: false))
}

/// A server that echoes every stream of every connection.
func startEchoServer(port: UInt16) throws -> (QuicServer, Task<Void, Never>) {
    let server = try QuicServer(listen: "127.0.0.1:\(port)", configuration: serverConfiguration())
    let serving = Task {
        while let connection = try? await server.accept() {
            Task {
                while let stream = try? await connection.acceptStream() {
                    Task {
                        while let chunk = try? await stream.read() {
                            guard (try? await stream.write(chunk)) != nil else { return }
                        }
                        try? await stream.finish()
                    }
                }
            }
        }
    }
    return (server, serving)
}

func bulkEcho(_ connection: QuicConnection, bytes: Int) async throws -> Double {
    let chunk = [UInt8](repeating: 0x5a, count: 65536)
    let stream = try await connection.openStream()
    let start = ContinuousClock.now
    async let sent: Void = {
        var offset = 0
        while offset < bytes {
            try await stream.write(chunk, fin: offset + chunk.count >= bytes)
            offset += chunk.count
        }
    }()
    var received = 0
    while let data = try await stream.read() { received += data.count }
    try await sent
    let elapsed = ContinuousClock.now - start
    guard received == bytes else { throw QuicError.connectionClosed("echoed \(received) of \(bytes) bytes") }
    return Double(bytes) / 1_048_576 / (Double(elapsed.components.attoseconds) / 1e18 + Double(elapsed.components.seconds))
}

func pingPong(_ connection: QuicConnection, count: Int) async throws -> Double {
    let message = [UInt8](repeating: 0xa5, count: 64)
    let stream = try await connection.openStream()
    let start = ContinuousClock.now
    for _ in 0..<count {
        try await stream.write(message)
        var got = 0
        while got < message.count {
            guard let data = try await stream.read() else { throw QuicError.streamClosed }
            got += data.count
        }
    }
    let elapsed = ContinuousClock.now - start
    try await stream.finish()
    return Double(count) / (Double(elapsed.components.attoseconds) / 1e18 + Double(elapsed.components.seconds))
}

// MARK: - 3. Command hand-off alone

/// The consumer's sleep: poll(2) on an eventfd with a 100 ms cap, as the engine does.
final class Sleeper: @unchecked Sendable {
    let descriptor = eventfd(0, Int32(EFD_NONBLOCK))
    func wake() { var one: UInt64 = 1; _ = Glibc.write(descriptor, &one, 8) }
    func sleep() {
        var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        if poll(&entry, 1, 100) > 0 { var value: UInt64 = 0; _ = Glibc.read(descriptor, &value, 8) }
    }
    deinit { close(descriptor) }
}

protocol CommandHandoff: Sendable {
    func submit(_ value: Int)
    /// Consumer: takes what is queued without blocking; returns how many.
    func take() -> Int
    /// Consumer: blocks in poll(2) unless something is queued.
    func sleepIfIdle()
}

/// The design before: `Bridge.submit` appended under a mutex, set `hasWork` and woke the
/// engine every time; the engine exchanged `hasWork` and took the array under the mutex.
final class MutexHandoff: CommandHandoff, @unchecked Sendable {
    let state = Mutex<[Int]>([])
    let hasWork = Atomic<Bool>(false)
    let sleeper = Sleeper()
    func submit(_ value: Int) {
        state.withLock { $0.append(value) }
        hasWork.store(true, ordering: .releasing)
        sleeper.wake()
    }
    func take() -> Int {
        guard hasWork.exchange(false, ordering: .acquiring) else { return 0 }
        return state.withLock { state -> Int in defer { state = [] }; return state.count }
    }
    func sleepIfIdle() { if !hasWork.load(ordering: .acquiring) { sleeper.sleep() } }
}

/// The design now: `WorkerMailbox` (MPSC push; eventfd only when it went non-empty while the
/// consumer announced it sleeps).
final class QueueHandoff: CommandHandoff, @unchecked Sendable {
    let queue = MPSCQueue<Int>()
    let sleeping = Atomic<Bool>(false)
    let sleeper = Sleeper()
    func submit(_ value: Int) {
        if case .queued(true) = queue.push(value), sleeping.load(ordering: .sequentiallyConsistent) { sleeper.wake() }
    }
    func take() -> Int { queue.drain { _ in } }
    func sleepIfIdle() {
        sleeping.store(true, ordering: .sequentiallyConsistent)
        if queue.isEmpty { sleeper.sleep() }
        sleeping.store(false, ordering: .relaxed)
    }
}

/// ns per command with `producers` threads each submitting `perProducer` commands, the
/// consumer spinning `spins` empty turns before it sleeps (the engine's busy-poll).
func handoffCost(_ handoff: some CommandHandoff, producers: Int, perProducer: Int, spins: Int) -> Double {
    let total = producers * perProducer
    let start = ContinuousClock.now
    let consumer = Thread {
        var taken = 0, idle = 0
        while taken < total {
            let count = handoff.take()
            taken += count
            idle = count > 0 ? 0 : idle + 1
            if idle >= spins {
                handoff.sleepIfIdle()
                idle = 0
            }
        }
    }
    let done = Atomic<Int>(0)
    consumer.start()
    for _ in 0..<producers {
        Thread {
            for value in 0..<perProducer { handoff.submit(value) }
            done.add(1, ordering: .releasing)
        }.start()
    }
    while done.load(ordering: .acquiring) < producers || !consumer.isFinished { usleep(200) }
    let elapsed = ContinuousClock.now - start
    return (Double(elapsed.components.seconds) * 1e9 + Double(elapsed.components.attoseconds) / 1e9) / Double(total)
}

func commandHandoffRows() {
    print("command hand-off alone: producer threads → one consumer thread (busy-polls 256 empty turns, then poll(2) on an eventfd), median of \(rounds)")
    print("  producers  mutex+array+eventfd ns/cmd  MPSC queue ns/cmd  ratio")
    for producers in [1, 2, 4] {
        var old: [Double] = [], new: [Double] = []
        for _ in 0..<rounds {
            old.append(handoffCost(MutexHandoff(), producers: producers, perProducer: 200_000, spins: 256))
            new.append(handoffCost(QueueHandoff(), producers: producers, perProducer: 200_000, spins: 256))
        }
        let a = median(old), b = median(new)
        print("  \(producers)          \(String(format: "%10.1f", a))                  \(String(format: "%8.1f", b))          \(String(format: "%.2f", b / a))x")
    }
}

if !arguments.contains("--end-to-end-only") { commandHandoffRows() }
if arguments.contains("--handoff-only") { exit(0) }

let port = UInt16.random(in: 41000...49000)
do {
    let (server, serving) = try startEchoServer(port: port)
    let client = try QuicClient()
    let connection = try await client.connect(
        to: QuicCore.SocketAddress("127.0.0.1:\(port)")!, serverName: "server.test", configuration: clientConfiguration())
    var bulk: [Double] = []
    var trips: [Double] = []
    for _ in 0..<rounds {
        bulk.append(try await bulkEcho(connection, bytes: megabytes << 20))
        trips.append(try await pingPong(connection, count: pingPongs))
    }
    print("embedding API over the UDP socket on 127.0.0.1 (client and server in one process, median of \(rounds))")
    print("  bulk echo, \(megabytes) MiB in 64 KiB writes   \(String(format: "%8.1f", median(bulk))) MiB/s   (rounds: \(bulk.map { String(format: "%.1f", $0) }.joined(separator: ", ")))")
    print("  ping-pong, 64 B, \(pingPongs) round trips   \(String(format: "%8.0f", median(trips))) round trips/s  (\(String(format: "%.1f", 1e6 / median(trips))) µs each)")
    connection.close()
    client.shutdown()
    server.shutdown()
    serving.cancel()
} catch {
    print("error: \(error)")
    exit(1)
}
