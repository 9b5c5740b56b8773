import Foundation

/// The daemon's work queue, level-based like controller-runtime's: it holds keys (what to do), not
/// events (why), so it is bounded by the number of keys and a burst of triggers is one item.
///
/// - Adding a key that is already waiting merges its reason into the waiting item; adding a key while it
///   is being processed queues it once more (the state may have changed since the item read it).
/// - `add(_:reason:after:)` waits before adding, and absorbs every add of the same key meanwhile
///   (a burst of host events is one drift check, some milliseconds later).
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

    private let lock = NSLock()
    private var order: [Key] = []
    private var waiting: [Key: Item] = [:]
    private var delayed: [Key: Item] = [:]
    private var consumer: CheckedContinuation<Item?, Never>?
    private var closed = false

    /// Items waiting (never more than the number of distinct keys).
    var count: Int { lock.withLock { order.count } }

    /// Asks for `key`; merges into the waiting item when there is one.
    func add(_ key: Key, reason: String) {
        add(Item(key: key, reasons: [reason], triggers: 1))
    }

    /// Asks for `key` after `delay`; adds of the same key meanwhile join it.
    func add(_ key: Key, reason: String, after delay: Duration) {
        let start: Bool = lock.withLock {
            guard !closed else { return false }
            if var item = delayed[key] {
                Self.merge(&item, Item(key: key, reasons: [reason], triggers: 1))
                delayed[key] = item
                return false
            }
            delayed[key] = Item(key: key, reasons: [reason], triggers: 1)
            return true
        }
        guard start else { return }
        Task {
            try? await Task.sleep(for: delay)
            guard let item = lock.withLock({ delayed.removeValue(forKey: key) }) else { return }
            add(item)
        }
    }

    private func add(_ item: Item) {
        let resume: (CheckedContinuation<Item?, Never>, Item)? = lock.withLock {
            guard !closed else { return nil }
            if let consumer {
                // The consumer waits, so nothing is queued: hand the item over directly.
                self.consumer = nil
                return (consumer, item)
            }
            if var existing = waiting[item.key] {
                Self.merge(&existing, item)
                waiting[item.key] = existing
            } else {
                waiting[item.key] = item
                order.append(item.key)
            }
            return nil
        }
        if let (consumer, item) = resume { consumer.resume(returning: item) }
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
            delayed.removeAll()
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
