import QuicWire

/// Streams by ID without hashing: stream IDs of one kind (initiator and direction, the two low
/// bits) are opened in order and live in a window bounded by the stream limits, so an entry is
/// found by subtracting the kind's lowest live index. Lookups cost an array access; the storage is
/// reused as streams close.
struct StreamTable {
    private struct Kind {
        /// Stream index of `entries[head]`.
        var base: UInt64 = 0
        var head = 0
        var entries: [StreamEntry?] = []
        var live = 0
    }

    private var kinds = [Kind(), Kind(), Kind(), Kind()]
    private(set) var count = 0

    subscript(id: StreamID) -> StreamEntry? {
        get {
            let kind = Int(id.rawValue & 3)
            let index = id.index
            // In place: copying the `Kind` out retained and released its array (every frame).
            guard index >= kinds[kind].base else { return nil }
            let offset = Int(index - kinds[kind].base) + kinds[kind].head
            return offset < kinds[kind].entries.count ? kinds[kind].entries[offset] : nil
        }
        set {
            let kind = Int(id.rawValue & 3)
            let index = id.index
            guard index >= kinds[kind].base else { return }
            let offset = Int(index - kinds[kind].base) + kinds[kind].head
            if let newValue {
                while kinds[kind].entries.count <= offset { kinds[kind].entries.append(nil) }
                if kinds[kind].entries[offset] == nil {
                    kinds[kind].live += 1
                    count += 1
                }
                kinds[kind].entries[offset] = newValue
            } else {
                guard offset < kinds[kind].entries.count, kinds[kind].entries[offset] != nil else { return }
                kinds[kind].entries[offset] = nil
                kinds[kind].live -= 1
                count -= 1
                compact(kind)
            }
        }
    }

    /// Calls `body` with the entry for `id` (nil when there is none) without retaining it: the
    /// table holds the entry throughout, and `body` must not remove it. The receive path's lookup,
    /// always inlined so that the closure is inlined into the caller with it.
    @inline(__always)
    func withEntry<Result>(_ id: StreamID, _ body: (StreamEntry) -> Result) -> Result? {
        let kind = Int(id.rawValue & 3)
        let index = id.index
        guard index >= kinds[kind].base else { return nil }
        let offset = Int(index - kinds[kind].base) + kinds[kind].head
        guard offset < kinds[kind].entries.count, kinds[kind].entries[offset] != nil else { return nil }
        return Unmanaged.passUnretained(kinds[kind].entries[offset].unsafelyUnwrapped)._withUnsafeGuaranteedRef(body)
    }

    /// Slides the window past closed streams at the front; reclaims the space now and then.
    private mutating func compact(_ kind: Int) {
        while kinds[kind].head < kinds[kind].entries.count, kinds[kind].entries[kinds[kind].head] == nil {
            kinds[kind].head += 1
            kinds[kind].base += 1
        }
        if kinds[kind].head >= 64 && kinds[kind].head * 2 >= kinds[kind].entries.count {
            kinds[kind].entries.removeFirst(kinds[kind].head)
            kinds[kind].head = 0
        }
    }

    /// Calls `body` for every open stream, without allocating.
    func forEach(_ body: (StreamEntry) -> Void) {
        for kind in kinds {
            for index in kind.head..<kind.entries.count {
                if let entry = kind.entries[index] { body(entry) }
            }
        }
    }

    /// Every open stream (allocates; for slow paths and tests).
    var values: [StreamEntry] {
        kinds.flatMap { $0.entries[$0.head...].compactMap { $0 } }
    }

    var keys: [StreamID] { values.map(\.id) }
}
