import CQuicShim
import Glibc

/// One direction of the relay: receives a batch with recvmmsg straight into delay-queue slots,
/// judges each datagram with its `LinkModel`, and releases due datagrams with sendmmsg. Owned
/// by one thread; all buffers are allocated once.
final class Forwarder {
    let queue: DelayQueue
    var link: LinkModel
    let batch: Int
    /// Counted since the last merge into the shared statistics.
    var counters = DirectionCounters()
    /// The queue length last merged into the shared statistics.
    var publishedQueued: UInt64 = 0

    static let controlSize = 64
    private let receiveHeaders: UnsafeMutablePointer<quic_mmsghdr>
    private let receiveVectors: UnsafeMutablePointer<iovec>
    private let receiveNames: UnsafeMutablePointer<sockaddr_storage>
    private let receiveControl: UnsafeMutableRawPointer
    private let receiveSlots: UnsafeMutablePointer<Int32>
    private let sendHeaders: UnsafeMutablePointer<quic_mmsghdr>
    private let sendVectors: UnsafeMutablePointer<iovec>
    private let sendControl: UnsafeMutableRawPointer
    private let sendEntries: UnsafeMutablePointer<DelayQueue.Entry>
    private let destination: UnsafeMutablePointer<sockaddr_storage>
    /// Where datagrams go when the pool is exhausted: read and dropped, so the socket drains.
    private let scratch: UnsafeMutableRawPointer

    init(link: LinkModel, queueSlots: Int, slotSize: Int, batch: Int) {
        self.link = link
        self.batch = batch
        queue = DelayQueue(capacity: queueSlots, slotSize: slotSize)
        receiveHeaders = .allocate(capacity: batch)
        receiveVectors = .allocate(capacity: batch)
        receiveNames = .allocate(capacity: batch)
        receiveControl = .allocate(byteCount: batch * Self.controlSize, alignment: 8)
        receiveSlots = .allocate(capacity: batch)
        sendHeaders = .allocate(capacity: batch)
        sendVectors = .allocate(capacity: batch)
        sendControl = .allocate(byteCount: batch * Self.controlSize, alignment: 8)
        sendEntries = .allocate(capacity: batch)
        destination = .allocate(capacity: 1)
        scratch = .allocate(byteCount: slotSize, alignment: 64)
    }

    deinit {
        receiveHeaders.deallocate()
        receiveVectors.deallocate()
        receiveNames.deallocate()
        receiveControl.deallocate()
        receiveSlots.deallocate()
        sendHeaders.deallocate()
        sendVectors.deallocate()
        sendControl.deallocate()
        sendEntries.deallocate()
        destination.deallocate()
        scratch.deallocate()
    }

    /// Receives one batch from `fd` and queues what survives the link. `accept` sees each
    /// datagram's source and may refuse it (`.foreign`, `.noClient` …). Returns how many
    /// datagrams were read (0: nothing was waiting).
    func receive(fd: Int32, now: UInt64, accept: (UnsafeRawPointer, socklen_t) -> DropReason?) -> Int {
        let wanted = min(batch, max(queue.freeCount, 1))
        var slotsTaken = 0
        for index in 0..<wanted {
            let base: UnsafeMutableRawPointer
            if let slot = queue.takeSlot() {
                receiveSlots[index] = slot
                base = queue.buffer(slot)
                slotsTaken += 1
            } else {
                receiveSlots[index] = -1
                base = scratch
            }
            receiveVectors[index] = iovec(iov_base: base, iov_len: queue.slotSize)
            receiveHeaders[index].msg_hdr = msghdr(
                msg_name: UnsafeMutableRawPointer(receiveNames + index), msg_namelen: socklen_t(MemoryLayout<sockaddr_storage>.size),
                msg_iov: receiveVectors + index, msg_iovlen: 1,
                msg_control: receiveControl + index * Self.controlSize, msg_controllen: Self.controlSize, msg_flags: 0)
            receiveHeaders[index].msg_len = 0
        }
        let received = Int(quic_recvmmsg(fd, receiveHeaders, UInt32(wanted), Int32(MSG_DONTWAIT)))
        let count = max(received, 0)
        for index in 0..<count {
            let slot = receiveSlots[index]
            let length = Int(receiveHeaders[index].msg_len)
            counters.received += 1
            counters.receivedBytes += UInt64(length)
            if slot < 0 {
                counters[.pool] += 1
                continue
            }
            if receiveHeaders[index].msg_hdr.msg_flags & Int32(MSG_TRUNC) != 0 {
                counters[.oversize] += 1
                queue.releaseSlot(slot)
                continue
            }
            if let refused = accept(UnsafeRawPointer(receiveNames + index), receiveHeaders[index].msg_hdr.msg_namelen) {
                counters[refused] += 1
                queue.releaseSlot(slot)
                continue
            }
            let ecn = withUnsafeMutablePointer(to: &receiveHeaders[index].msg_hdr) { RelaySocket.ecn(of: $0) }
            switch link.judge(size: length, now: now) {
            case .drop(let reason):
                counters[reason] += 1
                queue.releaseSlot(slot)
            case .deliver(let at, let corruptAt, let mask, let duplicateAt, let reordered):
                if let duplicateAt, let copy = queue.takeSlot() {
                    queue.buffer(copy).copyMemory(from: queue.buffer(slot), byteCount: length)
                    queue.push(slot: copy, length: length, ecn: ecn, at: duplicateAt)
                    counters.duplicated += 1
                }
                if let corruptAt {
                    queue.buffer(slot).storeBytes(
                        of: queue.buffer(slot).load(fromByteOffset: corruptAt, as: UInt8.self) ^ mask, toByteOffset: corruptAt,
                        as: UInt8.self)
                    counters.corrupted += 1
                }
                if reordered { counters.reordered += 1 }
                queue.push(slot: slot, length: length, ecn: ecn, at: at)
            }
        }
        // Slots taken for messages that did not arrive go back.
        for index in count..<wanted where receiveSlots[index] >= 0 { queue.releaseSlot(receiveSlots[index]) }
        _ = slotsTaken
        return count
    }

