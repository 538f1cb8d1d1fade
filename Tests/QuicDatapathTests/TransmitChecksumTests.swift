import Foundation
import Glibc
import QuicDatapath
import Testing

/// Sends fixed datagrams once, then idles.
struct SendList: DatagramHandler, ~Copyable {
    let payloads: [[UInt8]]
    let destination: SocketAddress
    var next = 0

    init(_ payloads: [[UInt8]], to destination: SocketAddress) {
        self.payloads = payloads
        self.destination = destination
    }

    mutating func handle(_ batch: ReceivedBatch, now: MonotonicTime) {}
    mutating func pollTransmits<Queue: TransmitQueue & ~Copyable>(into queue: inout Queue, now: MonotonicTime) {
        while next < payloads.count, let space = queue.reserve() {
            space.copyBytes(from: payloads[next])
            queue.commit(length: payloads[next].count, to: destination, from: nil, ecn: .notECT)
            next += 1
        }
    }
    func nextTimeout() -> MonotonicTime? { nil }
    mutating func handleTimeout(now: MonotonicTime) {}
    var wantsToTransmit: Bool { next < payloads.count }
}

/// Sends `payloads` through `port` with the poll-mode engine's turn, until all are out.
func send<Port: DatapathPort & ~Copyable>(_ payloads: [[UInt8]], to destination: SocketAddress, through port: inout Port) throws {
    var handler = SendList(payloads, to: destination)
    var statistics = EngineStatistics()
    for _ in 0..<200 where handler.wantsToTransmit || port.hasPendingTransmit {
        _ = try PollEngine.turn(port: &port, handler: &handler, now: .now(),
                                configuration: PollEngine.Configuration(), statistics: &statistics)
        usleep(1000)
    }
}

/// The offload table picks how TX checksums are made; every path must put the same bytes on the
/// wire. On veth the device computes nothing for AF_XDP (no xsk tx-checksum feature), so the
/// hardware path cannot run here; asking for TX metadata anyway makes the kernel compute the
/// checksum in copy mode, which exercises everything of ours the hardware path uses (the
/// metadata layout, csum_start/csum_offset and the pseudo-header seed).
@Suite(.enabled(if: isRoot, rootReason))
struct TransmitChecksumTests {
    static let port: UInt16 = 5555

    @Test("AF_XDP TX checksums: auto picks software on veth; TX metadata (device or kernel) gives identical frames with valid checksums", arguments: [false, true])
    func afxdpChecksumPaths(ipv6: Bool) throws {
        try withNamespacePair(ipv6 ? "ck6" : "ck4") { pair in
            let interface = pair.interfaceA
            try pair.inA { _ = try XDPLoader.load(interface: interface, ports: [4433], attach: .direct) }
            let table = try pair.inA { try OffloadTable.discover(interface: interface) }
            // What can and cannot run here: veth reports no xsk tx-checksum.
            #expect(table.provider(.afxdpTxChecksum) != .hardware, "veth now reports xsk tx-checksum: the hardware path can be tested")

            // The port resolves next hops from the kernel's neighbour table: fill it first.
            try run(pair.command(["ping", "-c", "1", "-W", "2", ipv6 ? pair.addressB6 : pair.addressB4]), check: true)
            let receiver = try pair.inB { try PeerSocket(ipv6: ipv6, bindPort: Self.port) }
            let destination = SocketAddress(IPAddress(ipv6 ? pair.addressB6 : pair.addressB4)!, port: Self.port)
            // Odd and even lengths, a zero-filled one, and one whose checksum may fold to zero.
            let payloads: [[UInt8]] = [[0x40], [0x41, 0x42], Array(repeating: 0, count: 100),
                                       (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 37) }, Array(repeating: 0xff, count: 1201)]
            let choices: [(AFXDPChecksumChoice, Bool)] = [(.auto, false), (.metadata, false), (.metadata, true)]
            let capture = try PacketCapture(
                namespacePath: pair.pathB, interface: pair.interfaceB, filter: "udp port \(Self.port)", frames: choices.count * payloads.count)
            var selected: [TransmitChecksumPath] = []
            for (choice, inKernel) in choices {
                var configuration = AFXDPConfiguration()
                configuration.transmitChecksum = choice
                configuration.checksumInKernel = inKernel
                let path = try pair.inA { () throws -> TransmitChecksumPath in
                    var xdpPort = try AFXDPPort(interface: interface, queue: 0, defaultSourcePort: 4433, configuration: configuration)
                    try send(payloads, to: destination, through: &xdpPort)
                    return xdpPort.transmitChecksum
                }
                selected.append(path)
                // The receiving kernel verified each checksum (it drops bad ones).
                for payload in payloads { #expect(try receiver.receive().bytes == payload, "\(choice) \(inKernel)") }
            }
            #expect(selected == [.software, .metadata, .metadata])
            #expect(try udpChecksumErrors(namespacePath: pair.pathB) == 0)

            let frames = try capture.stop().compactMap(CapturedUDP.init)
            try #require(frames.count == 3 * payloads.count, "captured \(frames.count) frames")
            for (index, frame) in frames.enumerated() {
                #expect(frame.udpChecksumValid && frame.ipv4HeaderChecksumValid, "frame \(index)")
                #expect(frame.payload == payloads[index % payloads.count])
            }
            // Byte for byte the same on the wire, whichever path made the checksum.
            for index in 0..<payloads.count {
                let sameAsDevice = frames[index].frame == frames[index + payloads.count].frame
                let sameAsKernel = frames[index].frame == frames[index + 2 * payloads.count].frame
                #expect(sameAsDevice && sameAsKernel, "datagram \(index): software vs TX metadata frames differ")
            }
            try pair.inA { _ = try XDPLoader.unload(interface: interface) }
        }
    }
}

