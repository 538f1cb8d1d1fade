import ArgumentParser
import Glibc
import QuicXDP

/// `quicxdp get`: downloads URLs over one QUIC connection (concurrent streams).
struct GetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get",
        abstract: "Download URLs over QUIC (HTTP/3 or hq-interop); several URLs share one connection.")

    @Argument(help: "https://HOST[:PORT]/PATH (all for the same server).")
    var urls: [String]

    @Option(name: .long, help: "Directory for the files, or - for standard output (default: the current directory).")
    var output: String = "."

    @Option(name: .long, help: "Application protocol: h3 or hq-interop.")
    var alpn: String = "h3"

    @Option(name: .long, help: "PEM file of CA certificates to verify the server with (default: the system store).")
    var ca: String?

    @Flag(name: .long, help: "Do not verify the server's certificate (prints a warning).")
    var insecure = false

    @Option(name: .long, help: "Interface for AF_XDP (the client then uses a fixed local port).")
    var dev: String?

    @Option(name: .long, help: "auto (AF_XDP when --dev is given and works, else UDP), afxdp, or udp.")
    var datapath: String = "auto"

    @Option(name: .long, help: "File to keep session tickets (for resumption) and address-validation tokens (NEW_TOKEN, to skip a Retry) in.")
    var session: String?

    @Flag(name: .customLong("zero-rtt"), help: "Send the requests in 0-RTT when a stored ticket allows it (needs --session).")
    var zeroRTT = false

    @Option(name: .long, help: "Restrict the cipher suite: aes128, aes256 or chacha20.")
    var cipher: String?

    @Flag(name: .customLong("key-update"), help: "Start a key update once the handshake is confirmed.")
    var keyUpdate = false

    @Option(name: .long, help: "Append TLS secrets in NSS key log format (also SSLKEYLOGFILE).")
    var keylog: String?

    @Option(name: .customLong("qlog-dir"), help: "Write the connection's qlog into this directory.")
    var qlogDirectory: String?

    @Option(name: .long, help: "Seconds without any packet from the server before giving up (our max_idle_timeout).")
    var timeout: Int = 30

    @Option(name: .long, help: "QUIC version to start in: 1 or 2 (the other is offered for compatible version negotiation).")
    var version: Int = 1

    @Option(
        name: .customLong("migrate-to"),
        help: "Move the connection to this local IP address mid-download (RFC 9000 §9.2; UDP datapath; the address must be configured on this host).")
    var migrateTo: String?

    @Option(name: .customLong("migrate-after"), help: "Bytes to download before --migrate-to moves the connection.")
    var migrateAfter: Int = 1 << 20

    @Option(name: .customLong("prefer-version"), help: ArgumentHelp(
        "Start in --version but ask the server to switch to this one (RFC 9368), e.g. --version 1 --prefer-version 2.",
        valueName: "V"))
    var preferVersion: Int?

    func run() throws {
        guard !urls.isEmpty else { throw ValidationError("give at least one URL") }
        let parsed = try urls.map { try ParsedURL($0) }
        let first = parsed[0]
        for url in parsed where url.host != first.host || url.port != first.port {
            throw ValidationError("all URLs must name the same server (\(first.host):\(first.port)); \(url.text) does not")
        }
        guard let applicationProtocol = Downloader.ApplicationProtocol(rawValue: alpn) else {
            throw ValidationError("--alpn \(alpn) is not supported; use h3 or hq-interop")
        }
        let authority = first.port == 443 ? first.hostForAuthority : "\(first.hostForAuthority):\(first.port)"
        if zeroRTT && session == nil { throw ValidationError("--zero-rtt needs --session FILE to keep tickets in") }
        let server = try resolve(first.host, port: first.port)
        let requests = try outputs(for: parsed)

        var tls: TLSConfiguration
        do { tls = try TLSSetup.client(alpn: [alpn], caFile: ca, insecure: insecure) } catch {
            throw ValidationErrorMessage(error.description)
        }
        if let cipher {
            guard let suites = TLSSetup.cipherSuites(cipher) else { throw ValidationError("--cipher \(cipher) is unknown; use aes128, aes256 or chacha20") }
            tls.cipherSuites = suites
        }
        let store = session.map { SessionTicketStore(filePath: $0) }
        tls.sessionTicketStore = store
        tls.enableEarlyData = zeroRTT
        if let keyLog = try openKeyLog(keylog) { tls.keyLog = { keyLog.write($0) } }
        var configuration = ConnectionConfiguration(tls: tls)
        configuration.addressTokenStore = store
        configuration.version = try parseVersions(String(version), option: "--version")[0]
        if let preferVersion {
            let preferred = try parseVersions(String(preferVersion), option: "--prefer-version")[0]
            configuration.availableVersions = preferred == configuration.version ? [preferred] : [preferred, configuration.version]
        }
        guard (1...600).contains(timeout) else {
            throw ValidationError("--timeout \(timeout) is not between 1 and 600 seconds")
        }
        configuration.maxIdleTimeout = .seconds(Int64(timeout))
        if let qlogDirectory { configuration.makeQlog = try qlogFactory(qlogDirectory) }

        let choice = try parseDatapath(datapath, dev: dev)
        var useFixedPort: Bool
        switch choice {
        case .udp, .auto(interface: nil): useFixedPort = false
        default: useFixedPort = true
        }
        var migrationAddress: IPAddress?
        if let migrateTo {
            let address = try parseLocalAddress(migrateTo, option: "--migrate-to")
            try requireUDPDatapath(choice, for: "--migrate-to")
            guard address.isIPv4 == (server.family == .ipv4) else {
                throw ValidationError("--migrate-to \(migrateTo) and the server \(server) are of different IP families; pick an address of the server's family")
            }
            guard migrateAfter >= 0 else { throw ValidationError("--migrate-after \(migrateAfter) is negative; give a byte count, e.g. 1000000") }
            migrationAddress = address
            // The new path keeps the local port: the UDP socket (bound to any address) receives on both.
            useFixedPort = true
        }
        let localPort: UInt16 = useFixedPort ? UInt16.random(in: 49152...65000) : 0
        let progress = TransferProgress()
        let serverName = first.host  // an IP literal is checked against the IP SAN and sent without SNI
        let keyUpdate = self.keyUpdate
        let clientConfiguration = configuration
        let migrationTarget = migrationAddress.map { QuicCore.SocketAddress(SocketAddress($0, port: localPort)) }
        let migrateAfter = self.migrateAfter
        blockTerminationSignals()
        let started = MonotonicTime.now()
        let setup = EngineHost.Setup<MigratingDownloader>(
            endpoint: { _ in EndpointConfiguration(idGenerator: QuicLBConnectionIDGenerator(serverID: 0)) },
            application: { _, control in
                var downloader = Downloader(
                    requests: requests, protocol: applicationProtocol, authority: authority, progress: progress, control: control)
                downloader.keyUpdate = keyUpdate
                return MigratingDownloader(
                    downloader: downloader, target: migrationTarget, afterBytes: migrateAfter, progress: progress,
                    log: { printError($0) })
            },
            prepare: { handler, now in
                _ = try handler.connect(to: server, serverName: serverName, configuration: clientConfiguration, now: now)
            })
        let host: EngineHost
        do {
            host = try EngineHost.start(datapath: choice, port: localPort, setup: setup, log: { printError($0) })
        } catch {
            throw ValidationErrorMessage(error.description)
        }
        let showProgress = isatty(2) != 0 && output != "-"
        let interrupted = waitForTerminationSignal(orStop: host.control) {
            if showProgress { drawProgress(progress, since: started) }
        }
        host.stop()
        if showProgress { printError("") }

        let seconds = progress.transferSeconds ?? Double(MonotonicTime.now().nanoseconds - started.nanoseconds) / 1e9
        let bytes = progress.bytes.load(ordering: .relaxed)
        let completed = progress.completed.load(ordering: .relaxed)
        let failed = progress.failed.load(ordering: .relaxed)
        if let negotiated = progress.negotiated { printError(negotiated) }
        if let transport = progress.transport { printError(transport) }
        if let path = progress.path { printError(path) }
        for note in progress.notes { printError("error: \(note)") }
        for failure in host.failures { printError("error: \(failure)") }
        let goodput = seconds > 0 ? Double(bytes) * 8 / seconds / 1e6 : 0
        printError("\(completed) of \(requests.count) downloaded, \(bytes) bytes in \(format(seconds, 3)) s (\(format(goodput, 1)) Mbit/s)"
            + (progress.closeReason.map { "; connection \($0)" } ?? ""))
        if interrupted { throw ExitCode(130) }
        if failed > 0 || completed < requests.count || !host.failures.isEmpty { throw ExitCode(1) }
    }

    func outputs(for urls: [ParsedURL]) throws -> [Downloader.Request] {
        if output == "-" { return urls.map { Downloader.Request(path: $0.path, output: .standardOutput) } }
        var info = stat()
        guard stat(output, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
            throw ValidationErrorMessage("--output \(output) is not a directory; create it or use - for standard output")
        }
        return urls.map { url in
            var name = String(url.path.split(separator: "/").last ?? "index.html")
            if let query = name.firstIndex(of: "?") { name = String(name[..<query]) }
            if name.isEmpty || name == "." || name == ".." { name = "index.html" }
            return Downloader.Request(path: url.path, output: .file(output + "/" + name))
        }
    }
}

