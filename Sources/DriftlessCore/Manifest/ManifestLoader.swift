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
        let decoded = decode(files, limits: limits)
        return validate(Assembly(decoded), files: decoded, imagePaths: imagePaths)
    }

    /// Parses and decodes each file on its own, in parallel, ordered by path: everything of loading that
    /// depends on one file alone, and so what an incremental load keeps for files that did not change.
    public static func decode(_ files: [ManifestFile], limits: ManifestLimits = .default) -> [DecodedFile] {
        let ordered = files.sorted { $0.path < $1.path }
        return zip(ordered, parseAll(ordered, limits: limits)).map { file, parsed in
            DecodedFile(path: file.path, diagnostics: parsed.0, documents: parsed.1)
        }
    }

    /// The desired state of `assembly` and its diagnostics: those of `files` (the decoded files it was
    /// assembled from, ordered by path), the duplicates, and the checks across objects (references,
    /// addresses, quotas, capacity), which always run over the whole state.
    public static func validate(_ assembly: Assembly, files: [DecodedFile], imagePaths: ImagePathPolicy = .default) -> Result {
        var diagnostics = Diagnostics()
        var documentCount = 0
        for file in files {
            if !file.diagnostics.isEmpty { diagnostics.append(contentsOf: file.diagnostics) }
            documentCount += file.documents.count
            for index in file.documents.indices {
                if !file.documents[index].diagnostics.isEmpty { diagnostics.append(contentsOf: file.documents[index].diagnostics) }
                if !assembly.duplicates.isEmpty, let duplicate = assembly.duplicates[.init(path: file.path, index: index)] {
                    diagnostics.append(duplicate)
                }
            }
        }
        var state = assembly.declared
        if assembly.usesDefaultHost {
            state.hosts = [DesiredState.defaultHost]
            state.usesDefaultHost = true
        }
        var validator = Validator(state: state, knownIDs: assembly.known, partial: assembly.partial,
                                  invalidPaths: assembly.invalidPaths, imagePaths: imagePaths, written: assembly.written)
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

/// One manifest file parsed and decoded, before any check across files: its own diagnostics (size,
/// encoding, YAML) and the outcome of each of its documents.
public struct DecodedFile: Sendable {
    /// The repository-relative path, as `ManifestFile.path`.
    public var path: String
    /// Problems of the file itself: too large, not UTF-8, not YAML.
    public var diagnostics: Diagnostics
    /// One result per document, in the file's order.
    public var documents: [ManifestDecoder.Result]

    public init(path: String, diagnostics: Diagnostics, documents: [ManifestDecoder.Result]) {
        self.path = path
        self.diagnostics = diagnostics
        self.documents = documents
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
