import Foundation

/// How strictly a value is checked against its column type while encoding.
public enum OVSDBTypeCheck: Sendable {
    /// The full type: atom kinds and the min/max element counts (rows in insert and update).
    case exact
    /// Atom kinds only, any element count (condition and mutation operands).
    case elementsOnly
}

extension OVSDBValue {
    /// The value's JSON form without a schema: atoms bare, sets as `["set", ...]`, maps as `["map", ...]`.
    ///
    /// Elements are sorted so equal values always encode to the same text.
    public var json: JSONValue {
        switch self {
        case .atom(let atom):
            return atom.json
        case .set(let atoms):
            return .array([.string("set"), .array(atoms.sorted().map(\.json))])
        case .map(let map):
            return Self.mapJSON(map)
        }
    }

    /// Encodes the value for a column of `type`, applying RFC 7047's rules.
    ///
    /// A set of exactly one element is written as that element alone (the
    /// set-of-one shorthand, as OVSDB itself writes it); a lone atom given for
    /// a set column is accepted the same way. Integer atoms for real columns
    /// are widened. Kind mismatches, maps for non-map columns (and the
    /// reverse) and, with `.exact`, counts outside `min...max` are errors.
    public func json(for type: OVSDBColumnType, check: OVSDBTypeCheck = .exact) throws -> JSONValue {
        if let valueType = type.value {
            let map: [OVSDBAtom: OVSDBAtom]
            switch self {
            case .map(let pairs):
                map = pairs
            case .set(let atoms) where atoms.isEmpty:
                map = [:]
            default:
                throw OVSDBDataError("expected a map, found \(json.jsonText)")
            }
            try checkCount(map.count, type: type, check: check)
            var coerced: [OVSDBAtom: OVSDBAtom] = [:]
            coerced.reserveCapacity(map.count)
            for (key, value) in map {
                coerced[try key.coerced(to: type.key.type)] = try value.coerced(to: valueType.type)
            }
            return Self.mapJSON(coerced)
        }
        let atoms: [OVSDBAtom]
        switch self {
        case .atom(let atom):
            atoms = [atom]
        case .set(let members):
            atoms = members.sorted()
        case .map:
            throw OVSDBDataError("expected \(type.isScalar ? "an atom" : "a set"), found a map \(json.jsonText)")
        }
        try checkCount(atoms.count, type: type, check: check)
        let coerced = try atoms.map { try $0.coerced(to: type.key.type) }
        if coerced.count == 1 {
            return coerced[0].json
        }
        return .array([.string("set"), .array(coerced.map(\.json))])
    }

    /// Decodes a value, shaping it by `type` when one is given.
    ///
    /// With a type: a bare atom for a set column becomes a set of one, an
    /// empty `["set", []]` for a map column becomes an empty map, and atoms
    /// are coerced to the column's base types. Without a type the JSON form
    /// alone decides (`["set", ...]`, `["map", ...]`, or an atom).
    public init(json: JSONValue, type: OVSDBColumnType? = nil) throws {
        if case .array(let elements) = json, elements.count == 2, case .string(let tag) = elements[0] {
            switch tag {
            case "set":
                guard case .array(let members) = elements[1] else {
                    throw OVSDBDataError("malformed set \(json.jsonText)")
                }
                if let type, type.isMap {
                    guard members.isEmpty else {
                        throw OVSDBDataError("expected a map, found \(json.jsonText)")
                    }
                    self = .map([:])
                    return
                }
                let atoms = try members.map { try OVSDBAtom(json: $0, type: type?.key.type) }
                if let type, type.isScalar, atoms.count == 1 {
                    self = .atom(atoms[0])
                } else {
                    self = .set(Set(atoms))
                }
                return
            case "map":
                guard case .array(let pairs) = elements[1] else {
                    throw OVSDBDataError("malformed map \(json.jsonText)")
                }
                if let type, !type.isMap {
                    throw OVSDBDataError("expected \(type.isScalar ? "an atom" : "a set"), found a map")
                }
                var map: [OVSDBAtom: OVSDBAtom] = [:]
                map.reserveCapacity(pairs.count)
                for pair in pairs {
                    guard case .array(let kv) = pair, kv.count == 2 else {
                        throw OVSDBDataError("malformed map pair \(pair.jsonText)")
                    }
                    let key = try OVSDBAtom(json: kv[0], type: type?.key.type)
                    let value = try OVSDBAtom(json: kv[1], type: type?.value?.type)
                    map[key] = value
                }
                self = .map(map)
                return
            default:
                break
            }
        }
        let atom = try OVSDBAtom(json: json, type: type?.key.type)
        if let type {
            if type.isMap {
                throw OVSDBDataError("expected a map, found \(json.jsonText)")
            }
            self = type.isScalar ? .atom(atom) : .set([atom])
        } else {
            self = .atom(atom)
        }
    }

    private func checkCount(_ count: Int, type: OVSDBColumnType, check: OVSDBTypeCheck) throws {
        guard check == .exact else { return }
        if count < type.min {
            throw OVSDBDataError("needs at least \(type.min) element(s), found \(count)")
        }
        if let max = type.max, count > max {
            throw OVSDBDataError("allows at most \(max) element(s), found \(count)")
        }
    }

    private static func mapJSON(_ map: [OVSDBAtom: OVSDBAtom]) -> JSONValue {
        let pairs = map.sorted { $0.key < $1.key }.map { JSONValue.array([$0.key.json, $0.value.json]) }
        return .array([.string("map"), .array(pairs)])
    }
}

// MARK: - Rows

/// Encoding and decoding of whole rows (RFC 7047 §5.1 <row>).
public enum OVSDBRowCoding {
    /// Encodes a row, by the table's column types when `table` is given.
    ///
    /// With a table schema an unknown column is an error naming the column,
    /// so a typo fails before anything is sent.
    public static func json(
        _ row: OVSDBRow,
        table: OVSDBTableSchema?,
        check: OVSDBTypeCheck = .exact
    ) throws -> JSONValue {
        var members: [String: JSONValue] = [:]
        members.reserveCapacity(row.count)
        for (column, value) in row {
            if let table {
                guard let columnSchema = table.columns[column] else {
                    throw OVSDBDataError("no column \(column) in table \(table.name)")
                }
                do {
                    members[column] = try value.json(for: columnSchema.type, check: check)
                } catch let error as OVSDBDataError {
                    throw OVSDBDataError("\(table.name).\(column): \(error.message)")
                }
            } else {
                members[column] = value.json
            }
        }
        return .object(members)
    }

    /// Decodes a row object, by the table's column types when `table` is given.
    ///
    /// Columns the schema does not know (a newer server) are decoded untyped.
    public static func row(from json: JSONValue, table: OVSDBTableSchema?) throws -> OVSDBRow {
        guard case .object(let members) = json else {
            throw OVSDBDataError("expected a row object, found \(json.jsonText)")
        }
        var row: OVSDBRow = [:]
        row.reserveCapacity(members.count)
        for (column, value) in members {
            let type = table?.columns[column]?.type
            do {
                row[column] = try OVSDBValue(json: value, type: type)
            } catch let error as OVSDBDataError {
                throw OVSDBDataError("\(table?.name ?? "row").\(column): \(error.message)")
            }
        }
        return row
    }
}
