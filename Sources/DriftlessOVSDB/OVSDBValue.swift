import Foundation

/// An OVSDB column value: an atom, a set of atoms or a map (RFC 7047 §5.1).
///
/// Decoded with the column's schema type, a set-typed column always yields
/// `.set` (even when the server sent a lone atom, the set-of-one shorthand)
/// and a scalar column yields `.atom`. The accessors (`integer`, `string`,
/// `uuids`, `stringMap`, ...) read either form, so callers rarely switch.
public enum OVSDBValue: Sendable, Hashable {
    case atom(OVSDBAtom)
    case set(Set<OVSDBAtom>)
    case map([OVSDBAtom: OVSDBAtom])
}

/// A row: column name to value. `_uuid` and `_version` appear only where the server sends them.
public typealias OVSDBRow = [String: OVSDBValue]

// MARK: - Construction helpers

extension OVSDBValue {
    /// The empty set, which is also how an optional column says "absent".
    public static let emptySet = OVSDBValue.set([])

    /// The empty map.
    public static let emptyMap = OVSDBValue.map([:])

    /// A set of zero or one atom: the value of an optional column.
    public static func optional(_ atom: OVSDBAtom?) -> OVSDBValue {
        .set(atom.map { [$0] } ?? [])
    }

    /// A set of UUID references.
    public static func uuidSet(_ uuids: some Sequence<UUID>) -> OVSDBValue {
        .set(Set(uuids.map(OVSDBAtom.uuid)))
    }

    /// A map from strings to strings, as `external_ids` and `other_config` are.
    public static func stringMap(_ map: [String: String]) -> OVSDBValue {
        var result: [OVSDBAtom: OVSDBAtom] = [:]
        result.reserveCapacity(map.count)
        for (key, value) in map {
            result[.string(key)] = .string(value)
        }
        return .map(result)
    }
}

// MARK: - Reading values

extension OVSDBValue {
    /// Every atom of the value: the atom itself, the set's members (sorted) or the map's keys (sorted).
    public var atoms: [OVSDBAtom] {
        switch self {
        case .atom(let atom): return [atom]
        case .set(let atoms): return atoms.sorted()
        case .map(let map): return map.keys.sorted()
        }
    }

    /// The single atom of a scalar or of a set of exactly one, else `nil`.
    public var singleAtom: OVSDBAtom? {
        switch self {
        case .atom(let atom): return atom
        case .set(let atoms) where atoms.count == 1: return atoms.first
        default: return nil
        }
    }

    /// Whether this is an empty set or an empty map (an unset optional column).
    public var isEmpty: Bool {
        switch self {
        case .atom: return false
        case .set(let atoms): return atoms.isEmpty
        case .map(let map): return map.isEmpty
        }
    }

    /// How many atoms (or map pairs) the value holds.
    public var count: Int {
        switch self {
        case .atom: return 1
        case .set(let atoms): return atoms.count
        case .map(let map): return map.count
        }
    }

    /// The integer of a scalar or set of one.
    public var integer: Int64? { singleAtom?.integerValue }
    /// The real (or integer, widened) of a scalar or set of one.
    public var real: Double? { singleAtom?.realValue }
    /// The boolean of a scalar or set of one.
    public var boolean: Bool? { singleAtom?.booleanValue }
    /// The string of a scalar or set of one.
    public var string: String? { singleAtom?.stringValue }
    /// The UUID of a scalar or set of one.
    public var uuid: UUID? { singleAtom?.uuidValue }

    /// Every UUID in the value (scalar, set, or map keys).
    public var uuids: [UUID] {
        atoms.compactMap(\.uuidValue)
    }

    /// Every string in the value (scalar, set, or map keys).
    public var strings: [String] {
        atoms.compactMap(\.stringValue)
    }

    /// The pairs of a map whose keys and values are both strings; empty for anything else.
    public var stringMap: [String: String] {
        guard case .map(let map) = self else { return [:] }
        var result: [String: String] = [:]
        result.reserveCapacity(map.count)
        for (key, value) in map {
            if case .string(let k) = key, case .string(let v) = value {
                result[k] = v
            }
        }
        return result
    }

    /// The pairs of a map; empty for anything else.
    public var mapValue: [OVSDBAtom: OVSDBAtom] {
        if case .map(let map) = self { return map }
        return [:]
    }
}

// MARK: - Literals and description

extension OVSDBValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByFloatLiteral
{
    public init(stringLiteral value: String) { self = .atom(.string(value)) }
    public init(integerLiteral value: Int64) { self = .atom(.integer(value)) }
    public init(booleanLiteral value: Bool) { self = .atom(.boolean(value)) }
    public init(floatLiteral value: Double) { self = .atom(.real(value)) }
}

extension OVSDBValue: CustomStringConvertible {
    public var description: String { json.jsonText }
}
