import Glibc

/// An errno value as a typed error (the shape of swift-system's `Errno`).
@frozen
public struct Errno: Error, Equatable, Hashable, CustomStringConvertible, Sendable {
    public let rawValue: Int32
    @inlinable public init(_ rawValue: Int32) { self.rawValue = rawValue }

    /// The current thread's errno.
    @inlinable public static var current: Errno { Errno(errno) }

    public static let interrupted = Errno(EINTR)
    public static let wouldBlock = Errno(EAGAIN)
    public static let busy = Errno(EBUSY)
    public static let notSupported = Errno(EOPNOTSUPP)
    public static let noEntry = Errno(ENOENT)
    public static let exists = Errno(EEXIST)
    public static let permission = Errno(EPERM)
    public static let io = Errno(EIO)
    public static let invalidArgument = Errno(EINVAL)

    public var description: String { "\(String(cString: strerror(rawValue))) (errno \(rawValue))" }
}
