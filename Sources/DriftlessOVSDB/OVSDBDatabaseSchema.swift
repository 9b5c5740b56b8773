import Foundation

/// The five atomic types of OVSDB (RFC 7047 §3.2 <atomic-type>).
public enum OVSDBAtomicType: String, Sendable, Hashable, CaseIterable {
    case integer
    case real
    case boolean
    case string
    case uuid
}

/// A database schema as `get_schema` returns it (RFC 7047 §3.2 <database-schema>).
public struct OVSDBDatabaseSchema: Sendable, Hashable {
    /// The database name, e.g. `Open_vSwitch` or `OVN_Northbound`.
    public var name: String
    /// The schema version, `x.y.z`.
    public var version: String
    /// The optional checksum string.
    public var checksum: String?
    /// Tables by name.
    public var tables: [String: OVSDBTableSchema]

    /// Parses a `<database-schema>` object.
    public init(json: JSONValue) throws {
        guard case .object(let members) = json else {
            throw OVSDBDataError("schema: expected an object, found \(json.jsonText)")
        }
        guard let name = members["name"]?.stringValue else {
            throw OVSDBDataError("schema: missing \"name\"")
        }
        guard case .object(let tableMembers)? = members["tables"] else {
            throw OVSDBDataError("schema \(name): missing \"tables\"")
        }
        self.name = name
        self.version = members["version"]?.stringValue ?? ""
        self.checksum = members["cksum"]?.stringValue
        var tables: [String: OVSDBTableSchema] = [:]
        for (tableName, tableJSON) in tableMembers {
            tables[tableName] = try OVSDBTableSchema(name: tableName, json: tableJSON)
        }
        self.tables = tables
    }

    /// The table named `name`, or an error that names the database.
    public func table(_ name: String) throws -> OVSDBTableSchema {
        guard let table = tables[name] else {
            throw OVSDBDataError("no table \(name) in database \(self.name)")
        }
        return table
    }
}

/// One table of a schema (RFC 7047 §3.2 <table-schema>).
public struct OVSDBTableSchema: Sendable, Hashable {
    /// The table name.
    public var name: String
    /// Columns by name, including the implicit `_uuid` and `_version`.
    public var columns: [String: OVSDBColumnSchema]
    /// Whether rows survive without references (non-root rows are garbage collected).
    public var isRoot: Bool
    /// The most rows the table may hold, when limited.
    public var maxRows: Int?
    /// Sets of columns whose values must be unique together.
    public var indexes: [[String]]

    /// Parses a `<table-schema>` object for the table `name`.
    public init(name: String, json: JSONValue) throws {
        guard case .object(let members) = json, case .object(let columnMembers)? = members["columns"] else {
            throw OVSDBDataError("table \(name): expected an object with \"columns\"")
        }
        self.name = name
        var columns: [String: OVSDBColumnSchema] = [:]
        for (columnName, columnJSON) in columnMembers {
            do {
                columns[columnName] = try OVSDBColumnSchema(name: columnName, json: columnJSON)
            } catch let error as OVSDBDataError {
                throw OVSDBDataError("table \(name) column \(columnName): \(error.message)")
            }
        }
        let uuidType = OVSDBColumnType(key: OVSDBBaseType(type: .uuid))
        columns["_uuid"] = OVSDBColumnSchema(name: "_uuid", type: uuidType, isEphemeral: false, isMutable: false)
        columns["_version"] = OVSDBColumnSchema(
            name: "_version", type: uuidType, isEphemeral: false, isMutable: false)
        self.columns = columns
        if case .bool(let root)? = members["isRoot"] {
            self.isRoot = root
        } else {
            self.isRoot = false
        }
        self.maxRows = members["maxRows"]?.integerValue.map { Int($0) }
        self.indexes = (members["indexes"]?.arrayValue ?? []).map { index in
            (index.arrayValue ?? []).compactMap(\.stringValue)
        }
    }

    /// The column named `name`, or an error that names the table.
    public func column(_ name: String) throws -> OVSDBColumnSchema {
        guard let column = columns[name] else {
            throw OVSDBDataError("no column \(name) in table \(self.name)")
        }
        return column
    }
}

/// One column of a table (RFC 7047 §3.2 <column-schema>).
public struct OVSDBColumnSchema: Sendable, Hashable {
    /// The column name.
    public var name: String
    /// What values the column holds.
    public var type: OVSDBColumnType
    /// Whether the value is lost when the server restarts.
    public var isEphemeral: Bool
    /// Whether the value may change after insert.
    public var isMutable: Bool

    /// Creates a column schema.
    public init(name: String, type: OVSDBColumnType, isEphemeral: Bool = false, isMutable: Bool = true) {
        self.name = name
        self.type = type
        self.isEphemeral = isEphemeral
        self.isMutable = isMutable
    }

