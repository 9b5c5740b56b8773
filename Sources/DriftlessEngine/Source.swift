import DriftlessCore
import DriftlessGit
import Foundation

/// A commit read from git and validated: the desired state the engine converges to.
public struct LoadedCommit: Sendable {
    public var repository: String
    public var commit: String
    public var path: String
    public var state: DesiredState
    public var report: ValidationReport
    /// Its subject line, author and time (nil when the repository could not say).
    public var summary: CommitSummary? = nil
    /// Its files as decoded, for the next load of the same source to reuse (`ManifestSource.load(_:after:)`);
    /// nil for commits not read from a repository.
    public var decoded: DecodedCommit? = nil
    /// How it was read: all of it, or only what changed since an earlier commit.
    public var stats: LoadStats? = nil

    public init(repository: String, commit: String, path: String, state: DesiredState, report: ValidationReport,
                summary: CommitSummary? = nil) {
        self.summary = summary
        self.repository = repository
        self.commit = commit
        self.path = path
        self.state = state
        self.report = report
    }
}

/// Why the engine stopped before touching any host.
public enum EngineError: ClassifiedError, CustomStringConvertible {
    /// The commit has errors: the report lists each with file, line and field.
    case invalid(ValidationReport)
    /// A safety rule refused the plan.
    case refused([String])
    /// Nothing was applied yet, so there is nothing to compare the hosts with.
    case nothingApplied
    case source(String)

    /// A source that cannot be read now may be readable later (the remote is down); everything else needs a
    /// new commit or a person.
    public var failureKind: FailureKind {
        if case .source = self { return .transient }
        return .terminal
    }

    public var description: String {
        switch self {
        case let .invalid(report):
            "the manifests have \(report.summary.errors) error\(report.summary.errors == 1 ? "" : "s"); nothing was changed"
        case let .refused(reasons): "refused: " + reasons.joined(separator: "; ")
        case .nothingApplied: "nothing has been applied from this state directory yet; run `driftless apply` first"
        case let .source(message): message
        }
    }
}

/// Opens (or fetches) a repository once and reads validated commits from it.
public final class ManifestSource: @unchecked Sendable {
    public let repository: GitRepository
    public let path: String
    /// Where Images' `source.path` files may be; checked while validating.
    public let imagePaths: ImagePathPolicy

    public init(location: String, path: String, cacheRoot: String, credentials: GitCredentials = .none,
                imagePaths: ImagePathPolicy = .default) throws {
        do {
            repository = try GitRepository.openOrFetch(location, cacheRoot: cacheRoot, credentials: credentials)
        } catch {
            throw EngineError.source("cannot read repository \(Redaction.redact(location)): \(error)")
        }
        self.path = path
        self.imagePaths = imagePaths
    }

    /// Reads from an open repository.
    public init(repository: GitRepository, path: String, imagePaths: ImagePathPolicy = .default) {
        self.repository = repository
        self.path = path
        self.imagePaths = imagePaths
    }

    /// Opens a local repository, or what was last fetched of a remote one, without contacting the remote.
    public static func withoutFetching(location: String, path: String, cacheRoot: String,
                                       imagePaths: ImagePathPolicy = .default) throws -> ManifestSource {
        do {
            return ManifestSource(repository: try GitRepository.openWithoutFetching(location, cacheRoot: cacheRoot), path: path,
                                  imagePaths: imagePaths)
        } catch {
            throw EngineError.source("cannot open \(Redaction.displayURL(location)) without fetching: \(error)")
        }
    }

    /// The manifest files of `revision`, read as `load` reads them but not validated: for attributing the
    /// diagnostics of a commit that failed validation to projects (`ProjectScope(files:)`).
    public func files(_ revision: String?) throws -> [ManifestFile] {
        try repository.readManifests(at: revision, under: path).files
    }

    /// The full commit id of `revision` (default: HEAD).
    public func resolve(_ revision: String?) throws -> String {
        try repository.resolve(revision)
    }

