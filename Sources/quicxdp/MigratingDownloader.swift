import QuicXDP

/// `quicxdp get --migrate-to`: the downloader, and once `afterBytes` have arrived on a confirmed
/// connection, a move of the connection to another local address (RFC 9000 §9.2,
/// `Connection.migrate(to:)`). Every other call goes straight to the downloader.
struct MigratingDownloader: QuicApplication {
    var downloader: Downloader
    /// The local address to move to (an address of this host, same port as now).
    let target: QuicCore.SocketAddress?
    let afterBytes: Int
    let progress: TransferProgress
    let log: @Sendable (String) -> Void
    var attempted = false

    mutating func shouldAccept(_ incoming: IncomingConnection) -> Bool { downloader.shouldAccept(incoming) }

    mutating func connectionStarted(_ handle: ConnectionHandle, _ connection: Connection, now: Instant) {
        downloader.connectionStarted(handle, connection, now: now)
    }

    mutating func handle(_ event: ConnectionEvent, on handle: ConnectionHandle, _ connection: Connection, now: Instant) {
        downloader.handle(event, on: handle, connection, now: now)
        guard let target, !attempted, connection.handshakeConfirmed, connection.isEstablished,
            progress.bytes.load(ordering: .relaxed) >= afterBytes
        else { return }
        attempted = true
        do {
            try connection.migrate(to: target, now: now)
            log("migrating to local address \(target) after \(progress.bytes.load(ordering: .relaxed)) bytes")
        } catch {
            log("cannot migrate to \(target): \(error)")
        }
    }

    mutating func poll(_ handle: ConnectionHandle, _ connection: Connection, now: Instant) -> Bool {
        downloader.poll(handle, connection, now: now)
    }

    mutating func connectionEnded(_ handle: ConnectionHandle) { downloader.connectionEnded(handle) }

    func nextTimeout() -> Instant? { downloader.nextTimeout() }

    mutating func handleTimeout(now: Instant) { downloader.handleTimeout(now: now) }

    mutating func takeConnectRequests() -> [ConnectRequest]? { downloader.takeConnectRequests() }

    mutating func connectRequestCompleted(tag: Int, _ result: Result<ConnectionHandle, TransportFailure>) {
        downloader.connectRequestCompleted(tag: tag, result)
    }

    mutating func willSleep() -> Bool { downloader.willSleep() }

    mutating func didWake() { downloader.didWake() }

    mutating func engineStopped() { downloader.engineStopped() }
}
