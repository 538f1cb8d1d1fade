import Foundation
import Glibc
import QuicDatapath
import Testing

/// With quicxdp loaded and an engine bound, everything that is not QUIC still reaches the
/// kernel: ping (IPv4, IPv6) and a TCP transfer through the loaded interface; the UDP-socket
/// port echoes across the namespaces too. After the engine is SIGKILLed, QUIC traffic falls
/// back to the kernel and `quicxdp unload` leaves no program and no pins.
@Suite(.enabled(if: isRoot, rootReason))
struct KernelTrafficTests {
    static let port: UInt16 = 4433

    @Test("ping and TCP through the loaded interface still work")
    func pingAndTCP() throws {
        try withNamespacePair("kt") { pair in
            let interface = pair.interfaceA
            try pair.inA { _ = try XDPLoader.load(interface: interface, ports: [Self.port]) }
            let engine = try EngineRunner<EngineStatistics>(namespace: pair.pathA) { control, ready in
                var port = try AFXDPPort(interface: interface, defaultSourcePort: Self.port)
                ready()
                var handler = EchoHandler()
                return try PollEngine.run(port: &port, handler: &handler, control: control)
            }
            defer { _ = try? engine.stop() }

            let ping4 = try run(pair.command(inA: false, ["ping", "-c", "3", "-i", "0.2", "-W", "2", pair.addressA4]))
            #expect(ping4.status == 0, "\(ping4.output)")
            let ping6 = try run(pair.command(inA: false, ["ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", pair.addressA6]))
            #expect(ping6.status == 0, "\(ping6.output)")

            // 4 MiB over TCP from B to a server in A; the server prints the byte count.
            let server = Process()
            server.executableURL = URL(fileURLWithPath: "/usr/bin/nsenter")
            server.arguments = ["--net=" + pair.pathA, "python3", "-c", """
                import socket
                s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("0.0.0.0", 5001)); s.listen(1); s.settimeout(10)
                c, _ = s.accept(); n = 0
                while True:
                    d = c.recv(65536)
                    if not d: break
                    n += len(d)
                print(n, flush=True)
                """]
            let output = Pipe()
            server.standardOutput = output
            try server.run()
            defer { if server.isRunning { kill(server.processIdentifier, SIGKILL) } }
            let client = try run(pair.command(inA: false, ["python3", "-c", """
                import socket, time
                for _ in range(50):
                    try:
                        c = socket.create_connection(("\(pair.addressA4)", 5001), timeout=5); break
                    except OSError:
                        time.sleep(0.1)
                c.sendall(b"x" * (4 << 20)); c.close()
                """]))
            #expect(client.status == 0, "\(client.output)")
            server.waitUntilExit()
            let received = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(received.trimmingCharacters(in: .whitespacesAndNewlines) == String(4 << 20))

            let stats = try pair.inA { try XDPMaps(pinnedFor: interface).readStats() }
            #expect(stats.passedNotQUIC > 0)
            #expect(stats.redirected == 0)
            try pair.inA { _ = try XDPLoader.unload(interface: interface) }
        }
    }

    @Test("UDP-socket port echo across the namespaces", arguments: [false, true])
    func udpPortEcho(ipv6: Bool) throws {
        try withNamespacePair(ipv6 ? "u6" : "u4") { pair in
            let engine = try EngineRunner<EngineStatistics>(namespace: pair.pathA) { control, ready in
                var port = try UDPPort(port: Self.port)
                ready()
                var handler = EchoHandler()
                return try PollEngine.run(port: &port, handler: &handler, control: control)
            }
            let client = try pair.inB { try PeerSocket(ipv6: ipv6) }
            client.setECN(.ect0)
            let server = SocketAddress(IPAddress(ipv6 ? pair.addressA6 : pair.addressA4)!, port: Self.port)
            for i in 0..<32 {
                let payload = PacketFactory.quicShort(size: 50 + 40 * i)
                try client.send(payload, to: server)
                let reply = try client.receive()
                #expect(reply.bytes == payload)
                #expect(reply.from == server, "reply from the address the datagram was sent to (PKTINFO)")
                #expect(reply.ecn == .ect0)
            }
            let statistics = try engine.stop()
            #expect(statistics.transmitted == 32)
        }
    }

    @Test("after SIGKILL of the engine, QUIC traffic reaches the kernel; unload leaves nothing")
    func sigkillFallsBackToKernel() throws {
        try withNamespacePair("kill") { pair in
            let interface = pair.interfaceA
            let load = try run(pair.command([quicxdpBinary, "load", "--dev", interface, "--port", String(Self.port)]))
            try #require(load.status == 0, "\(load.output)")

            let engine = Process()
            engine.executableURL = URL(fileURLWithPath: "/usr/bin/nsenter")
            engine.arguments = ["--net=" + pair.pathA, quicxdpBinary, "echo", "--dev", interface, "--port", String(Self.port)]
            let output = Pipe()
            engine.standardOutput = output
            engine.standardError = output
            try engine.run()
            defer { if engine.isRunning { kill(engine.processIdentifier, SIGKILL) } }
            // Wait for "ready".
            var banner = Data()
            let deadline = Date().addingTimeInterval(10)
            while !String(decoding: banner, as: UTF8.self).contains("ready") && Date() < deadline && engine.isRunning {
                banner.append(output.fileHandleForReading.availableData)
            }
            try #require(String(decoding: banner, as: UTF8.self).contains("ready"), "\(String(decoding: banner, as: UTF8.self))")

            let client = try pair.inB { try PeerSocket(ipv6: false, receiveTimeoutMilliseconds: 500) }
            let server = SocketAddress(IPAddress(pair.addressA4)!, port: Self.port)
            let payload = PacketFactory.quicShort(size: 200)
            try client.send(payload, to: server)
            #expect(try client.receive().bytes == payload, "the engine echoes before the kill")

            let status = try run(pair.command([quicxdpBinary, "status", "--dev", interface]))
            #expect(status.output.contains("process \(engine.processIdentifier)"), "\(status.output)")

            kill(engine.processIdentifier, SIGKILL)
            engine.waitUntilExit()
            #expect(engine.terminationReason == .uncaughtSignal)

            // A kernel socket on the same port now gets the QUIC datagrams.
            let kernelSocket = try pair.inA { try PeerSocket(ipv6: false, bindPort: Self.port, receiveTimeoutMilliseconds: 500) }
            var delivered = false
            for _ in 0..<20 where !delivered {
                try client.send(payload, to: server)
                if let received = try? kernelSocket.receive() { delivered = received.bytes == payload }
            }
            #expect(delivered, "QUIC reaches the kernel stack once no AF_XDP socket is bound")
            let stats = try pair.inA { try XDPMaps(pinnedFor: interface).readStats() }
            #expect(stats.passedNoSocket >= 1)
            let after = try run(pair.command([quicxdpBinary, "status", "--dev", interface]))
            #expect(after.output.contains("is gone"), "\(after.output)")

            let unload = try run(pair.command([quicxdpBinary, "unload", "--dev", interface]))
            #expect(unload.status == 0, "\(unload.output)")
            let link = try run(["ip", "-n", pair.namespaceA, "-d", "link", "show", interface])
            #expect(!link.output.contains("prog/xdp"), "\(link.output)")
            #expect(!FileManager.default.fileExists(atPath: XDPPins.directory(for: interface)))
        }
    }
}
