import Foundation

/// A counter many threads may read and advance (steps ended in an apply, turns over connections).
public final class LockedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0

    public init() {}

    public var value: Int {
        lock.withLock { count }
    }

    /// Adds one and returns the new value.
    public func increment() -> Int {
        lock.withLock {
            count &+= 1
            return count
        }
    }
}
