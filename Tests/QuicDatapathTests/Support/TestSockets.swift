import Glibc
import QuicDatapath

/// A plain blocking UDP socket for the peer side of tests (owned, closed on deinit).
final class PeerSocket: @unchecked Sendable {
    let fd: Int32
    let family: Int32

    init(ipv6: Bool, bindPort: UInt16 = 0, receiveTimeoutMilliseconds: Int = 2000) throws {
        family = ipv6 ? AF_INET6 : AF_INET
        fd = socket(family, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw Errno.current }
        var timeout = timeval(tv_sec: receiveTimeoutMilliseconds / 1000, tv_usec: (receiveTimeoutMilliseconds % 1000) * 1000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        // 4 MB, so a test thread that is not scheduled for a while on the shared cores does not
        // lose a burst in the kernel (the default ~200 kB holds under 100 datagrams of 1200 bytes).
        var bufferSize: Int32 = 4 << 20
        if setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bufferSize, 4) != 0 { setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufferSize, 4) }
        var one: Int32 = 1
        if ipv6 {
            setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_RECVTCLASS, &one, 4)
        } else {
            setsockopt(fd, Int32(IPPROTO_IP), IP_RECVTOS, &one, 4)
        }
        let local = SocketAddress(ipv6 ? .v6(high: 0, low: 0) : .v4(0), port: bindPort)
        var storage = sockaddr_in6()
        let length = withUnsafeMutableBytes(of: &storage) { local.write(sockaddrTo: $0.baseAddress!, dualStack: false) }
        let status = withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard status == 0 else { let error = Errno.current; close(fd); throw error }
    }

    deinit { close(fd) }

    /// Sets the ECN bits on everything this socket sends.
    func setECN(_ ecn: ECN) {
        var value = Int32(ecn.rawValue)
        if family == AF_INET6 {
            setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_TCLASS, &value, 4)
        } else {
            setsockopt(fd, Int32(IPPROTO_IP), IP_TOS, &value, 4)
        }
    }

    func send(_ bytes: [UInt8], to destination: SocketAddress) throws {
        var storage = sockaddr_in6()
        let length = withUnsafeMutableBytes(of: &storage) { destination.write(sockaddrTo: $0.baseAddress!, dualStack: false) }
        let sent = bytes.withUnsafeBytes { raw in
            withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                sendto(fd, raw.baseAddress, raw.count, 0, $0, length)
            } }
        }
        guard sent == bytes.count else { throw Errno.current }
    }

    /// Receives one datagram: payload, sender, ECN. Throws on timeout.
    func receive() throws -> (bytes: [UInt8], from: SocketAddress, ecn: ECN) {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 8)
        let control = UnsafeMutableRawBufferPointer.allocate(byteCount: 128, alignment: 8)
        let name = UnsafeMutablePointer<sockaddr_in6>.allocate(capacity: 1)
        let iov = UnsafeMutablePointer<iovec>.allocate(capacity: 1)
        defer { buffer.deallocate(); control.deallocate(); name.deallocate(); iov.deallocate() }
        iov.pointee = iovec(iov_base: buffer.baseAddress, iov_len: buffer.count)
        var message = msghdr(msg_name: UnsafeMutableRawPointer(name), msg_namelen: socklen_t(MemoryLayout<sockaddr_in6>.size),
                             msg_iov: iov, msg_iovlen: 1,
                             msg_control: control.baseAddress, msg_controllen: control.count, msg_flags: 0)
        let count = recvmsg(fd, &message, 0)
        guard count >= 0 else { throw Errno.current }
        let from = SocketAddress(sockaddr: UnsafeRawPointer(name))!
        let bytes = Array(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
        return (bytes, from, ecnFromControl(Array(UnsafeRawBufferPointer(control)), length: message.msg_controllen))
    }

    private func ecnFromControl(_ control: [UInt8], length: Int) -> ECN {
        // struct cmsghdr { size_t len; int level; int type; } then data, 8-byte aligned.
        var offset = 0
        while offset + 16 <= length {
            let cmsgLength = control.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: Int.self) }
            let level = control.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset + 8, as: Int32.self) }
            let type = control.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset + 12, as: Int32.self) }
            if (level == Int32(IPPROTO_IP) && type == IP_TOS) { return ECN(trafficClass: control[offset + 16]) }
            if (level == Int32(IPPROTO_IPV6) && type == IPV6_TCLASS) { return ECN(trafficClass: control[offset + 16]) }
            guard cmsgLength > 0 else { break }
            offset += (cmsgLength + 7) & ~7
        }
        return .notECT
    }
}
