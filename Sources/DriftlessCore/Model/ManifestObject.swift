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

/// Where an object was declared: the file, the document's position and where each of its fields was
/// written (`SourceMap`), so that any field can be located for a diagnostic or a plan line.
public struct ObjectSource: Sendable {
    public var file: String
    public var document: Int
    public var map: SourceMap

    public init(file: String, document: Int, root: YAMLNode) {
        self.file = file
        self.document = document
        map = SourceMap(root)
    }

    /// The location of the document's start.
    public var location: SourceLocation { SourceLocation(file: file, line: map.line, column: map.column) }

    /// The location of a field path such as `spec.networks[1].ip`; the nearest existing ancestor when the
    /// field is absent (a missing field is reported where it should have been).
    public func location(of path: String) -> SourceLocation {
        let (line, column) = map.position(of: Self.components(of: path))
        return SourceLocation(file: file, line: line, column: column)
    }

    /// Whether the field at `path` is written with a value other than null.
    public func hasValue(at path: String) -> Bool { map.hasValue(at: Self.components(of: path)) }

    /// Whether the field at `path` is written as a mapping.
    public func isMapping(at path: String) -> Bool { map.isMapping(at: Self.components(of: path)) }

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

/// The shape of a document's tree and where each node was written, without the values: what locating a
/// field needs, in one flat array (a document's parsed tree is a heap object per node and holds every
/// value a second time beside the decoded spec; a state of 20,000 objects kept their trees as tens of
/// MiB).
///
/// The nodes are in pre-order; each records how many nodes its subtree holds, so the children of a node
/// are found by skipping whole subtrees.
public struct SourceMap: Sendable {
    struct Node {
        enum Shape: UInt8 { case null, scalar, mapping, sequence }
        /// The key of a mapping's entry; empty for a sequence's item and the root.
        var key: String
        var line: Int32, column: Int32
        /// Where the key was written (an entry's), or the node itself.
        var keyLine: Int32, keyColumn: Int32
        /// The nodes of this subtree, this one included.
        var size: Int32
        var shape: Shape
    }

    private var nodes: ContiguousArray<Node>

    public init(_ root: YAMLNode) {
        func count(_ node: YAMLNode) -> Int {
            switch node {
            case .scalar: 1
            case let .mapping(m): m.entries.reduce(1) { $0 + count($1.value) }
            case let .sequence(s): s.items.reduce(1) { $0 + count($1) }
            }
        }
        // Exactly as many as there are: the map is kept for the object's life.
        var nodes = ContiguousArray<Node>()
        nodes.reserveCapacity(count(root))
        func add(_ node: YAMLNode, key: YAMLNode.Scalar?) {
            let index = nodes.count
            let shape: Node.Shape = switch node {
            case let .scalar(s): s.resolved == .null ? .null : .scalar
            case .mapping: .mapping
            case .sequence: .sequence
            }
            nodes.append(Node(key: key?.value ?? "", line: Self.clamped(node.line), column: Self.clamped(node.column),
                              keyLine: Self.clamped(key?.line ?? node.line), keyColumn: Self.clamped(key?.column ?? node.column),
                              size: 1, shape: shape))
            switch node {
            case .scalar: break
            case let .mapping(m): for entry in m.entries { add(entry.value, key: entry.key) }
            case let .sequence(s): for item in s.items { add(item, key: nil) }
            }
            nodes[index].size = Int32(clamping: nodes.count - index)
        }
        add(root, key: nil)
        self.nodes = nodes
    }

    /// The document's start.
    public var line: Int { Int(nodes[0].line) }
    public var column: Int { Int(nodes[0].column) }

    /// Where the node at `path` was written; for a path that leaves the tree, the last node on it. A
    /// null value is placed at its key (an entry written without a value has no place of its own).
    func position(of path: [ObjectSource.PathComponent]) -> (line: Int, column: Int) {
        let node = nodes[walk(path).index]
        return node.shape == .null ? (Int(node.keyLine), Int(node.keyColumn)) : (Int(node.line), Int(node.column))
    }

    func hasValue(at path: [ObjectSource.PathComponent]) -> Bool {
        let (index, complete) = walk(path)
        return complete && nodes[index].shape != .null
    }

    func isMapping(at path: [ObjectSource.PathComponent]) -> Bool {
        let (index, complete) = walk(path)
        return complete && nodes[index].shape == .mapping
    }

    /// The node at the end of `path`, or the last one reached and false.
    private func walk(_ path: [ObjectSource.PathComponent]) -> (index: Int, complete: Bool) {
        var index = 0
        for component in path {
            let node = nodes[index]
            var child = index + 1, position = 0, found: Int?
            let end = index + Int(node.size)
            while child < end {
                switch component {
                case let .key(key) where node.shape == .mapping && nodes[child].key == key: found = child
                case let .index(i) where node.shape == .sequence && position == i: found = child
                default: break
                }
                if found != nil { break }
                child += Int(nodes[child].size)
                position += 1
            }
            guard let found else { return (index, false) }
            index = found
        }
        return (index, true)
    }

    private static func clamped(_ value: Int) -> Int32 { Int32(clamping: value) }
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
