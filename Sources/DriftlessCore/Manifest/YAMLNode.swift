/// A YAML node with its source position, the tree validation works on.
///
/// Aliases are already expanded (within a budget, see `YAMLReader`); mapping keys are scalars.
public indirect enum YAMLNode: Sendable {
    case scalar(Scalar)
    case mapping(Mapping)
    case sequence(Sequence)

    /// A scalar and how it was written: plain scalars are typed by their text, quoted ones are strings.
    public struct Scalar: Sendable {
        public var value: String
        public var isPlain: Bool
        /// An explicit tag such as `!!str`, if the author wrote one.
        public var tag: String?
        public var line: Int
        public var column: Int
    }

    /// One `key: value` entry of a mapping.
    public struct Entry: Sendable {
        public var key: Scalar
        public var value: YAMLNode
    }

    public struct Mapping: Sendable {
        public var entries: [Entry]
        public var line: Int
        public var column: Int

        /// The value of `key`, if present.
        public subscript(key: String) -> YAMLNode? {
            entries.first { $0.key.value == key }?.value
        }

        /// The entry for `key`, if present.
        public func entry(_ key: String) -> Entry? {
            entries.first { $0.key.value == key }
        }
    }

    public struct Sequence: Sendable {
        public var items: [YAMLNode]
        public var line: Int
        public var column: Int
    }

    public var line: Int {
        switch self {
        case let .scalar(s): s.line
        case let .mapping(m): m.line
        case let .sequence(s): s.line
        }
    }

    public var column: Int {
        switch self {
        case let .scalar(s): s.column
        case let .mapping(m): m.column
        case let .sequence(s): s.column
        }
    }

    /// What the node holds, in words for error messages: `a string "x"`, `a list`, `a mapping`.
    public var kindDescription: String {
        switch self {
        case let .scalar(s):
            switch s.resolved {
            case .null: return "null"
            case let .bool(b): return "the boolean \(b)"
            case let .int(i): return "the number \(i)"
            case let .float(f): return "the number \(f)"
            case let .string(text):
                let shown = text.count > 40 ? String(text.prefix(37)) + "..." : text
                return "the string \"\(shown)\""
            }
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        }
    }

    public var scalar: Scalar? {
        if case let .scalar(s) = self { return s }
        return nil
    }

    public var mapping: Mapping? {
        if case let .mapping(m) = self { return m }
        return nil
    }

    public var sequence: Sequence? {
        if case let .sequence(s) = self { return s }
        return nil
    }
}

extension YAMLNode.Scalar {
    /// A scalar's type under the YAML 1.2 core schema (no YAML 1.1 `yes`/`no` booleans).
    public enum Resolved: Equatable, Sendable {
        case null
        case bool(Bool)
        case int(Int)
        case float(Double)
        case string(String)
    }

    /// The scalar typed by the YAML 1.2 core schema: quoted and `!!str` scalars are always strings.
    public var resolved: Resolved {
        if let tag {
            switch tag {
            case "tag:yaml.org,2002:str": return .string(value)
            case "tag:yaml.org,2002:int": return Int(value).map(Resolved.int) ?? .string(value)
            case "tag:yaml.org,2002:float": return Double(value).map(Resolved.float) ?? .string(value)
            case "tag:yaml.org,2002:bool": return value == "true" ? .bool(true) : value == "false" ? .bool(false) : .string(value)
            case "tag:yaml.org,2002:null": return .null
            default: return .string(value)
            }
        }
        guard isPlain else { return .string(value) }
        switch value {
        case "", "~", "null", "Null", "NULL": return .null
        case "true", "True", "TRUE": return .bool(true)
        case "false", "False", "FALSE": return .bool(false)
        default: break
        }
        if let first = value.utf8.first, first == 45 || first == 43 || (first >= 48 && first <= 57) {
            if let i = Int(value), !value.hasPrefix("+") { return .int(i) }
            if value.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || $0 == 46 || $0 == 45 || $0 == 43 || $0 == 101 || $0 == 69 }),
               value.contains("."), let d = Double(value) {
                return .float(d)
            }
        }
        switch value {
        case ".inf", "+.inf": return .float(.infinity)
        case "-.inf": return .float(-.infinity)
        case ".nan": return .float(.nan)
        default: break
        }
        return .string(value)
    }
}
