import QuicCore

/// Why an embedding-API call failed.
public enum QuicError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The connection ended (with the reason) before or during the call.
    case connectionClosed(String)
    /// The peer reset the stream with this application error code.
    case streamReset(UInt64)
    /// The peer asked us to stop sending with this code.
    case stopSending(UInt64)
    /// The stream was already finished or reset by this side.
    case streamClosed
    /// The peer does not accept DATAGRAM frames, or the payload does not fit one.
    case datagramUnsupported
    /// The endpoint was shut down.
    case endpointStopped
    /// The connection could not be started.
    case connectFailed(String)

    public var description: String {
        switch self {
        case .connectionClosed(let reason): return "connection closed: \(reason)"
        case .streamReset(let code): return "stream reset by the peer (code \(code))"
        case .stopSending(let code): return "the peer asked to stop sending (code \(code))"
        case .streamClosed: return "stream already finished or reset"
        case .datagramUnsupported: return "the peer does not accept this DATAGRAM"
        case .endpointStopped: return "the endpoint was shut down"
        case .connectFailed(let reason): return "cannot connect: \(reason)"
        }
    }
}
