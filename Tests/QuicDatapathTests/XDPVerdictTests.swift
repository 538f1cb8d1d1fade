import CLibXDP
import QuicDatapath
import Testing

/// The XDP program's verdicts under BPF_PROG_TEST_RUN, one packet per case, each with its
/// expected action and the counter that must move. With no AF_XDP socket in the map,
/// `bpf_redirect_map(..., XDP_PASS)` returns XDP_PASS: accepted QUIC shows up as
/// `passed_no_socket`; `AFXDPEchoTests` checks the real XDP_REDIRECT with a socket bound.
@Suite(.enabled(if: isRoot, rootReason))
struct XDPVerdictTests {
    static let quicPort: UInt16 = 4433
    static let pass: UInt32 = 2, drop: UInt32 = 1, redirect: UInt32 = 4

    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let packet: [UInt8]
        let verdict: UInt32
        let counter: KeyPath<XDPStats, UInt64> & Sendable
        var testDescription: String { name }
    }

    static let cases: [Case] = {
        typealias P = PacketFactory
        let port = quicPort
        return [
            Case(name: "QUIC v1 Initial of 1200 bytes → accepted (redirect, or pass with no socket)",
                 packet: P.udpFrame(port: port, payload: P.quicLong(size: 1200)), verdict: pass, counter: \.passedNoSocket),
            Case(name: "QUIC v1 Initial of 1199 bytes → drop",
                 packet: P.udpFrame(port: port, payload: P.quicLong(size: 1199)), verdict: drop, counter: \.droppedShortInitial),
            Case(name: "QUIC v2 Initial (type 1) of 600 bytes → drop",
                 packet: P.udpFrame(port: port, payload: P.quicLong(size: 600, version: 0x6b3343cf, type: 1)), verdict: drop, counter: \.droppedShortInitial),
            Case(name: "QUIC v2 Handshake (type 3) of 600 bytes → accepted",
                 packet: P.udpFrame(port: port, payload: P.quicLong(size: 600, version: 0x6b3343cf, type: 3)), verdict: pass, counter: \.passedNoSocket),
            Case(name: "QUIC v1 Handshake (type 2) of 100 bytes → accepted",
                 packet: P.udpFrame(port: port, payload: P.quicLong(size: 100, type: 2)), verdict: pass, counter: \.passedNoSocket),
            Case(name: "unknown version long header of 300 bytes → drop (RFC 9000 §5.2.2)",
                 packet: P.udpFrame(port: port, payload: P.quicLong(size: 300, version: 0x1a2a3a4a)), verdict: drop, counter: \.droppedShortInitial),
            Case(name: "Version Negotiation (version 0) without fixed bit → accepted",
                 packet: P.udpFrame(port: port, payload: P.quicLong(size: 60, version: 0, fixedBit: false)), verdict: pass, counter: \.passedNoSocket),
            Case(name: "short-header QUIC → accepted",
                 packet: P.udpFrame(port: port, payload: P.quicShort()), verdict: pass, counter: \.passedNoSocket),
            Case(name: "short header without fixed bit → drop",
                 packet: P.udpFrame(port: port, payload: P.quicShort(fixedBit: false)), verdict: drop, counter: \.droppedNoFixedBit),
            Case(name: "long header without fixed bit → drop",
                 packet: P.udpFrame(port: port, payload: P.quicLong(size: 1200, fixedBit: false)), verdict: drop, counter: \.droppedNoFixedBit),
            Case(name: "long header cut before its version → drop",
                 packet: P.udpFrame(port: port, payload: [0xc0, 0, 0]), verdict: drop, counter: \.droppedNoFixedBit),
            Case(name: "empty UDP payload on the QUIC port → drop",
                 packet: P.udpFrame(port: port, payload: []), verdict: drop, counter: \.droppedEmpty),
            Case(name: "UDP to another port → pass",
                 packet: P.udpFrame(port: 53, payload: P.quicLong(size: 1200)), verdict: pass, counter: \.passedNotQUIC),
            Case(name: "TCP to the QUIC port number → pass",
                 packet: P.tcpFrame(port: port), verdict: pass, counter: \.passedNotQUIC),
            Case(name: "ARP → pass", packet: P.arpFrame(), verdict: pass, counter: \.passedNotQUIC),
            Case(name: "ICMP echo → pass", packet: P.icmpEchoFrame(), verdict: pass, counter: \.passedNotQUIC),
            Case(name: "IPv6 QUIC Initial of 1200 bytes → accepted",
                 packet: P.udpFrame(.ipv6, port: port, payload: P.quicLong(size: 1200)), verdict: pass, counter: \.passedNoSocket),
            Case(name: "IPv6 short Initial → drop",
                 packet: P.udpFrame(.ipv6, port: port, payload: P.quicLong(size: 500)), verdict: drop, counter: \.droppedShortInitial),
            Case(name: "IPv6 with a fragment header → pass",
                 packet: P.ethernet(type: 0x86dd) + P.ipv6(nextHeader: 44, payloadLength: 16) + [17, 0, 0, 1, 0, 0, 0, 1] + [UInt8](repeating: 0, count: 8),
                 verdict: pass, counter: \.passedFragment),
            Case(name: "802.1Q-tagged QUIC short header → accepted",
                 packet: P.udpFrame(port: port, payload: P.quicShort(), vlan: 100), verdict: pass, counter: \.passedNoSocket),
            Case(name: "802.1Q-tagged short Initial → drop",
                 packet: P.udpFrame(port: port, payload: P.quicLong(size: 200), vlan: 100), verdict: drop, counter: \.droppedShortInitial),
            Case(name: "IPv4 with options (IHL 8) QUIC short header → accepted",
                 packet: P.udpFrame(port: port, payload: P.quicShort(), ihl: 8), verdict: pass, counter: \.passedNoSocket),
            Case(name: "IPv4 bad IHL (4) → pass",
                 packet: P.udpFrame(port: port, payload: P.quicShort(), ihl: 4), verdict: pass, counter: \.passedMalformed),
            Case(name: "IPv4 first fragment (MF set) → pass",
                 packet: P.udpFrame(port: port, payload: P.quicLong(size: 1200), fragment: 0x2000), verdict: pass, counter: \.passedFragment),
            Case(name: "IPv4 later fragment (offset 185) → pass",
                 packet: P.udpFrame(port: port, payload: P.quicShort(), fragment: 185), verdict: pass, counter: \.passedFragment),
            Case(name: "truncated VLAN tag → pass",
                 packet: Array(P.ethernet(type: 0x8100).prefix(14)) + [0x00], verdict: pass, counter: \.passedMalformed),
            Case(name: "truncated IPv4 header → pass",
                 packet: Array(P.udpFrame(port: port, payload: P.quicShort()).prefix(14 + 12)), verdict: pass, counter: \.passedMalformed),
            Case(name: "truncated IPv6 header → pass",
                 packet: Array(P.udpFrame(.ipv6, port: port, payload: P.quicShort()).prefix(14 + 30)), verdict: pass, counter: \.passedMalformed),
            Case(name: "truncated UDP header → pass",
                 packet: truncatedUDP(), verdict: pass, counter: \.passedMalformed),
            Case(name: "UDP length beyond the frame → pass",
                 packet: udpLengthTooLong(), verdict: pass, counter: \.passedMalformed),
        ]
    }()

    /// IPv4 header claims 20 + 4 bytes; only 4 bytes of UDP follow.
    static func truncatedUDP() -> [UInt8] {
        PacketFactory.ethernet(type: 0x0800) + PacketFactory.ipv4(protocol: 17, payloadLength: 4)
            + [0xc3, 0x50, UInt8(quicPort >> 8), UInt8(quicPort & 0xff)]
    }

    static func udpLengthTooLong() -> [UInt8] {
        var frame = PacketFactory.udpFrame(port: quicPort, payload: PacketFactory.quicShort(size: 40))
        frame[14 + 20 + 4] = 0x05 // UDP length 0x05xx > what is there
        return frame
    }

    @Test("the verifier accepts the program and the benchmark baseline")
    func verifierAccepts() throws {
        let object = try BPFObject(path: bpfObjectPath, pinDirectory: nil, loadBaseline: true)
        #expect(object.programDescriptor() != nil)
        #expect(object.programDescriptor(BPFObject.baselineProgramName) != nil)
    }

    @Test("verdicts", arguments: cases)
    func verdict(_ testCase: Case) throws {
        let object = try BPFObject(path: bpfObjectPath, pinDirectory: nil)
        let maps = try XDPMaps(object: object)
        try maps.setPorts([Self.quicPort])
        try maps.setMinimumInitialSize(1200)
        let before = try maps.readStats()
        let result = try BPFTestRun.run(program: object.programDescriptor()!, packet: testCase.packet)
        let delta = try maps.readStats() - before
        #expect(result.verdict == testCase.verdict, "\(testCase.name): verdict \(result.verdict)")
        #expect(delta[keyPath: testCase.counter] == 1, "\(testCase.name): counters \(delta)")
        #expect(delta.rxPackets == 1)
        // Exactly one verdict counter per packet.
        let verdictCounters = delta.redirected + delta.passedNoSocket + delta.passedNotQUIC + delta.passedFragment
            + delta.passedMalformed + delta.droppedEmpty + delta.droppedNoFixedBit + delta.droppedShortInitial
        #expect(verdictCounters == 1)
    }

    /// A frame shorter than an Ethernet header never reaches XDP: the kernel refuses it
    /// (bpf_prog_test_run_xdp requires ETH_HLEN, as drivers do); the program's own bounds check
    /// would pass it.
    @Test("a frame shorter than an Ethernet header is refused by the kernel before XDP")
    func truncatedEthernetNeverReachesXDP() throws {
        let object = try BPFObject(path: bpfObjectPath, pinDirectory: nil)
        let frame = Array(PacketFactory.udpFrame(port: Self.quicPort, payload: PacketFactory.quicShort()).prefix(10))
        #expect(throws: DatapathError.self) { try BPFTestRun.run(program: object.programDescriptor()!, packet: frame) }
    }

    @Test("min_initial_size 0 (client mode) accepts small Initials")
    func clientModeAcceptsSmallInitials() throws {
        let object = try BPFObject(path: bpfObjectPath, pinDirectory: nil)
        let maps = try XDPMaps(object: object)
        try maps.setPorts([Self.quicPort])
        try maps.setMinimumInitialSize(0)
        let packet = PacketFactory.udpFrame(port: Self.quicPort, payload: PacketFactory.quicLong(size: 300))
        #expect(try BPFTestRun.run(program: object.programDescriptor()!, packet: packet).verdict == Self.pass)
    }

    @Test("ports are matched by value: removing a port passes its packets")
    func portsMapUpdates() throws {
        let object = try BPFObject(path: bpfObjectPath, pinDirectory: nil)
        let maps = try XDPMaps(object: object)
        try maps.setPorts([443, Self.quicPort])
        #expect(try maps.readPorts() == [443, Self.quicPort])
        try maps.setPorts([443])
        let before = try maps.readStats()
        _ = try BPFTestRun.run(program: object.programDescriptor()!,
                               packet: PacketFactory.udpFrame(port: Self.quicPort, payload: PacketFactory.quicShort()))
        #expect((try maps.readStats() - before).passedNotQUIC == 1)
    }
}
