import CLibXDP
import CQuicShim
import Glibc

/// The program's maps, by descriptor: either from a freshly loaded `BPFObject` or from the pins
/// under `/sys/fs/bpf/quicxdp/<ifname>/`. Owns the descriptors it opened.
public struct XDPMaps: ~Copyable {
    public let xsks: Int32
    public let ports: Int32
    public let config: Int32
    public let stats: Int32
    public let owners: Int32
    private let owned: Bool

    /// Borrows the object's descriptors (valid while the object lives).
    public init(object: borrowing BPFObject) throws(DatapathError) {
        guard let xsks = object.mapDescriptor("xsks"), let ports = object.mapDescriptor("ports"),
              let config = object.mapDescriptor("config"), let stats = object.mapDescriptor("stats"),
              let owners = object.mapDescriptor("xsk_owners")
        else { throw DatapathError(.mapAccess, "the BPF object lacks the quicxdp maps; rebuild with `make bpf`") }
        self.xsks = xsks; self.ports = ports; self.config = config; self.stats = stats; self.owners = owners
        owned = false
    }

    /// Borrows the descriptors of a loaded libbpf object (valid while it stays open).
    init(libbpfObject object: OpaquePointer) throws(DatapathError) {
        var fds: [Int32] = []
        for name in BPFObject.mapNames {
            guard let map = bpf_object__find_map_by_name(object, name), bpf_map__fd(map) >= 0 else {
                throw DatapathError(.mapAccess, "the BPF object lacks the quicxdp map '\(name)'; rebuild with `make bpf`")
            }
            fds.append(bpf_map__fd(map))
        }
        xsks = fds[0]; ports = fds[1]; config = fds[2]; stats = fds[3]; owners = fds[4]
        owned = false
    }

    /// Opens the pinned maps of an interface that `quicxdp load` set up.
    public init(pinnedFor interface: String) throws(DatapathError) {
        let directory = XDPPins.directory(for: interface)
        var fds: [Int32] = []
        for name in BPFObject.mapNames {
            let fd = bpf_obj_get(directory + "/" + name)
            if fd < 0 {
                let cause = Errno.current
                fds.forEach { close($0) }
                if cause == .permission {
                    throw DatapathError(.notRoot, "cannot open \(directory)/\(name): permission denied; run as root", errno: cause)
                }
                throw DatapathError(.notLoaded,
                    "quicxdp is not loaded on \(interface) (no \(directory)/\(name)); run `quicxdp load --dev \(interface) --port PORT` first", errno: cause)
            }
            fds.append(fd)
        }
        xsks = fds[0]; ports = fds[1]; config = fds[2]; stats = fds[3]; owners = fds[4]
        owned = true
    }

    deinit {
        if owned { close(xsks); close(ports); close(config); close(stats); close(owners) }
    }

    /// Replaces the set of QUIC ports (`ports[port] = 1`).
    public func setPorts(_ newPorts: [UInt16]) throws(DatapathError) {
        for port in try readPorts() where !newPorts.contains(port) {
            try writePort(port, 0)
        }
        for port in newPorts { try writePort(port, 1) }
    }

    private func writePort(_ port: UInt16, _ value: UInt8) throws(DatapathError) {
        var key = UInt32(port)
        var value = value
        if bpf_map_update_elem(ports, &key, &value, UInt64(BPF_ANY)) != 0 {
            throw DatapathError(.mapAccess, "cannot write port \(port) into the ports map", errno: .current)
        }
    }

    /// The configured ports, read with one batch lookup over the 65536-entry array.
    public func readPorts() throws(DatapathError) -> [UInt16] {
        let count = 65536
        let keys = UnsafeMutablePointer<UInt32>.allocate(capacity: count)
        let values = UnsafeMutablePointer<UInt8>.allocate(capacity: count)
        defer { keys.deallocate(); values.deallocate() }
        var result: [UInt16] = []
        var batch = UInt32(0)
        var fetched = UInt32(count)
        let status = withLibbpfOptions(bpf_map_batch_opts.self, sizeField: \.sz) { options in
            bpf_map_lookup_batch(ports, nil, &batch, keys, values, &fetched, options)
        }
        if status == 0 || errno == ENOENT {
            for index in 0..<Int(fetched) where values[index] != 0 { result.append(UInt16(truncatingIfNeeded: keys[index])) }
            return result.sorted()
        }
        // Kernels without batch lookups: one lookup per port.
        for port in 0..<count {
            var key = UInt32(port)
            var value: UInt8 = 0
            if bpf_map_lookup_elem(ports, &key, &value) == 0, value != 0 { result.append(UInt16(port)) }
        }
        return result
    }

