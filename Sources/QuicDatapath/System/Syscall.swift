import Glibc

/// The outcome of a non-blocking system call: a value, or "try again later" (EAGAIN), which is
/// normal flow on a non-blocking descriptor and therefore not an error (swift-nio's
/// `IOResult`, NIOPosix/System.swift).
@frozen
public enum IOResult<Value> {
    case done(Value)
    case wouldBlock
}

/// Every system call that can fail with errno goes through here: EINTR is retried, EAGAIN comes
/// back as `.wouldBlock`, errnos that can only mean a bug in this program trap, anything else
/// is thrown.
///
/// `@inline(__always)`: called on the per-batch path; the closure must not become a context
/// allocation or an indirect call.
@inline(__always)
@usableFromInline
func syscall<T: FixedWidthInteger>(
    _ name: StaticString, _ body: () -> T
) throws(Errno) -> IOResult<T> {
    while true {
        let result = body()
        if result >= 0 { return .done(result) }
        let error = errno
        switch error {
        case EINTR: continue
        case EAGAIN: return .wouldBlock
        case EBADF, EFAULT:
            fatalError("\(name) failed with \(Errno(error)): a bug in QuicDatapath")
        default: throw Errno(error)
        }
    }
}

/// For calls that may block or whose EAGAIN has no meaning: returns the value, throws otherwise.
@inline(__always)
@usableFromInline
func syscallValue<T: FixedWidthInteger>(_ name: StaticString, _ body: () -> T) throws(Errno) -> T {
    switch try syscall(name, body) {
    case .done(let value): return value
    case .wouldBlock: throw Errno.wouldBlock
    }
}

/// libbpf and libxdp return `-errno` instead of setting errno.
@inline(__always)
func libbpfCall(_ body: () -> Int32) throws(Errno) -> Int32 {
    let result = body()
    if result < 0 { throw Errno(-result) }
    return result
}
