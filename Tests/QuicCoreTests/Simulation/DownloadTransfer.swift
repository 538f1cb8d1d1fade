@testable import QuicCore
import QuicWire

/// The server sends `size` bytes on one unidirectional stream it opens; the client checks that
/// every byte arrives intact and in order (the download counterpart of `StreamTransfer`).
final class DownloadTransfer {
    let pair: Pair
    let size: Int
    private(set) var stream: StreamID?
    private var written = 0
    private var finished = false
    private(set) var received = 0
    private(set) var receivedFin = false
    private(set) var corruptions = 0
    private var scratch = [UInt8](repeating: 0, count: 1 << 16)

    init(pair: Pair, size: Int) {
        self.pair = pair
        self.size = size
    }

    static func byte(offset: Int) -> UInt8 { UInt8(truncatingIfNeeded: (offset &* 7) ^ (offset >> 9) ^ 0x5a) }

    /// Opens the stream when allowed and writes what the buffer takes; reads on the client.
    func pump() {
        if let server = pair.serverConnection, server.isEstablished {
            if stream == nil { stream = server.openStream(.unidirectional) }
            if let id = stream, !finished {
                let chunk = min(size - written, server.writableBytes(id), scratch.count)
                if chunk > 0 {
                    for index in 0..<chunk { scratch[index] = Self.byte(offset: written + index) }
                    written += (try? scratch.withUnsafeBytes { try server.write(id, UnsafeRawBufferPointer(rebasing: $0[..<chunk])) }) ?? 0
                }
                if written == size {
                    try? server.finish(id)
                    finished = true
                }
            }
        }
        guard let client = pair.clientConnection, let id = stream else { return }
        while true {
            guard let (count, fin) = try? scratch.withUnsafeMutableBytes({ try client.read(id, into: $0) }) else { break }
            for index in 0..<count where scratch[index] != Self.byte(offset: received + index) { corruptions += 1 }
            received += count
            if fin { receivedFin = true }
            if count == 0 { break }
        }
    }

    var isComplete: Bool { receivedFin && received == size }

    /// Runs until complete or `limit`; `during` is called after every step (for invariants).
    @discardableResult
    func run(limit: TimeSpan = .seconds(120), during: () -> Void = {}) -> TimeSpan? {
        let start = pair.now
        let done = pair.run(for: limit) {
            pump()
            during()
            return isComplete
        }
        return done ? pair.now - start : nil
    }
}
