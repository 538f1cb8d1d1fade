import BenchSupport
import Glibc
import QuicCore
import QuicCrypto
import QuicTLS
import QuicWire

// QuicCore benchmark (issue 4): a client and a server endpoint in one process on one core, joined
// by an in-memory path with no loss and no delay; one stream carries the data. Prints goodput,
// packets per second, heap allocations per packet in steady state, and the server's receive path
// (Endpoint.handle of a 1-RTT data datagram, including stream reassembly and ACK bookkeeping)
// next to a raw OpenSSL header-protection + AEAD open of the same bytes, in the same run: each
// timed datagram is first opened raw (memcpy + header protection + AEAD open, on a copy) and then
// handed to the endpoint, both timed the same way, so cache state, clock overhead and the noise
// of a shared machine fall on both alike.
//
// Usage: CoreBench [PKI directory (default Tests/PKI)] [megabytes (default 400)]

func fail(_ message: String) -> Never {
    print("CoreBench: \(message)")
    exit(1)
}

final class KeyLogCapture: @unchecked Sendable {
    var lines: [String] = []
}

/// Datagrams in flight one way: fixed 1500-byte slots, reused.
struct Wire {
    let slots: UnsafeMutableRawBufferPointer
    var sizes: [Int]
    var head = 0
    var count = 0
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
        slots = .allocate(byteCount: capacity * 1500, alignment: 64)
        sizes = Array(repeating: 0, count: capacity)
    }

    func slot(_ index: Int) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(rebasing: slots[(index * 1500)..<((index + 1) * 1500)])
    }

    var isFull: Bool { count == capacity }
    /// The slot the next datagram is written into.
    var tail: UnsafeMutableRawBufferPointer { slot((head + count) % capacity) }
    mutating func push(_ size: Int) {
        sizes[(head + count) % capacity] = size
        count += 1
    }
    mutating func pop() -> UnsafeMutableRawBufferPointer? {
        guard count > 0 else { return nil }
        let datagram = UnsafeMutableRawBufferPointer(rebasing: slot(head)[..<sizes[head]])
        head = (head + 1) % capacity
        count -= 1
        return datagram
    }
}


