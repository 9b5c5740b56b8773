import Foundation

/// One OVSDB atom: the scalar unit that sets and maps are made of (RFC 7047 §5.1).
///
/// `namedUUID` is only meaningful inside a `transact` request, where it
/// refers to a row inserted by an earlier operation's `uuid-name`.
public enum OVSDBAtom: Sendable, Hashable {
    case integer(Int64)
    case real(Double)
    case boolean(Bool)
    case string(String)
    case uuid(UUID)
    case namedUUID(String)

    /// The atomic type this atom belongs to (`namedUUID` counts as `uuid`).
    public var atomicType: OVSDBAtomicType {
        switch self {
        case .integer: return .integer
        case .real: return .real
        case .boolean: return .boolean
        case .string: return .string
        case .uuid, .namedUUID: return .uuid
        }
    }

    /// The integer, when this is an integer atom.
    public var integerValue: Int64? {
        if case .integer(let value) = self { return value }
        return nil
    }

    /// The number as a `Double`, when this is a real or integer atom.
    public var realValue: Double? {
        switch self {
        case .real(let value): return value
        case .integer(let value): return Double(value)
        default: return nil
        }
    }

    /// The boolean, when this is a boolean atom.
    public var booleanValue: Bool? {
        if case .boolean(let value) = self { return value }
        return nil
    }

    /// The string, when this is a string atom.
    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The UUID, when this is a (real, not named) uuid atom.
    public var uuidValue: UUID? {
        if case .uuid(let value) = self { return value }
        return nil
    }
}

// MARK: - JSON (RFC 7047 §5.1 <atom>)

extension OVSDBAtom {
    /// The atom's JSON form: a number, boolean, string, `["uuid", U]` or `["named-uuid", N]`.
    public var json: JSONValue {
        switch self {
        case .integer(let value): return .integer(value)
        case .real(let value): return .real(value)
        case .boolean(let value): return .bool(value)
        case .string(let value): return .string(value)
        case .uuid(let value): return .array([.string("uuid"), .string(value.ovsdbString)])
        case .namedUUID(let name): return .array([.string("named-uuid"), .string(name)])
        }
    }

    /// Decodes an atom, coercing it to `type` when one is given.
    ///
    /// With a type, an integer read for a `real` column becomes a real (OVSDB
    /// prints integral reals without a fraction) and a kind mismatch is an
    /// error; without one, the JSON form alone decides.
    public init(json: JSONValue, type: OVSDBAtomicType? = nil) throws {
        let atom: OVSDBAtom
        switch json {
        case .integer(let value):
            atom = .integer(value)
        case .real(let value):
            atom = .real(value)
        case .bool(let value):
            atom = .boolean(value)
        case .string(let value):
            atom = .string(value)
        case .array(let elements):
            guard elements.count == 2, case .string(let tag) = elements[0], case .string(let text) = elements[1]
            else {
                throw OVSDBDataError("expected an atom, found \(json.jsonText)")
            }
            switch tag {
            case "uuid":
                guard let uuid = UUID(uuidString: text) else {
                    throw OVSDBDataError("invalid uuid \"\(text)\"")
                }
                atom = .uuid(uuid)
            case "named-uuid":
                atom = .namedUUID(text)
            default:
                throw OVSDBDataError("expected an atom, found \(json.jsonText)")
            }
        case .null, .object:
            throw OVSDBDataError("expected an atom, found \(json.jsonText)")
        }
        if let type {
            self = try atom.coerced(to: type)
        } else {
            self = atom
        }
    }

    /// Returns the atom converted to `type` where OVSDB allows it, or throws.
    public func coerced(to type: OVSDBAtomicType) throws -> OVSDBAtom {
        switch (self, type) {
        case (.integer(let value), .real):
            return .real(Double(value))
        case (.real(let value), .integer):
            guard value.rounded() == value, abs(value) < 9.2e18 else {
                throw OVSDBDataError("expected an integer, found \(value)")
            }
            return .integer(Int64(value))
        default:
            guard atomicType == type else {
                throw OVSDBDataError("expected \(type.rawValue), found \(atomicType.rawValue) \(json.jsonText)")
            }
            return self
        }
    }
}

// MARK: - Ordering (for deterministic encoding)

extension OVSDBAtom: Comparable {
    private var kindRank: Int {
        switch self {
        case .integer: return 0
        case .real: return 1
        case .boolean: return 2
        case .string: return 3
        case .uuid: return 4
        case .namedUUID: return 5
        }
    }

    public static func < (lhs: OVSDBAtom, rhs: OVSDBAtom) -> Bool {
        switch (lhs, rhs) {
        case (.integer(let a), .integer(let b)): return a < b
        case (.real(let a), .real(let b)): return a < b
        case (.boolean(let a), .boolean(let b)): return !a && b
        case (.string(let a), .string(let b)): return a < b
        case (.uuid(let a), .uuid(let b)): return a.ovsdbString < b.ovsdbString
        case (.namedUUID(let a), .namedUUID(let b)): return a < b
        default: return lhs.kindRank < rhs.kindRank
        }
    }
}

// MARK: - Literals and description

extension OVSDBAtom: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByFloatLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .integer(value) }
    public init(booleanLiteral value: Bool) { self = .boolean(value) }
    public init(floatLiteral value: Double) { self = .real(value) }
}

extension OVSDBAtom: CustomStringConvertible {
    public var description: String { json.jsonText }
}

extension UUID {
    /// The lowercase text form OVSDB uses on the wire.
    public var ovsdbString: String { uuidString.lowercased() }
}
