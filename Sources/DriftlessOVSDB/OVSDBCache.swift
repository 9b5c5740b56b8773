import Foundation

/// What to monitor in one table (RFC 7047 §4.1.5 <monitor-request>).
public struct OVSDBMonitorRequest: Sendable, Hashable {
    /// The columns to watch; `nil` watches all of them.
    public var columns: [String]?

    /// Watches `columns` (all when `nil`) for initial rows, inserts, deletes and modifications.
    public init(columns: [String]? = nil) {
        self.columns = columns
    }

    var json: JSONValue {
        var object: [String: JSONValue] = [
            "select": ["initial": true, "insert": true, "delete": true, "modify": true]
        ]
        if let columns { object["columns"] = .array(columns.map(JSONValue.string)) }
        return .object(object)
    }
}

/// One row's change in the cache, as a daemon sees it.
public struct OVSDBRowChange: Sendable, Hashable {
    /// Whether the row appeared, changed or went away.
    public enum Kind: String, Sendable, Hashable {
        case inserted
        case modified
        case deleted
    }

    /// The table of the row.
    public var table: String
    /// The row's `_uuid`.
    public var uuid: UUID
    /// Whether the row appeared, changed or went away.
    public var kind: Kind
    /// The row before the change (`nil` for inserts).
    public var old: OVSDBRow?
    /// The row after the change (`nil` for deletes).
    public var new: OVSDBRow?
}

/// The client-side replica of the monitored tables: rows by UUID with typed values.
///
/// A value type: a snapshot handed out by the client never changes under
/// the reader. Applying a `<table-updates>` object returns the changes.
public struct OVSDBCache: Sendable {
    /// Rows by table name, then by `_uuid`.
    public private(set) var tables: [String: [UUID: OVSDBRow]] = [:]

    /// Creates an empty cache.
    public init() {}

    /// Every cached row of `table` (empty for an unmonitored table).
    public func rows(in table: String) -> [UUID: OVSDBRow] {
        tables[table] ?? [:]
    }

    /// The cached row `uuid` of `table`, if present.
    public func row(_ uuid: UUID, in table: String) -> OVSDBRow? {
        tables[table]?[uuid]
    }

    /// The rows of `table` whose `column` equals `value`.
    public func rows(in table: String, where column: String, equals value: OVSDBValue) -> [UUID: OVSDBRow] {
        rows(in: table).filter { $0.value[column] == value }
    }

    /// Applies a `<table-updates>` object (a monitor reply or an `update` notification).
    ///
    /// A `new` row replaces the cached row whole (OVSDB sends every monitored
    /// column in `new`); a row update without `new` deletes the row.
    public mutating func apply(
        _ updates: JSONValue, schema: OVSDBDatabaseSchema?
    ) throws -> [OVSDBRowChange] {
        var changes: [OVSDBRowChange] = []
        for (table, rowUpdates) in try Self.decode(updates, schema: schema) {
            var rows = tables[table] ?? [:]
            for (uuid, new) in rowUpdates {
                let old = rows[uuid]
                if let new {
                    rows[uuid] = new
                    if old != new {
                        changes.append(
                            OVSDBRowChange(
                                table: table, uuid: uuid, kind: old == nil ? .inserted : .modified, old: old,
                                new: new))
                    }
                } else if let old {
                    rows[uuid] = nil
                    changes.append(OVSDBRowChange(table: table, uuid: uuid, kind: .deleted, old: old, new: nil))
                }
            }
            tables[table] = rows
        }
        return changes
    }

    /// Replaces `tableNames` wholesale with the rows of a monitor reply and returns the difference.
    ///
    /// Used after a reconnect: whatever changed while the client was away
    /// shows up as ordinary inserted/modified/deleted changes, and nothing is
    /// duplicated.
    public mutating func replace(
        tables tableNames: Set<String>, with updates: JSONValue, schema: OVSDBDatabaseSchema?
    ) throws -> [OVSDBRowChange] {
        let decoded = try Self.decode(updates, schema: schema)
        var changes: [OVSDBRowChange] = []
        for table in tableNames {
            let old = tables[table] ?? [:]
            var fresh: [UUID: OVSDBRow] = [:]
            for (uuid, new) in decoded[table] ?? [:] {
                if let new { fresh[uuid] = new }
            }
            for (uuid, row) in fresh {
                if let before = old[uuid] {
                    if before != row {
                        changes.append(
                            OVSDBRowChange(table: table, uuid: uuid, kind: .modified, old: before, new: row))
                    }
                } else {
                    changes.append(OVSDBRowChange(table: table, uuid: uuid, kind: .inserted, old: nil, new: row))
                }
            }
            for (uuid, row) in old where fresh[uuid] == nil {
                changes.append(OVSDBRowChange(table: table, uuid: uuid, kind: .deleted, old: row, new: nil))
            }
            tables[table] = fresh
        }
        return changes
    }

    /// Decodes `<table-updates>` into table → uuid → new row (`nil` = deleted).
    static func decode(
        _ updates: JSONValue, schema: OVSDBDatabaseSchema?
    ) throws -> [String: [UUID: OVSDBRow?]] {
        guard case .object(let tableMembers) = updates else {
            throw OVSDBDataError("table-updates: expected an object, found \(updates.jsonText)")
        }
        var result: [String: [UUID: OVSDBRow?]] = [:]
        for (table, rowsJSON) in tableMembers {
            guard case .object(let rowMembers) = rowsJSON else {
                throw OVSDBDataError("table-update for \(table): expected an object")
            }
            let tableSchema = schema?.tables[table]
            var rows: [UUID: OVSDBRow?] = [:]
            rows.reserveCapacity(rowMembers.count)
            for (uuidText, rowUpdate) in rowMembers {
                guard let uuid = UUID(uuidString: uuidText) else {
                    throw OVSDBDataError("table-update for \(table): invalid row uuid \"\(uuidText)\"")
                }
                if let newJSON = rowUpdate["new"], !newJSON.isNull {
                    rows[uuid] = .some(try OVSDBRowCoding.row(from: newJSON, table: tableSchema))
                } else {
                    rows[uuid] = .some(nil)
                }
            }
            result[table] = rows
        }
        return result
    }
}
