/// Everything `quicxdp status` shows for one interface.
public struct DatapathStatus: Sendable, Codable {
    public var interface: String
    public var attached: XDPLoader.Attachment?
    public var ports: [UInt16]
    public var minimumInitialSize: UInt32?
    public var pins: [String]
    public var rxQueues: UInt32
    public var txQueues: UInt32
    public var sockets: [AFXDPSocketInfo]
    public var offloads: OffloadTable

    public static func query(interface: String) throws(DatapathError) -> DatapathStatus {
        try XDPLoader.requireRoot()
        try BPFFileSystem.ensureMounted()
        let info = try InterfaceInfo.query(interface)
        let attached = try XDPLoader.attachment(interface: interface)
        var ports: [UInt16] = []
        var minimum: UInt32?
        var sockets = AFXDPSocketInfo.list(interfaceIndex: info.index)
        if let maps = try? XDPMaps(pinnedFor: interface) {
            ports = (try? maps.readPorts()) ?? []
            minimum = maps.readMinimumInitialSize()
            // Without sock_diag for AF_XDP (CONFIG_XDP_SOCKETS_DIAG), use what the ports recorded.
            if sockets.isEmpty {
                sockets = maps.readOwners(queues: info.rxQueues).map { owner in
                    AFXDPSocketInfo(inode: 0, queue: owner.queue, zeroCopy: owner.zeroCopy, pid: owner.pid,
                                    processAlive: BPFObjectLocator.exists("/proc/\(owner.pid)"))
                }
            }
        }
        let directory = XDPPins.directory(for: interface)
        let pins = XDPPins.names.map { directory + "/" + $0 }.filter { BPFObjectLocator.exists($0) }
        return DatapathStatus(interface: interface, attached: attached, ports: ports, minimumInitialSize: minimum,
                              pins: pins, rxQueues: info.rxQueues, txQueues: info.txQueues,
                              sockets: sockets,
                              offloads: try OffloadTable.discover(interface: interface))
    }

    public var text: String {
        var lines: [String] = ["\(interface):"]
        if let attached {
            var dispatcher = ""
            if let id = attached.dispatcherID { dispatcher = " \(id)" }
            lines.append("  program        \(attached.programID) '\(attached.programName)' (\(attached.mode.rawValue) mode, \(attached.method.phrase)\(dispatcher))\(attached.isQuicXDP ? "" : "  -- not quicxdp's")")
        } else {
            lines.append("  program        none attached")
        }
        lines.append("  ports          \(ports.isEmpty ? "-" : ports.map(String.init).joined(separator: ","))")
        if let minimumInitialSize { lines.append("  min Initial    \(minimumInitialSize) bytes") }
        lines.append("  pins           \(pins.isEmpty ? "-" : pins.joined(separator: " "))")
        lines.append("  queues         rx \(rxQueues), tx \(txQueues)")
        if sockets.isEmpty {
            lines.append("  AF_XDP sockets none bound (QUIC packets go to the kernel stack)")
        } else {
            for socket in sockets {
                var line = "  AF_XDP socket  queue \(socket.queue)"
                if socket.inode != 0 { line += ", inode \(socket.inode)" }
                if let pid = socket.pid {
                    line += socket.processAlive == false
                        ? ", process \(pid) is gone (its socket closed; traffic goes to the kernel)" : ", process \(pid)"
                }
                line += socket.zeroCopy ? ", zero-copy" : ", copy mode"
                lines.append(line)
            }
        }
        lines.append("  offloads")
        for entry in offloads.entries {
            lines.append("    \(entry.capability.rawValue.padded(26)) \(entry.provider.rawValue.padded(11)) \(entry.detail)")
        }
        return lines.joined(separator: "\n")
    }
}
