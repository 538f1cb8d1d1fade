import CLibXDP
import CQuicShim

/// The transmit side of an `AFXDPPort` lent to a handler for one `transmit` call: `reserve`
/// hands out a free UMEM frame (payload area after room for Ethernet + IPv6 + UDP, up to the
/// IPv4 payload limit; IPv6 datagrams beyond theirs are dropped at commit), `commit`
/// writes the headers in front of the payload (the UDP checksum in software, or asked of the
/// device through TX metadata, see `AFXDPConfiguration.transmitChecksum`) and
/// queues a TX descriptor. Nothing is allocated.
public struct AFXDPTransmitQueue: TransmitQueue {
    let base: UnsafeMutableRawPointer
    let tx: UnsafeMutablePointer<xsk_ring_prod>
    let payloadLimit: Int
    let ipv6PayloadLimit: Int
    let sourceMAC: MACAddress
    let frames: UnsafeMutablePointer<FrameStack>
    let neighbours: UnsafeMutablePointer<NeighbourCache>
    let defaultSourcePort: UInt16
    /// Bytes reserved before each packet for `struct xsk_tx_metadata` (0: checksums in software).
    let metadataLength: Int
    var reservedFrame: UInt64?
    var committed = 0
    /// Datagrams dropped because no next hop could be resolved.
    var unroutable = 0
    /// IPv6 datagrams dropped for exceeding the MTU (a path MTU probe that cannot succeed).
    var oversized = 0

    init(port: borrowing AFXDPPort) {
        base = port.region.base
        tx = port.tx
        payloadLimit = port.payloadLimit
        ipv6PayloadLimit = port.ipv6PayloadLimit
        sourceMAC = port.interface.mac!
        frames = port.freeTransmitFrames
        neighbours = port.neighbours
        defaultSourcePort = port.defaultSourcePort
        metadataLength = port.transmitChecksum == .metadata ? port.xsk.txMetadataLength : 0
    }

    /// Returns a frame reserved but not committed.
    mutating func finish() {
        if let frame = reservedFrame { frames.pointee.push(frame) }
        reservedFrame = nil
    }

    public mutating func reserve() -> UnsafeMutableRawBufferPointer? {
        guard xsk_prod_nb_free(tx, 1) >= 1 else { return nil }
        if reservedFrame == nil {
            guard let frame = frames.pointee.pop() else { return nil }
            reservedFrame = frame
        }
        return UnsafeMutableRawBufferPointer(
            start: base + Int(reservedFrame!) + metadataLength + EthernetFrame.transmitHeadroom, count: payloadLimit)
    }

    public mutating func commit(length: Int, to destination: SocketAddress, from source: SocketAddress?, ecn: ECN) {
        guard let frame = reservedFrame else { preconditionFailure("commit without reserve") }
        precondition(length <= payloadLimit, "datagram larger than the reserved space")
        guard length <= ipv6PayloadLimit || destination.address.isIPv4 else {
            oversized += 1
            return  // as if lost on the way; the frame stays reserved for the next datagram
        }
        guard let entry = neighbours.pointee.lookup(destination.address),
              let sourceAddress = source?.address ?? entry.source
        else {
            unroutable += 1
            return // keep the frame reserved for the next datagram
        }
        var index: UInt32 = 0
        guard xsk_ring_prod__reserve(tx, 1, &index) == 1 else { return }
        // With TX metadata the packet starts `metadataLength` later, so the metadata fits just
        // before it in the same frame (the kernel reads it at addr - tx_metadata_len).
        let packetBase = frame + UInt64(metadataLength)
        let (offset, frameLength) = FrameHeaderWriter.write(
            frame: base + Int(packetBase), payloadLength: length, sourceMAC: sourceMAC, destinationMAC: entry.mac,
            source: SocketAddress(sourceAddress, port: source?.port ?? defaultSourcePort), destination: destination, ecn: ecn,
            udpChecksum: metadataLength > 0 ? .pseudoHeaderSeed : .full)
        let descriptor = xsk_ring_prod__tx_desc(tx, index)!
        descriptor.pointee.addr = packetBase + UInt64(offset)
        descriptor.pointee.len = UInt32(frameLength)
        descriptor.pointee.options = 0
        if metadataLength > 0 {
            let metadata = (base + Int(descriptor.pointee.addr) - metadataLength).assumingMemoryBound(to: quic_xsk_tx_metadata.self)
            let udpOffset = EthernetFrame.transmitHeadroom - EthernetFrame.udpHeaderSize - offset
            metadata.pointee = quic_xsk_tx_metadata(
                flags: UInt64(QUIC_XDP_TXMD_FLAGS_CHECKSUM), csum_start: UInt16(udpOffset), csum_offset: 6, reserved: 0,
                launch_time: 0)
            descriptor.pointee.options = UInt32(QUIC_XDP_TX_METADATA)
        }
        reservedFrame = nil
        committed += 1
    }
}
