import DriftlessCore
import Foundation

/// Crash points for the kill-matrix tests: with `DRIFTLESS_FAULT_KILL_AFTER_JOURNAL_WRITES=N` in the
/// environment, the process sends itself SIGKILL right after the Nth journal line of an apply is durable,
/// so a test can stop an apply at every step boundary (before a step runs, after it finished) instead
/// of guessing with timers. Unset (always, outside tests), it does nothing.
enum FaultInjection {
    static let killAfterJournalWrites: Int? = ProcessInfo.processInfo.environment["DRIFTLESS_FAULT_KILL_AFTER_JOURNAL_WRITES"]
        .flatMap { Int($0) }.flatMap { $0 > 0 ? $0 : nil }
    static let journalWrites = LockedCounter()

    /// Called after each journal write; kills the process at the configured count.
    static func journalWritten() {
        guard let limit = killAfterJournalWrites else { return }
        if journalWrites.increment() >= limit {
            kill(getpid(), SIGKILL)
        }
    }
}
