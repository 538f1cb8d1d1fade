/// A FIFO with stable absolute indices: `append` returns an index that stays valid until the
/// element is popped from the front. Storage doubles when full and is then reused, so a queue
/// in steady state does not allocate.
public struct RingBuffer<Element> {
    @usableFromInline var storage: [Element?]
    /// Absolute index of the front element.
    public private(set) var startIndex: Int = 0
    public private(set) var count: Int = 0

    public init(capacity: Int = 16) {
        storage = Array(repeating: nil, count: max(capacity, 1))
    }

    @inlinable public var isEmpty: Bool { count == 0 }
    /// One past the last absolute index.
    @inlinable public var endIndex: Int { startIndex + count }

    @inlinable
    func slot(_ index: Int) -> Int { index % storage.count }

    @discardableResult
    public mutating func append(_ element: Element) -> Int {
        if count == storage.count { grow() }
        let index = startIndex + count
        storage[slot(index)] = element
        count += 1
        return index
    }

    mutating func grow() {
        var bigger = [Element?](repeating: nil, count: storage.count * 2)
        for offset in 0..<count { bigger[(startIndex + offset) % bigger.count] = storage[slot(startIndex + offset)] }
        storage = bigger
    }

    /// The element at an absolute index in startIndex..<endIndex.
    @inlinable
    public subscript(index: Int) -> Element {
        get {
            precondition(index >= startIndex && index < startIndex + count, "ring index out of range")
            return storage[slot(index)]!
        }
        set {
            precondition(index >= startIndex && index < startIndex + count, "ring index out of range")
            storage[slot(index)] = newValue
        }
    }

    public var first: Element? { isEmpty ? nil : self[startIndex] }
    public var last: Element? { isEmpty ? nil : self[endIndex - 1] }

    @discardableResult
    public mutating func popFirst() -> Element? {
        guard count > 0 else { return nil }
        let element = storage[slot(startIndex)]
        storage[slot(startIndex)] = nil
        startIndex += 1
        count -= 1
        return element
    }

    public mutating func removeAll() {
        while popFirst() != nil {}
    }
}

extension RingBuffer: Sendable where Element: Sendable {}
