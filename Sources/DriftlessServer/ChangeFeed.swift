import Foundation

/// Tells the dashboard's open pages that something changed: a drift check recorded a report, a run
/// finished. Carries no data (each page fetches itself again, through the same access rules), so a
/// subscriber learns nothing it could not read. Subscribers that fall behind lose old notices, never
/// the newest (`bufferingNewest`), and nothing here blocks the daemon.
public final class ChangeFeed: @unchecked Sendable {
    public enum Change: String, Sendable {
        case drift
        case run
        /// Sent every `heartbeat` so proxies and browsers keep an idle stream open.
        case heartbeat
    }

    private let lock = NSLock()
    private var subscribers: [UUID: AsyncStream<Change>.Continuation] = [:]
    private var finished = false

    public init() {}

    /// A stream of changes from now on; it ends when the feed finishes (the daemon stops).
    public func subscribe() -> AsyncStream<Change> {
        let (stream, continuation) = AsyncStream.makeStream(of: Change.self, bufferingPolicy: .bufferingNewest(8))
        let id = UUID()
        let added = lock.withLock { () -> Bool in
            guard !finished else { return false }
            subscribers[id] = continuation
            return true
        }
        guard added else {
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak self] _ in
            self?.lock.withLock { _ = self?.subscribers.removeValue(forKey: id) }
        }
        return stream
    }

    public func publish(_ change: Change) {
        for continuation in lock.withLock({ Array(subscribers.values) }) { continuation.yield(change) }
    }

    /// Ends every stream, and any made later: open event streams close, so a graceful shutdown does not
    /// wait for browsers.
    public func finish() {
        let all = lock.withLock { () -> [AsyncStream<Change>.Continuation] in
            finished = true
            defer { subscribers.removeAll() }
            return Array(subscribers.values)
        }
        for continuation in all { continuation.finish() }
    }

    /// How many streams are open (tests, and a bound on open streams).
    public var subscriberCount: Int { lock.withLock { subscribers.count } }
}
