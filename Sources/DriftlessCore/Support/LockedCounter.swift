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

/// A value many threads may read and replace (a setting resolved once and then shared).
public final class LockedValue<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value

    public init(_ value: Value) {
        stored = value
    }

    public var value: Value {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}
