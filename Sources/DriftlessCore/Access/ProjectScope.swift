/// Which project a place in the manifests belongs to, for showing a diagnostic only to those who may see
/// it: a location belongs to the document it is in, and a document to its object's project (a `Project`
/// document to the project it declares).
///
/// Cloud-wide (nil): a location in a `Host`, `User` or public `Image` document, in a file or document that
/// could not be decoded (a syntax error), before the first document of its file, or no location at all.
public struct ProjectScope: Sendable {
    /// One document: the line it starts on and its project (nil: cloud-wide).
    public struct Document: Sendable, Equatable {
        public var line: Int
        public var project: String?

        public init(line: Int, project: String?) {
            self.line = line
            self.project = project
        }
    }

    /// Each file's documents, by starting line.
    private var files: [String: [Document]]

    public init(documents: [String: [Document]]) {
        files = documents.mapValues { $0.sorted { $0.line < $1.line } }
    }

    /// The documents of a valid desired state (every document of a valid commit is an object of it).
    public init(state: DesiredState) {
        var documents: [String: [Document]] = [:]
        func add(_ id: ObjectID, _ source: ObjectSource?) {
            guard let source else { return }
            documents[source.file, default: []].append(Document(line: source.location.line, project: Self.project(of: id)))
        }
        for o in state.hosts { add(o.id, o.source) }
        for o in state.projects { add(o.id, o.source) }
        for o in state.users { add(o.id, o.source) }
        for o in state.images { add(o.id, o.source) }
        for o in state.networks { add(o.id, o.source) }
        for o in state.volumes { add(o.id, o.source) }
        for o in state.instances { add(o.id, o.source) }
        self.init(documents: documents)
    }

    /// The documents of manifest files, valid or not (for the diagnostics of a commit that failed
    /// validation): each parsed and decoded as far as its identity.
    public init(files manifestFiles: [ManifestFile], limits: ManifestLimits = .default) {
        var documents: [String: [Document]] = [:]
        for file in manifestFiles where file.contents.count <= limits.maxFileBytes {
            guard let text = String(validating: file.contents, as: UTF8.self) else { continue }
            let parsed = YAMLReader.documents(in: text, file: file.path, limits: limits)
            // Where a file stops parsing is not known to belong to the document before it: the whole
            // file is cloud-wide.
            guard parsed.diagnostics.isEmpty else {
                documents[file.path] = [Document(line: 1, project: nil)]
                continue
            }
            for document in parsed.documents {
                let decoded = ManifestDecoder.decode(document, file: file.path)
                documents[file.path, default: []].append(
                    Document(line: document.root.line, project: decoded.id.flatMap(Self.project(of:))))
            }
        }
        self.init(documents: documents)
    }

    /// The project an object's document belongs to: its own for project-scoped objects, the declared one
    /// for a `Project`; nil for hosts, users and public images.
    public static func project(of id: ObjectID) -> String? {
        id.kind == .project ? id.name : id.project
    }

    /// The project of `location`: that of the last document of its file starting at or before it.
    public func project(at location: SourceLocation?) -> String? {
        guard let location, let documents = files[location.file] else { return nil }
        return documents.last { $0.line <= location.line }?.project
    }

    /// The project of each diagnostic, in order.
    public func projects(of diagnostics: [Diagnostic]) -> [String?] {
        diagnostics.map { project(at: $0.location) }
    }
}