    enum FlushResult {
        /// Nothing more is due.
        case idle
        /// The socket's buffer is full; wait for POLLOUT.
        case blocked
    }

    /// Sends everything due by `now` to `target` through `fd`; `target == nil` drops it
    /// (`.noClient`: no client has spoken yet).
    func flush(fd: Int32, to target: RelayAddress?, now: UInt64) -> FlushResult {
        let family = target?.family ?? AF_INET
        if let target {
            withUnsafeBytes(of: target.storage) { UnsafeMutableRawPointer(destination).copyMemory(from: $0.baseAddress!, byteCount: Int(target.length)) }
        }
        let nameLength = target?.length ?? 0
        while true {
            var count = 0
            while count < batch, let entry = queue.popDue(now: now) {
                sendEntries[count] = entry
                count += 1
            }
            guard count > 0 else { return .idle }
            guard target != nil else {
                for index in 0..<count { queue.releaseSlot(sendEntries[index].slot) }
                counters[.noClient] += UInt64(count)
                continue
            }
            for index in 0..<count {
                let entry = sendEntries[index]
                sendVectors[index] = iovec(iov_base: queue.buffer(entry.slot), iov_len: Int(entry.length))
                var controlLength = 0
                let control = sendControl + index * Self.controlSize
                if entry.ecn != 0 {
                    controlLength = writeECN(entry.ecn, family: family, into: control, header: &sendHeaders[index].msg_hdr)
                }
                sendHeaders[index].msg_hdr = msghdr(
                    msg_name: UnsafeMutableRawPointer(destination), msg_namelen: nameLength, msg_iov: sendVectors + index,
                    msg_iovlen: 1, msg_control: controlLength > 0 ? control : nil, msg_controllen: controlLength, msg_flags: 0)
                sendHeaders[index].msg_len = 0
            }
            let sent = Int(quic_sendmmsg(fd, sendHeaders, UInt32(count), Int32(MSG_DONTWAIT)))
            if sent < 0 {
                let code = errno
                if code == EAGAIN || code == EWOULDBLOCK || code == ENOBUFS || code == EINTR {
                    for index in 0..<count { queue.push(sendEntries[index]) }
                    return .blocked
                }
                // The first datagram failed for good (no route, refused, too big): drop it and
                // try the rest again.
                counters[.sendError] += 1
                queue.releaseSlot(sendEntries[0].slot)
                for index in 1..<count { queue.push(sendEntries[index]) }
                continue
            }
            for index in 0..<sent {
                counters.forwarded += 1
                counters.forwardedBytes += UInt64(sendEntries[index].length)
                queue.releaseSlot(sendEntries[index].slot)
            }
            if sent < count {
                for index in sent..<count { queue.push(sendEntries[index]) }
            }
        }
    }

    /// Writes an IP_TOS / IPV6_TCLASS control message carrying the ECN field; returns its space.
    private func writeECN(_ ecn: UInt8, family: Int32, into control: UnsafeMutableRawPointer, header: inout msghdr) -> Int {
        let space = quic_cmsg_space(4)
        header.msg_control = control
        header.msg_controllen = space
        control.initializeMemory(as: UInt8.self, repeating: 0, count: space)
        guard let cmsg = withUnsafeMutablePointer(to: &header, { quic_cmsg_firsthdr($0) }) else { return 0 }
        cmsg.pointee.cmsg_len = quic_cmsg_len(4)
        cmsg.pointee.cmsg_level = family == AF_INET6 ? Int32(IPPROTO_IPV6) : Int32(IPPROTO_IP)
        cmsg.pointee.cmsg_type = family == AF_INET6 ? IPV6_TCLASS : IP_TOS
        UnsafeMutableRawPointer(quic_cmsg_data(cmsg)).storeBytes(of: Int32(ecn), as: Int32.self)
        return space
    }
}