    /// Parses a `<column-schema>` object.
    public init(name: String, json: JSONValue) throws {
        guard case .object(let members) = json, let typeJSON = members["type"] else {
            throw OVSDBDataError("expected an object with \"type\"")
        }
        self.name = name
        self.type = try OVSDBColumnType(json: typeJSON)
        if case .bool(let ephemeral)? = members["ephemeral"] {
            self.isEphemeral = ephemeral
        } else {
            self.isEphemeral = false
        }
        if case .bool(let mutable)? = members["mutable"] {
            self.isMutable = mutable
        } else {
            self.isMutable = true
        }
    }
}

/// A column's type: base type(s) and element count bounds (RFC 7047 §3.2 <type>).
public struct OVSDBColumnType: Sendable, Hashable {
    /// The type of the atoms (set members, or map keys).
    public var key: OVSDBBaseType
    /// The type of map values; `nil` for atoms and sets.
    public var value: OVSDBBaseType?
    /// The fewest elements allowed (0 or 1).
    public var min: Int
    /// The most elements allowed; `nil` for `"unlimited"`.
    public var max: Int?

    /// Creates a type; the defaults describe a scalar of `key`.
    public init(key: OVSDBBaseType, value: OVSDBBaseType? = nil, min: Int = 1, max: Int? = 1) {
        self.key = key
        self.value = value
        self.min = min
        self.max = max
    }

    /// Whether values are maps.
    public var isMap: Bool { value != nil }

    /// Whether values are exactly one atom (min 1, max 1, no value type).
    public var isScalar: Bool { value == nil && min == 1 && max == 1 }

    /// Whether values are sets (anything non-scalar that is not a map, including optionals).
    public var isSet: Bool { value == nil && !isScalar }

    /// Whether the column holds zero or one atom.
    public var isOptional: Bool { value == nil && min == 0 && max == 1 }

    /// Parses a `<type>`: an atomic-type string or an object with `key`, `value`, `min`, `max`.
    public init(json: JSONValue) throws {
        switch json {
        case .string:
            self.init(key: try OVSDBBaseType(json: json))
        case .object(let members):
            guard let keyJSON = members["key"] else {
                throw OVSDBDataError("type object without \"key\"")
            }
            let key = try OVSDBBaseType(json: keyJSON)
            let value = try members["value"].map { try OVSDBBaseType(json: $0) }
            let min = members["min"]?.integerValue.map { Int($0) } ?? 1
            let max: Int?
            switch members["max"] {
            case .none:
                max = 1
            case .string("unlimited")?:
                max = nil
            case let other?:
                guard let limit = other.integerValue else {
                    throw OVSDBDataError("invalid \"max\" \(other.jsonText)")
                }
                max = Int(limit)
            }
            self.init(key: key, value: value, min: min, max: max)
        default:
            throw OVSDBDataError("invalid type \(json.jsonText)")
        }
    }
}

/// The type of the atoms in a column, with optional constraints (RFC 7047 §3.2 <base-type>).
public struct OVSDBBaseType: Sendable, Hashable {
    /// How a reference to another table behaves when the referenced row goes away.
    public enum ReferenceType: String, Sendable, Hashable {
        case strong
        case weak
    }

    /// The atomic type.
    public var type: OVSDBAtomicType
    /// The only values allowed, when the column is an enumeration.
    public var enumeration: Set<OVSDBAtom>?
    /// The table that uuid atoms refer to, for reference columns.
    public var referencedTable: String?
    /// Strong or weak, for reference columns.
    public var referenceType: ReferenceType?
    /// The smallest integer allowed, when given.
    public var minInteger: Int64?
    /// The largest integer allowed, when given.
    public var maxInteger: Int64?

    /// Creates an unconstrained base type.
    public init(type: OVSDBAtomicType) {
        self.type = type
    }

    /// Parses a `<base-type>`: an atomic-type string or an object with `type` and constraints.
    public init(json: JSONValue) throws {
        switch json {
        case .string(let name):
            guard let type = OVSDBAtomicType(rawValue: name) else {
                throw OVSDBDataError("unknown atomic type \"\(name)\"")
            }
            self.init(type: type)
        case .object(let members):
            guard let name = members["type"]?.stringValue, let type = OVSDBAtomicType(rawValue: name) else {
                throw OVSDBDataError("base type without a valid \"type\": \(json.jsonText)")
            }
            self.init(type: type)
            if let enumJSON = members["enum"] {
                let unconstrained = OVSDBColumnType(key: OVSDBBaseType(type: type), min: 0, max: nil)
                self.enumeration = Set(try OVSDBValue(json: enumJSON, type: unconstrained).atoms)
            }
            self.referencedTable = members["refTable"]?.stringValue
            if referencedTable != nil {
                self.referenceType = members["refType"]?.stringValue.flatMap(ReferenceType.init) ?? .strong
            }
            self.minInteger = members["minInteger"]?.integerValue
            self.maxInteger = members["maxInteger"]?.integerValue
        default:
            throw OVSDBDataError("invalid base type \(json.jsonText)")
        }
    }
}
