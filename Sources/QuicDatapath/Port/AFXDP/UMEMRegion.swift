import Glibc

/// The UMEM memory: `frameCount` frames of `frameSize` bytes in one anonymous mapping,
/// unmapped in `deinit` (after the port has deleted the socket and the umem that point into it).
struct UMEMRegion: ~Copyable {
    let base: UnsafeMutableRawPointer
    let frameSize: Int
    let frameCount: Int
    var byteCount: Int { frameSize * frameCount }

    init(frameSize: Int, frameCount: Int) throws(DatapathError) {
        let size = frameSize * frameCount
        let address = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0)
        guard let address, address != MAP_FAILED else {
            throw DatapathError(.afxdpFailed, "cannot map \(size) bytes for the AF_XDP UMEM; lower the frame count or raise `ulimit -l`", errno: .current)
        }
        base = address
        self.frameSize = frameSize
        self.frameCount = frameCount
    }

    deinit { munmap(base, byteCount) }

    @inline(__always)
    func pointer(_ address: UInt64) -> UnsafeMutableRawPointer { base + Int(address) }
}
