import DriftlessCore
import Foundation
import GRDB

/// Run history and the journal of an apply: every action is recorded before and after it runs, so a run
/// killed at any point leaves a record of what was in flight for the next run to re-observe.
extension Store {
    /// A run of plan/apply/drift, as kept in the history.
    public struct Run: Sendable, Equatable, Codable {
        public var id: Int64
        public var kind: RunKind
        public var commit: String?
        public var startedAt: Date
        public var finishedAt: Date?
        /// How the run ended; nil while it runs.
        public var result: RunResult?
        /// The repository and manifest directory the commit was read from.
        public var repository: String?
        public var path: String?
        /// The plan's header line.
        public var summary: String?
        /// A one-line outcome ("12 succeeded, 1 failed, 2 skipped") or why the run failed.
        public var detail: String?
    }

    /// One journal line of a run.
    public struct JournalEntry: Sendable, Equatable, Codable {
        /// The step's display key (`create-instance shop/web@local`), for people.
        public var action: String
        public var phase: StepPhase
        public var detail: String?
        public var at: Date
        /// The project of the step's objects; nil for cloud-wide steps (public images, ports of several
        /// projects). What the HTTP API authorises a line by, never by reading `action`.
        public var project: String?
        /// What the step does (`StepKind`'s raw value) and the object it is about (`ApplyStep.name`);
        /// columns since v9, nil for lines that predate them and could not be read back.
        public var kind: String?
        public var name: String?
    }

