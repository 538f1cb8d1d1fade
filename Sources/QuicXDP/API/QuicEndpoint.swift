import Glibc
import QuicCore
import QuicDatapath
import QuicWire

/// A QUIC endpoint for an application: its own poll-mode engine(s) on AF_XDP or the UDP socket,
/// driven on worker threads, with async calls to accept and open connections.
///
/// ```swift
/// let server = try QuicServer(listen: "[::]:4433", configuration: configuration, datapath: .udp)
/// while let connection = try? await server.accept() {
///     Task { let stream = try await connection.acceptStream(); ... }
/// }
/// ```
public final class QuicEndpoint: Sendable {
    let host: EngineHost
    let bridge: Bridge

    /// What the endpoint runs on.
    public var datapath: String { host.datapathDescription }

    init(datapath: DatapathChoice, port: UInt16, address: IPAddress?, server: ConnectionConfiguration?,
         log: @escaping @Sendable (String) -> Void) throws(DatapathError) {
        let bridge = Bridge()
        let setup = EngineHost.Setup<BridgeApplication>(
            endpoint: { queue in
                EndpointConfiguration(server: server, idGenerator: QuicLBConnectionIDGenerator(serverID: UInt8(truncatingIfNeeded: queue)))
            },
            application: { queue, control in BridgeApplication(bridge: bridge, queue: queue, control: control) })
        host = try EngineHost.start(datapath: datapath, port: port, address: address, setup: setup, log: log)
        self.bridge = bridge
    }

    /// Stops the engine(s); every pending call fails with `QuicError.endpointStopped`. The XDP
    /// program is unloaded if this endpoint loaded it.
    public func shutdown() {
        host.stop()
        bridge.stopAll()
    }

    deinit { shutdown() }
}

/// A server: listens on an address and port and hands out connections once their handshake
/// completed.
public final class QuicServer: Sendable {
    public let endpoint: QuicEndpoint

    /// `listen`: "ADDRESS:PORT" ("[::]:4433", "0.0.0.0:443", ":4433"). `configuration.tls` needs the
    /// certificate chain and key (see `TLSSetup.server`).
    public init(listen: String, configuration: ConnectionConfiguration, datapath: DatapathChoice = .udp,
                log: @escaping @Sendable (String) -> Void = { _ in }) throws {
        guard let colon = listen.lastIndex(of: ":"), let port = UInt16(listen[listen.index(after: colon)...]), port != 0 else {
            throw QuicError.connectFailed("'\(listen)' is not ADDRESS:PORT")
        }
        var host = String(listen[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        let address: IPAddress? = host.isEmpty || host == "::" ? nil : IPAddress(host)
        if !host.isEmpty && host != "::" && address == nil { throw QuicError.connectFailed("'\(host)' is not an IP address") }
        do {
            endpoint = try QuicEndpoint(datapath: datapath, port: port, address: address, server: configuration, log: log)
        } catch {
            throw QuicError.connectFailed(error.description)
        }
    }

    /// The next connection whose handshake completed.
    public func accept() async throws -> QuicConnection {
        guard let channel = try await endpoint.bridge.incoming.receive() else { throw QuicError.endpointStopped }
        return QuicConnection(endpoint: endpoint, channel: channel)
    }

    public func shutdown() { endpoint.shutdown() }
}

/// A client: connects to servers from its own endpoint.
public final class QuicClient: Sendable {
    public let endpoint: QuicEndpoint

    public init(datapath: DatapathChoice = .udp, localPort: UInt16 = 0, log: @escaping @Sendable (String) -> Void = { _ in }) throws {
        do {
            endpoint = try QuicEndpoint(datapath: datapath, port: localPort, address: nil, server: nil, log: log)
        } catch {
            throw QuicError.connectFailed(error.description)
        }
    }

    /// Connects to `remote` and waits for the handshake (it fails with the close reason if the
    /// connection ends first). `serverName` is sent as SNI and checked
    /// against the certificate.
    public func connect(to remote: QuicCore.SocketAddress, serverName: String?, configuration: ConnectionConfiguration) async throws
        -> QuicConnection
    {
        guard let mailbox = endpoint.bridge.connectMailbox else { throw QuicError.endpointStopped }
        let channel = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<ConnectionChannel, any Error>) in
            mailbox.submit(.connect(ConnectRequest(remote: remote, serverName: serverName, configuration: configuration, tag: 0), continuation))
        }
        return QuicConnection(endpoint: endpoint, channel: channel)
    }

    public func shutdown() { endpoint.shutdown() }
}
