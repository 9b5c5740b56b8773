import Crypto
import DriftlessCore
import Foundation
import GRDB

/// API tokens: only a hash is kept; the token itself is shown once, when it is made.
extension Store {
    public struct TokenRecord: Sendable, Equatable, Codable {
        public var id: String
        public var user: String
        public var createdAt: Date
    }

    static func registerTokens(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v7: tokens and drift") { db in
            try db.create(table: "token") { t in
                t.column("id", .text).notNull().primaryKey()
                t.column("hash", .text).notNull().unique()
                t.column("user", .text).notNull()
                t.column("created_at", .datetime).notNull()
            }
            try db.create(table: "drift_item") { t in
                t.column("key", .text).notNull().primaryKey()
                t.column("item_json", .text).notNull()
                t.column("first_seen", .datetime).notNull()
                t.column("last_seen", .datetime).notNull()
            }
            try db.create(table: "drift_check") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("commit_id", .text)
                t.column("checked_at", .datetime).notNull()
                t.column("report_json", .text).notNull()
            }
        }
    }

    /// Makes a token for `user`: returns it (shown once, never stored) and its record.
    public func createToken(user: String) throws -> (token: String, record: TokenRecord) {
        var random = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &random) }
        let token = "dl_" + Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        let record = TokenRecord(id: Self.tokenID(token), user: user, createdAt: Date())
        try queue.write { db in
            try db.execute(sql: "INSERT INTO token (id, hash, user, created_at) VALUES (?, ?, ?, ?)",
                           arguments: [record.id, Self.tokenHash(token), user, record.createdAt])
        }
        return (token, record)
    }

    /// The user a token belongs to, or nil for an unknown token.
    public func tokenUser(_ token: String) throws -> String? {
        try queue.read { db in
            try String.fetchOne(db, sql: "SELECT user FROM token WHERE hash = ?", arguments: [Self.tokenHash(token)])
        }
    }

    /// The user of the token with this id (what `token list` shows), nil once it is revoked: a dashboard
    /// session remembers the id, never the token, and ends when the token is revoked.
    public func tokenUser(id: String) throws -> String? {
        try queue.read { db in
            try String.fetchOne(db, sql: "SELECT user FROM token WHERE id = ?", arguments: [id])
        }
    }

    /// A token's id: the first 12 hex digits of its SHA-256.
    public static func tokenID(_ token: String) -> String {
        String(StableHash.sha256Hex(token).prefix(12))
    }

    public func tokens() throws -> [TokenRecord] {
        try queue.read { db in
            try Row.fetchAll(db, sql: "SELECT id, user, created_at FROM token ORDER BY created_at").map {
                TokenRecord(id: $0["id"], user: $0["user"], createdAt: $0["created_at"])
            }
        }
    }

    /// Revokes a token by its id; returns whether one was revoked.
    public func revokeToken(id: String) throws -> Bool {
        try queue.write { db in
            try db.execute(sql: "DELETE FROM token WHERE id = ?", arguments: [id])
            return db.changesCount > 0
        }
    }

    /// SHA-256 of the token: tokens are 256 random bits, so a fast hash is enough (no password stretching).
    static func tokenHash(_ token: String) -> String {
        StableHash.sha256Hex(token)
    }
}

/// Drift reports: the latest check, each item with when it was first seen.
extension Store {
    /// Records a drift check: keeps `firstSeen` of items seen before, drops items gone, and returns the
    /// report with first-seen times and the items that are new since the last check.
    public func recordDrift(_ report: DriftReport) throws -> (report: DriftReport, new: [DriftReport.Item]) {
        try queue.write { db in
            var seen: [String: Date] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT key, first_seen FROM drift_item") { seen[row["key"]] = row["first_seen"] }
            var updated = report
            var new: [DriftReport.Item] = []
            var keys = Set<String>()
            for index in updated.items.indices {
                let key = updated.items[index].key
                keys.insert(key)
                if let first = seen[key] {
                    updated.items[index].firstSeen = first
                } else {
                    updated.items[index].firstSeen = report.checkedAt
                    new.append(updated.items[index])
                }
                try db.execute(sql: """
                    INSERT INTO drift_item (key, item_json, first_seen, last_seen) VALUES (?, ?, ?, ?)
                    ON CONFLICT(key) DO UPDATE SET item_json = excluded.item_json, last_seen = excluded.last_seen
                    """, arguments: [key, String(decoding: try DocumentJSON.compact(updated.items[index]), as: UTF8.self),
                                     updated.items[index].firstSeen, report.checkedAt])
            }
            for key in seen.keys where !keys.contains(key) {
                try db.execute(sql: "DELETE FROM drift_item WHERE key = ?", arguments: [key])
            }
            try db.execute(sql: "INSERT INTO drift_check (commit_id, checked_at, report_json) VALUES (?, ?, ?)",
                           arguments: [report.commit, report.checkedAt, String(decoding: try DocumentJSON.compact(updated), as: UTF8.self)])
            try db.execute(sql: "DELETE FROM drift_check WHERE id NOT IN (SELECT id FROM drift_check ORDER BY id DESC LIMIT 100)")
            return (updated, new)
        }
    }

    /// The latest drift report, if a check ran.
    public func latestDrift() throws -> DriftReport? {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try queue.read { db in
            try String.fetchOne(db, sql: "SELECT report_json FROM drift_check ORDER BY id DESC LIMIT 1")
                .map { try decoder.decode(DriftReport.self, from: Data($0.utf8)) }
        }
    }
}