    /// How files are bounded while reading and parsing; a commit decoded under other limits is not reused.
    public var limits: ManifestLimits = .default

    /// Reads and validates the manifests of `revision`; throws `EngineError.invalid` on any error.
    public func load(_ revision: String?) throws -> LoadedCommit {
        try load(revision, after: nil)
    }

    /// Reads and validates the manifests of `revision`, reading and decoding only the files that changed
    /// since `previous` (a commit this source, or one of the same repository and path, loaded before) and
    /// reusing the others' decoded documents; the checks across objects still run on the whole state.
    /// Gives the same state and report as `load(revision)`, and throws as it does.
    ///
    /// Reads everything when there is no `previous`, when it was decoded under other limits or another
    /// path, when the manifest path is not a directory at `revision`, or when git cannot compare the two
    /// commits (the earlier one is gone); `stats` says which it was.
    public func load(_ revision: String?, after previous: LoadedCommit?) throws -> LoadedCommit {
        let (decoded, stats) = try decode(revision, after: previous?.decoded)
        let result = ManifestLoader.validate(decoded.assembly, files: decoded.files, imagePaths: imagePaths)
        var extra = Diagnostics(decoded.readDiagnostics.keys.sorted().flatMap { decoded.readDiagnostics[$0] ?? [] })
        if decoded.files.isEmpty { extra.warning("no manifests (*.yaml, *.yml) found", at: nil) }
        let report = ValidationReport(
            source: .init(repository: repository.displayName, commit: decoded.commit, path: path.isEmpty ? nil : path),
            result: result, extra: extra)
        guard report.valid else { throw EngineError.invalid(report) }
        var commit = LoadedCommit(repository: repository.displayName, commit: decoded.commit, path: path, state: result.state,
                                  report: report, summary: try? repository.summary(of: decoded.commit))
        commit.decoded = decoded
        commit.stats = stats
        return commit
    }

    /// The decoded and assembled files of `revision`: from `base` and the paths changed since, when it can
    /// be, else all read.
    func decode(_ revision: String?, after base: DecodedCommit?) throws -> (DecodedCommit, LoadStats) {
        var reason = "no earlier commit"
        if let base {
            do {
                if let updated = try decodeChanges(revision, from: base, fallback: &reason) { return updated }
            } catch {
                reason = "cannot compare with \(base.commit.prefix(12)): \(error)"
            }
        }
        let snapshot: ManifestSnapshot
        do {
            snapshot = try repository.readManifests(at: revision, under: path, limits: limits)
        } catch {
            throw EngineError.source("cannot read \(revision ?? "HEAD") of \(repository.displayName): \(error)")
        }
        let files = ManifestLoader.decode(snapshot.files, limits: limits)
        let decoded = DecodedCommit(repository: repository.displayName, commit: snapshot.commit, path: path, limits: limits,
                                    files: files, readDiagnostics: DecodedCommit.byPath(snapshot.diagnostics),
                                    assembly: ManifestLoader.Assembly(files))
        return (decoded, LoadStats(incremental: false, changedPaths: files.count, decodedFiles: files.count, reusedFiles: 0,
                                   patchedState: false, fullLoadReason: reason))
    }

