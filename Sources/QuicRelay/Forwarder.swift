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
    private let messages: UnsafeMutablePointer<Message>
    private let entryCapacity: Int
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
        entryCapacity = batch * Self.maxSegments
        sendHeaders = .allocate(capacity: batch)
        sendVectors = .allocate(capacity: entryCapacity)
        sendControl = .allocate(byteCount: batch * Self.controlSize, alignment: 8)
        sendEntries = .allocate(capacity: entryCapacity)
        messages = .allocate(capacity: batch)
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
        messages.deallocate()
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

    /// Consecutive due datagrams of one size (the last may be shorter) and one ECN field leave as
    /// a single UDP GSO send (UDP_SEGMENT): one trip through the stack for up to this many.
    static let maxSegments = 64
    static let maxSegmentBytes = 65_000
    /// Cleared after the first send the kernel refuses with GSO; plain datagrams from then on.
    var gso = true

    /// One sendmmsg message: `count` entries from `first` in `sendEntries`.
    private struct Message {
        var first: Int
        var count: Int
        var segmentSize: Int
        var ecn: UInt8
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
            // Pop due datagrams into at most `batch` messages.
            var entryCount = 0
            var messageCount = 0
            var open: Message?
            var openBytes = 0
            var openClosed = false
            while let entry = queue.popDue(now: now) {
                let length = Int(entry.length)
                if var group = open, gso, !openClosed, entry.ecn == group.ecn, group.count < Self.maxSegments,
                    openBytes + length <= Self.maxSegmentBytes, length <= group.segmentSize
                {
                    group.count += 1
                    openBytes += length
                    // A shorter datagram can only be the last segment.
                    openClosed = length < group.segmentSize
                    open = group
                } else {
                    if let group = open {
                        messages[messageCount] = group
                        messageCount += 1
                        if messageCount == batch {
                            queue.push(entry)
                            open = nil
                            break
                        }
                    }
                    open = Message(first: entryCount, count: 1, segmentSize: length, ecn: entry.ecn)
                    openBytes = length
                    openClosed = false
                }
                sendEntries[entryCount] = entry
                entryCount += 1
                if entryCount == entryCapacity { break }
            }
            if let group = open {
                messages[messageCount] = group
                messageCount += 1
            }
            guard messageCount > 0 else { return .idle }
            guard target != nil else {
                for index in 0..<entryCount { queue.releaseSlot(sendEntries[index].slot) }
                counters[.noClient] += UInt64(entryCount)
                continue
            }
            for index in 0..<messageCount {
                let message = messages[index]
                for offset in 0..<message.count {
                    let entry = sendEntries[message.first + offset]
                    sendVectors[message.first + offset] = iovec(iov_base: queue.buffer(entry.slot), iov_len: Int(entry.length))
                }
                let control = sendControl + index * Self.controlSize
                let controlLength = writeControl(
                    segmentSize: message.count > 1 ? message.segmentSize : nil, ecn: message.ecn, family: family, into: control)
                sendHeaders[index].msg_hdr = msghdr(
                    msg_name: UnsafeMutableRawPointer(destination), msg_namelen: nameLength, msg_iov: sendVectors + message.first,
                    msg_iovlen: message.count, msg_control: controlLength > 0 ? control : nil, msg_controllen: controlLength,
                    msg_flags: 0)
                sendHeaders[index].msg_len = 0
            }
            let sent = Int(quic_sendmmsg(fd, sendHeaders, UInt32(messageCount), Int32(MSG_DONTWAIT)))
            if sent < 0 {
                let code = errno
                if code == EAGAIN || code == EWOULDBLOCK || code == ENOBUFS || code == EINTR {
                    for index in 0..<entryCount { queue.push(sendEntries[index]) }
                    return .blocked
                }
                if gso && messages[0].count > 1 && (code == EIO || code == EINVAL || code == ENOPROTOOPT || code == EOPNOTSUPP) {
                    // No UDP GSO on this path: send datagrams one by one from now on.
                    gso = false
                    for index in 0..<entryCount { queue.push(sendEntries[index]) }
                    continue
                }
                // The first message failed for good (no route, refused, too big): drop it and
                // try the rest again.
                let failed = messages[0]
                counters[.sendError] += UInt64(failed.count)
                for index in failed.first..<(failed.first + failed.count) { queue.releaseSlot(sendEntries[index].slot) }
                for index in (failed.first + failed.count)..<entryCount { queue.push(sendEntries[index]) }
                continue
            }
            for index in 0..<sent {
                let message = messages[index]
                for entryIndex in message.first..<(message.first + message.count) {
                    counters.forwarded += 1
                    counters.forwardedBytes += UInt64(sendEntries[entryIndex].length)
                    queue.releaseSlot(sendEntries[entryIndex].slot)
                }
            }
            if sent < messageCount {
                for index in messages[sent].first..<entryCount { queue.push(sendEntries[index]) }
            }
        }
    }

    /// Writes the UDP_SEGMENT and IP_TOS / IPV6_TCLASS control messages a send needs; returns
    /// the control length (0: none).
    private func writeControl(segmentSize: Int?, ecn: UInt8, family: Int32, into control: UnsafeMutableRawPointer) -> Int {
        var length = 0
        if let segmentSize {
            let cmsg = control.assumingMemoryBound(to: cmsghdr.self)
            cmsg.pointee.cmsg_len = quic_cmsg_len(2)
            cmsg.pointee.cmsg_level = Int32(IPPROTO_UDP)
            cmsg.pointee.cmsg_type = Self.udpSegment
            UnsafeMutableRawPointer(quic_cmsg_data(cmsg)).storeBytes(of: UInt16(segmentSize), as: UInt16.self)
            length += quic_cmsg_space(2)
        }
        if ecn != 0 {
            let cmsg = (control + length).assumingMemoryBound(to: cmsghdr.self)
            cmsg.pointee.cmsg_len = quic_cmsg_len(4)
            cmsg.pointee.cmsg_level = family == AF_INET6 ? Int32(IPPROTO_IPV6) : Int32(IPPROTO_IP)
            cmsg.pointee.cmsg_type = family == AF_INET6 ? IPV6_TCLASS : IP_TOS
            UnsafeMutableRawPointer(quic_cmsg_data(cmsg)).storeBytes(of: Int32(ecn), as: Int32.self)
            length += quic_cmsg_space(4)
        }
        return length
    }

    /// UDP_SEGMENT from <netinet/udp.h>.
    static let udpSegment: Int32 = 103

}
