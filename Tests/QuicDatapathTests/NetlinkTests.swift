import QuicDatapath
import Testing

/// Route and neighbour lookups that AF_XDP transmit depends on, and interface discovery.
@Suite(.enabled(if: isRoot, rootReason))
struct NetlinkTests {
    @Test("an unknown neighbour is resolved on demand (ARP and ND triggered over netlink)", arguments: [false, true])
    func resolvesUnknownNeighbour(ipv6: Bool) throws {
        try withNamespacePair(ipv6 ? "n6" : "n4") { pair in
            try run(["ip", "-n", pair.namespaceA, "neigh", "flush", "all"], check: true)
            let peer = IPAddress(ipv6 ? pair.addressB6 : pair.addressB4)!
            let peerMAC = try pair.inB { try InterfaceInfo.query(pair.interfaceB).mac }
            let (route, mac) = try pair.inA { () throws -> (Route, MACAddress) in
                var table = try RoutingTable()
                return try table.resolve(peer, timeoutMilliseconds: 3000)
            }
            #expect(route.nextHop == peer)
            #expect(route.preferredSource == IPAddress(ipv6 ? pair.addressA6 : pair.addressA4))
            #expect(mac == peerMAC)
        }
    }

    @Test("no route names the address and the fix")
    func noRoute() throws {
        try withNamespacePair("nr") { pair in
            let error = try pair.inA { () -> DatapathError? in
                var table = try RoutingTable()
                do throws(DatapathError) { _ = try table.route(to: IPAddress("192.0.2.77")!); return nil } catch { return error }
            }
            #expect(error?.message.contains("no route to 192.0.2.77") == true)
        }
    }

    @Test("interface discovery: one queue each, MTU, offload table with a software path for every capability")
    func interfaceAndOffloads() throws {
        try withNamespacePair("of") { pair in
            let (info, table) = try pair.inA { () throws -> (InterfaceInfo, OffloadTable) in
                (try InterfaceInfo.query(pair.interfaceA), try OffloadTable.discover(interface: pair.interfaceA))
            }
            #expect(info.rxQueues == 1 && info.txQueues == 1 && info.mtu == 1500)
            #expect(Set(table.entries.map(\.capability)) == Set(OffloadTable.Capability.allCases))
            #expect(table.provider(.cryptoOffload) == .software)
            #expect(table.provider(.xdpNative) == .hardware, "veth has native XDP")
            #expect(table.provider(.afxdpZeroCopy) == .software, "veth has no zero-copy AF_XDP")
            #expect(table.provider(.txChecksum) == .software, "the test turned tx checksumming off")
        }
    }
}
