import QuicCore

/// A connection the application asks the handler to open (client side).
public struct ConnectRequest: Sendable {
    public var remote: QuicCore.SocketAddress
    public var serverName: String?
    public var configuration: ConnectionConfiguration
    /// Returned with the outcome in `connectRequestCompleted`.
    public var tag: Int

    public init(remote: QuicCore.SocketAddress, serverName: String?, configuration: ConnectionConfiguration, tag: Int) {
        self.remote = remote
        self.serverName = serverName
        self.configuration = configuration
        self.tag = tag
    }
}

/// The application logic that runs on a worker thread next to its QUIC endpoint: a file server,
/// a downloader, or the bridge to the async embedding API. The handler calls it generically (no
/// existential on the path), always on the worker thread, so it may use the connection directly.
/// The type itself crosses to that thread (the worker builds its instance), hence `SendableMetatype`.
public protocol QuicApplication: ~Copyable, SendableMetatype {
    /// A client wants a connection (server side). Return false to refuse it
    /// (CONNECTION_REFUSED).
    mutating func shouldAccept(_ incoming: IncomingConnection) -> Bool

    /// A connection joined the endpoint (accepted, or connected by this side).
    mutating func connectionStarted(_ handle: ConnectionHandle, _ connection: Connection, now: Instant)

    /// One event of a connection; `.closed` is the last one it gets.
    mutating func handle(_ event: ConnectionEvent, on handle: ConnectionHandle, _ connection: Connection, now: Instant)

    /// A chance to write before packets are built (called each turn for connections that asked
    /// for it by returning true here last time, and after events).
    mutating func poll(_ handle: ConnectionHandle, _ connection: Connection, now: Instant) -> Bool

    /// The connection is gone from the endpoint.
    mutating func connectionEnded(_ handle: ConnectionHandle)

    /// The application's own next deadline, if any (e.g. a request timeout).
    func nextTimeout() -> Instant?
    mutating func handleTimeout(now: Instant)

    /// Connections to open now; asked once per engine turn (return nil quickly when none).
    mutating func takeConnectRequests() -> [ConnectRequest]?
    /// The outcome of a `ConnectRequest` (before `connectionStarted` for it).
    mutating func connectRequestCompleted(tag: Int, _ result: Result<ConnectionHandle, TransportFailure>)

    /// The engine is about to block in poll(2); return false to stay awake because work
    /// arrived from another thread. An application that takes work from other threads
    /// announces here that it sleeps, so producers know to wake the engine.
    mutating func willSleep() -> Bool
    /// The engine returned from poll(2).
    mutating func didWake()
    /// The engine stopped (after its last turn, on the worker thread): fail what still waits.
    mutating func engineStopped()
}

extension QuicApplication where Self: ~Copyable {
    public mutating func shouldAccept(_ incoming: IncomingConnection) -> Bool { true }
    public mutating func connectionStarted(_ handle: ConnectionHandle, _ connection: Connection, now: Instant) {}
    public mutating func poll(_ handle: ConnectionHandle, _ connection: Connection, now: Instant) -> Bool { false }
    public mutating func connectionEnded(_ handle: ConnectionHandle) {}
    public func nextTimeout() -> Instant? { nil }
    public mutating func handleTimeout(now: Instant) {}
    public mutating func takeConnectRequests() -> [ConnectRequest]? { nil }
    public mutating func connectRequestCompleted(tag: Int, _ result: Result<ConnectionHandle, TransportFailure>) {}
    public mutating func willSleep() -> Bool { true }
    public mutating func didWake() {}
    public mutating func engineStopped() {}
}
