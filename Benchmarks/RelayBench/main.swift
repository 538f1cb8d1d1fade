// Impairment relay benchmark (not a test): UDP throughput from a client namespace to a server
// namespace through a third namespace in the middle, with 1200-byte datagrams, in two ways
// measured alternately in the same run:
//   baseline: the middle namespace's kernel forwards (ip_forward), no userspace at all;
//   relay:    quicxdp-relay in the middle namespace, no impairment configured.
// Printed: offered and delivered datagrams/s, Gbit/s of UDP payload, loss, the relay's CPU, and
// the relay/baseline ratio; then both paths paced at 1 Gbit/s (issue 7: "must not be the
// bottleneck below 1 Gbit/s"). Creates and removes its own namespaces.
import CQuicShim
import Foundation
import Glibc
import QuicDatapath

guard geteuid() == 0 else {
    print("skipped: the relay benchmark needs root (network namespaces and veth pairs)")
    exit(0)
}

let arguments = CommandLine.arguments
let seconds = Double(arguments.first { $0.hasPrefix("--seconds=") }?.dropFirst(10) ?? "") ?? 3.0
let rounds = Int(arguments.first { $0.hasPrefix("--rounds=") }?.dropFirst(9) ?? "") ?? 3
let datagramSize = 1200
let batch = 64

@discardableResult
func sh(_ arguments: [String], check: Bool = true) -> Int32 {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try? process.run()
    process.waitUntilExit()
    if check && process.terminationStatus != 0 {
        print("setup failed: \(arguments.joined(separator: " "))")
    }
    return process.terminationStatus
}

@Sendable func monotonic() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

// MARK: Topology

let unique = String(UInt32.random(in: 0..<UInt32.max), radix: 36)
let clientNS = "qx-rbench-\(unique)-c", relayNS = "qx-rbench-\(unique)-r", serverNS = "qx-rbench-\(unique)-s"
let short = String(unique.prefix(7))
func removeTopology() { for namespace in [clientNS, relayNS, serverNS] { sh(["ip", "netns", "del", namespace], check: false) } }
defer { removeTopology() }
signal(SIGINT) { _ in
    for namespace in [clientNS, relayNS, serverNS] { _ = "ip netns del \(namespace)".withCString { system($0) } }
    exit(130)
}
for namespace in [clientNS, relayNS, serverNS] { sh(["ip", "netns", "add", namespace]) }
sh(["ip", "link", "add", "qc\(short)", "type", "veth", "peer", "name", "qrc\(short)"])
sh(["ip", "link", "add", "qrs\(short)", "type", "veth", "peer", "name", "qs\(short)"])
for (device, namespace, address) in [
    ("qc\(short)", clientNS, "10.201.1.2/24"), ("qrc\(short)", relayNS, "10.201.1.1/24"),
    ("qrs\(short)", relayNS, "10.201.2.1/24"), ("qs\(short)", serverNS, "10.201.2.2/24"),
] {
    sh(["ip", "link", "set", device, "netns", namespace])
    sh(["ip", "-n", namespace, "addr", "add", address, "dev", device])
    sh(["ip", "-n", namespace, "link", "set", device, "up"])
    sh(["ip", "-n", namespace, "link", "set", "lo", "up"])
}
sh(["ip", "-n", clientNS, "route", "add", "default", "via", "10.201.1.1"])
sh(["ip", "-n", serverNS, "route", "add", "default", "via", "10.201.2.1"])
sh(["nsenter", "--net=/var/run/netns/\(relayNS)", "sysctl", "-qw", "net.ipv4.ip_forward=1"])

// MARK: Sender and receiver

final class Box<T>: @unchecked Sendable { var value: T; init(_ value: T) { self.value = value } }

@Sendable func udpSocket() -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
    var size: Int32 = 16 << 20
    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, 4)
    setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, 4)
    return fd
}

@Sendable func socketAddress(_ host: String, _ port: UInt16) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    inet_pton(AF_INET, host, &address.sin_addr)
    return address
}

