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

    /// Reads and validates the manifests of `revision`; throws `EngineError.invalid` on any error.
    public func load(_ revision: String?) throws -> LoadedCommit {
        let snapshot: ManifestSnapshot
        do {
            snapshot = try repository.readManifests(at: revision, under: path)
        } catch {
            throw EngineError.source("cannot read \(revision ?? "HEAD") of \(repository.displayName): \(error)")
        }
        let result = ManifestLoader.load(snapshot.files, imagePaths: imagePaths)
        var extra = snapshot.diagnostics
        if snapshot.files.isEmpty { extra.warning("no manifests (*.yaml, *.yml) found", at: nil) }
        let report = ValidationReport(
            source: .init(repository: repository.displayName, commit: snapshot.commit, path: path.isEmpty ? nil : path),
            result: result, extra: extra)
        guard report.valid else { throw EngineError.invalid(report) }
        return LoadedCommit(repository: repository.displayName, commit: snapshot.commit, path: path, state: result.state, report: report,
                            summary: try? repository.summary(of: snapshot.commit))
    }
}
