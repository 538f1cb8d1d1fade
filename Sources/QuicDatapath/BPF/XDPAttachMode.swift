import CLibXDP
import CQuicShim

/// How the XDP program is attached. `auto` tries native (driver) mode and falls back to
/// generic (skb) mode, saying so.
public enum XDPAttachMode: String, Sendable, CaseIterable, Codable {
    case auto, native, skb

    var flags: UInt32 {
        switch self {
        case .auto, .native: return UInt32(XDP_FLAGS_DRV_MODE)
        case .skb: return UInt32(XDP_FLAGS_SKB_MODE)
        }
    }
}

/// What the kernel reports for an attached program (`XDP_ATTACHED_*`, linux/if_link.h).
public enum XDPAttachedMode: String, Sendable, Codable {
    case none, native, skb, hardware, multiple

    init(kernel value: UInt8) {
        switch UInt32(value) {
        case UInt32(XDP_ATTACHED_DRV): self = .native
        case UInt32(XDP_ATTACHED_SKB): self = .skb
        case UInt32(XDP_ATTACHED_HW): self = .hardware
        case UInt32(XDP_ATTACHED_MULTI): self = .multiple
        default: self = .none
        }
    }

    var detachFlags: UInt32 {
        switch self {
        case .native: return UInt32(XDP_FLAGS_DRV_MODE)
        case .skb: return UInt32(XDP_FLAGS_SKB_MODE)
        case .hardware: return UInt32(XDP_FLAGS_HW_MODE)
        default: return 0
        }
    }
}
