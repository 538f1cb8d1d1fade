import Glibc
import QuicDatapath
import Synchronization
import Testing

@testable import QuicXDP

/// The worker → application hand-off on its own: a producer thread (standing in for the
/// engine worker) and consumer tasks, no lock shared between them.
@Suite struct HandoffTests {
    @Test("a worker thread pushes 20,000 items in bursts; one reader task gets them all, in order, then the end")
    func orderedDelivery() async throws {
        let channel = EventChannel(RingBuffer<Int>(capacity: 64))
        let total = 20_000
        let producer = try WorkerThread {
            var next = 0
            while next < total {
                // A burst as the worker makes one per turn, then one doorbell ring.
                var pushed = 0
                while next < total && pushed < 7 && channel.buffer.push(next) {
                    next += 1
                    pushed += 1
                }
                channel.notify()
                // Full: wait for the reader without spinning (the test suite shares two cores).
                if pushed == 0 { usleep(50) }
            }
            channel.finish(.finished)
        }
        var expected = 0
        while let value = try await channel.receive() {
            #expect(value == expected)
            expected += 1
        }
        try producer.join()
        #expect(expected == total)
    }

    @Test("four reader tasks on one channel share the items: each exactly once, and all see the error at the end")
    func manyReaders() async throws {
        let channel = EventChannel(ListBuffer<Int>())
        let total = 20_000
        let seen = Seen()
        let producer = try WorkerThread {
            for value in 0..<total {
                channel.buffer.push(value)
                if value % 13 == 0 { channel.notify() }
            }
            channel.finish(.failed(.connectionClosed("test over")))
        }
        try await withThrowingTaskGroup(of: QuicError?.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    do {
                        while let value = try await channel.receive() { seen.list.withLock { $0.append(value) } }
                        return nil
                    } catch let error as QuicError {
                        return error
                    }
                }
            }
            for try await ending in group { #expect(ending == .connectionClosed("test over")) }
        }
        try producer.join()
        #expect(seen.list.withLock { $0.sorted() } == Array(0..<total))
    }

    @Test("a read with a length limit leaves the rest of the chunk for the next read")
    func split() async throws {
        let channel = EventChannel(RingBuffer<[UInt8]>(capacity: 4))
        #expect(channel.buffer.push([1, 2, 3, 4, 5]))
        channel.finish(.failed(.streamReset(7)))
        let halve: ([UInt8]) -> ([UInt8], rest: [UInt8]?) = { chunk in
            chunk.count <= 2 ? (chunk, nil) : (Array(chunk[..<2]), Array(chunk[2...]))
        }
        #expect(try await channel.receive(split: halve) == [1, 2])
        #expect(try await channel.receive(split: halve) == [3, 4])
        #expect(try await channel.receive(split: halve) == [5])
        await #expect(throws: QuicError.streamReset(7)) { _ = try await channel.receive(split: halve) }
    }

    @Test("the doorbell never loses a wakeup: 5,000 park/ring races")
    func doorbellRaces() async throws {
        let doorbell = Doorbell()
        let published = Atomic<Int>(0)
        let rounds = 5_000
        let producer = try WorkerThread {
            for round in 1...rounds {
                published.store(round, ordering: .sequentiallyConsistent)
                doorbell.ring()
                // Wait until the consumer saw it, so every round is a fresh race.
                var spins = 0
                while published.load(ordering: .sequentiallyConsistent) != -round {
                    spins += 1
                    if spins > 100 { usleep(20) } else { sched_yield() }
                }
            }
        }
        for round in 1...rounds {
            await doorbell.park { published.load(ordering: .sequentiallyConsistent) == round }
            // A ring meant for this round may come before or after the park; either way it
            // must not be lost, and a stale one must not leave us behind.
            while published.load(ordering: .sequentiallyConsistent) != round {
                await doorbell.park { published.load(ordering: .sequentiallyConsistent) == round }
            }
            published.store(-round, ordering: .sequentiallyConsistent)
        }
        try producer.join()
    }

    @Test("a stream's byte budget: the worker pauses when full; the reader that drains below half resumes it once")
    func streamBudget() {
        let stream = StreamChannel(id: StreamID(rawValue: 0))
        stream.buffered.store(StreamChannel.inboundLimit, ordering: .relaxed)
        #expect(stream.room == 0)
        #expect(!stream.pause())  // still full: stays paused
        #expect(!stream.consumed(StreamChannel.inboundLimit / 4))  // 3/4 left: not yet
        #expect(stream.consumed(StreamChannel.inboundLimit / 2))  // 1/4 left: resume
        #expect(!stream.consumed(1))  // already resumed
        // Drained before the worker paused: the worker sees it and goes on by itself.
        stream.buffered.store(0, ordering: .relaxed)
        #expect(stream.pause())
        let stillPaused = stream.readPaused.load(ordering: .relaxed)
        #expect(!stillPaused)
    }
}

final class Seen: Sendable {
    let list = Mutex<[Int]>([])
}
