import Glibc
import QuicDatapath
import Testing

@Suite struct EngineUnitTests {
    @Test("SPSC queue: a producer thread and a consumer thread see every element once, in order")
    func spscAcrossThreads() throws {
        let queue = SPSCQueue<Int>(capacity: 64)
        let total = 200_000
        let producer = try WorkerThread {
            var next = 0
            while next < total { if queue.push(next) { next += 1 } }
        }
        var expected = 0
        var outOfOrder = 0
        while expected < total {
            if let value = queue.pop() {
                if value != expected { outOfOrder += 1 }
                expected += 1
            }
        }
        try producer.join()
        #expect(outOfOrder == 0)
        #expect(queue.pop() == nil)
    }

    @Test("SPSC queue refuses elements when full")
    func spscFull() {
        let queue = SPSCQueue<String>(capacity: 3) // rounded up to 4
        #expect(queue.capacity == 4)
        for i in 0..<4 { #expect(queue.push("\(i)")) }
        #expect(!queue.push("overflow"))
        #expect(queue.pop() == "0")
        #expect(queue.push("4"))
    }

    @Test("poll timeouts round up to whole milliseconds")
    func pollTimeout() {
        let now = MonotonicTime(nanoseconds: 1_000_000_000)
        #expect(now.milliseconds(until: now.adding(nanoseconds: 1)) == 1)
        #expect(now.milliseconds(until: now.adding(nanoseconds: 2_000_000)) == 2)
        #expect(now.milliseconds(until: MonotonicTime(nanoseconds: 0)) == 0)
    }

    @Test("the BPF object is found from the test binary's directory, and an explicit bad path is an error that says what to do")
    func locator() throws {
        _ = bpfObjectPath // builds it if needed
        let found = try BPFObjectLocator.locate()
        #expect(found.hasSuffix("/bpf/build/quicxdp.bpf.o") || found.hasSuffix("/quicxdp.bpf.o"))
        do {
            _ = try BPFObjectLocator.locate(override: "/nonexistent/quicxdp.bpf.o")
            Issue.record("expected an error")
        } catch {
            #expect(error.message.contains("make bpf"))
        }
    }
}
