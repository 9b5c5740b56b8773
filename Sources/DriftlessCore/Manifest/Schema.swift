/// The shape of a manifest field: one description drives decoding checks, the JSON Schemas in
/// `manifests/` and the reference documentation, so the three cannot disagree.
public indirect enum SchemaType: Sendable {
    case string(StringFormat)
    case integer(min: Int?, max: Int?)
    case number(min: Double?, max: Double?)
    case boolean
    case enumeration([String])
    case list(SchemaType)
    case object([SchemaField])
    /// A mapping of label keys to strings (`labels`, `annotations`).
    case stringMap
}

/// What a string field must look like.
public enum StringFormat: String, Sendable, CaseIterable {
    case text
    case name
    case size
    case cidr
    case ipv4
    case sha256
    case sshKey
    case email
    case imageURL
    case absolutePath
    case libvirtURI
    case ovsdbEndpoint
    case bridgeName
    case interfaceName

    /// A short phrase for error messages and docs.
    public var phrase: String {
        switch self {
        case .text: "a string"
        case .name: "a name (lowercase letters, digits and '-', at most 63 characters)"
        case .size: "a size with a binary unit, such as 512MiB or 2GiB"
        case .cidr: "an IPv4 network in CIDR notation, such as 10.0.0.0/24"
        case .ipv4: "an IPv4 address, such as 10.0.0.10"
        case .sha256: "a SHA-256 digest: 64 lowercase hexadecimal characters"
        case .sshKey: "an OpenSSH public key line"
        case .email: "an email address"
        case .imageURL: "an http or https URL"
        case .absolutePath: "an absolute path"
        case .libvirtURI: "a libvirt URI, such as qemu:///system"
        case .ovsdbEndpoint: "an OVSDB endpoint: unix:PATH, tcp:HOST:PORT or ssl:HOST:PORT"
        case .bridgeName: "an OVS bridge name (at most 15 letters, digits, '-', '_' or '.')"
        case .interfaceName: "a network interface name (at most 15 letters, digits, '-', '_' or '.')"
        }
    }
}

/// One field of an object: its name, type, whether it is required, its default and what it means.
public struct SchemaField: Sendable {
    public var name: String
    public var type: SchemaType
    public var required: Bool
    /// The default as it would be written in YAML, for docs and JSON Schema (`"running"`, `4.0`).
    public var defaultValue: DefaultValue?
    public var description: String
    /// Sensitive values never appear in plans, reports or logs.
    public var sensitive: Bool

    public init(
        _ name: String, _ type: SchemaType, required: Bool = false, default defaultValue: DefaultValue? = nil,
        sensitive: Bool = false, _ description: String
    ) {
        self.name = name
        self.type = type
        self.required = required
        self.defaultValue = defaultValue
        self.description = description
        self.sensitive = sensitive
    }

    /// A default value for documentation and JSON Schema.
    public enum DefaultValue: Sendable {
        case string(String)
        case integer(Int)
        case number(Double)
        case boolean(Bool)
        case emptyList
    }
}

extension SchemaType {
    /// A short phrase for error messages: "an integer", "a list", "one of running, stopped".
    public var phrase: String {
        switch self {
        case let .string(format): format.phrase
        case .integer: "an integer"
        case .number: "a number"
        case .boolean: "true or false"
        case let .enumeration(values): "one of " + values.joined(separator: ", ")
        case .list: "a list"
        case .object: "a mapping"
        case .stringMap: "a mapping of keys to strings"
        }
    }
}
