import Foundation

/// One operation of a `transact` request (RFC 7047 §5.2).
///
/// Build many of them into one `OVSDBTransaction` (or an array) and send
/// them in a single round trip; the server applies all or none.
public enum OVSDBOperation: Sendable, Hashable {
    /// Inserts `row`; `uuidName` lets later operations refer to it as `.namedUUID(uuidName)`.
    case insert(table: String, row: OVSDBRow, uuidName: String?)
    /// Returns the rows matching `where`, projected to `columns` (all when `nil`).
    case select(table: String, where: [OVSDBCondition], columns: [String]?)
    /// Sets the columns of `row` in every row matching `where`.
    case update(table: String, where: [OVSDBCondition], row: OVSDBRow)
    /// Applies `mutations` to every row matching `where`.
    case mutate(table: String, where: [OVSDBCondition], mutations: [OVSDBMutation])
    /// Deletes every row matching `where`.
    case delete(table: String, where: [OVSDBCondition])
    /// Aborts the transaction unless the rows matching `where`, projected to
    /// `columns`, compare `until` to `rows` (within `timeout` milliseconds).
    case wait(
        table: String, where: [OVSDBCondition], columns: [String], until: OVSDBWaitRelation, rows: [OVSDBRow],
        timeout: Int?)
    /// Commits, durably (synced to disk) when asked.
    case commit(durable: Bool)
    /// Aborts the transaction on purpose.
    case abort
    /// Records a comment in the server's transaction log.
    case comment(String)
    /// Aborts unless this session holds the named lock.
    case assert(lock: String)

    /// The RFC's name of the operation (`insert`, `select`, ...).
    public var name: String {
        switch self {
        case .insert: return "insert"
        case .select: return "select"
        case .update: return "update"
        case .mutate: return "mutate"
        case .delete: return "delete"
        case .wait: return "wait"
        case .commit: return "commit"
        case .abort: return "abort"
        case .comment: return "comment"
        case .assert: return "assert"
        }
    }

    /// The table the operation works on, if any.
    public var table: String? {
        switch self {
        case .insert(let table, _, _), .select(let table, _, _), .update(let table, _, _),
            .mutate(let table, _, _), .delete(let table, _), .wait(let table, _, _, _, _, _):
            return table
        case .commit, .abort, .comment, .assert:
            return nil
        }
    }

    /// Encodes the operation, by the database's column types when `schema` is given.
    public func json(schema: OVSDBDatabaseSchema?) throws -> JSONValue {
        let tableSchema: OVSDBTableSchema?
        if let schema, let table {
            tableSchema = try schema.table(table)
        } else {
            tableSchema = nil
        }
        var object: [String: JSONValue] = ["op": .string(name)]
        if let table { object["table"] = .string(table) }
        switch self {
        case .insert(_, let row, let uuidName):
            object["row"] = try OVSDBRowCoding.json(row, table: tableSchema)
            if let uuidName { object["uuid-name"] = .string(uuidName) }
        case .select(_, let conditions, let columns):
            object["where"] = try Self.whereJSON(conditions, table: tableSchema)
            if let columns { object["columns"] = .array(columns.map(JSONValue.string)) }
        case .update(_, let conditions, let row):
            object["where"] = try Self.whereJSON(conditions, table: tableSchema)
            object["row"] = try OVSDBRowCoding.json(row, table: tableSchema)
        case .mutate(_, let conditions, let mutations):
            object["where"] = try Self.whereJSON(conditions, table: tableSchema)
            object["mutations"] = .array(try mutations.map { try $0.json(table: tableSchema) })
        case .delete(_, let conditions):
            object["where"] = try Self.whereJSON(conditions, table: tableSchema)
        case .wait(_, let conditions, let columns, let until, let rows, let timeout):
            object["where"] = try Self.whereJSON(conditions, table: tableSchema)
            object["columns"] = .array(columns.map(JSONValue.string))
            object["until"] = .string(until.rawValue)
            object["rows"] = .array(try rows.map { try OVSDBRowCoding.json($0, table: tableSchema) })
            if let timeout { object["timeout"] = .integer(Int64(timeout)) }
        case .commit(let durable):
            object["durable"] = .bool(durable)
        case .abort:
            break
        case .comment(let text):
            object["comment"] = .string(text)
        case .assert(let lock):
            object["lock"] = .string(lock)
        }
        return .object(object)
    }

    private static func whereJSON(_ conditions: [OVSDBCondition], table: OVSDBTableSchema?) throws -> JSONValue {
        .array(try conditions.map { try $0.json(table: table) })
    }
}

// MARK: - Convenience constructors

extension OVSDBOperation {
    /// Inserts `row` into `table`, naming it `uuidName` for later operations.
    public static func insert(_ table: String, row: OVSDBRow, uuidName: String? = nil) -> OVSDBOperation {
        .insert(table: table, row: row, uuidName: uuidName)
    }

    /// Selects rows of `table` matching every condition (all rows when `where` is empty).
    public static func select(
        _ table: String, where conditions: [OVSDBCondition] = [], columns: [String]? = nil
    ) -> OVSDBOperation {
        .select(table: table, where: conditions, columns: columns)
    }

