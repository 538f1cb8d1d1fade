import CQuicShim
import Glibc

/// A netlink socket (rtnetlink or generic netlink) for request/response exchanges on the slow
/// path: routes, neighbours, link attributes, netdev features (RFC 3549; linux/netlink.h).
/// Owns the socket. Requests are built in a reusable buffer; replies are walked in place.
struct NetlinkSocket: ~Copyable {
    let fd: OwnedDescriptor
    private var sequence: UInt32 = 1

    init(protocol netlinkProtocol: Int32) throws(DatapathError) {
        let raw = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), netlinkProtocol)
        guard raw >= 0 else { throw DatapathError(.netlink, "cannot open a netlink socket", errno: .current) }
        fd = OwnedDescriptor(taking: raw)
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(raw, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var strict: Int32 = 1
        setsockopt(raw, Int32(SOL_NETLINK), Int32(NETLINK_GET_STRICT_CHK), &strict, 4)
    }

    /// Sends one request (header filled in here) and calls `body` with each reply message of
    /// type `type`'s answers until NLMSG_DONE, or the single reply for a non-dump request.
    /// Returns the kernel's error for NLMSG_ERROR with a non-zero code.
    mutating func request(type: UInt16, flags: Int32, payload: NetlinkMessageBuilder,
                          _ body: (NetlinkMessage) -> Void) throws(Errno) {
        var message = payload
        sequence &+= 1
        let seq = sequence
        message.finish(type: type, flags: UInt16(flags | NLM_F_REQUEST), sequence: seq)
        let sent = message.bytes.withUnsafeBytes { raw in
            var address = sockaddr_nl()
            address.nl_family = sa_family_t(AF_NETLINK)
            return withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd.rawValue, raw.baseAddress, raw.count, 0, $0, socklen_t(MemoryLayout<sockaddr_nl>.size))
                }
            }
        }
        guard sent >= 0 else { throw Errno.current }
        let isDump = flags & NLM_F_DUMP == NLM_F_DUMP
        var buffer = [UInt8](repeating: 0, count: 32768)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd.rawValue, $0.baseAddress, $0.count, 0) }
            if count < 0 {
                if errno == EINTR { continue }
                throw Errno.current
            }
            var done = false
            var failure: Errno?
            buffer.withUnsafeBytes { raw in
                var offset = 0
                while offset + MemoryLayout<nlmsghdr>.size <= count {
                    let header = raw.loadUnaligned(fromByteOffset: offset, as: nlmsghdr.self)
                    let length = Int(header.nlmsg_len)
                    guard length >= MemoryLayout<nlmsghdr>.size, offset + length <= count else { done = true; return }
                    if header.nlmsg_seq == seq {
                        if header.nlmsg_type == UInt16(NLMSG_DONE) {
                            // A failed dump reports its error in NLMSG_DONE's payload.
                            if length >= MemoryLayout<nlmsghdr>.size + 4 {
                                let code = raw.loadUnaligned(fromByteOffset: offset + MemoryLayout<nlmsghdr>.size, as: Int32.self)
                                if code < 0 { failure = Errno(-code) }
                            }
                            done = true
                        } else if header.nlmsg_type == UInt16(NLMSG_ERROR) {
                            let code = raw.loadUnaligned(fromByteOffset: offset + MemoryLayout<nlmsghdr>.size, as: Int32.self)
                            if code != 0 { failure = Errno(-code) }
                            done = true
                        } else {
                            body(NetlinkMessage(type: header.nlmsg_type,
                                                payload: UnsafeRawBufferPointer(rebasing: raw[(offset + MemoryLayout<nlmsghdr>.size)..<(offset + length)])))
                            if !isDump && flags & NLM_F_ACK == 0 { done = true }
                        }
                    }
                    offset += (length + 3) & ~3
                }
            }
            if let failure { throw failure }
            if done { return }
        }
    }
}

/// One reply message: its type and payload (family header followed by attributes).
struct NetlinkMessage {
    let type: UInt16
    let payload: UnsafeRawBufferPointer

    /// Walks the attributes that follow a family header of `headerSize` bytes.
    func attributes(after headerSize: Int) -> NetlinkAttributes {
        let start = (headerSize + 3) & ~3
        guard start <= payload.count else { return NetlinkAttributes(bytes: UnsafeRawBufferPointer(start: nil, count: 0)) }
        return NetlinkAttributes(bytes: UnsafeRawBufferPointer(rebasing: payload[start...]))
    }
}

/// rtattr/nlattr walking (same layout: u16 length, u16 type, value, padded to 4).
struct NetlinkAttributes: Sequence, IteratorProtocol {
    var bytes: UnsafeRawBufferPointer

    mutating func next() -> (type: UInt16, value: UnsafeRawBufferPointer)? {
        guard bytes.count >= 4 else { return nil }
        let length = Int(bytes.loadUnaligned(as: UInt16.self))
        let type = bytes.loadUnaligned(fromByteOffset: 2, as: UInt16.self) & 0x3fff // drop NLA_F_NESTED/BYTEORDER
        guard length >= 4, length <= bytes.count else { return nil }
        let value = UnsafeRawBufferPointer(rebasing: bytes[4..<length])
        let advance = Swift.min((length + 3) & ~3, bytes.count)
        bytes = UnsafeRawBufferPointer(rebasing: bytes[advance...])
        return (type, value)
    }
}

extension UnsafeRawBufferPointer {
    var u8: UInt8 { count >= 1 ? load(as: UInt8.self) : 0 }
    var u16: UInt16 { count >= 2 ? loadUnaligned(as: UInt16.self) : 0 }
    var u32: UInt32 { count >= 4 ? loadUnaligned(as: UInt32.self) : 0 }
    var u64: UInt64 { count >= 8 ? loadUnaligned(as: UInt64.self) : UInt64(u32) }
    var cString: String { String(decoding: prefix { $0 != 0 }, as: UTF8.self) }
}

/// Builds a request: room for the nlmsghdr, then a family header, then attributes.
struct NetlinkMessageBuilder {
    var bytes: [UInt8]

    init<Header>(header: Header) {
        bytes = [UInt8](repeating: 0, count: MemoryLayout<nlmsghdr>.size)
        withUnsafeBytes(of: header) { bytes.append(contentsOf: $0) }
        pad()
    }

    mutating func pad() { while bytes.count % 4 != 0 { bytes.append(0) } }

    mutating func attribute(_ type: UInt16, _ value: UnsafeRawBufferPointer) {
        let length = UInt16(4 + value.count)
        withUnsafeBytes(of: length) { bytes.append(contentsOf: $0) }
        withUnsafeBytes(of: type) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: value)
        pad()
    }

    mutating func attribute<T>(_ type: UInt16, value: T) {
        var copy = value
        withUnsafeBytes(of: &copy) { attribute(type, $0) }
    }

    mutating func attribute(_ type: UInt16, string: String) {
        var utf8 = Array(string.utf8)
        utf8.append(0)
        utf8.withUnsafeBytes { attribute(type, $0) }
    }

    mutating func finish(type: UInt16, flags: UInt16, sequence: UInt32) {
        var header = nlmsghdr()
        header.nlmsg_len = UInt32(bytes.count)
        header.nlmsg_type = type
        header.nlmsg_flags = flags
        header.nlmsg_seq = sequence
        withUnsafeBytes(of: header) { raw in
            for index in 0..<raw.count { bytes[index] = raw[index] }
        }
    }
}
