import CLibXDP
import CQuicShim
import Glibc

/// How quicxdp's program sits on an interface (`quicxdp status` shows it).
public enum XDPAttachMethod: String, Sendable, Codable {
    /// A component of libxdp's multi-program dispatcher (`xdp_program__attach`): other XDP
    /// programs can run before or after it on the same interface.
    case dispatcher
    /// The program alone on the interface (libbpf `bpf_xdp_attach`, netlink IFLA_XDP).
    case direct

    /// For messages: "attached directly" / "attached through libxdp's dispatcher".
    public var phrase: String {
        switch self {
        case .direct: return "attached directly"
        case .dispatcher: return "attached through libxdp's dispatcher"
        }
    }
}

/// Which attach methods `XDPLoader.load` may use.
public enum XDPAttachPreference: String, Sendable, CaseIterable, Codable {
    /// libxdp's dispatcher, falling back to a direct attach (saying why).
    case auto
    /// libxdp's dispatcher or nothing.
    case dispatcher
    /// A direct attach only; libxdp is not tried.
    case direct
}

/// The libxdp side of attaching: an attempt through the multi-program dispatcher that either
/// succeeds or leaves nothing behind, and finding or detaching quicxdp's component later.
///
/// libxdp falls back by itself when its dispatcher cannot be loaded (on these machines its
/// compatibility check fails with EPERM, DESIGN.md) and attaches the program alone. That is
/// not the dispatcher, so the attempt undoes it and `XDPLoader` attaches directly instead, with
/// the same code, flags and error messages whether or not libxdp was tried first.
enum XDPDispatcher {
    /// Where libxdp pins its dispatchers: `dispatch-<ifindex>-<id>/`.
    static let pinRoot = BPFFileSystem.mountPoint + "/xdp"

    struct Attached {
        var programID: UInt32
        var dispatcherID: UInt32
    }

    /// Attaches `path`'s program through the dispatcher, with its maps pinned in
    /// `pinDirectory`; `configure` fills the maps before traffic reaches the program's
    /// redirect (it runs after the attach: libxdp loads the object as part of it). On failure
    /// returns why, with nothing attached and no dispatcher pins left over.
    static func attach(
        path: String, pinDirectory: String, interfaceIndex: UInt32, mode: XDPAttachMode,
        configure: (borrowing XDPMaps) throws(DatapathError) -> Void
    ) throws(DatapathError) -> Result<Attached, DispatcherFailure> {
        LibbpfLog.install()
        LibbpfLog.clear()
        let pinsBefore = dispatcherPins(interfaceIndex)
        let rootExisted = BPFObjectLocator.exists(pinRoot)
        func undo() { removeLeftovers(interfaceIndex, keeping: pinsBefore, rootExisted: rootExisted) }

        let program: OpaquePointer? = path.withCString { file in
            BPFObject.programName.withCString { name in
                withLibbpfOptions(bpf_object_open_opts.self, sizeField: \.sz) { openOptions in
                    pinDirectory.withCString { pinRoot in
                        openOptions.pointee.pin_root_path = pinRoot
                        return withLibbpfOptions(xdp_program_opts.self, sizeField: \.sz) { options in
                            options.pointee.open_filename = file
                            options.pointee.prog_name = name
                            options.pointee.opts = openOptions
                            return xdp_program__create(options)
                        }
                    }
                }
            }
        }
        guard let program, libxdp_get_error(UnsafeRawPointer(program)) == 0 else {
            return .failure(DispatcherFailure(reason: "libxdp cannot open \(path) (\(Errno.current))"))
        }
        defer { xdp_program__close(program) }
        if let object = xdp_program__bpf_obj(program),
           let baseline = bpf_object__find_program_by_name(object, BPFObject.baselineProgramName) {
            bpf_program__set_autoload(baseline, false)
        }

        let status = xdp_program__attach(program, Int32(interfaceIndex), mode.libxdpMode, 0)
        if status != 0 {
            detachAnything(interfaceIndex)
            undo()
            return .failure(DispatcherFailure(reason: libxdpReason(default: "xdp_program__attach failed (\(Errno(-status)))")))
        }
        guard let dispatcherID = dispatcherProgramID(interfaceIndex) else {
            // libxdp attached the program alone: its own fallback, not a dispatcher.
            _ = xdp_program__detach(program, Int32(interfaceIndex), mode.libxdpMode, 0)
            detachAnything(interfaceIndex)
            undo()
            return .failure(DispatcherFailure(reason: libxdpReason(default: "libxdp attached the program without its dispatcher")))
        }
        do throws(DatapathError) {
            guard let object = xdp_program__bpf_obj(program) else {
                throw DatapathError(.bpfLoadFailed, "libxdp loaded \(path) but has no BPF object for it")
            }
            let maps = try XDPMaps(libbpfObject: object)
            try configure(maps)
        } catch {
            _ = xdp_program__detach(program, Int32(interfaceIndex), mode.libxdpMode, 0)
            undo()
            throw error
        }
        let fd = xdp_program__fd(program)
        if fd >= 0 { _ = bpf_obj_pin(fd, pinDirectory + "/prog") }
        return .success(Attached(programID: xdp_program__id(program), dispatcherID: dispatcherID))
    }

    struct DispatcherFailure: Error {
        var reason: String
    }

