import Glibc
import CQuicShim

/// bpffs at /sys/fs/bpf, mounted on demand (it is missing on some machines, and in a mount
/// namespace made by `ip netns exec`, DESIGN.md "Facts about the machines").
public enum BPFFileSystem {
    public static let mountPoint = "/sys/fs/bpf"
    static let magic: UInt = 0xcafe4a11 // BPF_FS_MAGIC, linux/magic.h

    public static var isMounted: Bool {
        var info = statfs()
        return statfs(mountPoint, &info) == 0 && UInt(info.f_type) == magic
    }

    public static func ensureMounted() throws(DatapathError) {
        if isMounted { return }
        if mount("bpf", mountPoint, "bpf", 0, nil) != 0 {
            throw DatapathError(.notRoot,
                "bpffs is not mounted at \(mountPoint) and mounting it failed; run as root or `mount -t bpf bpf \(mountPoint)`",
                errno: .current)
        }
    }

    /// mkdir -p for a directory inside bpffs.
    static func makeDirectory(_ path: String) throws(DatapathError) {
        var current = ""
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, 0o700) != 0 && errno != EEXIST {
                throw DatapathError(.mapAccess, "cannot create \(current)", errno: .current)
            }
        }
    }
}