/// https://host[:port]/path
struct ParsedURL {
    let text: String
    let host: String
    let port: UInt16
    let path: String
    var isAddressLiteral: Bool { IPAddress(host) != nil }
    /// The host as it goes in :authority (IPv6 literals in brackets).
    var hostForAuthority: String { host.contains(":") ? "[\(host)]" : host }

    init(_ text: String) throws {
        self.text = text
        guard text.hasPrefix("https://") else { throw ValidationError("'\(text)' is not an https:// URL") }
        let rest = text.dropFirst("https://".count)
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = rest[..<slash]
        path = slash < rest.endIndex ? String(rest[slash...]) : "/"
        var hostPart = Substring(authority)
        var port: UInt16 = 443
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw ValidationError("'\(text)': unclosed [ in the host") }
            hostPart = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") {
                guard let value = UInt16(after.dropFirst()), value != 0 else { throw ValidationError("'\(text)': bad port") }
                port = value
            }
        } else if let colon = authority.lastIndex(of: ":") {
            hostPart = authority[..<colon]
            guard let value = UInt16(authority[authority.index(after: colon)...]), value != 0 else {
                throw ValidationError("'\(text)': bad port")
            }
            port = value
        }
        guard !hostPart.isEmpty else { throw ValidationError("'\(text)' has no host") }
        host = String(hostPart)
        self.port = port
    }
}

