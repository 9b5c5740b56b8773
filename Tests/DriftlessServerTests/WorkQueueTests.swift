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

    /// New keys beyond the capacity are refused; keys already waiting still merge.
    @Test func theQueueIsBounded() async throws {
        let queue = WorkQueue<Int>(capacity: 3)
        #expect(queue.add(1, reason: "a") && queue.add(2, reason: "b") && queue.add(3, reason: "c"))
        #expect(!queue.add(4, reason: "d"), "a fourth key is refused")
        #expect(queue.add(2, reason: "again"), "a waiting key merges")
        #expect(queue.count == 3)
        #expect(await queue.next()?.key == 1)
        #expect(queue.add(4, reason: "d"), "room again")
    }

    @Test func aWaitingConsumerGetsTheNextItemAndShutDownEndsIt() async throws {
        let queue = WorkQueue<Key>()
        async let waited = queue.next()
        await until { queue.hasWaitingConsumer }
        queue.add(.poll, reason: "webhook")
        #expect(await waited?.key == .poll)
        async let ended = queue.next()
        await until { queue.hasWaitingConsumer }
        queue.shutDown()
        #expect(await ended == nil)
        queue.add(.poll, reason: "late")
        #expect(await queue.next() == nil, "nothing after shutdown")
    }
}

/// Waits, yielding, until `condition` holds: a condition, not a guessed sleep.
func until(_ condition: () -> Bool) async {
    while !condition() { await Task.yield() }
}