    /// Waits (zero timeout by default) until `table` has no row matching `where`; aborts otherwise.
    public static func waitAbsent(_ table: String, where conditions: [OVSDBCondition], timeout: Int = 0)
        -> OVSDBOperation
    {
        .wait(table: table, where: conditions, columns: [], until: .equal, rows: [], timeout: timeout)
    }

    /// Waits (zero timeout by default) until `table` has at least one row matching `where`; aborts otherwise.
    public static func waitPresent(_ table: String, where conditions: [OVSDBCondition], timeout: Int = 0)
        -> OVSDBOperation
    {
        .wait(table: table, where: conditions, columns: [], until: .notEqual, rows: [], timeout: timeout)
    }
}

/// The comparison a `wait` operation waits for (RFC 7047 §5.2.6).
public enum OVSDBWaitRelation: String, Sendable, Hashable {
    case equal = "=="
    case notEqual = "!="
}

/// One clause of a `where` array: `[column, function, value]` (RFC 7047 §5.1 <condition>).
public struct OVSDBCondition: Sendable, Hashable {
    /// The comparison functions of RFC 7047.
    public enum Function: String, Sendable, Hashable {
        case equal = "=="
        case notEqual = "!="
        case less = "<"
        case lessOrEqual = "<="
        case greater = ">"
        case greaterOrEqual = ">="
        case includes
        case excludes
    }

    /// The column compared, including `_uuid`.
    public var column: String
    /// How it is compared.
    public var function: Function
    /// The operand.
    public var value: OVSDBValue

    /// Creates a condition.
    public init(_ column: String, _ function: Function, _ value: OVSDBValue) {
        self.column = column
        self.function = function
        self.value = value
    }

    /// `column == value`.
    public static func equals(_ column: String, _ value: OVSDBValue) -> OVSDBCondition {
        OVSDBCondition(column, .equal, value)
    }

    /// The row whose `_uuid` is `uuid`.
    public static func uuid(_ uuid: UUID) -> OVSDBCondition {
        OVSDBCondition("_uuid", .equal, .atom(.uuid(uuid)))
    }

    /// `column` (a set or map) includes every element of `value`.
    public static func includes(_ column: String, _ value: OVSDBValue) -> OVSDBCondition {
        OVSDBCondition(column, .includes, value)
    }

    /// Encodes `[column, function, value]`, by the column's type when `table` is given.
    public func json(table: OVSDBTableSchema?) throws -> JSONValue {
        let encoded: JSONValue
        if let table {
            let columnSchema = try table.column(column)
            do {
                encoded = try value.json(for: columnSchema.type, check: .elementsOnly)
            } catch let error as OVSDBDataError {
                throw OVSDBDataError("condition on \(table.name).\(column): \(error.message)")
            }
        } else {
            encoded = value.json
        }
        return .array([.string(column), .string(function.rawValue), encoded])
    }
}

/// One change of a `mutate` operation: `[column, mutator, value]` (RFC 7047 §5.1 <mutation>).
public struct OVSDBMutation: Sendable, Hashable {
    /// The mutators of RFC 7047.
    public enum Mutator: String, Sendable, Hashable {
        case add = "+="
        case subtract = "-="
        case multiply = "*="
        case divide = "/="
        case remainder = "%="
        case insert
        case delete
    }

    /// The column changed.
    public var column: String
    /// How it is changed.
    public var mutator: Mutator
    /// The operand: a scalar for arithmetic, a set or map for insert and delete.
    public var value: OVSDBValue

    /// Creates a mutation.
    public init(_ column: String, _ mutator: Mutator, _ value: OVSDBValue) {
        self.column = column
        self.mutator = mutator
        self.value = value
    }

    /// Adds the elements (or map pairs) of `value` to `column`.
    public static func insert(_ column: String, _ value: OVSDBValue) -> OVSDBMutation {
        OVSDBMutation(column, .insert, value)
    }

    /// Removes the elements of `value` from `column`; for a map, `value` may be a map or a set of keys.
    public static func delete(_ column: String, _ value: OVSDBValue) -> OVSDBMutation {
        OVSDBMutation(column, .delete, value)
    }

    /// Encodes `[column, mutator, value]`, by the column's type when `table` is given.
    public func json(table: OVSDBTableSchema?) throws -> JSONValue {
        guard let table else {
            return .array([.string(column), .string(mutator.rawValue), value.json])
        }
        let columnType = try table.column(column).type
        let operandType: OVSDBColumnType
        switch mutator {
        case .insert, .delete:
            if mutator == .delete, columnType.isMap, case .set = value, !value.isEmpty {
                // Deleting keys from a map: the operand is a set of keys.
                operandType = OVSDBColumnType(key: columnType.key, min: 0, max: nil)
            } else {
                operandType = OVSDBColumnType(key: columnType.key, value: columnType.value, min: 0, max: nil)
            }
        case .add, .subtract, .multiply, .divide, .remainder:
            operandType = OVSDBColumnType(key: columnType.key)
        }
        do {
            let encoded = try value.json(for: operandType, check: .elementsOnly)
            return .array([.string(column), .string(mutator.rawValue), encoded])
        } catch let error as OVSDBDataError {
            throw OVSDBDataError("mutation of \(table.name).\(column): \(error.message)")
        }
    }
}
