import Glibc

/// Finds the compiled XDP program (`quicxdp.bpf.o`, built by `make bpf` into `bpf/build/`).
///
/// Search order, first hit wins:
/// 1. `$QUICXDP_BPF_OBJECT` (a file path; an error if set but missing);
/// 2. next to the running executable (an installed `quicxdp` ships the object beside it);
/// 3. `bpf/build/quicxdp.bpf.o` in the nearest ancestor of the executable's directory (a source
///    checkout: `.build/<triple>/debug/quicxdp` → `<repo>/bpf/build/`);
/// 4. the same, walking up from the current directory;
/// 5. `/usr/local/lib/quicxdp/` and `/usr/lib/quicxdp/`.
public enum BPFObjectLocator {
    public static let fileName = "quicxdp.bpf.o"
    public static let environmentVariable = "QUICXDP_BPF_OBJECT"

    /// `override` stands for the environment variable (tests pass it instead of setenv, which
    /// would race with other threads).
    public static func locate(
        override: String? = getenv(environmentVariable).map { String(cString: $0) }
    ) throws(DatapathError) -> String {
        if let override, !override.isEmpty {
            guard isFile(override) else {
                throw DatapathError(.bpfObjectMissing,
                    "\(environmentVariable)=\(override) does not name a file; build it with `make bpf` or unset the variable")
            }
            return override
        }
        var candidates: [String] = []
        if let executableDirectory = executableDirectory() {
            candidates.append(executableDirectory + "/" + fileName)
            candidates += ancestors(of: executableDirectory).map { $0 + "/bpf/build/" + fileName }
        }
        if let cwd = currentDirectory() {
            candidates += ancestors(of: cwd).map { $0 + "/bpf/build/" + fileName }
        }
        candidates += ["/usr/local/lib/quicxdp/" + fileName, "/usr/lib/quicxdp/" + fileName]
        if let found = candidates.first(where: isFile) { return found }
        throw DatapathError(.bpfObjectMissing,
            "cannot find \(fileName) (looked next to the executable, in bpf/build of the source tree, and in /usr/lib/quicxdp); build it with `make bpf` or set \(environmentVariable)=/path/to/\(fileName)")
    }

    static func isFile(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
    }

    static func executableDirectory() -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard count > 0 else { return nil }
        let path = String(nulTerminated: buffer)
        guard let slash = path.lastIndex(of: "/") else { return nil }
        return String(path[..<slash])
    }

    static func currentDirectory() -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return nil }
        return String(nulTerminated: buffer)
    }

    /// The directory itself and up to six parents.
    static func ancestors(of directory: String) -> [String] {
        var result: [String] = []
        var current = directory
        for _ in 0..<7 {
            result.append(current)
            guard let slash = current.lastIndex(of: "/"), current != "/" else { break }
            current = slash == current.startIndex ? "/" : String(current[..<slash])
        }
        return result
    }
}

extension BPFObjectLocator {
    static func exists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0
    }
}