    /// Sets `config.min_initial_size` (1200 for a server, 0 to accept small Initials).
    public func setMinimumInitialSize(_ size: UInt32) throws(DatapathError) {
        var key: UInt32 = 0
        var value: (UInt32, UInt32) = (size, 0)
        if bpf_map_update_elem(config, &key, &value, UInt64(BPF_ANY)) != 0 {
            throw DatapathError(.mapAccess, "cannot write the config map", errno: .current)
        }
    }

    public func readMinimumInitialSize() -> UInt32 {
        var key: UInt32 = 0
        var value: (UInt32, UInt32) = (0, 0)
        _ = bpf_map_lookup_elem(config, &key, &value)
        return value.0
    }

    /// Sums the per-CPU counters.
    public func readStats() throws(DatapathError) -> XDPStats {
        let cpus = Int(libbpf_num_possible_cpus())
        guard cpus > 0 else { throw DatapathError(.mapAccess, "cannot count the possible CPUs") }
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: cpus * XDPStats.cSize, alignment: 8)
        defer { buffer.deallocate() }
        var key: UInt32 = 0
        guard bpf_map_lookup_elem(stats, &key, buffer) == 0 else {
            throw DatapathError(.mapAccess, "cannot read the stats map", errno: .current)
        }
        var total = XDPStats()
        for cpu in 0..<cpus { total.add(cpuValue: buffer + cpu * XDPStats.cSize) }
        return total
    }

    /// Points queue `queue` at an AF_XDP socket (the program redirects that queue's QUIC
    /// packets to it).
    public func bindSocket(_ socketFD: Int32, queue: UInt32) throws(DatapathError) {
        var key = queue
        var value = UInt32(bitPattern: socketFD)
        if bpf_map_update_elem(xsks, &key, &value, UInt64(BPF_ANY)) != 0 {
            throw DatapathError(.mapAccess, "cannot put the AF_XDP socket for queue \(queue) into the xsks map", errno: .current)
        }
    }

    public func unbindSocket(queue: UInt32) {
        var key = queue
        _ = bpf_map_delete_elem(xsks, &key)
        setOwner(queue: queue, pid: 0, zeroCopy: false)
    }

    /// Records which process bound `queue` (see `struct quicxdp_xsk_owner`).
    public func setOwner(queue: UInt32, pid: Int32, zeroCopy: Bool) {
        var key = queue
        var value: (UInt32, UInt32) = (UInt32(bitPattern: pid), zeroCopy ? 1 : 0)
        _ = bpf_map_update_elem(owners, &key, &value, UInt64(BPF_ANY))
    }

    /// Queues with a recorded owner: (queue, pid, zero-copy).
    public func readOwners(queues: UInt32) -> [(queue: UInt32, pid: Int32, zeroCopy: Bool)] {
        var result: [(UInt32, Int32, Bool)] = []
        for queue in 0..<min(queues, 64) {
            var key = queue
            var value: (UInt32, UInt32) = (0, 0)
            if bpf_map_lookup_elem(owners, &key, &value) == 0, value.0 != 0 {
                result.append((queue, Int32(bitPattern: value.0), value.1 & 1 != 0))
            }
        }
        return result
    }
}

/// Where the pins live: `/sys/fs/bpf/quicxdp/<ifname>/{prog,xsks,ports,config,stats}`.
public enum XDPPins {
    public static let root = "/sys/fs/bpf/quicxdp"
    public static func directory(for interface: String) -> String { root + "/" + interface }
    public static let names = ["prog"] + BPFObject.mapNames
}
