import CLibXDP
import CQuicShim

/// BPF_PROG_TEST_RUN for XDP programs: runs the program on a packet in the kernel without a
/// device (Documentation/bpf/bpf_prog_run.rst). Used by the verdict tests and the benchmark.
public enum BPFTestRun {
    public struct Result: Sendable {
        /// The XDP action (XDP_PASS = 2, XDP_DROP = 1, XDP_REDIRECT = 4, ...).
        public var verdict: UInt32
        /// Average nanoseconds per run as measured by the kernel.
        public var nanosecondsPerRun: UInt32
    }

    public static func run(program fd: Int32, packet: [UInt8], repeat count: Int = 1) throws(DatapathError) -> Result {
        var output = [UInt8](repeating: 0, count: max(packet.count, 64) + 256)
        var lastRetval: UInt32 = 0
        var lastDuration: UInt32 = 0
        let status: Int32 = packet.withUnsafeBytes { input in
            output.withUnsafeMutableBytes { out in
                withLibbpfOptions(bpf_test_run_opts.self, sizeField: \.sz) { options in
                    options.pointee.data_in = input.baseAddress
                    options.pointee.data_size_in = UInt32(input.count)
                    options.pointee.data_out = out.baseAddress
                    options.pointee.data_size_out = UInt32(out.count)
                    options.pointee.repeat = Int32(count)
                    let result = bpf_prog_test_run_opts(fd, options)
                    lastRetval = options.pointee.retval
                    lastDuration = options.pointee.duration
                    return result
                }
            }
        }
        if status != 0 {
            throw DatapathError(.bpfLoadFailed, "BPF_PROG_TEST_RUN failed; run as root on a kernel with BPF test runs", errno: Errno(-status))
        }
        return Result(verdict: lastRetval, nanosecondsPerRun: lastDuration)
    }
}
