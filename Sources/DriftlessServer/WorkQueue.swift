import Foundation

/// The daemon's work queue, level-based like controller-runtime's: it holds keys (what to do), not
/// events (why), so a burst of triggers is one item, and it holds at most `capacity` distinct keys.
///
/// - Adding a key that is already waiting merges its reason into the waiting item; adding a key while it
///   is being processed queues it once more (the state may have changed since the item read it).
/// - Adding a new key while `capacity` keys wait is refused (`add` returns false): the daemon's own keys
///   always fit, and a caller with a key of its own (a plan asked for over the API) is told to come back.
/// - Bursts are absorbed before the queue (`debounce` on the event stream), not by delays in it.
/// - One consumer calls `next()`; after `shutDown()` it returns nil and adds are ignored.
final class WorkQueue<Key: Hashable & Sendable>: @unchecked Sendable {
    /// An item handed to the consumer: the key and why it was asked for (at most `maxReasons`).
    struct Item: Sendable {
        var key: Key
        var reasons: [String]
        /// How many triggers this item stands for.
        var triggers: Int
    }

    static var maxReasons: Int { 8 }

    /// The most distinct keys that may wait at once.
    let capacity: Int

    private let lock = NSLock()
    private var order: [Key] = []
    private var waiting: [Key: Item] = [:]
    private var consumer: CheckedContinuation<Item?, Never>?
    private var closed = false

    init(capacity: Int = 64) {
        self.capacity = max(1, capacity)
    }

    /// Items waiting (never more than `capacity`).
    var count: Int { lock.withLock { order.count } }

    /// Whether the consumer is waiting in `next()` (for tests).
    var hasWaitingConsumer: Bool { lock.withLock { consumer != nil } }

    /// Asks for `key`; merges into the waiting item when there is one. False when the queue is full or
    /// shut down (nothing was added).
    @discardableResult
    func add(_ key: Key, reason: String) -> Bool {
        add(Item(key: key, reasons: [reason], triggers: 1))
    }

    private func add(_ item: Item) -> Bool {
        let (added, resume): (Bool, (CheckedContinuation<Item?, Never>, Item)?) = lock.withLock {
            guard !closed else { return (false, nil) }
            if let consumer {
                // The consumer waits, so nothing is queued: hand the item over directly.
                self.consumer = nil
                return (true, (consumer, item))
            }
            if var existing = waiting[item.key] {
                Self.merge(&existing, item)
                waiting[item.key] = existing
            } else {
                guard order.count < capacity else { return (false, nil) }
                waiting[item.key] = item
                order.append(item.key)
            }
            return (true, nil)
        }
        if let (consumer, item) = resume { consumer.resume(returning: item) }
        return added
    }

    /// The next item, in the order keys were first asked for; nil once shut down.
    func next() async -> Item? {
        await withCheckedContinuation { (continuation: CheckedContinuation<Item?, Never>) in
            let ready: Item?? = lock.withLock {
                if !order.isEmpty {
                    let key = order.removeFirst()
                    return waiting.removeValue(forKey: key)
                }
                if closed { return .some(nil) }
                consumer = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    /// Stops the queue: a waiting `next()` returns nil, and so does every later one.
    func shutDown() {
        let waiter: CheckedContinuation<Item?, Never>? = lock.withLock {
            closed = true
            order.removeAll()
            waiting.removeAll()
            defer { consumer = nil }
            return consumer
        }
        waiter?.resume(returning: nil)
    }

    private static func merge(_ item: inout Item, _ other: Item) {
        item.triggers += other.triggers
        for reason in other.reasons where item.reasons.count < maxReasons && !item.reasons.contains(reason) {
            item.reasons.append(reason)
        }
    }
}