/// Resolves a host name or literal to the core's address type.
func resolve(_ host: String, port: UInt16) throws -> QuicCore.SocketAddress {
    if let literal = IPAddress(host) { return QuicCore.SocketAddress(SocketAddress(literal, port: port)) }
    var hints = addrinfo()
    hints.ai_socktype = Int32(SOCK_DGRAM.rawValue)
    var result: UnsafeMutablePointer<addrinfo>?
    let status = getaddrinfo(host, nil, &hints, &result)
    guard status == 0, let first = result else {
        throw ValidationErrorMessage("cannot resolve \(host): \(String(cString: gai_strerror(status)))")
    }
    defer { freeaddrinfo(result) }
    guard let address = SocketAddress(sockaddr: first.pointee.ai_addr) else {
        throw ValidationErrorMessage("cannot resolve \(host) to an IPv4 or IPv6 address")
    }
    return QuicCore.SocketAddress(SocketAddress(address.address, port: port))
}

func drawProgress(_ progress: TransferProgress, since start: MonotonicTime) {
    let seconds = max(Double(MonotonicTime.now().nanoseconds - start.nanoseconds) / 1e9, 0.001)
    let bytes = progress.bytes.load(ordering: .relaxed)
    let rate = Double(bytes) * 8 / seconds / 1e6
    let line = "\r\(bytes / 1024) KiB, \(format(rate, 1)) Mbit/s, \(progress.completed.load(ordering: .relaxed)) done   "
    _ = line.withCString { write(2, $0, strlen($0)) }
}

func format(_ value: Double, _ decimals: Int) -> String {
    var factor = 1.0
    for _ in 0..<decimals { factor *= 10 }
    return String((value * factor).rounded() / factor)
}
