import Foundation
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
                    var handler = SendList(payloads, to: destination)
                    var statistics = EngineStatistics()
                    for _ in 0..<200 where handler.wantsToTransmit || xdpPort.hasPendingTransmit {
                        _ = try PollEngine.turn(port: &xdpPort, handler: &handler, now: .now(),
                                                configuration: PollEngine.Configuration(), statistics: &statistics)
                        usleep(1000)
                    }
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
                #expect(frames[index].frame == frames[index + payloads.count].frame, "software vs device/kernel, datagram \(index)")
                #expect(frames[index].frame == frames[index + 2 * payloads.count].frame, "software vs kernel, datagram \(index)")
            }
            try pair.inA { _ = try XDPLoader.unload(interface: interface) }
        }
    }
}
