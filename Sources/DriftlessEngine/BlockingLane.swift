import DriftlessCore
import Foundation

/// A serial lane for blocking work that must not hold a Swift cooperative thread or an actor: git fetches,
/// reading and validating a commit. One at a time (they share one fetch cache), each within a time limit.
///
/// A call that overruns its limit throws `Timeout` at once; its work goes on in the lane (libgit2 cannot be
/// interrupted), and the next call waits behind it, so two fetches never run at once.
public final class BlockingLane: Sendable {
    /// The work did not finish within its limit.
    public struct Timeout: Error, ClassifiedError, CustomStringConvertible {
        public var what: String
        public var limit: Duration

        /// Retryable: a slow remote may answer next time.
        public var failureKind: FailureKind { .transient }
        public var description: String { "\(what) did not finish within \(limit.tenthsDescription)" }
    }

    private let queue: DispatchQueue

    public init(label: String) {
        queue = DispatchQueue(label: label)
    }

    /// Runs `body` in the lane; nil `timeout` waits as long as it takes.
    public func run<T: Sendable>(_ what: String, timeout: Duration?, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let once = ResumeOnce(continuation)
            queue.async { once.resume(with: Result { try body() }) }
            if let timeout {
                DispatchQueue.global().asyncAfter(deadline: .now() + timeout.inSeconds) {
                    once.resume(with: .failure(Timeout(what: what, limit: timeout)))
                }
            }
        }
    }
}

/// Resumes a continuation the first time only.
final class ResumeOnce<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var continuation: CheckedContinuation<T, any Error>?

    init(_ continuation: CheckedContinuation<T, any Error>) {
        self.continuation = continuation
    }

    func resume(with result: Result<T, any Error>) {
        let taken: CheckedContinuation<T, any Error>? = lock.withLock {
            defer { continuation = nil }
            return continuation
        }
        taken?.resume(with: result)
    }
}
