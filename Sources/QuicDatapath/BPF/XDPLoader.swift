import CLibXDP
import CQuicShim
import Glibc

/// `quicxdp load` / `unload` / status queries: open the object, pin and reuse the maps under
/// /sys/fs/bpf/quicxdp/<ifname>/, set the ports, attach.
///
/// Attaching tries libxdp's multi-program dispatcher first (`xdp_program__attach`), so quicxdp can
/// share the interface with other XDP programs; where the dispatcher cannot be loaded (it needs
/// freplace programs, which fail on these machines, DESIGN.md) the attempt is undone and the
/// program is attached directly (libbpf `bpf_xdp_attach`, netlink IFLA_XDP, with
/// XDP_FLAGS_UPDATE_IF_NOEXIST so it never replaces someone else's program), and the report says
/// which and why.
public enum XDPLoader {
    public struct LoadReport: Sendable {
        public var interface: String
        public var programID: UInt32
        public var mode: XDPAttachedMode
        public var method: XDPAttachMethod
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
        /// Alone on the interface, or a component of libxdp's dispatcher (then `programID` is
        /// the component's and `dispatcherID` the dispatcher's).
        public var method: XDPAttachMethod
        public var dispatcherID: UInt32?
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
        let pinnedID = pinnedProgramID(interface: interface)
        if let component = XDPDispatcher.component(index, pinnedID: pinnedID) {
            return Attachment(programID: component.id, programName: component.name, mode: component.mode,
                              isQuicXDP: component.isQuicXDP, method: .dispatcher, dispatcherID: component.dispatcherID)
        }
        let name = programName(id: id) ?? "?"
        return Attachment(programID: id, programName: name, mode: mode,
                          isQuicXDP: pinnedID == id || name == BPFObject.programName, method: .direct, dispatcherID: nil)
    }

    /// Loads (or reloads) and attaches the program; idempotent for the same interface.
    /// `attach` chooses between libxdp's dispatcher and a direct attach (`auto`: the dispatcher
    /// where it works, direct otherwise).
    public static func load(interface: String, ports: [UInt16], mode: XDPAttachMode = .auto,
                            attach preference: XDPAttachPreference = .auto,
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
                return LoadReport(interface: interface, programID: existing.programID, mode: existing.mode, method: existing.method,
                                  ports: try maps.readPorts(), pinDirectory: XDPPins.directory(for: interface), notes: notes)
            }
            throw DatapathError(.alreadyAttached,
                "cannot attach XDP to \(interface): another XDP program is attached (id \(existing.programID), '\(existing.programName)', \(existing.mode.rawValue) mode); remove it with `ip link set dev \(interface) xdp off` (or `xdp-loader unload \(interface) --all`) and retry")
        }

        let directory = XDPPins.directory(for: interface)
        let directoryExisted = BPFObjectLocator.exists(directory)
        try BPFFileSystem.makeDirectory(directory)
        do throws(DatapathError) {
            let path: String
            if let objectPath { path = objectPath } else { path = try BPFObjectLocator.locate() }
            // A stale program pin from an earlier load that was detached by someone else.
            unlink(directory + "/prog")
            let requested: XDPAttachMode = mode == .skb ? .skb : .native
            if preference != .direct {
                let attempt = try XDPDispatcher.attach(
                    path: path, pinDirectory: directory, interfaceIndex: index, mode: requested
                ) { (maps: borrowing XDPMaps) throws(DatapathError) in
                    try maps.setPorts(ports)
                    try maps.setMinimumInitialSize(minimumInitialSize)
                }
                switch attempt {
                case .success(let attached):
                    notes.append("attached through libxdp's multi-program dispatcher (dispatcher program \(attached.dispatcherID)); other XDP programs can share \(interface)")
                    let maps = try XDPMaps(pinnedFor: interface)
                    return LoadReport(interface: interface, programID: attached.programID, mode: requested == .skb ? .skb : .native,
                                      method: .dispatcher, ports: try maps.readPorts(), pinDirectory: directory, notes: notes)
                case .failure(let failure) where preference == .dispatcher:
                    throw DatapathError(.attachFailed,
                        "cannot attach through libxdp's dispatcher on \(interface): \(failure.reason); retry with --attach direct (or auto)")
                case .failure(let failure):
                    notes.append("libxdp's multi-program dispatcher is not available on \(interface) (\(failure.reason)); attached directly with libbpf instead, so no other XDP program can share \(interface)")
                }
            }
            return try attachDirectly(interface: interface, index: index, path: path, directory: directory, ports: ports,
                                      mode: mode, minimumInitialSize: minimumInitialSize, notes: notes)
        } catch {
            // Leave no pins behind from a load that did not happen.
            if !directoryExisted { removePins(directory) }
            throw error
        }
    }

    private static func attachDirectly(
        interface: String, index: UInt32, path: String, directory: String, ports: [UInt16], mode: XDPAttachMode,
        minimumInitialSize: UInt32, notes: [String]
    ) throws(DatapathError) -> LoadReport {
        var notes = notes
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
        return LoadReport(interface: interface, programID: id, mode: attachedMode, method: .direct, ports: try maps.readPorts(),
                          pinDirectory: directory, notes: notes)
    }

    /// Removes quicxdp's pins for an interface and its directory; returns what was removed.
    @discardableResult
    static func removePins(_ directory: String) -> [String] {
        var removed: [String] = []
        for name in XDPPins.names where unlink(directory + "/" + name) == 0 {
            removed.append(directory + "/" + name)
        }
        rmdir(directory)
        rmdir(XDPPins.root) // only succeeds when no other interface is loaded
        return removed
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
            let status = existing.method == .dispatcher
                ? XDPDispatcher.detach(componentID: existing.programID, interfaceIndex: index, mode: existing.mode)
                : bpf_xdp_detach(Int32(index), existing.mode.detachFlags, nil)
            if status != 0 {
                throw DatapathError(.attachFailed, "cannot detach XDP from \(interface)", errno: Errno(-status))
            }
            report.detachedProgramID = existing.programID
        }
        report.removedPins = removePins(XDPPins.directory(for: interface))
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
