import CLibXDP
import Glibc
import QuicDatapath
import Testing

/// UDP echo through an AF_XDP socket in namespace A (program loaded, poll-mode engine with an
/// echo handler) to a plain kernel socket in namespace B, over IPv4 and IPv6.
@Suite(.enabled(if: isRoot, rootReason))
struct AFXDPEchoTests {
    static let port: UInt16 = 4433

    @Test("echo through AF_XDP", arguments: [false, true])
    func echo(ipv6: Bool) throws {
        try withNamespacePair(ipv6 ? "x6" : "x4") { pair in
            let interface = pair.interfaceA
            try pair.inA { _ = try XDPLoader.load(interface: interface, ports: [Self.port]) }
            let engine = try EngineRunner<(EngineStatistics, UInt64)>(namespace: pair.pathA) { control, ready in
                var port = try AFXDPPort(interface: interface, queue: 0, defaultSourcePort: Self.port)
                ready()
                var handler = EchoHandler()
                let statistics = try PollEngine.run(port: &port, handler: &handler, control: control)
                return (statistics, handler.echoed)
            }
            let client = try pair.inB { try PeerSocket(ipv6: ipv6) }
            client.setECN(.ect0)
            let server = SocketAddress(IPAddress(ipv6 ? pair.addressA6 : pair.addressA4)!, port: Self.port)
            let count = 64
            for i in 0..<count {
                let payload = PacketFactory.quicShort(size: 40 + i * 20) + [UInt8(i)]
                try client.send(payload, to: server)
                let reply = try client.receive()
                #expect(reply.bytes == payload, "datagram \(i)")
                #expect(reply.from == server)
                #expect(reply.ecn == .ect0, "ECN must be echoed")
            }

            // With a socket bound, the attached program's verdict for QUIC is XDP_REDIRECT.
            let directory = XDPPins.directory(for: interface)
            let programFD = bpf_obj_get(directory + "/prog")
            #expect(programFD >= 0)
            defer { close(programFD) }
            let frame = PacketFactory.udpFrame(port: Self.port, payload: PacketFactory.quicLong(size: 1200))
            #expect(try BPFTestRun.run(program: programFD, packet: frame).verdict == 4)

            let stats = try pair.inA { try XDPMaps(pinnedFor: interface).readStats() }
            #expect(stats.redirected >= UInt64(count))

            let (statistics, echoed) = try engine.stop()
            #expect(echoed == UInt64(count))
            #expect(statistics.received == UInt64(count))
            #expect(statistics.transmitted == UInt64(count))
            try pair.inA { _ = try XDPLoader.unload(interface: interface) }
        }
    }

    @Test("the TX payload limits follow the MTU: 1500 − IPv4 − UDP, and 1500 − IPv6 − UDP for IPv6")
    func payloadLimitFollowsMTU() throws {
        try withNamespacePair("xm") { pair in
            let interface = pair.interfaceA
            try pair.inA { _ = try XDPLoader.load(interface: interface, ports: [Self.port]) }
            let (limit, ipv6Limit) = try pair.inA { () throws -> (Int, Int) in
                let port = try AFXDPPort(interface: interface)
                return (port.maxPayloadSize, port.ipv6PayloadLimit)
            }
            #expect(limit == 1500 - 20 - 8)
            #expect(ipv6Limit == 1500 - 40 - 8)
            try pair.inA { _ = try XDPLoader.unload(interface: interface) }
        }
    }
}

/// A veth with two queues: one AF_XDP socket and one engine per queue (DESIGN.md: one worker per
/// queue), and what veth can and cannot do for AF_XDP.
@Suite(.enabled(if: isRoot, rootReason))
struct MultiQueueTests {
    @Test("two queues, two engines: flows from many source ports spread over both queues, every datagram is echoed once")
    func twoQueues() throws {
        try withNamespacePair("mq", queues: 2) { pair in
            let interface = pair.interfaceA
            let port: UInt16 = 4433
            try pair.inA { _ = try XDPLoader.load(interface: interface, ports: [port]) }
            let info = try pair.inA { try InterfaceInfo.query(interface) }
            #expect(info.rxQueues == 2)
            let engines = try (0..<UInt32(2)).map { queue in
                try EngineRunner<(UInt64, Bool)>(namespace: pair.pathA) { control, ready in
                    var xdpPort = try AFXDPPort(interface: interface, queue: queue, defaultSourcePort: port)
                    ready()
                    var handler = EchoHandler()
                    _ = try PollEngine.run(port: &xdpPort, handler: &handler, control: control)
                    return (handler.echoed, xdpPort.zeroCopy)
                }
            }
            let server = SocketAddress(IPAddress(pair.addressA4)!, port: port)
            let flows = 32
            var echoed = 0
            for flow in 0..<flows {
                // A new socket is a new source port, so a new flow hash and maybe another queue.
                let client = try pair.inB { try PeerSocket(ipv6: false) }
                let payload = PacketFactory.quicShort(size: 60) + [UInt8(flow)]
                try client.send(payload, to: server)
                if let reply = try? client.receive(), reply.bytes == payload { echoed += 1 }
            }
            let results = try engines.map { try $0.stop() }
            #expect(echoed == flows)
            #expect(results.map(\.0).reduce(0, +) == UInt64(flows))
            #expect(results.allSatisfy { $0.0 > 0 }, "both queues got traffic: \(results.map(\.0))")
            // veth has no AF_XDP zero-copy (no ndo_xsk_wakeup): the sockets fell back to copy mode.
            #expect(results.allSatisfy { !$0.1 })
            try pair.inA { _ = try XDPLoader.unload(interface: interface) }
        }
    }
}