/// Sends 1200-byte datagrams in sendmmsg batches to host:port for `seconds`, paced to `rate`
/// (bytes/s) when given. Returns datagrams sent.
@Sendable func send(to host: String, port: UInt16, rate: Double?, stopAt: UInt64) -> Int {
    let fd = udpSocket()
    defer { close(fd) }
    var destination = socketAddress(host, port)
    _ = withUnsafePointer(to: &destination) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    let payload = UnsafeMutableRawPointer.allocate(byteCount: datagramSize, alignment: 64)
    payload.initializeMemory(as: UInt8.self, repeating: 0x5a, count: datagramSize)
    let vectors = UnsafeMutablePointer<iovec>.allocate(capacity: batch)
    let headers = UnsafeMutablePointer<quic_mmsghdr>.allocate(capacity: batch)
    for index in 0..<batch {
        vectors[index] = iovec(iov_base: payload, iov_len: datagramSize)
        headers[index] = quic_mmsghdr(msg_hdr: msghdr(msg_name: nil, msg_namelen: 0, msg_iov: vectors + index, msg_iovlen: 1, msg_control: nil, msg_controllen: 0, msg_flags: 0), msg_len: 0)
    }
    var sent = 0
    let start = monotonic()
    while true {
        let now = monotonic()
        if now >= stopAt { break }
        if let rate {
            let due = start + UInt64(Double(sent * datagramSize) / rate * 1e9)
            if due > now + 50_000 { usleep(UInt32((due - now) / 1000)); continue }
        }
        let result = quic_sendmmsg(fd, headers, UInt32(batch), 0)
        if result > 0 { sent += Int(result) }
    }
    return sent
}

/// Receives on port 5000 until `stopAt` plus a short drain; returns datagrams received.
@Sendable func receive(stopAt: UInt64, ready: Box<Bool>) -> Int {
    let fd = udpSocket()
    defer { close(fd) }
    var local = socketAddress("0.0.0.0", 5000)
    _ = withUnsafePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    let buffer = UnsafeMutableRawPointer.allocate(byteCount: batch * 2048, alignment: 64)
    let vectors = UnsafeMutablePointer<iovec>.allocate(capacity: batch)
    let headers = UnsafeMutablePointer<quic_mmsghdr>.allocate(capacity: batch)
    for index in 0..<batch {
        vectors[index] = iovec(iov_base: buffer + index * 2048, iov_len: 2048)
        headers[index] = quic_mmsghdr(msg_hdr: msghdr(msg_name: nil, msg_namelen: 0, msg_iov: vectors + index, msg_iovlen: 1, msg_control: nil, msg_controllen: 0, msg_flags: 0), msg_len: 0)
    }
    ready.value = true
    var received = 0
    while monotonic() < stopAt + 300_000_000 {
        let result = quic_recvmmsg(fd, headers, UInt32(batch), Int32(MSG_WAITFORONE))
        if result > 0 { received += Int(result) }
    }
    return received
}

struct Sample {
    var sent: Int
    var received: Int
    var relayCPU: Double?
    var offeredPerSecond: Double { Double(sent) / seconds }
    var deliveredPerSecond: Double { Double(received) / seconds }
    var gigabits: Double { deliveredPerSecond * Double(datagramSize) * 8 / 1e9 }
    var loss: Double { sent > 0 ? 1 - Double(received) / Double(sent) : 0 }
}

func cpuSeconds(pid: Int32) -> Double? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = text.lastIndex(of: ")")
    else { return nil }
    let fields = text[text.index(after: close)...].split(separator: " ")
    // After the command: state is field 3, utime 14, stime 15 (1-based in proc(5)).
    guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

func measure(host: String, port: UInt16, rate: Double?, relayPID: Int32?) throws -> Sample {
    let ready = Box(false)
    let stopAt = monotonic() + UInt64(seconds * 1e9) + 200_000_000
    let receiverResult = Box(0)
    let receiver = try WorkerThread(networkNamespace: "/var/run/netns/\(serverNS)") { receiverResult.value = receive(stopAt: stopAt, ready: ready) }
    while !ready.value { usleep(1000) }
    let cpuBefore = relayPID.flatMap { cpuSeconds(pid: $0) }
    let senderResult = Box(0)
    let sender = try WorkerThread(networkNamespace: "/var/run/netns/\(clientNS)") {
        senderResult.value = send(to: host, port: port, rate: rate, stopAt: stopAt)
    }
    try sender.join()
    let cpuAfter = relayPID.flatMap { cpuSeconds(pid: $0) }
    try receiver.join()
    var sample = Sample(sent: senderResult.value, received: receiverResult.value)
    if let cpuBefore, let cpuAfter { sample.relayCPU = (cpuAfter - cpuBefore) / (seconds + 0.2) }
    return sample
}

// MARK: The relay

let relayBinary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
    .appendingPathComponent("quicxdp-relay").path
