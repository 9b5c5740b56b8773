import Foundation
import Testing

@testable import DriftlessServer

/// The daemon's work queue: keys, not events; bounded by the number of keys; a burst is one item.
@Suite("Work queue")
struct WorkQueueTests {
    enum Key: Hashable, Sendable { case poll, drift }

    @Test func aBurstOfTriggersIsOneItem() async throws {
        let queue = WorkQueue<Key>()
        for i in 0..<10_000 { queue.add(.poll, reason: i.isMultiple(of: 2) ? "webhook" : "interval") }
        for _ in 0..<500 { queue.add(.drift, reason: "event on local") }
        #expect(queue.count == 2, "bounded by the number of keys")
        let first = try #require(await queue.next())
        #expect(first.key == .poll)
        #expect(first.reasons == ["webhook", "interval"])
        #expect(first.triggers == 10_000)
        let second = try #require(await queue.next())
        #expect(second.key == .drift)
        #expect(second.triggers == 500)
        #expect(queue.count == 0)
    }

    @Test func aKeyAddedWhileItIsProcessedRunsOnceMore() async throws {
        let queue = WorkQueue<Key>()
        queue.add(.drift, reason: "start")
        let item = try #require(await queue.next())
        #expect(item.key == .drift)
        // While the consumer works on it, the hosts change again: one more check, not one per change.
        queue.add(.drift, reason: "event")
        queue.add(.drift, reason: "event")
        #expect(queue.count == 1)
        #expect(await queue.next()?.triggers == 2)
    }

    @Test func reasonsAreBounded() async throws {
        let queue = WorkQueue<Key>()
        for i in 0..<100 { queue.add(.poll, reason: "webhook \(i)") }
        let item = try #require(await queue.next())
        #expect(item.reasons.count == WorkQueue<Key>.maxReasons)
        #expect(item.triggers == 100)
    }

    @Test func delayedAddsOfOneKeyAreOneItem() async throws {
        let queue = WorkQueue<Key>()
        let start = ContinuousClock.now
        for _ in 0..<50 { queue.add(.drift, reason: "event on local", after: .milliseconds(100)) }
        #expect(queue.count == 0, "nothing before the delay")
        let item = try #require(await queue.next())
        #expect(ContinuousClock.now - start >= .milliseconds(100))
        #expect(item.triggers == 50)
        queue.add(.poll, reason: "after")
        #expect(await queue.next()?.key == .poll, "no second drift item from the burst")
    }

    @Test func aWaitingConsumerGetsTheNextItemAndShutDownEndsIt() async throws {
        let queue = WorkQueue<Key>()
        async let waited = queue.next()
        try await Task.sleep(for: .milliseconds(50))
        queue.add(.poll, reason: "webhook")
        #expect(await waited?.key == .poll)
        async let ended = queue.next()
        try await Task.sleep(for: .milliseconds(50))
        queue.shutDown()
        #expect(await ended == nil)
        queue.add(.poll, reason: "late")
        #expect(await queue.next() == nil, "nothing after shutdown")
    }
}
