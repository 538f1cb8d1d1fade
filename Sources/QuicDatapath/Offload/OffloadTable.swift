/// What the device does for us, per capability, and what we then do in software. Every
/// capability has a software path that puts the same bytes on the wire; the ports consult this
/// table to pick the faster one.
public struct OffloadTable: Sendable, Codable {
    public enum Provider: String, Sendable, Codable {
        case hardware
        case software
        /// The kernel did not say (an old kernel without the netdev netlink family).
        case unknown
        /// Neither the device nor the kernel does it on this interface (e.g. no GRO on a veth
        /// without NAPI): the port does without.
        case unavailable
    }

    public enum Capability: String, Sendable, Codable, CaseIterable {
        case txChecksum = "tx-checksum"
        case rxChecksum = "rx-checksum"
        case segmentation = "segmentation (GSO/USO)"
        case receiveCoalescing = "receive coalescing (GRO)"
        case xdpNative = "native XDP"
        case afxdpZeroCopy = "AF_XDP zero-copy"
        case afxdpTxChecksum = "AF_XDP tx checksum"
        case rxHash = "RX hash"
        case txTimestamps = "TX timestamps"
        case cryptoOffload = "QUIC crypto offload"
    }

    public struct Entry: Sendable, Codable {
        public var capability: Capability
        public var provider: Provider
        /// How it is done: the feature flag that provides it, or the software path.
        public var detail: String
    }

    public var interface: String
    public var entries: [Entry]

    public func provider(_ capability: Capability) -> Provider {
        entries.first { $0.capability == capability }?.provider ?? .software
    }

    /// Discovers the table for an interface (ethtool features, netdev netlink, timestamping).
    public static func discover(interface: String) throws(DatapathError) -> OffloadTable {
        let info = try InterfaceInfo.query(interface)
        let ethtool = EthtoolFeatures.query(interface)
        let netdev = NetdevFeatures.query(interfaceIndex: info.index)
        var entries: [Entry] = []

        func flag(_ capability: Capability, _ names: [String], software: String) {
            if let name = names.first(where: { ethtool.active.contains($0) }) {
                entries.append(Entry(capability: capability, provider: .hardware, detail: name))
            } else {
                entries.append(Entry(capability: capability, provider: .software, detail: software))
            }
        }
        func netdevFlag(_ capability: Capability, _ set: Bool, hardware: String, software: String) {
            if !netdev.known {
                entries.append(Entry(capability: capability, provider: .unknown, detail: "kernel has no netdev netlink family; " + software))
            } else {
                entries.append(Entry(capability: capability, provider: set ? .hardware : .software, detail: set ? hardware : software))
            }
        }

        flag(.txChecksum, ["tx-checksum-ip-generic", "tx-checksum-ipv4", "tx-checksum-ipv6"],
             software: "UDP checksum computed in QuicDatapath (InternetChecksum)")
        flag(.rxChecksum, ["rx-checksum"], software: "kernel verifies; AF_XDP path trusts the XDP-validated frame")
        flag(.segmentation, ["tx-udp-segmentation"],
             software: "UDP_SEGMENT split by the kernel's software GSO before the driver")
        // UDP_GRO only ever coalesces what the device's GRO (hardware, or the kernel's software
        // GRO, feature "rx-gro", shown by ethtool -k as generic-receive-offload) put together;
        // without either it is dead weight.
        if ethtool.active.contains("rx-gro-hw") {
            entries.append(Entry(capability: .receiveCoalescing, provider: .hardware, detail: "rx-gro-hw"))
        } else if ethtool.active.contains("rx-gro") {
            entries.append(Entry(capability: .receiveCoalescing, provider: .software,
                                 detail: "UDP_GRO coalescing in the kernel's software GRO (generic-receive-offload)"))
        } else {
            entries.append(Entry(capability: .receiveCoalescing, provider: .unavailable,
                                 detail: "generic-receive-offload is off: no coalescing, datagrams arrive one by one"))
        }
        netdevFlag(.xdpNative, netdev.xdp & NetdevFeatures.xdpRedirect != 0,
                   hardware: "driver XDP with redirect", software: "generic (skb) XDP")
        netdevFlag(.afxdpZeroCopy, netdev.xdp & NetdevFeatures.xdpZeroCopy != 0,
                   hardware: "XDP_ZEROCOPY bind", software: "copy mode (XDP_COPY)")
        netdevFlag(.afxdpTxChecksum, netdev.xsk & NetdevFeatures.xskTxChecksum != 0,
                   hardware: "XDP_TX_METADATA checksum request", software: "UDP checksum written into the TX frame by QuicDatapath")
        if netdev.known && netdev.rxMetadata & NetdevFeatures.rxMetadataHash != 0 {
            entries.append(Entry(capability: .rxHash, provider: .hardware, detail: "XDP RX metadata hash"))
        } else {
            flag(.rxHash, ["receive-hashing"], software: "one queue per worker; connection lookup hashes the CID")
        }
        entries.append(Entry(capability: .txTimestamps, provider: ethtool.hardwareTransmitTimestamps ? .hardware : .software,
                             detail: ethtool.hardwareTransmitTimestamps ? "SOF_TIMESTAMPING_TX_HARDWARE" : "CLOCK_MONOTONIC read at send"))
        // The hook: no Linux driver exposes QUIC crypto offload today; packet protection is
        // always done by QuicCrypto.
        entries.append(Entry(capability: .cryptoOffload, provider: .software, detail: "QuicCrypto (OpenSSL) in the engine"))
        return OffloadTable(interface: interface, entries: entries)
    }
}
