import Foundation
import Glibc
import QuicDatapath

/// Two network namespaces joined by a veth pair with one queue each (or `queues`), addressed
/// 10.200.0.1/24 + fd00:200::1/64 (side A) and .2 (side B). Names are unique per instance so
/// parallel tests do not collide; `close()` (called by `withNamespacePair` on every path)
/// deletes both namespaces, which removes the veth, and any pins left for the interface.
final class NamespacePair: @unchecked Sendable {
    let namespaceA: String
    let namespaceB: String
    let interfaceA: String
    let interfaceB: String
    let addressA4 = "10.200.0.1"
    let addressB4 = "10.200.0.2"
    let addressA6 = "fd00:200::1"
    let addressB6 = "fd00:200::2"

    var pathA: String { "/var/run/netns/" + namespaceA }
    var pathB: String { "/var/run/netns/" + namespaceB }

    init(tag: String, queues: Int = 1) throws {
        let unique = String(UInt32.random(in: 0..<UInt32.max), radix: 36)
        namespaceA = "qx-\(tag)-\(unique)-a"
        namespaceB = "qx-\(tag)-\(unique)-b"
        // Interface names are global until moved and at most 15 bytes.
        let short = String(unique.prefix(7))
        interfaceA = "qa\(short)"
        interfaceB = "qb\(short)"
        do {
            try run(["ip", "netns", "add", namespaceA], check: true)
            try run(["ip", "netns", "add", namespaceB], check: true)
            let count = String(queues)
            try run(["ip", "link", "add", interfaceA, "numrxqueues", count, "numtxqueues", count, "type", "veth",
                     "peer", "name", interfaceB, "numrxqueues", count, "numtxqueues", count], check: true)
            try run(["ip", "link", "set", interfaceA, "netns", namespaceA], check: true)
            try run(["ip", "link", "set", interfaceB, "netns", namespaceB], check: true)
            for (ns, dev, v4, v6) in [(namespaceA, interfaceA, addressA4, addressA6), (namespaceB, interfaceB, addressB4, addressB6)] {
                try run(["ip", "-n", ns, "addr", "add", v4 + "/24", "dev", dev], check: true)
                try run(["ip", "-n", ns, "addr", "add", v6 + "/64", "dev", dev, "nodad"], check: true)
                try run(["ip", "-n", ns, "link", "set", dev, "up"], check: true)
                try run(["ip", "-n", ns, "link", "set", "lo", "up"], check: true)
                // veth's tx checksum offload leaves partial UDP checksums (DESIGN.md).
                try run(["nsenter", "--net=/var/run/netns/" + ns, "ethtool", "-K", dev, "tx", "off"], check: true)
            }
        } catch {
            close()
            throw error
        }
    }

    func close() {
        _ = try? run(["ip", "netns", "del", namespaceA])
        _ = try? run(["ip", "netns", "del", namespaceB])
        _ = try? run(["ip", "link", "del", interfaceA]) // if it never moved
        _ = try? run(["rm", "-rf", XDPPins.directory(for: interfaceA)])
        _ = try? run(["rmdir", XDPPins.root]) // fails harmlessly while other tests hold pins
    }

    /// Runs `body` on a thread inside namespace A (or B) and returns its result.
    func inA<T>(_ body: @escaping () throws -> T) throws -> T { try inNamespace(pathA, body) }
    func inB<T>(_ body: @escaping () throws -> T) throws -> T { try inNamespace(pathB, body) }

    /// `command` run inside a namespace with nsenter (no /sys remount, unlike `ip netns exec`).
    func command(inA: Bool = true, _ arguments: [String]) -> [String] {
        ["nsenter", "--net=" + (inA ? pathA : pathB)] + arguments
    }
}

/// Creates a namespace pair, runs `body`, and always removes the pair.
func withNamespacePair<T>(_ tag: String, queues: Int = 1, _ body: (NamespacePair) throws -> T) throws -> T {
    let pair = try NamespacePair(tag: tag, queues: queues)
    defer { pair.close() }
    return try body(pair)
}

final class ResultBox<T>: @unchecked Sendable {
    var result: Result<T, any Error>?
}

/// Runs `body` on a dedicated thread that joined the namespace at `path`.
func inNamespace<T>(_ path: String, _ body: @escaping () throws -> T) throws -> T {
    let box = ResultBox<T>()
    nonisolated(unsafe) let work = body
    let thread = try WorkerThread(networkNamespace: path) {
        box.result = Result { try work() }
    }
    try thread.join()
    return try box.result!.get()
}

/// A thread running in a namespace that can be joined later.
final class BackgroundThread<T>: @unchecked Sendable {
    let box = ResultBox<T>()
    let thread: WorkerThread

    init(namespace path: String?, _ body: @escaping () throws -> T) throws {
        let box = self.box
        nonisolated(unsafe) let work = body
        thread = try WorkerThread(networkNamespace: path) { box.result = Result { try work() } }
    }

    func join() throws -> T {
        try thread.join()
        return try box.result!.get()
    }
}
