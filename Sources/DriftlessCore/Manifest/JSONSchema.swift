import Foundation

/// Renders the kinds' schemas as JSON Schema (draft-07, which yaml-language-server reads).
public enum JSONSchema {
    public static let baseURL = "https://driftless.dev/schemas/v1/"

    /// The file name of a kind's schema: `instance.json`.
    public static func fileName(for kind: Kind) -> String { kind.rawValue.lowercased() + ".json" }

    /// The file name of the schema that accepts any kind, for editor modelines.
    public static let combinedFileName = "driftless.schema.json"

    /// The JSON Schema of one kind, as a JSON-compatible dictionary.
    public static func schema(for kind: Kind) -> [String: Any] {
        var metadata = object(Schemas.metadata)
        if kind.scope == .project {
            metadata["required"] = ["name", "project"]
        }
        if kind.scope == .cluster, var properties = metadata["properties"] as? [String: Any] {
            properties.removeValue(forKey: "project")
            metadata["properties"] = properties
        }
        var properties: [String: Any] = [
            "apiVersion": ["const": Kind.apiVersion, "description": "Always \(Kind.apiVersion)."],
            "kind": ["const": kind.rawValue],
            "metadata": metadata,
            "spec": object(kind.specSchema),
        ]
        if let spec = properties["spec"] as? [String: Any] {
            var described = spec
            described["description"] = "The desired state of the \(kind.rawValue)."
            properties["spec"] = described
        }
        return [
            "$schema": "http://json-schema.org/draft-07/schema#",
            "$id": baseURL + fileName(for: kind),
            "title": kind.rawValue,
            "description": kind.summary,
            "type": "object",
            "additionalProperties": false,
            "required": ["apiVersion", "kind", "metadata"] + (kind.specIsOptional ? [] : ["spec"]),
            "properties": properties,
        ]
    }

    /// A schema that dispatches on `kind` to the per-kind schemas, for files mixing kinds.
    public static func combinedSchema() -> [String: Any] {
        [
            "$schema": "http://json-schema.org/draft-07/schema#",
            "$id": baseURL + combinedFileName,
            "title": "Driftless manifest",
            "description": "Any Driftless manifest document; dispatches on kind.",
            "type": "object",
            "required": ["apiVersion", "kind", "metadata"],
            "properties": [
                "apiVersion": ["const": Kind.apiVersion],
                "kind": ["enum": Kind.allCases.map(\.rawValue)],
            ],
            "allOf": Kind.allCases.map { kind -> [String: Any] in
                [
                    "if": ["properties": ["kind": ["const": kind.rawValue]], "required": ["kind"]],
                    "then": ["$ref": fileName(for: kind)],
                ]
            },
        ]
    }

    /// File name and contents of every schema file that ships in `manifests/`.
    public static func files() throws -> [(name: String, contents: String)] {
        var files = try Kind.allCases.map { (fileName(for: $0), try render(schema(for: $0))) }
        files.append((combinedFileName, try render(combinedSchema())))
        return files
    }

    /// Serialises a schema with sorted keys and a trailing newline, so files are stable byte for byte.
    public static func render(_ schema: [String: Any]) throws -> String {
        let data = try JSONSerialization.data(
            withJSONObject: schema, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    static func object(_ fields: [SchemaField]) -> [String: Any] {
        var properties: [String: Any] = [:]
        for field in fields {
            var property = type(field.type)
            property["description"] = field.description + (field.sensitive ? " (sensitive)" : "")
            if let value = field.defaultValue {
                switch value {
                case let .string(s): property["default"] = s
                case let .integer(i): property["default"] = i
                case let .number(d): property["default"] = d
                case let .boolean(b): property["default"] = b
                case .emptyList: property["default"] = [Any]()
                }
            }
            properties[field.name] = property
        }
        var result: [String: Any] = ["type": "object", "additionalProperties": false, "properties": properties]
        let required = fields.filter(\.required).map(\.name)
        if !required.isEmpty { result["required"] = required }
        return result
    }

    static func type(_ type: SchemaType) -> [String: Any] {
        switch type {
        case let .string(format): return string(format)
        case let .integer(min, max):
            var result: [String: Any] = ["type": "integer"]
            if let min { result["minimum"] = min }
            if let max { result["maximum"] = max }
            return result
        case let .number(min, max):
            var result: [String: Any] = ["type": "number"]
            if let min { result["minimum"] = min }
            if let max { result["maximum"] = max }
            return result
        case .boolean: return ["type": "boolean"]
        case let .enumeration(values): return ["type": "string", "enum": values]
        case let .list(element): return ["type": "array", "items": self.type(element)]
        case let .object(fields): return object(fields)
        case .stringMap:
            return ["type": "object", "additionalProperties": ["type": "string", "maxLength": 4096]]
        }
    }

    static func string(_ format: StringFormat) -> [String: Any] {
        switch format {
        case .text: return ["type": "string", "maxLength": 65_536]
        case .name: return ["type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63]
        case .size: return ["type": "string", "pattern": "^[0-9]+(KiB|MiB|GiB|TiB)$"]
        case .cidr: return ["type": "string", "pattern": #"^([0-9]{1,3}\.){3}[0-9]{1,3}/[0-9]{1,2}$"#]
        case .ipv4: return ["type": "string", "format": "ipv4"]
        case .sha256: return ["type": "string", "pattern": "^[0-9a-f]{64}$"]
        case .sshKey:
            let types = SSHPublicKey.knownTypes.sorted().map { NSRegularExpression.escapedPattern(for: $0) }
            return ["type": "string", "pattern": "^(\(types.joined(separator: "|"))) [A-Za-z0-9+/]+={0,2}( .*)?$"]
        case .email: return ["type": "string", "format": "email"]
        case .imageURL: return ["type": "string", "format": "uri", "pattern": "^https?://"]
        case .absolutePath: return ["type": "string", "pattern": "^/"]
        case .libvirtURI: return ["type": "string", "pattern": "^[a-z0-9+]+:/"]
        case .ovsdbEndpoint: return ["type": "string", "pattern": "^(unix:/|tcp:|ssl:)"]
        case .bridgeName, .interfaceName: return ["type": "string", "pattern": "^[A-Za-z0-9_.-]{1,15}$"]
        }
    }
}
