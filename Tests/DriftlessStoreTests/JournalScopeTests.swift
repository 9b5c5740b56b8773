import Foundation
import DriftlessCore
import GRDB
import Testing

@testable import DriftlessStore

/// Crash recovery over every phase a step can be killed in, and the project kept with each journal line.
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
        try store.journal(run: run, action: "create-volume shop/done@local", phase: "started", project: "shop")
        try store.journal(run: run, action: "create-volume shop/done@local", phase: "succeeded", project: "shop")
        for phase in phases {
            try store.journal(run: run, action: "create-instance shop/a@local", phase: Store.StepPhase(rawValue: phase), project: "shop")
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

    @Test func journalLinesKeepTheirProject() throws {
        let store = try Store(inMemory: ())
        let run = try store.beginRun(kind: "apply", commit: "c1", planJSON: "{}", diagnosticProjects: ["shop", nil])
        try store.journal(run: run, action: "create-instance shop/a@local", phase: "started", project: "shop")
        try store.journal(run: run, action: "create-instance shop/a@local", phase: "succeeded", project: "shop")
        try store.journal(run: run, action: "import-image tiny@local", phase: "started")
        try store.journal(run: run, action: "import-image tiny@local", phase: "failed", detail: "boom")
        try store.journal(run: run, action: "create-instance bank/b@local", phase: "skipped", project: "bank")
        try store.finishRun(run, result: "failed", detail: "1 succeeded, 1 failed, 1 skipped", publicDetail: nil)
        #expect(try store.journalEntries(run: run).map(\.project) == ["shop", "shop", nil, nil, "bank"])
        let record = try #require(try store.runRecord(run))
        #expect(record.diagnosticProjects == ["shop", nil])
        #expect(record.publicDetail == nil)
        #expect(try store.stepCounts(runs: [run], projects: ["shop"])[run] == Store.StepCounts(succeeded: 1))
        #expect(try store.stepCounts(runs: [run], projects: ["shop", "bank"])[run] == Store.StepCounts(succeeded: 1, skipped: 1))
        #expect(try store.stepCounts(runs: [run], projects: nil)[run] == Store.StepCounts(succeeded: 1, failed: 1, skipped: 1))
        #expect(try store.stepCounts(runs: [run], projects: [])[run] == nil)
    }

    /// A database written before v8 (the project only in the display key) gets the column filled once.
    @Test func theMigrationReadsTheProjectOfExistingLinesOnce() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        do {
            let queue = try DatabaseQueue(path: directory + "/driftless.sqlite")
            try Store.migrator.migrate(queue, upTo: "v7: tokens and drift")
            try queue.write { db in
                try db.execute(sql: "INSERT INTO run (id, kind, commit_id, started_at, result) VALUES (1, 'apply', 'c1', ?, 'succeeded')",
                               arguments: [Date()])
                for action in ["create-instance shop/web-1@local", "import-image tiny@local", "import-image shop/private@local",
                               "ports shop/a,shop/b@local", "ports shop/a,bank/b@local", "ports dl0123456789abc@local",
                               "delete-volume bank/v@node-2"] {
                    try db.execute(sql: "INSERT INTO journal (run_id, action, phase, at) VALUES (1, ?, 'succeeded', ?)",
                                   arguments: [action, Date()])
                }
            }
        }
        let store = try Store(stateDirectory: directory)
        let projects = try store.journalEntries(run: 1).map { "\($0.action) → \($0.project ?? "cloud-wide")" }
        #expect(projects == [
            "create-instance shop/web-1@local → shop", "import-image tiny@local → cloud-wide", "import-image shop/private@local → shop",
            "ports shop/a,shop/b@local → shop", "ports shop/a,bank/b@local → cloud-wide", "ports dl0123456789abc@local → cloud-wide",
            "delete-volume bank/v@node-2 → bank",
        ])
        #expect(try store.runRecord(1)?.diagnosticProjects == nil, "plans recorded before v8 have cloud-wide diagnostics")
    }
}

/// Run kinds, results and phases are typed values stored as text: what older versions wrote reads as the
/// same value, what this version does not know reads as `.other`, and journal lines carry kind and name.
@Suite("Typed records")
struct TypedRecordTests {
    @Test func valuesRoundTripAndUnknownOnesAreKept() throws {
        let store = try Store(inMemory: ())
        let run = try store.beginRun(kind: .apply, commit: "c1")
        try store.journal(run: run, action: "create-instance shop/a@local", phase: .started, project: "shop",
                          kind: StepKind.createInstance.rawValue, name: "shop/a")
        try store.journal(run: run, action: "create-instance shop/a@local", phase: Store.StepPhase(rawValue: "paused-by-a-newer-version"))
        try store.finishRun(run, result: .succeeded)
        let entries = try store.journalEntries(run: run)
        #expect(entries.map(\.phase) == [.started, .other("paused-by-a-newer-version")])
        #expect(entries[0].kind == "create-instance" && entries[0].name == "shop/a" && entries[0].project == "shop")
        #expect(try store.history().first?.kind == .apply)
        #expect(try store.history().first?.result == .succeeded)
        #expect(Store.RunResult(rawValue: "drifted") == .drifted)
        #expect(Store.RunKind(rawValue: "plan") == .other("plan"))
    }

    /// Lines journalled before v9 get their kind and name from their key once, in the migration.
    @Test func legacyKeysGiveKindAndName() {
        #expect(Store.legacyStep(ofKey: "create-instance shop/web-1@local")! == ("create-instance", "shop/web-1"))
        #expect(Store.legacyStep(ofKey: "ports a/x,a/y@node-2")! == ("ports", "a/x,a/y"))
        #expect(Store.legacyStep(ofKey: "create Instance shop/a") == nil, "not a key this version wrote")
    }
}
