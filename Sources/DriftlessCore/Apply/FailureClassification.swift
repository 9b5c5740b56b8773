/// An error that says for itself whether waiting helps (`DriverError`s do, and so do the engine's own).
public protocol ClassifiedError: Error {
    var failureKind: FailureKind { get }
}

/// Marks an error as needing a person: retrying will not help (controller-runtime's `TerminalError`).
public struct TerminalError: ClassifiedError, CustomStringConvertible {
    public var underlying: any Error

    public init(_ underlying: any Error) {
        self.underlying = underlying
    }

    public var failureKind: FailureKind { .terminal }
    public var description: String { "\(underlying)" }
}

extension FailureKind {
    /// The one classification of an error, used by the applier (retry a step?) and by the daemon (retry the
    /// run with backoff, or wait for a new commit?). An error that does not classify itself is
    /// `.transient`: an unknown error is worth another try, and only a known one is allowed to stop the
    /// loop until a person acts.
    public static func of(_ error: any Error) -> FailureKind {
        if let error = error as? any DriverError { return error.failureKind }
        if let error = error as? any ClassifiedError { return error.failureKind }
        return .transient
    }
}
