import CQuicShim
import Glibc

/// An error that tells a person what went wrong and what to try.
public struct RelayError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The current thread's errno as text.
func errnoText(_ code: Int32 = errno) -> String { "\(String(cString: strerror(code))) (errno \(code))" }

/// One line on standard error, prefixed with the program name.
public func relayLog(_ message: String) {
    let line = "quicxdp-relay: " + message + "\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
}

/// Nanoseconds on the monotonic clock.
@inline(__always)
func monotonicNow() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

enum RelaySocket {
    /// A non-blocking UDP socket bound to `address`, with large buffers and ECN reception on.
    static func open(bindTo address: RelayAddress, buffer: Int, role: String) throws(RelayError) -> Int32 {
        let fd = socket(address.family, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw RelayError("cannot create the \(role) socket: \(errnoText())") }
        var size = Int32(buffer)
        // SO_*BUFFORCE passes net.core.[rw]mem_max when running as root; otherwise the plain
        // option gives what the limit allows.
        if setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, 4) != 0 { setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, 4) }
        if setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, 4) != 0 { setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, 4) }
        var one: Int32 = 1
        if address.isIPv6 {
            setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_RECVTCLASS, &one, 4)
        }
        setsockopt(fd, Int32(IPPROTO_IP), IP_RECVTOS, &one, 4)
        let status = address.withSockaddr { bind(fd, $0, $1) }
        guard status == 0 else {
            let code = errno
            close(fd)
            let hint =
                code == EADDRNOTAVAIL
                ? "; the address is not configured on this host (check `ip addr` in the relay's namespace)"
                : code == EADDRINUSE ? "; another process holds the port" : ""
            throw RelayError("cannot bind the \(role) socket to \(address): \(errnoText(code))\(hint)")
        }
        return fd
    }

    static func localAddress(_ fd: Int32) -> RelayAddress {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return withUnsafeBytes(of: &storage) { RelayAddress(raw: $0.baseAddress!, length: length) }
    }

    /// The ECN field from a received message's control data.
    @inline(__always)
    static func ecn(of message: UnsafeMutablePointer<msghdr>) -> UInt8 {
        guard message.pointee.msg_controllen > 0 else { return 0 }
        var header = quic_cmsg_firsthdr(message)
        while let cmsg = header {
            let level = cmsg.pointee.cmsg_level
            let type = cmsg.pointee.cmsg_type
            if level == Int32(IPPROTO_IP) && type == IP_TOS {
                return quic_cmsg_data(cmsg).pointee & 0x3
            }
            if level == Int32(IPPROTO_IPV6) && type == IPV6_TCLASS {
                return UInt8(truncatingIfNeeded: UnsafeRawPointer(quic_cmsg_data(cmsg)).loadUnaligned(as: Int32.self)) & 0x3
            }
            header = quic_cmsg_nxthdr(message, cmsg)
        }
        return 0
    }
}

/// A dedicated thread (namespace membership and blocking calls stay off Swift's pool).
final class RelayThread: @unchecked Sendable {
    private var thread = pthread_t()
    private final class Box {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    init(_ body: @escaping @Sendable () -> Void) throws(RelayError) {
        let box = Unmanaged.passRetained(Box(body))
        let status = pthread_create(&thread, nil, { argument in
            let box = Unmanaged<Box>.fromOpaque(argument!).takeRetainedValue()
            box.body()
            return nil
        }, box.toOpaque())
        guard status == 0 else {
            box.release()
            throw RelayError("cannot start a forwarding thread: \(errnoText(status))")
        }
    }

    func join() { pthread_join(thread, nil) }
}
