import CLibXDP
import CQuicShim
import Glibc

/// `quicxdp load` / `unload` / status queries: open the object, pin and reuse the maps under
/// /sys/fs/bpf/quicxdp/<ifname>/, set the ports, attach.
///
/// Attachment is direct (libbpf `bpf_xdp_attach`, netlink IFLA_XDP), which is what libxdp does
/// itself with LIBXDP_SKIP_DISPATCHER=1. libxdp's multi-program dispatcher is not used: it needs
/// freplace programs (CAP_SYS_RESOURCE) and fails on these machines (DESIGN.md), and a direct
/// attach with XDP_FLAGS_UPDATE_IF_NOEXIST never replaces someone else's program.
public enum XDPLoader {
    public struct LoadReport: Sendable {
        public var interface: String
        public var programID: UInt32
        public var mode: XDPAttachedMode
        public var ports: [UInt16]
        public var pinDirectory: String
        /// Things the operator should know (fallback to skb mode, reuse of an existing load).
        public var notes: [String]
    }

    public struct Attachment: Sendable, Codable {
        public var programID: UInt32
        public var programName: String
        public var mode: XDPAttachedMode
        public var isQuicXDP: Bool
    }

    public static func requireRoot() throws(DatapathError) {
        if geteuid() != 0 {
            throw DatapathError(.notRoot, "XDP needs root: loading programs and pinning maps require CAP_BPF and CAP_NET_ADMIN; run with sudo")
        }
    }

    public static func interfaceIndex(_ name: String) throws(DatapathError) -> UInt32 {
        let index = if_nametoindex(name)
        if index == 0 {
            throw DatapathError(.noSuchInterface,
                "no such interface '\(name)' in this network namespace; list interfaces with `ip link` (inside a namespace use `nsenter --net=/var/run/netns/NAME`)")
        }
        return index
    }

    /// The program attached to the interface, if any.
    public static func attachment(interface: String) throws(DatapathError) -> Attachment? {
        let index = try interfaceIndex(interface)
        let (status, query) = withLibbpfOptions(bpf_xdp_query_opts.self, sizeField: \.sz) { options in
            (bpf_xdp_query(Int32(index), 0, options), options.pointee)
        }
        guard status == 0 else {
            throw DatapathError(.netlink, "cannot query XDP on \(interface)", errno: Errno(-status))
        }
        let mode = XDPAttachedMode(kernel: query.attach_mode)
        let id = query.prog_id != 0 ? query.prog_id : max(query.drv_prog_id, query.skb_prog_id)
        guard mode != .none, id != 0 else { return nil }
        let name = programName(id: id) ?? "?"
        let pinnedID = pinnedProgramID(interface: interface)
        return Attachment(programID: id, programName: name, mode: mode,
                          isQuicXDP: pinnedID == id || name == BPFObject.programName)
    }

    /// Loads (or reloads) and attaches the program; idempotent for the same interface.
    public static func load(interface: String, ports: [UInt16], mode: XDPAttachMode = .auto,
                            minimumInitialSize: UInt32 = 1200,
                            objectPath: String? = nil) throws(DatapathError) -> LoadReport {
        try requireRoot()
        guard !ports.isEmpty else {
            throw DatapathError(.invalidArgument, "no ports given; pass the server's UDP port(s), e.g. --port 443")
        }
        let index = try interfaceIndex(interface)
        try BPFFileSystem.ensureMounted()
        var notes: [String] = []

        if let existing = try attachment(interface: interface) {
            if existing.isQuicXDP {
                let maps = try XDPMaps(pinnedFor: interface)
                try maps.setPorts(ports)
                try maps.setMinimumInitialSize(minimumInitialSize)
                notes.append("quicxdp was already attached to \(interface) (program \(existing.programID), \(existing.mode.rawValue) mode); updated its ports")
                return LoadReport(interface: interface, programID: existing.programID, mode: existing.mode,
                                  ports: try maps.readPorts(), pinDirectory: XDPPins.directory(for: interface), notes: notes)
            }
            throw DatapathError(.alreadyAttached,
                "cannot attach XDP to \(interface): another XDP program is attached (id \(existing.programID), '\(existing.programName)', \(existing.mode.rawValue) mode); remove it with `ip link set dev \(interface) xdp off` (or `xdp-loader unload \(interface) --all`) and retry")
        }

        let directory = XDPPins.directory(for: interface)
        try BPFFileSystem.makeDirectory(directory)
        let path: String
        if let objectPath { path = objectPath } else { path = try BPFObjectLocator.locate() }
        // A stale program pin from an earlier load that was detached by someone else.
        unlink(directory + "/prog")
        let object = try BPFObject(path: path, pinDirectory: directory)
        let maps = try XDPMaps(object: object)
        try maps.setPorts(ports)
        try maps.setMinimumInitialSize(minimumInitialSize)
        guard let programFD = object.programDescriptor() else {
            throw DatapathError(.bpfLoadFailed, "\(path) has no program named \(BPFObject.programName); rebuild with `make bpf`")
        }

        let attachedMode: XDPAttachedMode
        do throws(DatapathError) {
            try attach(programFD, index: index, mode: mode == .skb ? .skb : .native, interface: interface)
            attachedMode = mode == .skb ? .skb : .native
        } catch let error where mode == .auto && error.code == .nativeXDPUnsupported {
            try attach(programFD, index: index, mode: .skb, interface: interface)
            attachedMode = .skb
            notes.append("\(interface): driver has no native XDP; attached in generic (skb) mode, which is slower and has no zero-copy AF_XDP")
        }

        if bpf_obj_pin(programFD, directory + "/prog") != 0 {
            notes.append("could not pin the program at \(directory)/prog (\(Errno.current)); `quicxdp unload` will still detach it")
        }
        let id = programID(fd: programFD) ?? 0
        return LoadReport(interface: interface, programID: id, mode: attachedMode, ports: try maps.readPorts(),
                          pinDirectory: directory, notes: notes)
    }

