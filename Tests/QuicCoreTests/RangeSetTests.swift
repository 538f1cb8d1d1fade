@testable import QuicCore
import Testing

@Suite("RangeSet")
struct RangeSetTests {
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9e37_79b9_7f4a_7c15
            var z = state
            z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
            z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
            return z ^ (z >> 31)
        }
    }

    /// Checks the invariants: sorted, disjoint, non-adjacent, non-empty ranges.
    func checkInvariants(_ set: RangeSet) {
        for index in 0..<set.count {
            #expect(!set[index].isEmpty)
            if index > 0 { #expect(set[index - 1].upperBound < set[index].lowerBound, "ranges touch or overlap: \(set)") }
        }
    }

    @Test("random inserts and removals agree with a plain Set model")
    func againstModel() {
        var rng = Generator(state: 7)
        var set = RangeSet()
        var model = Set<UInt64>()
        for _ in 0..<3000 {
            let low = rng.next() % 500
            let range = low..<(low + rng.next() % 20)
            if rng.next() % 3 == 0 {
                set.remove(range)
                model.subtract(range)
            } else {
                let added = set.insert(range)
                #expect(added == !model.isSuperset(of: range))
                model.formUnion(range)
            }
            checkInvariants(set)
        }
        for value in 0..<UInt64(540) {
            #expect(set.contains(value) == model.contains(value), "value \(value)")
        }
        #expect(set.totalLength == UInt64(model.count))
    }

    @Test("stream-like arrivals (mostly in order: the top-range fast path) agree with a plain Set model")
    func mostlyInOrder() {
        var rng = Generator(state: 11)
        var set = RangeSet()
        var model = Set<UInt64>()
        var next: UInt64 = 0
        for _ in 0..<4000 {
            let length = 1 + rng.next() % 30
            var start = next
            switch rng.next() % 10 {
            case 0: start = next + 1 + rng.next() % 40  // a gap (a lost packet)
            case 1: start = next > 60 ? next - rng.next() % 60 : 0  // a retransmission or overlap
            case 2: start = rng.next() % (next + 1)  // anything below
            default: break
            }
            let range = start..<(start + length)
            let added = set.insert(range)
            #expect(added == !model.isSuperset(of: range), "insert \(range) into \(set)")
            model.formUnion(range)
            next = max(next, range.upperBound)
            checkInvariants(set)
            let probeStart = rng.next() % (next + 10)
            let probe = probeStart..<(probeStart + rng.next() % 40)
            #expect(set.contains(probe) == model.isSuperset(of: probe), "contains \(probe) in \(set)")
        }
        #expect(set.totalLength == UInt64(model.count))
        #expect(set.count > 1, "the arrivals left gaps")
    }

    @Test("merging touching ranges and removing below a floor")
    func basics() {
        var set = RangeSet([0..<5, 10..<15])
        set.insert(5..<10)
        #expect(set.ascending == [0..<15])
        set.remove(3..<7)
        #expect(set.ascending == [0..<3, 7..<15])
        set.removeAll(below: 8)
        #expect(set.ascending == [8..<15])
        #expect(set.contains(8..<15))
        #expect(!set.contains(7..<9))
        set.insert(20)
        set.insert(30)
        set.keepHighest(2)
        #expect(set.ascending == [20..<21, 30..<31])
        #expect(Array(DescendingRanges(set)) == [30...30, 20...20])
    }
}
