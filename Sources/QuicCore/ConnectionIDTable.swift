import QuicWire

/// Routes from the connection IDs this endpoint issued to their connections: open addressing with
/// linear probing and backward-shift deletion. The IDs are our own random ones, so hashing their
/// words directly spreads them well and is far cheaper than SipHash; IDs a peer chooses (a
/// client's first Destination Connection ID) must not go here — they stay in a SipHash
/// `Dictionary`, which an attacker cannot flood.
struct ConnectionIDTable {
    private var keys: [ConnectionID?]
    private var values: [ConnectionHandle]
    private var mask: Int
    private(set) var count = 0

    init(capacity: Int = 64) {
        var size = 16
        while size < capacity * 2 { size *= 2 }
        keys = Array(repeating: nil, count: size)
        values = Array(repeating: ConnectionHandle(0), count: size)
        mask = size - 1
    }

    @inline(__always)
    private func slot(_ id: ConnectionID) -> Int {
        Int(truncatingIfNeeded: id.unkeyedHash) & mask
    }

    subscript(id: ConnectionID) -> ConnectionHandle? {
        var index = slot(id)
        while let key = keys[index] {
            if key == id { return values[index] }
            index = (index + 1) & mask
        }
        return nil
    }

    mutating func insert(_ id: ConnectionID, _ handle: ConnectionHandle) {
        if (count + 1) * 2 > keys.count { grow() }
        var index = slot(id)
        while let key = keys[index] {
            if key == id {
                values[index] = handle
                return
            }
            index = (index + 1) & mask
        }
        keys[index] = id
        values[index] = handle
        count += 1
    }

    mutating func remove(_ id: ConnectionID) {
        var index = slot(id)
        while let key = keys[index] {
            if key == id {
                deleteSlot(index)
                return
            }
            index = (index + 1) & mask
        }
    }

    /// Removes every ID routed to `handle`.
    mutating func removeAll(routingTo handle: ConnectionHandle) {
        var index = 0
        while index < keys.count {
            if keys[index] != nil, values[index] == handle {
                deleteSlot(index)
                // The shift may have moved another entry into this slot: look at it again.
                continue
            }
            index += 1
        }
    }

    /// Backward-shift deletion keeps probe sequences unbroken without tombstones.
    private mutating func deleteSlot(_ start: Int) {
        var hole = start
        var index = (start + 1) & mask
        while let key = keys[index] {
            let home = slot(key)
            // Move the entry back if its home slot does not lie cyclically in (hole, index].
            let inRange = hole <= index ? (home > hole && home <= index) : (home > hole || home <= index)
            if !inRange {
                keys[hole] = key
                values[hole] = values[index]
                hole = index
            }
            index = (index + 1) & mask
        }
        keys[hole] = nil
        count -= 1
    }

    private mutating func grow() {
        let oldKeys = keys
        let oldValues = values
        keys = Array(repeating: nil, count: oldKeys.count * 2)
        values = Array(repeating: ConnectionHandle(0), count: oldKeys.count * 2)
        mask = keys.count - 1
        count = 0
        for (index, key) in oldKeys.enumerated() {
            if let key { insert(key, oldValues[index]) }
        }
    }
}