@MainActor
func runBenchmark() {
    let pki = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "Tests/PKI"
    let megabytes = CommandLine.arguments.count > 2 ? Int(CommandLine.arguments[2]) ?? 400 : 400
    let totalBytes = megabytes * 1024 * 1024
    let warmupBytes = totalBytes / 10


    // MARK: Setup

    let keyLog = KeyLogCapture()

    var serverTLS = TLSConfiguration(alpn: ["bench"])
    do {
        serverTLS.certificateChain = try Certificate.chain(pemFile: "\(pki)/server-p256-chain.pem")
        serverTLS.privateKey = try PrivateKey(pemFile: "\(pki)/server-p256.key")
    } catch {
        fail("cannot read the test PKI in \(pki) (\(error)); run from the repository root or pass the directory")
    }
    var clientTLS = TLSConfiguration(alpn: ["bench"])
    clientTLS.verification = .caFile("\(pki)/ca.pem")
    clientTLS.keyLog = { keyLog.lines.append($0) }

    var serverConfiguration = ConnectionConfiguration(tls: serverTLS)
    serverConfiguration.streams.maximumStreamWindow = 16 << 20
    serverConfiguration.streams.maximumData = 32 << 20
    let clientConfiguration = ConnectionConfiguration(tls: clientTLS)

    let server = Endpoint(
        configuration: EndpointConfiguration(server: serverConfiguration, idGenerator: QuicLBConnectionIDGenerator(serverID: 1)))
    let client = Endpoint(configuration: EndpointConfiguration(idGenerator: QuicLBConnectionIDGenerator(serverID: 2)))
    let clientAddress = SocketAddress(ipv4: (10, 0, 0, 1), port: 50000)
    let serverAddress = SocketAddress(ipv4: (10, 0, 0, 2), port: 443)

    func now() -> Instant { Instant(nanoseconds: nanoseconds()) }

    var toServer = Wire(capacity: 4096)
    var toClient = Wire(capacity: 4096)
    let reply = UnsafeMutableRawBufferPointer.allocate(byteCount: 2048, alignment: 64)

    let clientHandle: ConnectionHandle
    do {
        clientHandle = try client.connect(to: serverAddress, serverName: "server.test", configuration: clientConfiguration, now: now())
    } catch {
        fail("connect failed: \(error)")
    }
    var serverHandle: ConnectionHandle?

    /// Transmits of one side into a wire.
    func drain(_ connection: Connection, into wire: inout Wire) -> Int {
        var packets = 0
        let batchTime = now()
        while !wire.isFull, let transmit = connection.pollTransmit(now: batchTime, into: wire.tail) {
            wire.push(transmit.size)
            packets += 1
        }
        return packets
    }

    // Receive-path timing state (server side, steady state only).
    var measuring = false
    var receiveNanoseconds: UInt64 = 0
    var receivedDatagrams = 0
    /// ns per datagram of each timed batch: the median is robust to preemption on a shared machine.
    var batchRates: [Double] = []
    batchRates.reserveCapacity(1 << 20)
    // The raw-open baseline, interleaved with the receive path (set up after the handshake).
    var raw: RawEVPPacketProtection?
    // Behind a pointer: a captured `var` would cost the timed raw open a dynamic exclusivity
    // check that the endpoint's path does not have.
    let rawLargestStorage = UnsafeMutablePointer<UInt64?>.allocate(capacity: 1)
    rawLargestStorage.initialize(to: nil)
    var rawRates: [Double] = []
    rawRates.reserveCapacity(1 << 20)
    /// Each batch's receive time over its raw-open time: both ran on the same datagrams within
    /// microseconds of each other, so a slow spell of the shared machine falls on both.
    var pairedRatios: [Double] = []
    pairedRatios.reserveCapacity(1 << 20)
    var rawFailures = 0
    let pristine = UnsafeMutableRawBufferPointer.allocate(byteCount: 1500, alignment: 64)
    let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 1500, alignment: 64)
    var pnOffset = 0

    /// Raw header-protection removal and AEAD open of the datagram in `pristine`, into `scratch`.
    func rawOpen(_ size: Int) -> Bool {
        scratch.baseAddress!.copyMemory(from: pristine.baseAddress!, byteCount: size)
        var largest = rawLargestStorage.pointee
        let opened = raw!.unprotect(scratch.baseAddress!.assumingMemoryBound(to: UInt8.self), count: size, pnOffset: pnOffset) {
            truncated, length in
            let number = PacketNumberCoding.decode(truncated: truncated, length: length, largestProcessed: largest)
            largest = number
            return number
        }
        rawLargestStorage.pointee = largest
        return opened
    }

    /// Before the first timed datagram: its full packet number, by trying each multiple of the
    /// truncation (a 1- or 2-byte packet number needs a reference), untimed.
    func findFirstPacketNumber(_ size: Int) {
        for multiple in UInt64(0)..<100_000 {
            scratch.baseAddress!.copyMemory(from: pristine.baseAddress!, byteCount: size)
            var candidate: UInt64 = 0
            let opened = raw!.unprotect(scratch.baseAddress!.assumingMemoryBound(to: UInt8.self), count: size, pnOffset: pnOffset) {
                truncated, length in
                candidate = truncated + multiple << UInt64(8 * length)
                return candidate
            }
            if opened {
                rawLargestStorage.pointee = candidate - 1
                return
            }
        }
        fail("could not open the first timed datagram with the key log's secret")
    }

    /// Delivers one side's queued datagrams to an endpoint.
    func deliver(_ wire: inout Wire, to endpoint: Endpoint, from address: SocketAddress, timed: Bool) {
        // One clock reading per batch, as the poll-mode engine does.
        let batchTime = now()
        var batchNanoseconds: UInt64 = 0
        var rawBatchNanoseconds: UInt64 = 0
        var batchCount = 0
        defer {
            if batchCount >= 8 {
                batchRates.append(Double(batchNanoseconds) / Double(batchCount))
                rawRates.append(Double(rawBatchNanoseconds) / Double(batchCount))
                pairedRatios.append(Double(batchNanoseconds) / Double(max(rawBatchNanoseconds, 1)))
            }
        }
        while let datagram = wire.pop() {
            if timed && measuring {
                // Untimed: the copy the raw open starts from (it also brings the datagram into
                // the cache for both).
                pristine.baseAddress!.copyMemory(from: datagram.baseAddress!, byteCount: datagram.count)
                if rawLargestStorage.pointee == nil { findFirstPacketNumber(datagram.count) }
                let rawStart = nanoseconds()
                let opened = rawOpen(datagram.count)
                rawBatchNanoseconds += nanoseconds() - rawStart
                if !opened { rawFailures += 1 }
            }
            let start = timed && measuring ? nanoseconds() : 0
            let event = endpoint.handle(datagram: datagram, from: address, ecn: .notECT, now: batchTime, replyBuffer: reply)
            if timed && measuring {
                let spent = nanoseconds() - start
                receiveNanoseconds += spent
                receivedDatagrams += 1
                batchNanoseconds += spent
                batchCount += 1
            }
            if case .incoming(let incoming) = event {
                do { serverHandle = try server.accept(incoming, now: now()) } catch { fail("accept failed: \(error)") }
            }
        }
    }

    func runTimers(_ endpoint: Endpoint, _ handle: ConnectionHandle?) {
        guard let handle, let connection = endpoint.connection(handle) else { return }
        if let timeout = connection.pollTimeout(), timeout <= now() { connection.handleTimeout(now: now()) }
        endpoint.processEvents(of: handle)
    }

    // MARK: Handshake

    let handshakeStart = nanoseconds()
    while !(client.connection(clientHandle)?.isEstablished ?? false) || serverHandle == nil
        || !(server.connection(serverHandle!)?.isEstablished ?? false)
    {
        _ = drain(client.connection(clientHandle)!, into: &toServer)
        deliver(&toServer, to: server, from: clientAddress, timed: false)
        if let serverHandle, let connection = server.connection(serverHandle) { _ = drain(connection, into: &toClient) }
        deliver(&toClient, to: client, from: serverAddress, timed: false)
        runTimers(client, clientHandle)
        runTimers(server, serverHandle)
        if nanoseconds() - handshakeStart > 5_000_000_000 {
            fail("handshake did not complete: client \(String(describing: client.connection(clientHandle)?.closeReason)), server \(String(describing: serverHandle.flatMap { server.connection($0)?.closeReason }))")
        }
    }
    let clientConnection = client.connection(clientHandle)!
    let serverConnection = server.connection(serverHandle!)!
    while let _ = clientConnection.pollEvent() {}

    var secret: [UInt8]?
    for line in keyLog.lines where line.hasPrefix("CLIENT_TRAFFIC_SECRET_0 ") {
        let hex = Array(line.split(separator: " ")[2].utf8)
        secret = stride(from: 0, to: hex.count, by: 2).map { index in
            func value(_ digit: UInt8) -> UInt8 { digit >= 97 ? digit - 87 : digit - 48 }
            return value(hex[index]) << 4 | value(hex[index + 1])
        }
    }
    guard let secret, let suite = clientConnection.cipherSuite else { fail("no 1-RTT secret in the key log") }
    raw = RawEVPPacketProtection(suite: suite, material: PacketKeyMaterial(suite: suite, secret: secret, version: .v1), sealing: false)
    pnOffset = 1 + serverConnection.sourceConnectionID.length

    // MARK: Transfer
    /// The server's receive path, in a frame of its own so a profile can tell it from the client's.
    @inline(never) func serverSideDeliver(_ wire: inout Wire) { deliver(&wire, to: server, from: clientAddress, timed: true) }

    guard let stream = clientConnection.openStream(.bidirectional) else { fail("could not open a stream") }
    let source = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 64)
    for index in 0..<source.count { source[index] = UInt8(truncatingIfNeeded: index) }
    let sink = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 64)

    var written = 0
    var read = 0
    var packetsSent = 0
    var start: UInt64 = 0
    var startAllocations: UInt64 = 0
    var startPackets = 0
    var startRead = 0
    var done = false

    while !done {
        // The client's application keeps the stream buffer full.
        while written < totalBytes {
            let chunk = min(source.count, totalBytes - written, clientConnection.writableBytes(stream))
            guard chunk > 0 else { break }
            let taken = (try? clientConnection.write(stream, UnsafeRawBufferPointer(rebasing: source[..<chunk]), fin: written + chunk == totalBytes)) ?? 0
            written += taken
            if taken == 0 { break }
        }
        packetsSent += drain(clientConnection, into: &toServer)
        serverSideDeliver(&toServer)
        // The server's application reads everything it can.
        while let event = serverConnection.pollEvent() { _ = event }
        while true {
            guard let (count, fin) = try? serverConnection.read(stream, into: sink) else { break }
            read += count
            if fin { done = true }
            if count == 0 { break }
        }
        packetsSent += drain(serverConnection, into: &toClient)
        deliver(&toClient, to: client, from: serverAddress, timed: false)
        while let event = clientConnection.pollEvent() { _ = event }
        runTimers(client, clientHandle)
        runTimers(server, serverHandle)

        if !measuring && read >= warmupBytes {
            measuring = true
            start = nanoseconds()
            startAllocations = allocationCount()
            startPackets = packetsSent
            startRead = read
        }
    }
    let elapsed = Double(nanoseconds() - start) / 1e9
    let allocations = allocationCount() - startAllocations
    let steadyPackets = packetsSent - startPackets
    let steadyBytes = read - startRead
    guard read == totalBytes else { fail("the server read \(read) of \(totalBytes) bytes") }

    guard rawFailures == 0 else { fail("raw EVP failed to open \(rawFailures) timed datagrams (a key update?)") }

    // MARK: Report

    let goodputGbit = Double(steadyBytes) * 8 / elapsed / 1e9
    func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
    }
    let receiveNs = median(batchRates)
    let rawNs = median(rawRates)
    let receiveMean = Double(receiveNanoseconds) / Double(max(receivedDatagrams, 1))
    print("allocation counter self-check: \(format(checkAllocationCounter(), decimals: 2)) allocations per 64-byte Array (expected >= 1)")
    print("QuicCore benchmark: one stream, \(megabytes) MiB, client and server in one process on one core, in-memory path")
    print("  steady state (after \(warmupBytes >> 20) MiB warm-up): \(steadyBytes >> 20) MiB in \(format(elapsed, decimals: 3)) s")
    print("  goodput:                 \(format(goodputGbit, decimals: 2)) Gbit/s")
    print("  packets (both ways):     \(format(Double(steadyPackets) / elapsed / 1e3, decimals: 1)) k/s (\(steadyPackets) packets)")
    print("  heap allocations:        \(format(Double(allocations) / Double(max(steadyPackets, 1)), decimals: 4)) per packet (\(allocations) in steady state; target 0)")
    print("  receive path:            \(format(receiveNs)) ns per 1-RTT datagram, median of \(batchRates.count) batches (mean \(format(receiveMean))); Endpoint.handle: unprotect, frames, stream reassembly, ACK state")
    print("  raw EVP open, same bytes: \(format(rawNs)) ns per datagram, median of \(rawRates.count) batches (memcpy + header protection + AEAD open of each timed datagram, just before the endpoint gets it)")
    print("  ratio of the medians:    \(format(receiveNs / rawNs, decimals: 3))")
    print("  ratio:                   \(format(median(pairedRatios), decimals: 3)) (target <= 1.25; median of the \(pairedRatios.count) per-batch ratios, each batch timed both ways)")
}

runBenchmark()
