/// The identity of a declared object: kind, project (for project-scoped kinds) and name.
public struct ObjectID: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public var kind: Kind
    public var project: String?
    public var name: String

    public init(_ kind: Kind, project: String? = nil, _ name: String) {
        self.kind = kind
        self.project = project
        self.name = name
    }

    /// `Instance shop/web-1`, `Image debian-12` (public), `Host local`.
    public var description: String { "\(kind.rawValue) \(qualifiedName)" }

    /// `shop/web-1`, or the bare name for objects without a project.
    public var qualifiedName: String { project.map { "\($0)/\(name)" } ?? name }

    public static func < (lhs: ObjectID, rhs: ObjectID) -> Bool {
        if lhs.kind != rhs.kind { return lhs.kind < rhs.kind }
        if lhs.project != rhs.project { return (lhs.project ?? "") < (rhs.project ?? "") }
        return lhs.name < rhs.name
    }
}

/// `metadata` of a document.
public struct ObjectMeta: Sendable, Codable, Hashable {
    public var name: String
    public var project: String?
    public var labels: [String: String] = [:]
    public var annotations: [String: String] = [:]
}

/// Where an object was declared: the file, the document's position and its parsed tree, so that any
/// field can be located for a diagnostic or a plan line.
public struct ObjectSource: Sendable {
    public var file: String
    public var document: Int
    public var root: YAMLNode

    /// The location of the document's start.
    public var location: SourceLocation { SourceLocation(file: file, line: root.line, column: root.column) }

    /// The location of a field path such as `spec.networks[1].ip`; the nearest existing ancestor when the
    /// field is absent (a missing field is reported where it should have been).
    public func location(of path: String) -> SourceLocation {
        var node = root
        for component in Self.components(of: path) {
            switch (component, node) {
            case let (.key(key), .mapping(mapping)):
                guard let entry = mapping.entry(key) else { return at(node) }
                if case let .scalar(s) = entry.value, s.resolved == .null { return at(.scalar(entry.key)) }
                node = entry.value
            case let (.index(i), .sequence(sequence)) where i < sequence.items.count:
                node = sequence.items[i]
            default:
                return at(node)
            }
        }
        return at(node)
    }

    private func at(_ node: YAMLNode) -> SourceLocation {
        SourceLocation(file: file, line: node.line, column: node.column)
    }

    enum PathComponent: Equatable {
        case key(String)
        case index(Int)
    }

    static func components(of path: String) -> [PathComponent] {
        var result: [PathComponent] = []
        for part in path.split(separator: ".") {
            var rest = Substring(part)
            if let bracket = rest.firstIndex(of: "[") {
                if bracket > rest.startIndex { result.append(.key(String(rest[..<bracket]))) }
                rest = rest[bracket...]
                while rest.first == "[", let close = rest.firstIndex(of: "]") {
                    if let i = Int(rest[rest.index(after: rest.startIndex)..<close]) { result.append(.index(i)) }
                    rest = rest[rest.index(after: close)...]
                }
            } else {
                result.append(.key(String(rest)))
            }
        }
        return result
    }
}

/// A declared object of one kind: identity, metadata, typed spec and where it was written.
public struct ManifestObject<Spec: Sendable & Hashable & Codable>: Sendable {
    public var id: ObjectID
    public var meta: ObjectMeta
    public var spec: Spec
    /// `nil` for objects Driftless supplies itself (the default `local` host).
    public var source: ObjectSource?

    public var name: String { meta.name }
    public var project: String? { meta.project }

    /// The location of a field, or of the document when the object has no source.
    public func location(of path: String) -> SourceLocation? { source?.location(of: path) }
}

public typealias Host = ManifestObject<HostSpec>
public typealias Project = ManifestObject<ProjectSpec>
public typealias User = ManifestObject<UserSpec>
public typealias Image = ManifestObject<ImageSpec>
public typealias Network = ManifestObject<NetworkSpec>
public typealias Volume = ManifestObject<VolumeSpec>
public typealias Instance = ManifestObject<InstanceSpec>

/// One decoded document, whatever its kind.
public enum AnyManifestObject: Sendable {
    case host(Host)
    case project(Project)
    case user(User)
    case image(Image)
    case network(Network)
    case volume(Volume)
    case instance(Instance)

    public var id: ObjectID {
        switch self {
        case let .host(o): o.id
        case let .project(o): o.id
        case let .user(o): o.id
        case let .image(o): o.id
        case let .network(o): o.id
        case let .volume(o): o.id
        case let .instance(o): o.id
        }
    }

    public var source: ObjectSource? {
        switch self {
        case let .host(o): o.source
        case let .project(o): o.source
        case let .user(o): o.source
        case let .image(o): o.source
        case let .network(o): o.source
        case let .volume(o): o.source
        case let .instance(o): o.source
        }
    }
}
