import Dispatch

/// Loads manifest files into a validated `DesiredState`: parse, decode, check uniqueness and references.
public enum ManifestLoader {
    /// What loading a set of files produced.
    public struct Result: Sendable {
        /// The desired state; only trustworthy when `diagnostics.hasErrors` is false.
        public var state: DesiredState
        public var diagnostics: Diagnostics
        /// The number of files read.
        public var fileCount: Int
        /// The number of documents read, valid or not.
        public var documentCount: Int

        public var isValid: Bool { !diagnostics.hasErrors }
    }

    /// Parses and validates `files`; files are parsed in parallel, results are ordered by path.
    /// `imagePaths` says where Images' `source.path` files may be (the operator's, never the repository's).
    public static func load(_ files: [ManifestFile], limits: ManifestLimits = .default,
                            imagePaths: ImagePathPolicy = .default) -> Result {
        let ordered = files.sorted { $0.path < $1.path }
        let decoded = parseAll(ordered, limits: limits)

        var diagnostics = Diagnostics()
        var state = DesiredState()
        var firstSeen: [ObjectID: ObjectSource] = [:]
        var partial = DesiredState()
        var invalidPaths: [ObjectID: Set<String>] = [:]
        var documentCount = 0
        for (fileDiagnostics, results) in decoded {
            diagnostics.append(contentsOf: fileDiagnostics)
            documentCount += results.count
            for result in results {
                diagnostics.append(contentsOf: result.diagnostics)
                guard let id = result.id, let source = result.source else { continue }
                if let first = firstSeen[id] {
                    diagnostics.error(
                        "duplicate \(id): already declared at \(first.location)",
                        at: source.location(of: "metadata.name"), field: "metadata.name",
                        hint: "names are unique per kind\(id.kind.scope == .cluster ? "" : " within a project")")
                    continue
                }
                firstSeen[id] = source
                if let object = result.object { state.add(object) }
                if let object = result.partial {
                    partial.add(object)
                    invalidPaths[id] = result.invalidPaths
                }
            }
        }
        if state.hosts.isEmpty && !firstSeen.keys.contains(where: { $0.kind == .host }) {
            state.hosts = [DesiredState.defaultHost]
            state.usesDefaultHost = true
        }
        state.sortByID()
        var knownIDs = Set(firstSeen.keys)
        if state.usesDefaultHost { knownIDs.insert(DesiredState.defaultHost.id) }
        var validator = Validator(state: state, knownIDs: knownIDs, partial: partial, invalidPaths: invalidPaths,
                                  imagePaths: imagePaths)
        diagnostics.append(contentsOf: validator.run())
        return Result(state: state, diagnostics: diagnostics, fileCount: files.count, documentCount: documentCount)
    }

    /// Parses and decodes every file, using every core.
    static func parseAll(
        _ files: [ManifestFile], limits: ManifestLimits
    ) -> [(Diagnostics, [ManifestDecoder.Result])] {
        let results = ResultBox(count: files.count)
        DispatchQueue.concurrentPerform(iterations: files.count) { i in
            results.set(i, parse(files[i], limits: limits))
        }
        return results.values
    }

    static func parse(_ file: ManifestFile, limits: ManifestLimits) -> (Diagnostics, [ManifestDecoder.Result]) {
        var diagnostics = Diagnostics()
        if file.contents.count > limits.maxFileBytes {
            diagnostics.error(
                "file is \(file.contents.count) bytes; manifest files may be at most \(limits.maxFileBytes) bytes",
                at: SourceLocation(file: file.path, line: 1, column: 1), hint: "split it into several files")
            return (diagnostics, [])
        }
        guard let text = String(validating: file.contents, as: UTF8.self) else {
            diagnostics.error("file is not valid UTF-8", at: SourceLocation(file: file.path, line: 1, column: 1))
            return (diagnostics, [])
        }
        let (documents, parseDiagnostics) = YAMLReader.documents(in: text, file: file.path, limits: limits)
        diagnostics.append(contentsOf: parseDiagnostics)
        return (diagnostics, documents.map { ManifestDecoder.decode($0, file: file.path) })
    }
}

/// Slots written once each from `concurrentPerform`; each index is written by exactly one iteration.
private final class ResultBox: @unchecked Sendable {
    private var storage: [(Diagnostics, [ManifestDecoder.Result])]
    private let lock = NSLockShim()

    init(count: Int) {
        storage = Array(repeating: (Diagnostics(), []), count: count)
    }

    func set(_ index: Int, _ value: (Diagnostics, [ManifestDecoder.Result])) {
        lock.withLock { storage[index] = value }
    }

    var values: [(Diagnostics, [ManifestDecoder.Result])] { lock.withLock { storage } }
}
