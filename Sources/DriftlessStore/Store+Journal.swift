import DriftlessCore
import Foundation
import GRDB

/// Run history and the journal of an apply: every action is recorded before and after it runs, so a run
/// killed at any point leaves a record of what was in flight for the next run to re-observe.
extension Store {
    /// A run of plan/apply/drift, as kept in the history.
    public struct Run: Sendable, Equatable {
        public var id: Int64
        public var kind: String
        public var commit: String?
        public var startedAt: Date
        public var finishedAt: Date?
        /// `succeeded`, `failed`, `interrupted`, or nil while running.
        public var result: String?
    }

    /// An action that was started and not finished: the run died under it.
    public struct InterruptedAction: Sendable, Equatable {
        public var run: Int64
        public var action: String
    }

    static func registerJournal(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v3: runs and journal") { db in
            try db.create(table: "run") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("kind", .text).notNull()
                t.column("commit_id", .text)
                t.column("started_at", .datetime).notNull()
                t.column("finished_at", .datetime)
                t.column("result", .text)
            }
            try db.create(table: "journal") { t in
                t.column("run_id", .integer).notNull().references("run", onDelete: .cascade)
                t.column("action", .text).notNull()
                t.column("phase", .text).notNull()  // started | succeeded | failed | skipped
                t.column("detail", .text)
                t.column("at", .datetime).notNull()
            }
            try db.create(index: "journal_by_run", on: "journal", columns: ["run_id", "action"])
        }
    }

    /// Records the start of a run; returns its id.
    public func beginRun(kind: String, commit: String?) throws -> Int64 {
        try queue.write { db in
            try db.execute(sql: "INSERT INTO run (kind, commit_id, started_at) VALUES (?, ?, ?)",
                           arguments: [kind, commit, Date()])
            return db.lastInsertedRowID
        }
    }

    /// Records an action's phase, durably, before returning.
    public func journal(run: Int64, action: String, phase: String, detail: String? = nil) throws {
        try queue.write { db in
            try db.execute(sql: "INSERT INTO journal (run_id, action, phase, detail, at) VALUES (?, ?, ?, ?, ?)",
                           arguments: [run, action, phase, detail, Date()])
        }
    }

    public func finishRun(_ run: Int64, result: String) throws {
        try queue.write { db in
            try db.execute(sql: "UPDATE run SET finished_at = ?, result = ? WHERE id = ?", arguments: [Date(), result, run])
        }
    }

    /// Actions started but never finished in runs that never finished (killed mid-apply), and marks those
    /// runs interrupted: the next run re-observes these objects instead of trusting any record.
    public func recoverInterruptedRuns() throws -> [InterruptedAction] {
        try queue.write { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT j.run_id, j.action FROM journal j JOIN run r ON r.id = j.run_id
                WHERE r.finished_at IS NULL AND j.phase = 'started' AND NOT EXISTS (
                    SELECT 1 FROM journal k WHERE k.run_id = j.run_id AND k.action = j.action AND k.phase != 'started')
                ORDER BY j.run_id, j.rowid
                """)
            try db.execute(sql: "UPDATE run SET finished_at = ?, result = 'interrupted' WHERE finished_at IS NULL",
                           arguments: [Date()])
            return rows.map { InterruptedAction(run: $0["run_id"], action: $0["action"]) }
        }
    }

    /// The most recent runs, newest first.
    public func history(limit: Int = 20) throws -> [Run] {
        try queue.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM run ORDER BY id DESC LIMIT ?", arguments: [limit]).map {
                Run(id: $0["id"], kind: $0["kind"], commit: $0["commit_id"], startedAt: $0["started_at"],
                    finishedAt: $0["finished_at"], result: $0["result"])
            }
        }
    }

    /// The commit of the last apply that succeeded.
    public func lastAppliedCommit() throws -> String? {
        try queue.read { db in
            try String.fetchOne(db, sql: "SELECT commit_id FROM run WHERE kind = 'apply' AND result = 'succeeded' ORDER BY id DESC LIMIT 1")
        }
    }
}