    /// The phases after which a step does nothing more; any other (`started`, `retrying`) means in flight.
    public static let finalPhases: Set<String> = ["succeeded", "failed", "skipped"]

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
        migrator.registerMigration("v4: run details") { db in
            try db.alter(table: "run") { t in
                t.add(column: "repository", .text)
                t.add(column: "path", .text)
                t.add(column: "summary", .text)
                t.add(column: "detail", .text)
                t.add(column: "plan_json", .text)
            }
        }
    }

    /// v9: the journal carries each step's kind and name as columns. Older lines get them from their key
    /// (`kind subject@host`) once, here, for the kinds this version knows; nothing reads keys afterwards.
    static func registerStepColumns(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v9: journal step kind and name") { db in
            try db.alter(table: "journal") { t in
                t.add(column: "step_kind", .text)
                t.add(column: "name", .text)
            }
            for action in try String.fetchAll(db, sql: "SELECT DISTINCT action FROM journal") {
                guard let (kind, name) = legacyStep(ofKey: action) else { continue }
                try db.execute(sql: "UPDATE journal SET step_kind = ?, name = ? WHERE action = ?", arguments: [kind, name, action])
            }
        }
    }

    /// The kind and name of a step key written before v9; nil when it is not one this version wrote.
    static func legacyStep(ofKey key: String) -> (kind: String, name: String)? {
        guard let space = key.firstIndex(of: " "), let at = key.lastIndex(of: "@"), space < at else { return nil }
        let kind = String(key[..<space])
        guard StepKind(rawValue: kind) != nil else { return nil }
        return (kind, String(key[key.index(after: space)..<at]))
    }

    /// Records the start of a run; returns its id. `diagnosticProjects` names, for each diagnostic of the
    /// plan in `planJSON` in order, the project it belongs to (nil: cloud-wide).
    public func beginRun(kind: RunKind, commit: String?, repository: String? = nil, path: String? = nil,
                         summary: String? = nil, planJSON: String? = nil, diagnosticProjects: [String?]? = nil) throws -> Int64 {
        let projects = try diagnosticProjects.map { String(decoding: try DocumentJSON.compact($0), as: UTF8.self) }
        return try queue.write { db in
            try db.execute(sql: """
                INSERT INTO run (kind, commit_id, started_at, repository, path, summary, plan_json, diagnostic_projects)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [kind, commit, Date(), repository, path, summary, planJSON, projects])
            return db.lastInsertedRowID
        }
    }

    /// Records an action's phase, durably, before returning. `project` is the project of the step's
    /// objects (nil: cloud-wide); `kind` and `name` what the step does and to what (`ApplyStep.kind`, `.name`).
    public func journal(run: Int64, action: String, phase: StepPhase, detail: String? = nil, project: String? = nil,
                        kind: String? = nil, name: String? = nil) throws {
        try queue.write { db in
            try db.execute(sql: """
                INSERT INTO journal (run_id, action, phase, detail, at, project, step_kind, name) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [run, action, phase, detail, Date(), project, kind, name])
        }
    }

    /// `journal`, for async callers: the durable write (`synchronous = FULL`, an fsync per step) runs on
    /// GRDB's writer queue while the caller suspends, not on a cooperative thread.
    public func journal(run: Int64, action: String, phase: StepPhase, detail: String? = nil, project: String? = nil,
                        kind: String? = nil, name: String? = nil) async throws {
        try await queue.write { db in
            try db.execute(sql: """
                INSERT INTO journal (run_id, action, phase, detail, at, project, step_kind, name) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [run, action, phase, detail, Date(), project, kind, name])
        }
    }

    /// Records the end of a run. `publicDetail` is a version of `detail` that names no project's objects,
    /// shown to every user of the API (a history rewrite names only commits); without it, users who are
    /// not cloud admins see counts over their own steps, or nothing.
    public func finishRun(_ run: Int64, result: RunResult, detail: String? = nil, publicDetail: String? = nil) throws {
        try queue.write { db in
            try db.execute(sql: """
                UPDATE run SET finished_at = ?, result = ?, detail = COALESCE(?, detail), public_detail = COALESCE(?, public_detail)
                WHERE id = ?
                """, arguments: [Date(), result, detail, publicDetail, run])
        }
    }

    /// A run by id, with its plan (JSON) when it had one.
    public func run(_ id: Int64) throws -> (run: Run, planJSON: String?)? {
        try queue.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM run WHERE id = ?", arguments: [id]).map { (Self.run(from: $0), $0["plan_json"]) }
        }
    }

    /// Every journal line of a run, in order.
    public func journalEntries(run: Int64) throws -> [JournalEntry] {
        try queue.read { db in
            try Row.fetchAll(db, sql: "SELECT action, phase, detail, at, project, step_kind, name FROM journal WHERE run_id = ? ORDER BY rowid",
                             arguments: [run]).map {
                JournalEntry(action: $0["action"], phase: $0["phase"], detail: $0["detail"], at: $0["at"], project: $0["project"],
                             kind: $0["step_kind"], name: $0["name"])
            }
        }
    }

    static func run(from row: Row) -> Run {
        Run(id: row["id"], kind: row["kind"], commit: row["commit_id"], startedAt: row["started_at"],
            finishedAt: row["finished_at"], result: row["result"], repository: row["repository"], path: row["path"],
            summary: row["summary"], detail: row["detail"])
    }

    /// Actions started but never finished in runs that never finished (killed mid-apply), and marks those
    /// runs interrupted: the next run re-observes these objects instead of trusting any record.
    ///
    /// A step is in flight when no line of it has a final phase (`finalPhases`), whatever its last line
    /// says: `started`, `retrying` between attempts, or any phase a later version adds.
    public func recoverInterruptedRuns() throws -> [InterruptedAction] {
        try queue.write { db in
            let finals = Self.finalPhases.sorted().map { "'\($0)'" }.joined(separator: ", ")
            let rows = try Row.fetchAll(db, sql: """
                SELECT j.run_id, j.action, MIN(j.rowid) AS first FROM journal j JOIN run r ON r.id = j.run_id
                WHERE r.finished_at IS NULL AND NOT EXISTS (
                    SELECT 1 FROM journal k WHERE k.run_id = j.run_id AND k.action = j.action AND k.phase IN (\(finals)))
                GROUP BY j.run_id, j.action
                ORDER BY j.run_id, first
                """)
            try db.execute(sql: "UPDATE run SET finished_at = ?, result = 'interrupted' WHERE finished_at IS NULL",
                           arguments: [Date()])
            return rows.map { InterruptedAction(run: $0["run_id"], action: $0["action"]) }
        }
    }

    /// The most recent runs, newest first.
    public func history(limit: Int = 20) throws -> [Run] {
        try queue.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM run ORDER BY id DESC LIMIT ?", arguments: [limit]).map(Self.run(from:))
        }
    }

    /// The commit of the last apply that succeeded.
    public func lastAppliedCommit() throws -> String? {
        try lastAppliedRun()?.commit
    }

    /// The last apply that succeeded.
    public func lastAppliedRun() throws -> Run? {
        try queue.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM run WHERE kind = 'apply' AND result = 'succeeded' ORDER BY id DESC LIMIT 1")
                .map(Self.run(from:))
        }
    }
}
