@testable import QuicCore
import QuicWire

/// Sends `sizes[i]` bytes on client stream i and checks on the server that every byte arrives
/// intact and in order, using a pattern that depends on the stream and the offset.
final class StreamTransfer {
    let pair: Pair
    let sizes: [Int]
    private(set) var streamIDs: [StreamID] = []
    /// Which entry of `sizes` a stream carries.
    private var indexOf: [StreamID: Int] = [:]
    private var written: [Int]
    private var finished: [Bool]
    /// Server side: bytes received per stream ID, and whether FIN arrived.
    private(set) var receivedBytes: [StreamID: Int] = [:]
    private(set) var receivedFin: Set<StreamID> = []
    private(set) var corruptions = 0
    private var scratch = [UInt8](repeating: 0, count: 1 << 16)

    init(pair: Pair, sizes: [Int]) {
        self.pair = pair
        self.sizes = sizes
        written = Array(repeating: 0, count: sizes.count)
        finished = Array(repeating: false, count: sizes.count)
    }

    static func byte(stream: Int, offset: Int) -> UInt8 {
        UInt8(truncatingIfNeeded: (offset &* 31) ^ (offset >> 8) ^ (stream &* 131))
    }

    /// Opens streams as the limit allows and writes what the buffers take.
    func pump() {
        guard let client = pair.clientConnection, client.isEstablished else { return }
        while streamIDs.count < sizes.count, let id = client.openStream(.bidirectional) {
            indexOf[id] = streamIDs.count
            streamIDs.append(id)
        }
        for (index, id) in streamIDs.enumerated() where !finished[index] {
            let remaining = sizes[index] - written[index]
            let chunk = min(remaining, client.writableBytes(id), scratch.count)
            if chunk > 0 {
                for offset in 0..<chunk { scratch[offset] = Self.byte(stream: index, offset: written[index] + offset) }
                let taken = (try? scratch.withUnsafeBytes { try client.write(id, UnsafeRawBufferPointer(rebasing: $0[..<chunk])) }) ?? 0
                written[index] += taken
            }
            if written[index] == sizes[index] {
                try? client.finish(id)
                finished[index] = true
            }
        }
        drainServer()
    }

    /// Reads everything readable on the server's streams and checks it.
    func drainServer() {
        guard let server = pair.serverConnection else { return }
        for id in server.streams.streams.keys where id.initiator == .client {
            guard let index = indexOf[id] else { continue }
            while true {
                guard let (count, fin) = try? scratch.withUnsafeMutableBytes({ try server.read(id, into: $0) }) else { break }
                let start = receivedBytes[id, default: 0]
                for offset in 0..<count where scratch[offset] != Self.byte(stream: index, offset: start + offset) {
                    corruptions += 1
                }
                receivedBytes[id] = start + count
                if fin { receivedFin.insert(id) }
                if count == 0 { break }
            }
        }
    }

    var isComplete: Bool {
        streamIDs.count == sizes.count && receivedFin.count == sizes.count
            && streamIDs.enumerated().allSatisfy { index, id in receivedBytes[id] == sizes[index] }
    }

    /// Runs the transfer to completion or the time limit; returns the simulated duration.
    @discardableResult
    func run(limit: TimeSpan = .seconds(600)) -> TimeSpan? {
        let start = pair.now
        let done = pair.run(for: limit) {
            pump()
            return isComplete
        }
        return done ? pair.now - start : nil
    }
}