    static func attach(_ programFD: Int32, index: UInt32, mode: XDPAttachMode, interface: String) throws(DatapathError) {
        let flags = mode.flags | UInt32(XDP_FLAGS_UPDATE_IF_NOEXIST)
        let status = bpf_xdp_attach(Int32(index), programFD, flags, nil)
        if status == 0 { return }
        let cause = Errno(-status)
        switch cause.rawValue {
        case EOPNOTSUPP where mode == .native, EINVAL where mode == .native:
            throw DatapathError(.nativeXDPUnsupported,
                "cannot attach XDP to \(interface): driver has no native XDP; retry with --mode skb", errno: cause)
        case EBUSY, EEXIST:
            throw DatapathError(.alreadyAttached,
                "cannot attach XDP to \(interface): another XDP program is attached; remove it with `ip link set dev \(interface) xdp off` and retry", errno: cause)
        case EPERM:
            throw DatapathError(.notRoot, "cannot attach XDP to \(interface): permission denied; run as root", errno: cause)
        default:
            throw DatapathError(.attachFailed,
                "cannot attach XDP to \(interface) in \(mode == .skb ? "skb" : "native") mode; see `dmesg` and retry with --mode skb", errno: cause)
        }
    }

    public struct UnloadReport: Sendable {
        public var detachedProgramID: UInt32?
        public var removedPins: [String]
    }

    /// Detaches quicxdp's program (never another one) and removes the pins.
    public static func unload(interface: String) throws(DatapathError) -> UnloadReport {
        try requireRoot()
        let index = try interfaceIndex(interface)
        try BPFFileSystem.ensureMounted()
        var report = UnloadReport(detachedProgramID: nil, removedPins: [])
        if let existing = try attachment(interface: interface) {
            guard existing.isQuicXDP else {
                throw DatapathError(.alreadyAttached,
                    "not detaching \(interface): the attached XDP program (id \(existing.programID), '\(existing.programName)') is not quicxdp's; remove it with `ip link set dev \(interface) xdp off` if that is intended")
            }
            let status = bpf_xdp_detach(Int32(index), existing.mode.detachFlags, nil)
            if status != 0 {
                throw DatapathError(.attachFailed, "cannot detach XDP from \(interface)", errno: Errno(-status))
            }
            report.detachedProgramID = existing.programID
        }
        let directory = XDPPins.directory(for: interface)
        for name in XDPPins.names where unlink(directory + "/" + name) == 0 {
            report.removedPins.append(directory + "/" + name)
        }
        rmdir(directory)
        rmdir(XDPPins.root) // only succeeds when no other interface is loaded
        return report
    }

    static func pinnedProgramID(interface: String) -> UInt32? {
        let fd = bpf_obj_get(XDPPins.directory(for: interface) + "/prog")
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        return programID(fd: fd)
    }

    static func programID(fd: Int32) -> UInt32? {
        var info = bpf_prog_info()
        var length = UInt32(MemoryLayout<bpf_prog_info>.size)
        guard bpf_obj_get_info_by_fd(fd, &info, &length) == 0 else { return nil }
        return info.id
    }

    static func programName(id: UInt32) -> String? {
        let fd = bpf_prog_get_fd_by_id(id)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = bpf_prog_info()
        var length = UInt32(MemoryLayout<bpf_prog_info>.size)
        guard bpf_obj_get_info_by_fd(fd, &info, &length) == 0 else { return nil }
        return withUnsafeBytes(of: info.name) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}
