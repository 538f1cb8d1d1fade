import CLibXDP
import CQuicShim
import Glibc

/// An opened and loaded `quicxdp.bpf.o`: owns the `bpf_object` (and so the program and map
/// descriptors) and closes it in `deinit`. Attachments made with `bpf_xdp_attach` and pins
/// outlive it by design; they are what `quicxdp load` leaves behind.
public struct BPFObject: ~Copyable {
    public static let programName = "quicxdp"
    public static let baselineProgramName = "quicxdp_baseline"
    public static let mapNames = ["xsks", "ports", "config", "stats", "xsk_owners"]

    let object: OpaquePointer

    /// Opens and loads the object. With `pinDirectory` the maps are pinned there by name and
    /// reused if already pinned (libbpf LIBBPF_PIN_BY_NAME); without it nothing is pinned.
    /// `loadBaseline` also loads the trivial redirect program used by the benchmark.
    public init(path: String, pinDirectory: String?, loadBaseline: Bool = false) throws(DatapathError) {
        LibbpfLog.install()
        LibbpfLog.clear()
        let opened: OpaquePointer? = withOptionalCString(pinDirectory) { pinRoot in
            withLibbpfOptions(bpf_object_open_opts.self, sizeField: \.sz) { options in
                options.pointee.pin_root_path = pinRoot
                return bpf_object__open_file(path, options)
            }
        }
        guard let opened, libbpf_get_error(UnsafeRawPointer(opened)) == 0 else {
            throw DatapathError(.bpfLoadFailed,
                "cannot open \(path): not a BPF object this libbpf can read; rebuild with `make bpf`", errno: .current)
        }
        if pinDirectory == nil {
            for name in Self.mapNames {
                if let map = bpf_object__find_map_by_name(opened, name) { bpf_map__set_pin_path(map, nil) }
            }
        }
        if let baseline = bpf_object__find_program_by_name(opened, Self.baselineProgramName) {
            bpf_program__set_autoload(baseline, loadBaseline)
        }
        let result = bpf_object__load(opened)
        if result != 0 {
            let log = LibbpfLog.tail()
            let cause = Errno(-result)
            bpf_object__close(opened)
            if cause == .permission {
                throw DatapathError(.notRoot,
                    "cannot load the XDP program: permission denied; run as root (or with CAP_BPF and CAP_NET_ADMIN)", errno: cause)
            }
            throw DatapathError(.bpfLoadFailed,
                "cannot load \(path): the kernel rejected it; rebuild with `make bpf` against this kernel's headers. libbpf said:\n\(log)", errno: cause)
        }
        object = opened
    }

    deinit { bpf_object__close(object) }

    public func programDescriptor(_ name: String = BPFObject.programName) -> Int32? {
        guard let program = bpf_object__find_program_by_name(object, name) else { return nil }
        let fd = bpf_program__fd(program)
        return fd >= 0 ? fd : nil
    }

    public func mapDescriptor(_ name: String) -> Int32? {
        guard let map = bpf_object__find_map_by_name(object, name) else { return nil }
        let fd = bpf_map__fd(map)
        return fd >= 0 ? fd : nil
    }
}

func withOptionalCString<R>(_ string: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
    guard let string else { return body(nil) }
    return string.withCString { body($0) }
}
