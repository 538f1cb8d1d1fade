import CLibXDP

/// The transmit side of an `AFXDPPort` lent to a handler for one `transmit` call: `reserve`
/// hands out a free UMEM frame (payload area after room for Ethernet + IPv6 + UDP), `commit`
/// writes the headers in front of the payload (checksums in software, see OffloadTable) and
/// queues a TX descriptor. Nothing is allocated.
public struct AFXDPTransmitQueue: TransmitQueue {
    let base: UnsafeMutableRawPointer
    let tx: UnsafeMutablePointer<xsk_ring_prod>
    let payloadLimit: Int
    let sourceMAC: MACAddress
    let frames: UnsafeMutablePointer<FrameStack>
    let neighbours: UnsafeMutablePointer<NeighbourCache>
    let defaultSourcePort: UInt16
    var reservedFrame: UInt64?
    var committed = 0
    /// Datagrams dropped because no next hop could be resolved.
    var unroutable = 0

    init(port: borrowing AFXDPPort) {
        base = port.region.base
        tx = port.tx
        payloadLimit = port.payloadLimit
        sourceMAC = port.interface.mac!
        frames = port.freeTransmitFrames
        neighbours = port.neighbours
        defaultSourcePort = port.defaultSourcePort
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
        return UnsafeMutableRawBufferPointer(start: base + Int(reservedFrame!) + EthernetFrame.transmitHeadroom, count: payloadLimit)
    }

    public mutating func commit(length: Int, to destination: SocketAddress, from source: SocketAddress?, ecn: ECN) {
        guard let frame = reservedFrame else { preconditionFailure("commit without reserve") }
        precondition(length <= payloadLimit, "datagram larger than the reserved space")
        guard let entry = neighbours.pointee.lookup(destination.address),
              let sourceAddress = source?.address ?? entry.source
        else {
            unroutable += 1
            return // keep the frame reserved for the next datagram
        }
        var index: UInt32 = 0
        guard xsk_ring_prod__reserve(tx, 1, &index) == 1 else { return }
        let (offset, frameLength) = FrameHeaderWriter.write(
            frame: base + Int(frame), payloadLength: length, sourceMAC: sourceMAC, destinationMAC: entry.mac,
            source: SocketAddress(sourceAddress, port: source?.port ?? defaultSourcePort), destination: destination, ecn: ecn)
        let descriptor = xsk_ring_prod__tx_desc(tx, index)!
        descriptor.pointee.addr = frame + UInt64(offset)
        descriptor.pointee.len = UInt32(frameLength)
        descriptor.pointee.options = 0
        reservedFrame = nil
        committed += 1
    }
}
