import Glibc

/// A file descriptor owned by exactly one value; closed in `deinit`. `~Copyable`: a copy would
/// close the descriptor twice.
public struct OwnedDescriptor: ~Copyable {
    public let rawValue: Int32

    public init(taking rawValue: Int32) { self.rawValue = rawValue }

    /// Gives up ownership without closing.
    public consuming func release() -> Int32 {
        let value = rawValue
        discard self
        return value
    }

    deinit { close(rawValue) }
}