    /// The id of the dispatcher on the interface, nil when there is none (no program, or one
    /// attached alone).
    static func dispatcherProgramID(_ interfaceIndex: UInt32) -> UInt32? {
        guard let multiprog = xdp_multiprog__get_from_ifindex(Int32(interfaceIndex)),
              libxdp_get_error(UnsafeRawPointer(multiprog)) == 0
        else { return nil }
        defer { xdp_multiprog__close(multiprog) }
        guard !xdp_multiprog__is_legacy(multiprog), let main = xdp_multiprog__main_prog(multiprog) else { return nil }
        return xdp_program__id(main)
    }

    /// quicxdp's component in the interface's dispatcher, if it has one: (component id, name,
    /// mode, dispatcher id).
    static func component(_ interfaceIndex: UInt32, pinnedID: UInt32?)
        -> (id: UInt32, name: String, mode: XDPAttachedMode, dispatcherID: UInt32, isQuicXDP: Bool)?
    {
        guard let multiprog = xdp_multiprog__get_from_ifindex(Int32(interfaceIndex)),
              libxdp_get_error(UnsafeRawPointer(multiprog)) == 0
        else { return nil }
        defer { xdp_multiprog__close(multiprog) }
        guard !xdp_multiprog__is_legacy(multiprog), let main = xdp_multiprog__main_prog(multiprog) else { return nil }
        let mode = XDPAttachedMode(libxdp: xdp_multiprog__attach_mode(multiprog))
        var first: (UInt32, String)?
        var current = xdp_multiprog__next_prog(nil, multiprog)
        while let program = current {
            let id = xdp_program__id(program)
            let name = xdp_program__name(program).map { String(cString: $0) } ?? "?"
            if id == pinnedID || name == BPFObject.programName {
                return (id, name, mode, xdp_program__id(main), true)
            }
            if first == nil { first = (id, name) }
            current = xdp_multiprog__next_prog(program, multiprog)
        }
        // A dispatcher without quicxdp in it: someone else's programs.
        return (first?.0 ?? xdp_program__id(main), first?.1 ?? "xdp_dispatcher", mode, xdp_program__id(main), false)
    }

    /// Removes quicxdp's component (libxdp removes the dispatcher and its pins with the last one).
    static func detach(componentID: UInt32, interfaceIndex: UInt32, mode: XDPAttachedMode) -> Int32 {
        guard let program = xdp_program__from_id(componentID), libxdp_get_error(UnsafeRawPointer(program)) == 0 else {
            return -ENOENT
        }
        defer { xdp_program__close(program) }
        return xdp_program__detach(program, Int32(interfaceIndex), mode == .skb ? XDP_MODE_SKB : XDP_MODE_NATIVE, 0)
    }

    /// After a failed attempt: whatever is attached now came from it (the loader only tries
    /// when nothing was attached).
    private static func detachAnything(_ interfaceIndex: UInt32) {
        for flags in [UInt32(XDP_FLAGS_DRV_MODE), UInt32(XDP_FLAGS_SKB_MODE)] {
            _ = bpf_xdp_detach(Int32(interfaceIndex), flags, nil)
        }
    }

    /// What libxdp said about its dispatcher, for the fallback message.
    private static func libxdpReason(default fallback: String) -> String {
        let said = LibbpfLog.lines { $0.hasPrefix("libxdp: ") && ($0.contains("failed") || $0.contains("Failed")) }
        guard let last = said.last else { return fallback }
        var text = Substring(last.dropFirst("libxdp: ".count))
        while let end = text.last, end == "\n" || end == " " { text = text.dropLast() }
        while let start = text.first, start == " " { text = text.dropFirst() }
        if text.hasPrefix("libxdp: ") { text = text.dropFirst("libxdp: ".count) }
        return "libxdp said: " + text
    }

    /// libxdp's pin directories for this interface.
    static func dispatcherPins(_ interfaceIndex: UInt32) -> Set<String> {
        guard let directory = opendir(pinRoot) else { return [] }
        defer { closedir(directory) }
        var names: Set<String> = []
        let prefix = "dispatch-\(interfaceIndex)-"
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name.hasPrefix(prefix) { names.insert(name) }
        }
        return names
    }

    /// Removes dispatcher pin directories the attempt made, and libxdp's root if it made that.
    private static func removeLeftovers(_ interfaceIndex: UInt32, keeping before: Set<String>, rootExisted: Bool) {
        for name in dispatcherPins(interfaceIndex).subtracting(before) {
            let directory = pinRoot + "/" + name
            if let handle = opendir(directory) {
                while let entry = readdir(handle) {
                    let file = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                    if file != "." && file != ".." { unlink(directory + "/" + file) }
                }
                closedir(handle)
            }
            rmdir(directory)
        }
        if !rootExisted { rmdir(pinRoot) }
    }
}

extension XDPAttachMode {
    var libxdpMode: xdp_attach_mode { self == .skb ? XDP_MODE_SKB : XDP_MODE_NATIVE }
}

extension XDPAttachedMode {
    init(libxdp mode: xdp_attach_mode) {
        switch mode {
        case XDP_MODE_NATIVE: self = .native
        case XDP_MODE_SKB: self = .skb
        case XDP_MODE_HW: self = .hardware
        default: self = .none
        }
    }
}