    /// `base` brought to `revision` by reading and decoding only the paths git reports changed, and patching
    /// its assembly with them (or assembling the decoded files again when the patch cannot be made); nil
    /// (with `fallback` saying why) when only a full read gives the right answer.
    func decodeChanges(_ revision: String?, from base: DecodedCommit, fallback: inout String) throws -> (DecodedCommit, LoadStats)? {
        guard base.repository == repository.displayName, base.path == path else {
            fallback = "the earlier commit was read from another repository or path"
            return nil
        }
        guard base.limits == limits else {
            fallback = "the limits changed"
            return nil
        }
        let head = try repository.resolve(revision)
        guard try repository.isDirectory(path, at: head) else {
            fallback = "the manifest path is not a directory at \(head.prefix(12))"
            return nil
        }
        let changes = try repository.changedPaths(from: base.commit, to: head, under: path, manifestsOnly: false)
        // Every path a change touches is forgotten, then what is there now is read: a modified file, a
        // rename (a delete and an add) and a file turned into a link alike.
        let touched = Set(changes.flatMap { [$0.oldPath, $0.newPath].compactMap { $0 } })
        let present = Set(changes.compactMap(\.newPath)).sorted()
        let snapshot = try repository.readFiles(present, at: head, limits: limits)
        let fresh = ManifestLoader.decode(snapshot.files, limits: limits)
        var decoded = base
        decoded.commit = head
        var removed: [DecodedFile] = []
        for path in touched {
            if let file = decoded.removeFile(at: path) { removed.append(file) }
            decoded.readDiagnostics[path] = nil
        }
        for file in fresh { decoded.insert(file) }
        for (path, diagnostics) in DecodedCommit.byPath(snapshot.diagnostics) { decoded.readDiagnostics[path] = diagnostics }
        let patched = base.assembly.patched(removing: removed, adding: fresh)
        decoded.assembly = patched ?? ManifestLoader.Assembly(decoded.files)
        return (decoded, LoadStats(incremental: true, changedPaths: changes.count, decodedFiles: fresh.count,
                                   reusedFiles: decoded.files.count - fresh.count, patchedState: patched != nil,
                                   fullLoadReason: nil))
    }
}

/// A commit's manifest files as read, decoded and assembled (which declaration of each identity counts),
/// before the checks across objects: what the next load of the same source reuses for every file that did
/// not change since.
///
/// Valid for one repository, manifest path and set of limits; the checks across objects (and the image
/// directories they use) are not part of it and run again on every load, over the whole state.
public struct DecodedCommit: Sendable {
    public let repository: String
    public internal(set) var commit: String
    /// The manifest path as the source was given it.
    public let path: String
    public let limits: ManifestLimits
    /// The decoded files, ordered by path (as `ManifestLoader.decode` returns them).
    public internal(set) var files: [DecodedFile]
    /// What reading found instead of a file, by path: links, submodules, files over the size limit.
    public internal(set) var readDiagnostics: [String: [Diagnostic]]
    /// The objects of `files`, by identity and as written.
    public internal(set) var assembly: ManifestLoader.Assembly

    /// Read diagnostics grouped by the path they are about (those without one under "").
    static func byPath(_ diagnostics: Diagnostics) -> [String: [Diagnostic]] {
        Dictionary(grouping: diagnostics.items, by: { $0.location?.file ?? "" })
    }

    /// The position of `path` in `files`, or where it would be inserted.
    func index(of path: String) -> Int {
        var (low, high) = (0, files.count)
        while low < high {
            let middle = (low + high) / 2
            if files[middle].path < path { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// Removes the file at `path` and returns it, if there is one.
    mutating func removeFile(at path: String) -> DecodedFile? {
        let i = index(of: path)
        guard i < files.count, files[i].path == path else { return nil }
        return files.remove(at: i)
    }

    /// Inserts `file` in path order, replacing a file of the same path.
    mutating func insert(_ file: DecodedFile) {
        let i = index(of: file.path)
        if i < files.count, files[i].path == file.path { files[i] = file } else { files.insert(file, at: i) }
    }
}

/// How a load went: everything read, or only the paths changed since an earlier commit.
public struct LoadStats: Sendable, Equatable {
    /// Whether only the changed paths were read and decoded.
    public var incremental: Bool
    /// The paths git reported changed (for a full load: the files read).
    public var changedPaths: Int
    /// The files parsed and decoded by this load.
    public var decodedFiles: Int
    /// The files whose decoded documents were kept from the earlier commit.
    public var reusedFiles: Int
    /// Whether the earlier commit's assembly was patched with the changed files; false when every decoded
    /// file was assembled (a full load, or a changed file declaring an identity declared twice).
    public var patchedState: Bool
    /// Why everything was read (nil for an incremental load).
    public var fullLoadReason: String?
}
