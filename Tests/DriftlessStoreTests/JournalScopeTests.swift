import DriftlessStore
import Foundation
import Testing

/// Crash recovery over every phase a step can be killed in.
@Suite("Journal phases and scopes")
struct JournalScopeTests {
    func temporaryDirectory() -> String {
        NSTemporaryDirectory() + "driftless-scope-\(UUID().uuidString)"
    }

    /// The phases a step went through before the process died, and whether the next run must report it.
    static let killedIn: [(phases: [String], interrupted: Bool)] = [
        (["started"], true),
        (["started", "retrying"], true),
        (["started", "retrying", "retrying"], true),
        (["started", "retrying", "started"], true),
        (["started", "waiting-for-a-lock"], true),  // a phase a later version may add: still in flight
        (["retrying"], true),
        (["started", "succeeded"], false),
        (["started", "retrying", "succeeded"], false),
        (["started", "retrying", "failed"], false),
        (["started", "failed"], false),
        (["skipped"], false),
    ]

    @Test(arguments: killedIn.indices)
    func aStepKilledInAnyNonFinalPhaseIsReportedAsInterrupted(_ index: Int) throws {
        let (phases, interrupted) = Self.killedIn[index]
        let store = try Store(inMemory: ())
        let run = try store.beginRun(kind: "apply", commit: "c1")
        try store.journal(run: run, action: "create-volume shop/done@local", phase: "started")
        try store.journal(run: run, action: "create-volume shop/done@local", phase: "succeeded")
        for phase in phases {
            try store.journal(run: run, action: "create-instance shop/a@local", phase: phase)
        }
        // The process dies here: the run is never finished.
        let found = try store.recoverInterruptedRuns().map(\.action)
        #expect(found == (interrupted ? ["create-instance shop/a@local"] : []), "killed after \(phases)")
        #expect(try store.history().first?.result == "interrupted")
    }

    @Test func interruptedStepsAreListedOncePerStepInTheOrderTheyStarted() throws {
        let store = try Store(inMemory: ())
        let run = try store.beginRun(kind: "apply", commit: "c1")
        try store.journal(run: run, action: "b", phase: "started")
        try store.journal(run: run, action: "a", phase: "started")
        try store.journal(run: run, action: "b", phase: "retrying")
        try store.journal(run: run, action: "a", phase: "retrying")
        try store.journal(run: run, action: "b", phase: "retrying")
        #expect(try store.recoverInterruptedRuns().map(\.action) == ["b", "a"])
    }
}