guard FileManager.default.isExecutableFile(atPath: relayBinary) else {
    print("quicxdp-relay is not built next to RelayBench; run `swift build -c release --product quicxdp-relay` first")
    exit(1)
}
let relay = Process()
relay.executableURL = URL(fileURLWithPath: "/usr/bin/nsenter")
relay.arguments = ["--net=/var/run/netns/\(relayNS)", relayBinary, "--listen", "10.201.1.1:4433", "--upstream", "10.201.2.2:5000"]
let relayOutput = Pipe()
relay.standardOutput = relayOutput
try relay.run()
// A second relay with a 20 ms delay: the delay queue holding ~2,200 datagrams at 1 Gbit/s.
let delayedRelay = Process()
delayedRelay.executableURL = URL(fileURLWithPath: "/usr/bin/nsenter")
delayedRelay.arguments = ["--net=/var/run/netns/\(relayNS)", relayBinary, "--listen", "10.201.1.1:4434", "--upstream", "10.201.2.2:5000", "--delay", "20ms"]
delayedRelay.standardOutput = FileHandle.nullDevice
try delayedRelay.run()
// A third without UDP GSO: what grouping equal-size runs into one send buys.
let plainRelay = Process()
plainRelay.executableURL = URL(fileURLWithPath: "/usr/bin/nsenter")
plainRelay.arguments = ["--net=/var/run/netns/\(relayNS)", relayBinary, "--listen", "10.201.1.1:4435", "--upstream", "10.201.2.2:5000", "--no-gso"]
plainRelay.standardOutput = FileHandle.nullDevice
try plainRelay.run()
usleep(300_000)
defer {
    for process in [relay, delayedRelay, plainRelay] {
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
    }
}

func row(_ name: String, _ sample: Sample) {
    let cpu = sample.relayCPU.map { String(format: "%5.0f %%", $0 * 100) } ?? "     -"
    print("  \(name.padding(toLength: 34, withPad: " ", startingAt: 0)) \(String(format: "%9.0f  %10.0f  %7.3f  %6.2f %%", sample.offeredPerSecond, sample.deliveredPerSecond, sample.gigabits, sample.loss * 100))  \(cpu)")
}

#if DEBUG
let build = "debug build: numbers are not representative, use -c release"
#else
let build = "release build"
#endif
print("quicxdp-relay throughput, \(datagramSize)-byte UDP datagrams, client → middle namespace → server over two veth pairs; \(Int(seconds)) s per sample, \(rounds) rounds alternating, median; \(build); 2 shared cores")
print("  path                               offered/s  delivered/s   Gbit/s    loss   relay CPU")
var baseline: [Sample] = []
var relayed: [Sample] = []
var plain: [Sample] = []
for _ in 0..<rounds {
    baseline.append(try measure(host: "10.201.2.2", port: 5000, rate: nil, relayPID: nil))
    relayed.append(try measure(host: "10.201.1.1", port: 4433, rate: nil, relayPID: relay.processIdentifier))
    plain.append(try measure(host: "10.201.1.1", port: 4435, rate: nil, relayPID: plainRelay.processIdentifier))
}
func median(_ samples: [Sample]) -> Sample { samples.sorted { $0.received < $1.received }[samples.count / 2] }
let baselineMedian = median(baseline)
let relayMedian = median(relayed)
row("kernel forwarding (baseline)", baselineMedian)
row("quicxdp-relay, no impairment", relayMedian)
row("quicxdp-relay --no-gso", median(plain))
print(String(format: "  ratio relay/baseline (delivered datagrams/s): %.2f (--no-gso: %.2f); CPU per forwarded datagram %.2f µs (--no-gso %.2f µs)",
    relayMedian.deliveredPerSecond / baselineMedian.deliveredPerSecond, median(plain).deliveredPerSecond / baselineMedian.deliveredPerSecond,
    (relayMedian.relayCPU ?? 0) / relayMedian.deliveredPerSecond * 1e6, (median(plain).relayCPU ?? 0) / median(plain).deliveredPerSecond * 1e6))
print("  (a ratio above 1 means the sender, not the relay, limited both paths: kernel forwarding costs the sending CPU more per datagram)")

let gigabit = 1e9 / 8
let pacedBaseline = try measure(host: "10.201.2.2", port: 5000, rate: gigabit, relayPID: nil)
let pacedRelay = try measure(host: "10.201.1.1", port: 4433, rate: gigabit, relayPID: relay.processIdentifier)
print("  paced at 1 Gbit/s offered:")
row("kernel forwarding (baseline)", pacedBaseline)
row("quicxdp-relay, no impairment", pacedRelay)
let pacedDelayed = try measure(host: "10.201.1.1", port: 4434, rate: gigabit, relayPID: delayedRelay.processIdentifier)
row("quicxdp-relay --delay 20ms", pacedDelayed)
