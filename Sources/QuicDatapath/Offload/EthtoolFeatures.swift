import CQuicShim
import Glibc

/// The device feature flags `ethtool -k` shows, by name (ETHTOOL_GSSET_INFO, ETHTOOL_GSTRINGS
/// with ETH_SS_FEATURES, ETHTOOL_GFEATURES; linux/ethtool.h), plus timestamping capabilities
/// (ETHTOOL_GET_TS_INFO).
struct EthtoolFeatures {
    var active: Set<String> = []
    var available: Set<String> = []
    var hardwareTransmitTimestamps = false

    static func query(_ interface: String) -> EthtoolFeatures {
        var result = EthtoolFeatures()
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return result }
        defer { close(fd) }

        func ioctlCall(_ buffer: UnsafeMutableRawPointer) -> Bool {
            var request = ifreq()
            withUnsafeMutableBytes(of: &request.ifr_ifrn.ifrn_name) { raw in
                for (i, byte) in interface.utf8.prefix(Int(IFNAMSIZ) - 1).enumerated() { raw[i] = byte }
            }
            request.ifr_ifru.ifru_data = buffer.assumingMemoryBound(to: CChar.self)
            return ioctl(fd, UInt(SIOCETHTOOL), &request) == 0
        }

        // Number of feature strings.
        let setInfoSize = MemoryLayout<ethtool_sset_info>.size + 4
        let setInfo = UnsafeMutableRawPointer.allocate(byteCount: setInfoSize, alignment: 8)
        defer { setInfo.deallocate() }
        setInfo.initializeMemory(as: UInt8.self, repeating: 0, count: setInfoSize)
        setInfo.storeBytes(of: UInt32(ETHTOOL_GSSET_INFO), as: UInt32.self)
        setInfo.storeBytes(of: UInt64(1) << UInt64(ETH_SS_FEATURES.rawValue), toByteOffset: 8, as: UInt64.self)
        guard ioctlCall(setInfo) else { return result }
        let count = Int(setInfo.load(fromByteOffset: MemoryLayout<ethtool_sset_info>.size, as: UInt32.self))
        guard count > 0 else { return result }

        let stringsSize = MemoryLayout<ethtool_gstrings>.size + count * Int(ETH_GSTRING_LEN)
        let strings = UnsafeMutableRawPointer.allocate(byteCount: stringsSize, alignment: 8)
        defer { strings.deallocate() }
        strings.initializeMemory(as: UInt8.self, repeating: 0, count: stringsSize)
        strings.storeBytes(of: UInt32(ETHTOOL_GSTRINGS), as: UInt32.self)
        strings.storeBytes(of: UInt32(ETH_SS_FEATURES.rawValue), toByteOffset: 4, as: UInt32.self)
        strings.storeBytes(of: UInt32(count), toByteOffset: 8, as: UInt32.self)
        guard ioctlCall(strings) else { return result }

        let blocks = (count + 31) / 32
        let featuresSize = MemoryLayout<ethtool_gfeatures>.size + blocks * MemoryLayout<ethtool_get_features_block>.size
        let features = UnsafeMutableRawPointer.allocate(byteCount: featuresSize, alignment: 8)
        defer { features.deallocate() }
        features.initializeMemory(as: UInt8.self, repeating: 0, count: featuresSize)
        features.storeBytes(of: UInt32(ETHTOOL_GFEATURES), as: UInt32.self)
        features.storeBytes(of: UInt32(blocks), toByteOffset: 4, as: UInt32.self)
        guard ioctlCall(features) else { return result }

        for index in 0..<count {
            let namePointer = strings + MemoryLayout<ethtool_gstrings>.size + index * Int(ETH_GSTRING_LEN)
            let name = UnsafeRawBufferPointer(start: namePointer, count: Int(ETH_GSTRING_LEN)).cString
            let block = features + MemoryLayout<ethtool_gfeatures>.size + (index / 32) * MemoryLayout<ethtool_get_features_block>.size
            let bit = UInt32(1) << UInt32(index % 32)
            let availableBits = block.load(as: UInt32.self)
            let activeBits = block.load(fromByteOffset: 8, as: UInt32.self)
            if availableBits & bit != 0 { result.available.insert(name) }
            if activeBits & bit != 0 { result.active.insert(name) }
        }

        var timestamps = ethtool_ts_info()
        timestamps.cmd = UInt32(ETHTOOL_GET_TS_INFO)
        if withUnsafeMutableBytes(of: &timestamps, { ioctlCall($0.baseAddress!) }) {
            result.hardwareTransmitTimestamps = timestamps.so_timestamping & UInt32(SOF_TIMESTAMPING_TX_HARDWARE) != 0
        }
        return result
    }
}
