import QuicDatapath

/// Sends `datagrams` QUIC-looking datagrams from namespace B to `port` on side A, where an
/// AF_XDP socket (the program must be loaded) echoes them through the poll-mode engine; returns
/// how many came back intact.
func echoThroughAFXDP(_ pair: NamespacePair, port: UInt16, datagrams: Int) throws -> Int {
    let interface = pair.interfaceA
    let engine = try EngineRunner<UInt64>(namespace: pair.pathA) { control, ready in
        var xdpPort = try AFXDPPort(interface: interface, queue: 0, defaultSourcePort: port)
        ready()
        var handler = EchoHandler()
        _ = try PollEngine.run(port: &xdpPort, handler: &handler, control: control)
        return handler.echoed
    }
    let client = try pair.inB { try PeerSocket(ipv6: false) }
    let server = SocketAddress(IPAddress(pair.addressA4)!, port: port)
    var intact = 0
    for index in 0..<datagrams {
        let payload = PacketFactory.quicShort(size: 100) + [UInt8(index)]
        try client.send(payload, to: server)
        if let reply = try? client.receive(), reply.bytes == payload { intact += 1 }
    }
    _ = try engine.stop()
    return intact
}