/// The UDP-socket port takes GRO and GSO only where the interface's offload table says they
/// work, and GSO must put the same datagrams on the wire as separate sends.
@Suite(.enabled(if: isRoot, rootReason))
struct UDPOffloadTests {
    @Test("GRO follows the table: off while the veth has no GRO (it would never coalesce), on once generic-receive-offload is on")
    func groFollowsTable() throws {
        try withNamespacePair("gro") { pair in
            let address = IPAddress(pair.addressA4)!
            func probe() throws -> (Bool, OffloadTable.Provider?) {
                try pair.inA { () throws -> (Bool, OffloadTable.Provider?) in
                    let port = try UDPPort(address: address, port: 0)
                    return (port.groEnabled, port.offloads?.provider(.receiveCoalescing))
                }
            }
            try run(pair.command(["ethtool", "-K", pair.interfaceA, "gro", "off"]), check: true)
            let (off, offProvider) = try probe()
            #expect(offProvider == .unavailable && !off)
            try run(pair.command(["ethtool", "-K", pair.interfaceA, "gro", "on"]), check: true)
            let (on, onProvider) = try probe()
            #expect(onProvider == .software && on)
        }
    }

    @Test("GSO on a veth without tx-udp-segmentation: the kernel segments; the frames equal those of separate sends, checksums valid")
    func gsoFramesMatchSeparateSends() throws {
        try withNamespacePair("gso") { pair in
            let source = IPAddress(pair.addressA4)!
            let destination = SocketAddress(IPAddress(pair.addressB4)!, port: 5556)
            try run(pair.command(["ping", "-c", "1", "-W", "2", pair.addressB4]), check: true)
            let receiver = try pair.inB { try PeerSocket(ipv6: false, bindPort: 5556) }
            let payloads = (0..<11).map { index in [UInt8](repeating: UInt8(index), count: 700) } + [[UInt8](repeating: 0xab, count: 301)]
            let capture = try PacketCapture(namespacePath: pair.pathB, interface: pair.interfaceB, filter: "udp port 5556",
                                            frames: 2 * payloads.count)
            var messages: [UInt64] = []
            var provider: OffloadTable.Provider?
            for useGSO in [true, false] {
                var configuration = UDPPortConfiguration()
                configuration.useGSO = useGSO
                let (sent, table) = try pair.inA { () throws -> (UInt64, OffloadTable.Provider?) in
                    var port = try UDPPort(address: source, port: 6000, configuration: configuration)
                    #expect(port.gsoEnabled == useGSO)
                    try send(payloads, to: destination, through: &port)
                    return (port.counters.sentMessages, port.offloads?.provider(.segmentation))
                }
                messages.append(sent)
                provider = table
                for payload in payloads { #expect(try receiver.receive().bytes == payload, "GSO \(useGSO)") }
            }
            #expect(provider == .software, "veth with tx off has no tx-udp-segmentation")
            #expect(messages == [1, UInt64(payloads.count)], "one GSO message, then one per datagram")
            #expect(try udpChecksumErrors(namespacePath: pair.pathB) == 0)

            let frames = try capture.stop().compactMap(CapturedUDP.init)
            try #require(frames.count == 2 * payloads.count, "captured \(frames.count) frames")
            for (index, frame) in frames.enumerated() {
                #expect(frame.udpChecksumValid && frame.ipv4HeaderChecksumValid, "frame \(index)")
                #expect(frame.payload == payloads[index % payloads.count])
            }
            // Equal but for the IPv4 identification (and so the header checksum), which the
            // kernel numbers per send.
            func masked(_ frame: [UInt8]) -> [UInt8] {
                var copy = frame
                for offset in [18, 19, 24, 25] { copy[offset] = 0 }
                return copy
            }
            for index in 0..<payloads.count {
                let same = masked(frames[index].frame) == masked(frames[index + payloads.count].frame)
                #expect(same, "datagram \(index) differs between GSO and separate sends")
            }
        }
    }
}
