/// A diagnostic `DatagramHandler`: sends every datagram back to where it came from, from the
/// address it was sent to, with the same ECN. Used by tests, benchmarks and `quicxdp echo`.
/// Payloads are copied once into a preallocated ring (the receive frame is recycled when
/// `handle` returns); nothing is allocated per datagram. When the ring is full, datagrams are
/// dropped and counted.
public struct EchoHandler: DatagramHandler, ~Copyable {
    struct Pending {
        var offset: Int
        var length: Int
        var to: SocketAddress
        var from: SocketAddress
        var ecn: ECN
    }

    let slotSize: Int
    let slotCount: Int
    let arena: UnsafeMutableRawPointer
    let pending: UnsafeMutablePointer<Pending>
    var head = 0
    var count = 0
    public private(set) var echoed: UInt64 = 0
    public private(set) var dropped: UInt64 = 0

    public init(slots: Int = 4096, slotSize: Int = 2048) {
        self.slotSize = slotSize
        self.slotCount = slots
        arena = .allocate(byteCount: slots * slotSize, alignment: 64)
        pending = .allocate(capacity: slots)
    }

    deinit {
        arena.deallocate()
        pending.deallocate()
    }

    public mutating func handle(_ batch: ReceivedBatch, now: MonotonicTime) {
        for datagram in batch {
            guard count < slotCount, datagram.payload.count <= slotSize else { dropped &+= 1; continue }
            let slot = (head + count) % slotCount
            let offset = slot * slotSize
            if let base = datagram.payload.baseAddress {
                (arena + offset).copyMemory(from: base, byteCount: datagram.payload.count)
            }
            pending[slot] = Pending(offset: offset, length: datagram.payload.count,
                                    to: datagram.source, from: datagram.destination, ecn: datagram.ecn)
            count += 1
        }
    }

    public mutating func pollTransmits<Queue: TransmitQueue & ~Copyable>(into queue: inout Queue, now: MonotonicTime) {
        while count > 0 {
            let item = pending[head]
            guard let space = queue.reserve() else { return }
            guard item.length <= space.count else {
                dropped &+= 1
                head = (head + 1) % slotCount
                count -= 1
                continue
            }
            space.baseAddress!.copyMemory(from: arena + item.offset, byteCount: item.length)
            queue.commit(length: item.length, to: item.to, from: item.from, ecn: item.ecn)
            echoed &+= 1
            head = (head + 1) % slotCount
            count -= 1
        }
    }

    public func nextTimeout() -> MonotonicTime? { nil }
    public mutating func handleTimeout(now: MonotonicTime) {}
    public var wantsToTransmit: Bool { count > 0 }
}
