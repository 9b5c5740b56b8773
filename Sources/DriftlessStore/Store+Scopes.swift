import DriftlessCore
import Foundation
import GRDB

/// What the HTTP API needs to authorise run records by project: the project of each journal line and of
/// each plan diagnostic, kept as columns when they are written, never recovered from display text.
extension Store {
    /// A run with what its API answers are made of.
    public struct RunRecord: Sendable {
        public var run: Run
        /// The plan as JSON (`PlanRenderer.json`), for runs that reached the hosts.
        public var planJSON: String?
        /// For each diagnostic of the plan, its project (nil: cloud-wide); nil for runs recorded before
        /// projects were kept (their diagnostics count as cloud-wide).
        public var diagnosticProjects: [String?]?
        /// The detail as every user may see it (see `finishRun`).
        public var publicDetail: String?
    }

    /// The final phases of a run's steps, counted.
    public struct StepCounts: Sendable, Equatable {
        public var succeeded = 0
        public var failed = 0
        public var skipped = 0

        public init(succeeded: Int = 0, failed: Int = 0, skipped: Int = 0) {
            self.succeeded = succeeded
            self.failed = failed
            self.skipped = skipped
        }
    }

    static func registerScopes(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v8: journal project and run scopes") { db in
            try db.alter(table: "journal") { t in t.add(column: "project", .text) }
            try db.alter(table: "run") { t in
                t.add(column: "diagnostic_projects", .text)
                t.add(column: "public_detail", .text)
            }
            // Lines written before the column existed carry their project only in the display key: read
            // it from there once, here, and never again.
            for action in try String.fetchAll(db, sql: "SELECT DISTINCT action FROM journal") {
                if let project = legacyProject(ofStepKey: action) {
                    try db.execute(sql: "UPDATE journal SET project = ? WHERE action = ?", arguments: [project, action])
                }
            }
        }
    }

    /// The project of a step key written before v8 (`create-instance shop/web-1@local`, `ports a/x,a/y@local`):
    /// the one project every object of the key belongs to; nil for cloud-wide keys (a public image, a port
    /// name, objects of several projects).
    static func legacyProject(ofStepKey key: String) -> String? {
        let parts = key.split(separator: " ", maxSplits: 1)
        guard parts.count == 2 else { return nil }
        var subject = parts[1]
        if let at = subject.lastIndex(of: "@") { subject = subject[..<at] }
        let projects = Set(subject.split(separator: ",").map { item -> String? in
            guard let slash = item.firstIndex(of: "/"), slash > item.startIndex else { return nil }
            return String(item[..<slash])
        })
        guard projects.count == 1, let only = projects.first else { return nil }
        return only
    }

    /// A run by id, with its plan and scopes.
    public func runRecord(_ id: Int64) throws -> RunRecord? {
        try queue.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM run WHERE id = ?", arguments: [id]).map(Self.record(from:))
        }
    }

    /// The most recent runs with their plans and scopes, newest first.
    public func runRecords(limit: Int = 20) throws -> [RunRecord] {
        try queue.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM run ORDER BY id DESC LIMIT ?", arguments: [limit]).map(Self.record(from:))
        }
    }

    /// The final phases of the steps of `runs`, counted per run; only the steps of `projects` when it is
    /// given (nil: every step, cloud-wide ones included).
    public func stepCounts(runs: [Int64], projects: Set<String>?) throws -> [Int64: StepCounts] {
        guard !runs.isEmpty else { return [:] }
        if let projects, projects.isEmpty { return [:] }
        var sql = "SELECT run_id, phase, COUNT(*) AS n FROM journal WHERE run_id IN (\(databaseQuestionMarks(count: runs.count)))"
        sql += " AND phase IN ('succeeded', 'failed', 'skipped')"
        var arguments = StatementArguments(runs)
        if let projects {
            sql += " AND project IN (\(databaseQuestionMarks(count: projects.count)))"
            arguments += StatementArguments(projects.sorted())
        }
        sql += " GROUP BY run_id, phase"
        return try queue.read { db in
            var counts: [Int64: StepCounts] = [:]
            for row in try Row.fetchAll(db, sql: sql, arguments: arguments) {
                let run: Int64 = row["run_id"], n: Int = row["n"]
                switch row["phase"] as String {
                case "succeeded": counts[run, default: StepCounts()].succeeded += n
                case "failed": counts[run, default: StepCounts()].failed += n
                default: counts[run, default: StepCounts()].skipped += n
                }
            }
            return counts
        }
    }

    static func record(from row: Row) -> RunRecord {
        let projects: String? = row["diagnostic_projects"]
        return RunRecord(run: run(from: row), planJSON: row["plan_json"],
                         diagnosticProjects: projects.flatMap { try? JSONDecoder().decode([String?].self, from: Data($0.utf8)) },
                         publicDetail: row["public_detail"])
    }
}
