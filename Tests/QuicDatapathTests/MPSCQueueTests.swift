import QuicDatapath
import Synchronization
import Testing

@Suite struct MPSCQueueTests {
    @Test("four producer threads, one consumer draining meanwhile: every element once, each producer's in order")
    func manyProducers() throws {
        let queue = MPSCQueue<(producer: Int, value: Int)>()
        let producers = 4
        let perProducer = 50_000
        let emptyTransitions = Atomic<Int>(0)
        let threads = try (0..<producers).map { producer in
            try WorkerThread {
                for value in 0..<perProducer {
                    if case .queued(wasEmpty: true) = queue.push((producer, value)) {
                        emptyTransitions.add(1, ordering: .relaxed)
                    }
                }
            }
        }
        var next = [Int](repeating: 0, count: producers)
        var outOfOrder = 0
        var received = 0
        var drains = 0
        while received < producers * perProducer {
            let count = queue.drain { element in
                if element.value != next[element.producer] { outOfOrder += 1 }
                next[element.producer] = element.value + 1
            }
            if count > 0 { drains += 1 }
            received += count
        }
        for thread in threads { try thread.join() }
        #expect(outOfOrder == 0)
        #expect(next == [Int](repeating: perProducer, count: producers))
        #expect(queue.isEmpty)
        // Each drain leaves the queue empty, so the next push reports it: a wakeup per drain
        // at most, not per element.
        #expect(emptyTransitions.load(ordering: .relaxed) == drains)
    }

    @Test("close hands back what was queued, refuses later pushes, and keeps refusing after a drain")
    func close() {
        let queue = MPSCQueue<String>()
        #expect(queue.push("a") == .queued(wasEmpty: true))
        #expect(queue.push("b") == .queued(wasEmpty: false))
        var handedBack: [String] = []
        #expect(queue.close { handedBack.append($0) } == 2)
        #expect(handedBack == ["a", "b"])
        #expect(queue.push("c") == .closed)
        #expect(queue.drain { _ in Issue.record("drained from a closed queue") } == 0)
        #expect(queue.push("d") == .closed)
        #expect(queue.isClosed && queue.isEmpty)
    }

    @Test("elements left in a queue are released with it")
    func releasesElements() {
        weak var observed: AnyObjectBox?
        do {
            let queue = MPSCQueue<AnyObjectBox>()
            let box = AnyObjectBox()
            observed = box
            queue.push(box)
        }
        #expect(observed == nil)
    }
}

final class AnyObjectBox: Sendable {}
