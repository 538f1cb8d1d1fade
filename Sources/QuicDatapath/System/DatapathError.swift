/// An error that reaches a person: what went wrong, why, and what to do about it
/// ("cannot attach XDP to eth0: driver has no native XDP; retry with --mode skb").
public struct DatapathError: Error, CustomStringConvertible, Sendable {
    public enum Code: Sendable, Equatable {
        case notRoot
        case noSuchInterface
        case bpfObjectMissing
        case bpfLoadFailed
        case alreadyAttached
        case nativeXDPUnsupported
        case attachFailed
        case notLoaded
        case mapAccess
        case socketFailed
        case afxdpFailed
        case routeUnavailable
        case netlink
        case invalidArgument
        case io
    }

    public let code: Code
    /// Cause and fix, in one sentence a person can act on.
    public let message: String
    public let underlying: Errno?
    public let location: String

    public init(_ code: Code, _ message: String, errno: Errno? = nil,
                fileID: StaticString = #fileID, line: Int = #line) {
        self.code = code
        self.message = message
        self.underlying = errno
        self.location = "\(fileID):\(line)"
    }

    public var description: String {
        if let underlying { return "\(message) [\(underlying)]" }
        return message
    }
}
