import DriftlessCore
import Foundation
import GRDB

/// The embedded SQLite store: what cannot live on the hosts (IP allocations today; run history, the
/// apply journal and the last applied commit as the engine grows).
///
/// One file, `driftless.sqlite`, in the state directory. Safe to share between tasks: GRDB's
/// `DatabaseQueue` serialises access.
public final class Store: Sendable {
    let queue: DatabaseQueue
    public let path: String

    /// Opens (creating if needed) the store in `stateDirectory` and migrates it to the current schema.
    public init(stateDirectory: String) throws {
        try StateDirectory.prepare(stateDirectory)
        path = (stateDirectory as NSString).appendingPathComponent("driftless.sqlite")
        // SQLite gives the -wal and -shm files the main file's mode, so 0600 here keeps all three private.
        try StateDirectory.securePrivateFile(path)
        for suffix in ["-wal", "-shm"] where FileManager.default.fileExists(atPath: path + suffix) {
            try StateDirectory.securePrivateFile(path + suffix)
        }
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        queue = try DatabaseQueue(path: path, configuration: configuration)
        try queue.writeWithoutTransaction { db in
            _ = try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL")
        }
        // Two processes opening a new state directory at once would both see the schema unmigrated
        // and both run the same ALTER; the second fails. A blocking flock around migrating makes the
        // second wait and then find nothing to do.
        let schemaLock = try StateDirectory.openPrivateFile(
            (stateDirectory as NSString).appendingPathComponent("driftless.schema.lock"))
        defer { close(schemaLock) }
        while flock(schemaLock, LOCK_EX) != 0 {
            guard errno == EINTR else {
                throw StateDirectory.Failure(description: "cannot lock the schema of \(path): \(String(cString: strerror(errno)))")
            }
        }
        try Self.migrator.migrate(queue)
    }

    /// An in-memory store, for tests.
    public init(inMemory: Void = ()) throws {
        path = ":memory:"
        queue = try DatabaseQueue()
        try Self.migrator.migrate(queue)
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: ip allocations") { db in
            try db.create(table: "ip_allocation") { t in
                t.column("owner", .text).notNull().primaryKey()
                t.column("project", .text).notNull()
                t.column("network", .text).notNull()
                t.column("address", .integer).notNull()
                t.column("fixed", .boolean).notNull()
                t.uniqueKey(["project", "network", "address"])
            }
        }
        migrator.registerMigration("v2: volume ownership") { db in
            try db.create(table: "volume_owner") { t in
                t.column("host", .text).notNull()
                t.column("pool", .text).notNull()
                t.column("volume", .text).notNull()
                t.column("kind", .text).notNull()
                t.column("project", .text)
                t.column("name", .text).notNull()
                t.primaryKey(["host", "pool", "volume"])
            }
        }
        registerJournal(&migrator)
        migrator.registerMigration("v5: pending volumes") { db in
            try db.alter(table: "volume_owner") { t in
                t.add(column: "pending", .boolean).notNull().defaults(to: false)
            }
        }
        migrator.registerMigration("v6: installation id") { db in
            try db.create(table: "setting") { t in
                t.column("key", .text).notNull().primaryKey()
                t.column("value", .text).notNull()
            }
            try db.execute(sql: "INSERT INTO setting (key, value) VALUES ('installation_id', ?)",
                           arguments: [UUID().uuidString.lowercased()])
        }
        registerTokens(&migrator)
        registerScopes(&migrator)
        registerStepColumns(&migrator)
        return migrator
    }
}

extension Store {
    /// This state directory's identity, made once: recorded as the owner on every domain and port it
    /// makes, so that two state directories driving the same host never prune each other's objects.
    public func installationID() throws -> String {
        try queue.read { db in
            try String.fetchOne(db, sql: "SELECT value FROM setting WHERE key = 'installation_id'") ?? ""
        }
    }
}

extension Store: VolumeOwnership {
    public func owner(host: String, pool: String, volume: String) throws -> ObjectID? {
        try queue.read { db in
            try Row.fetchOne(db, sql: "SELECT kind, project, name FROM volume_owner WHERE host = ? AND pool = ? AND volume = ? AND NOT pending",
                             arguments: [host, pool, volume]).flatMap(Self.objectID)
        }
    }

    public func volumes(host: String, pool: String) throws -> [String: ObjectID] {
        try volumes(host: host, pool: pool, pending: false)
    }

    public func pendingVolumes(host: String, pool: String) throws -> [String: ObjectID] {
        try volumes(host: host, pool: pool, pending: true)
    }

    func volumes(host: String, pool: String, pending: Bool) throws -> [String: ObjectID] {
        try queue.read { db in
            var result: [String: ObjectID] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT volume, kind, project, name FROM volume_owner WHERE host = ? AND pool = ? AND pending = ?",
                                        arguments: [host, pool, pending]) {
                if let id = Self.objectID(row) { result[row["volume"]] = id }
            }
            return result
        }
    }

    public func record(host: String, pool: String, volume: String, owner: ObjectID) throws {
        try record(host: host, pool: pool, volume: volume, owner: owner, pending: false)
    }

    public func recordPending(host: String, pool: String, volume: String, owner: ObjectID) throws {
        try record(host: host, pool: pool, volume: volume, owner: owner, pending: true)
    }

    func record(host: String, pool: String, volume: String, owner: ObjectID, pending: Bool) throws {
        try queue.write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO volume_owner (host, pool, volume, kind, project, name, pending) VALUES (?, ?, ?, ?, ?, ?, ?)",
                arguments: [host, pool, volume, owner.kind.rawValue, owner.project, owner.name, pending])
        }
    }

    public func forget(host: String, pool: String, volume: String) throws {
        try queue.write { db in
            try db.execute(sql: "DELETE FROM volume_owner WHERE host = ? AND pool = ? AND volume = ?", arguments: [host, pool, volume])
        }
    }

    static func objectID(_ row: Row) -> ObjectID? {
        guard let kind = Kind(rawValue: row["kind"]) else { return nil }
        return ObjectID(kind, project: row["project"], row["name"])
    }
}

extension Store: IPAllocationStore {
    public func loadAllocations() throws -> [IPAllocation] {
        try queue.read { db in
            try Row.fetchAll(db, sql: "SELECT owner, address, fixed FROM ip_allocation ORDER BY owner").compactMap { row in
                guard let owner = NICOwner(key: row["owner"]) else { return nil }
                let address: Int64 = row["address"]
                return IPAllocation(owner: owner, address: IPv4Address(UInt32(truncatingIfNeeded: address)), isFixed: row["fixed"])
            }
        }
    }

    public func saveAllocations(_ allocations: [IPAllocation]) throws {
        try queue.write { db in
            try db.execute(sql: "DELETE FROM ip_allocation")
            let statement = try db.makeStatement(
                sql: "INSERT INTO ip_allocation (owner, project, network, address, fixed) VALUES (?, ?, ?, ?, ?)")
            for allocation in allocations {
                try statement.execute(arguments: [
                    allocation.owner.key, allocation.owner.project, allocation.owner.network,
                    Int64(allocation.address.value), allocation.isFixed,
                ])
            }
        }
    }
}
