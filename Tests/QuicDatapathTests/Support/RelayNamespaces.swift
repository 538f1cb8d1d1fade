import Foundation
import Glibc
import QuicDatapath

/// Three namespaces in a row for the impairment relay: client ⇄ relay ⇄ server, joined by two
/// veth pairs. Addresses repeat between instances (namespaces do not share an IP stack); names
/// are unique so tests can run side by side. `close()` deletes all three, which removes the veths.
///
///     client 10.201.1.2/24 ── 10.201.1.1/24 relay 10.201.2.1/24 (+ 10.201.2.3) ── 10.201.2.2/24 server
final class RelayNamespaces: @unchecked Sendable {
    let client: String
    let relay: String
    let server: String
    let clientAddress = "10.201.1.2"
    let relayClientSide = "10.201.1.1"
    let relayServerSide = "10.201.2.1"
    /// A second relay address on the server side, for --rebind-addr.
    let relayServerSideAlternate = "10.201.2.3"
    let serverAddress = "10.201.2.2"

    var clientPath: String { "/var/run/netns/" + client }
    var relayPath: String { "/var/run/netns/" + relay }
    var serverPath: String { "/var/run/netns/" + server }

    init(tag: String) throws {
        let unique = String(UInt32.random(in: 0..<UInt32.max), radix: 36)
        client = "qx-\(tag)-\(unique)-c"
        relay = "qx-\(tag)-\(unique)-r"
        server = "qx-\(tag)-\(unique)-s"
        let short = String(unique.prefix(7))
        // Interface names are global until moved and at most 15 bytes.
        let (clientEnd, relayClientEnd, relayServerEnd, serverEnd) = ("qc\(short)", "qrc\(short)", "qrs\(short)", "qs\(short)")
        do {
            for namespace in [client, relay, server] { try run(["ip", "netns", "add", namespace], check: true) }
            try run(["ip", "link", "add", clientEnd, "type", "veth", "peer", "name", relayClientEnd], check: true)
            try run(["ip", "link", "add", relayServerEnd, "type", "veth", "peer", "name", serverEnd], check: true)
            for (device, namespace) in [(clientEnd, client), (relayClientEnd, relay), (relayServerEnd, relay), (serverEnd, server)] {
                try run(["ip", "link", "set", device, "netns", namespace], check: true)
            }
            for (namespace, device, address) in [
                (client, clientEnd, clientAddress), (relay, relayClientEnd, relayClientSide),
                (relay, relayServerEnd, relayServerSide), (relay, relayServerEnd, relayServerSideAlternate),
                (server, serverEnd, serverAddress),
            ] {
                try run(["ip", "-n", namespace, "addr", "add", address + "/24", "dev", device], check: true)
            }
            for (namespace, device) in [(client, clientEnd), (relay, relayClientEnd), (relay, relayServerEnd), (server, serverEnd)] {
                try run(["ip", "-n", namespace, "link", "set", device, "up"], check: true)
                try run(["ip", "-n", namespace, "link", "set", "lo", "up"], check: true)
            }
            // Routes through the relay namespace, for traffic the kernel forwards (the baseline).
            try run(["ip", "-n", client, "route", "add", "default", "via", relayClientSide], check: true)
            try run(["ip", "-n", server, "route", "add", "default", "via", relayServerSide], check: true)
        } catch {
            close()
            throw error
        }
    }

    /// Lets the relay namespace's kernel route between the two sides (no userspace relay).
    func enableForwarding() throws {
        try run(["nsenter", "--net=" + relayPath, "sysctl", "-qw", "net.ipv4.ip_forward=1"], check: true)
    }

    func close() {
        for namespace in [client, relay, server] { _ = try? run(["ip", "netns", "del", namespace]) }
    }
}

/// Creates the three namespaces, runs `body`, and always removes them.
func withRelayNamespaces<T>(_ tag: String, _ body: (RelayNamespaces) throws -> T) throws -> T {
    let namespaces = try RelayNamespaces(tag: tag)
    defer { namespaces.close() }
    return try body(namespaces)
}

/// The `quicxdp-relay` binary built next to the test bundle.
let relayBinary: String = {
    let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    return executable.deletingLastPathComponent().appendingPathComponent("quicxdp-relay").path
}()

/// Nanoseconds on the monotonic clock.
func monotonicNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}
