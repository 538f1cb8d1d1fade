import QuicCore

extension Connection {
    /// The path the connection is on, in one line for tool output (`get`'s summary, `serve
    /// --verbose`): "peer 10.0.0.11:4433 (the server's preferred address), local
    /// 10.0.0.12:50000, 2 path migrations, datagrams up to 1472 bytes" on a client, "peer
    /// 10.0.0.12:50000, local 10.0.0.11:4433 (our preferred address), …" on a server. The local
    /// address is left out while the datapath chooses it (a client that never migrated).
    public var pathSummary: String {
        let preferred = isOnPreferredAddress
        var text = "peer \(remoteAddress)"
        if preferred && role == .client { text += " (the server's preferred address)" }
        if let localAddress { text += ", local \(localAddress)" + (preferred && role == .server ? " (our preferred address)" : "") }
        let migrations = statistics.pathMigrations
        text += ", \(migrations) path migration\(migrations == 1 ? "" : "s"), datagrams up to \(currentMaxDatagramSize) bytes"
        return text
    }
}
