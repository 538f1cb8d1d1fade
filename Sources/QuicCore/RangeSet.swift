/// A set of UInt64 values kept as sorted, disjoint, non-adjacent half-open ranges. Used for
/// received packet numbers (ACK ranges), received stream bytes, and acknowledged or lost stream
/// bytes. The storage array is reused, so steady-state updates do not allocate.
public struct RangeSet: Sendable, Equatable, CustomStringConvertible {
    @usableFromInline var ranges: [Range<UInt64>] = []

    public init() {}

    public init(_ ranges: [Range<UInt64>]) {
        for range in ranges { insert(range) }
    }

    @inlinable public var isEmpty: Bool { ranges.isEmpty }
    /// Number of disjoint ranges.
    @inlinable public var count: Int { ranges.count }
    @inlinable public var first: Range<UInt64>? { ranges.first }
    @inlinable public var last: Range<UInt64>? { ranges.last }
    @inlinable public var min: UInt64? { ranges.first?.lowerBound }
    /// One past the largest value.
    @inlinable public var upperBound: UInt64? { ranges.last?.upperBound }
    @inlinable public subscript(index: Int) -> Range<UInt64> { ranges[index] }

    /// Ranges in ascending order.
    @inlinable public var ascending: [Range<UInt64>] { ranges }

    /// Total number of values covered.
    public var totalLength: UInt64 { ranges.reduce(0) { $0 + ($1.upperBound - $1.lowerBound) } }

    /// Index of the first range whose upperBound >= value (the range that could contain or
    /// merge with `value`).
    @inlinable
    func firstIndex(endingAtOrAfter value: UInt64) -> Int {
        var low = 0
        var high = ranges.count
        while low < high {
            let middle = (low + high) / 2
            if ranges[middle].upperBound < value { low = middle + 1 } else { high = middle }
        }
        return low
    }

    @inlinable
    public func contains(_ value: UInt64) -> Bool {
        // New packet numbers and in-order offsets are at or above the top range: no search.
        if let last = ranges.last, value >= last.lowerBound { return value < last.upperBound }
        let index = firstIndex(endingAtOrAfter: value + 1)
        return index < ranges.count && ranges[index].contains(value)
    }

    /// Whether every value of `range` is in the set.
    @inlinable
    public func contains(_ range: Range<UInt64>) -> Bool {
        guard !range.isEmpty else { return true }
        // In-order arrivals ask about the top range: no search.
        if let last = ranges.last, range.lowerBound >= last.lowerBound { return range.upperBound <= last.upperBound }
        let index = firstIndex(endingAtOrAfter: range.lowerBound + 1)
        return index < ranges.count && ranges[index].lowerBound <= range.lowerBound
            && ranges[index].upperBound >= range.upperBound
    }

    /// Adds `range`, merging with neighbours it overlaps or touches. Returns whether anything new
    /// was added.
    @inlinable
    @discardableResult
    public mutating func insert(_ range: Range<UInt64>) -> Bool {
        guard !range.isEmpty else { return false }
        // In-order arrivals extend or follow the top range. Ranges below it end before
        // `last.lowerBound - 1`, so one starting at or above `last.lowerBound` touches none of them.
        let lastIndex = ranges.count - 1
        if lastIndex >= 0, range.lowerBound >= ranges[lastIndex].lowerBound {
            let last = ranges[lastIndex]
            if range.lowerBound > last.upperBound {
                ranges.append(range)
                return true
            }
            guard range.upperBound > last.upperBound else { return false }
            ranges[lastIndex] = last.lowerBound..<range.upperBound
            return true
        }
        let start = firstIndex(endingAtOrAfter: range.lowerBound)
        if start == ranges.count {
            ranges.append(range)
            return true
        }
        if ranges[start].lowerBound <= range.lowerBound && ranges[start].upperBound >= range.upperBound { return false }
        var lower = range.lowerBound
        var upper = range.upperBound
        var end = start
        while end < ranges.count && ranges[end].lowerBound <= upper {
            lower = Swift.min(lower, ranges[end].lowerBound)
            upper = Swift.max(upper, ranges[end].upperBound)
            end += 1
        }
        if start == end {
            ranges.insert(lower..<upper, at: start)
        } else {
            ranges[start] = lower..<upper
            if end - start > 1 { ranges.removeSubrange((start + 1)..<end) }
        }
        return true
    }

    @inlinable
    @discardableResult
    public mutating func insert(_ value: UInt64) -> Bool { insert(value..<(value + 1)) }

    /// Removes every value in `range`.
    public mutating func remove(_ range: Range<UInt64>) {
        guard !range.isEmpty else { return }
        var index = firstIndex(endingAtOrAfter: range.lowerBound + 1)
        while index < ranges.count && ranges[index].lowerBound < range.upperBound {
            let current = ranges[index]
            let keepLow = current.lowerBound < range.lowerBound ? current.lowerBound..<range.lowerBound : nil
            let keepHigh = current.upperBound > range.upperBound ? range.upperBound..<current.upperBound : nil
            switch (keepLow, keepHigh) {
            case (nil, nil):
                ranges.remove(at: index)
            case (let low?, nil):
                ranges[index] = low
                index += 1
            case (nil, let high?):
                ranges[index] = high
                index += 1
            case (let low?, let high?):
                ranges[index] = low
                ranges.insert(high, at: index + 1)
                index += 2
            }
        }
    }

    /// Removes everything below `value`.
    public mutating func removeAll(below value: UInt64) {
        guard let first = ranges.first, first.lowerBound < value else { return }
        remove(first.lowerBound..<value)
    }

    /// Drops the lowest ranges until at most `limit` remain.
    public mutating func keepHighest(_ limit: Int) {
        if ranges.count > limit { ranges.removeFirst(ranges.count - limit) }
    }

    public mutating func removeAll() { ranges.removeAll(keepingCapacity: true) }

    public var description: String {
        "[" + ranges.map { "\($0.lowerBound)..<\($0.upperBound)" }.joined(separator: ", ") + "]"
    }
}

/// The ranges of a RangeSet from the highest down, as closed ranges (the order ACK frames list).
public struct DescendingRanges: Sequence {
    @usableFromInline let set: RangeSet
    @usableFromInline let limit: Int

    @inlinable public init(_ set: RangeSet, limit: Int = .max) {
        self.set = set
        self.limit = limit
    }

    @inlinable
    public func makeIterator() -> Iterator { Iterator(set: set, index: set.count - 1, stop: Swift.max(0, set.count - limit)) }

    @frozen
    public struct Iterator: IteratorProtocol {
        @usableFromInline let set: RangeSet
        @usableFromInline var index: Int
        @usableFromInline let stop: Int

        @inlinable init(set: RangeSet, index: Int, stop: Int) {
            self.set = set
            self.index = index
            self.stop = stop
        }

        @inlinable
        public mutating func next() -> ClosedRange<UInt64>? {
            guard index >= stop else { return nil }
            defer { index -= 1 }
            let range = set[index]
            return range.lowerBound...(range.upperBound - 1)
        }
    }
}
