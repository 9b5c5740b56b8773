import DriftlessCore
import DriftlessEngine
import DriftlessProcess
import DriftlessTesting
import Foundation
import Testing

/// Loading a commit after an earlier one reads and decodes only the changed files, and gives exactly the
/// state and report of a full load: additions, deletions, edits, moves, a commit made invalid and fixed.
@Suite("Incremental loads")
struct IncrementalLoadTests {
    /// A git repository in a temporary directory, driven by the `git` command line.
    final class Repository {
        let path = NSTemporaryDirectory() + "driftless-incremental-\(UUID().uuidString)"

        init() async throws {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            try await git("init", "-q", "-b", "main")
        }

        deinit { try? FileManager.default.removeItem(atPath: path) }

        @discardableResult
        func git(_ arguments: String...) async throws -> String {
            let environment = [
                "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.com",
                "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.com",
                "GIT_CONFIG_NOSYSTEM": "1", "HOME": path,
            ]
            let output = try await ChildProcess.run("git", arguments, in: path, environment: environment)
            try #require(output.succeeded, "git \(arguments.joined(separator: " ")): \(output.stderr)")
            return output.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }

        func write(_ relativePath: String, _ contents: String) throws {
            let url = URL(fileURLWithPath: path).appendingPathComponent(relativePath)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try contents.write(to: url, atomically: true, encoding: .utf8)
        }

        func remove(_ relativePath: String) throws {
            try FileManager.default.removeItem(atPath: path + "/" + relativePath)
        }

        func link(_ relativePath: String, to target: String) throws {
            try FileManager.default.createSymbolicLink(atPath: path + "/" + relativePath, withDestinationPath: target)
        }

        /// Stages everything and commits; returns the new commit id.
        @discardableResult
        func commit(_ message: String) async throws -> String {
            try await git("add", "-A")
            try await git("commit", "-q", "-m", message)
            return try await git("rev-parse", "HEAD")
        }
    }

    /// `TestManifests.smallCloud`, one document per file under `manifests/`, a link the loader reports and
    /// skips, and files outside the manifest path.
    @discardableResult
    static func seed(_ repo: Repository) async throws -> String {
        let documents = TestManifests.smallCloud.components(separatedBy: "\n---\n")
        let names = ["projects/shop", "projects/ops", "user", "image", "networks/frontend", "networks/mgmt", "volume", "instance"]
        for (name, document) in zip(names, documents) {
            try repo.write("manifests/\(name).yaml", document.hasSuffix("\n") ? document : document + "\n")
        }
        try repo.write("other/ignored.yaml", "not: [a manifest of this path")
        try repo.write("README.md", "lab\n")
        try repo.link("manifests/linked.yaml", to: "../other/ignored.yaml")
        return try await repo.commit("seed")
    }

    static let instance = """
        apiVersion: driftless.dev/v1
        kind: Instance
        metadata: {name: web, project: shop}
        spec:
          image: tiny
          vcpus: VCPUS
          memory: 256MiB
          rootDisk: 1GiB
          networks: [{network: NETWORK, ip: 10.0.0.10}]
          volumes: [data]
          users: [alice]

        """

    static func project(_ name: String) -> String {
        "apiVersion: driftless.dev/v1\nkind: Project\nmetadata: {name: \(name)}\n"
    }

    static func instance(vcpus: Int = 1, network: String = "frontend") -> String {
        instance.replacingOccurrences(of: "VCPUS", with: "\(vcpus)").replacingOccurrences(of: "NETWORK", with: network)
    }

    // MARK: - Comparing loads

    /// What an object is, field by field, and where it was declared.
    struct Declared: Equatable {
        var id: ObjectID
        var meta: ObjectMeta
        var spec: AnyHashable
        var file: String?
        var document: Int?
        var line: Int?

        init<S>(_ object: ManifestObject<S>) {
            id = object.id
            meta = object.meta
            spec = AnyHashable(object.spec)
            file = object.source?.file
            document = object.source?.document
            line = object.source?.location.line
        }
    }

    static func declared(_ state: DesiredState) -> [Declared] {
        state.hosts.map(Declared.init) + state.projects.map(Declared.init) + state.users.map(Declared.init)
            + state.images.map(Declared.init) + state.networks.map(Declared.init) + state.volumes.map(Declared.init)
            + state.instances.map(Declared.init)
    }

    /// What a load did, in one line: `incremental changed 3, decoded 2, reused 6, patched`.
    static func describe(_ stats: LoadStats?) -> String {
        guard let stats else { return "no stats" }
        return "\(stats.incremental ? "incremental" : "full") changed \(stats.changedPaths), decoded \(stats.decodedFiles), "
            + "reused \(stats.reusedFiles)\(stats.patchedState ? ", patched" : "")"
    }

    /// The report as `--format json` prints it.
    static func json(_ report: ValidationReport) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        return String(decoding: try encoder.encode(report), as: UTF8.self)
    }

    /// Loads `revision` fully and after `previous`; both must give the same state and report.
    static func compare(_ source: ManifestSource, _ revision: String, after previous: LoadedCommit) throws -> LoadedCommit {
        let full = try source.load(revision)
        let incremental = try source.load(revision, after: previous)
        #expect(incremental.commit == full.commit)
        #expect(declared(incremental.state) == declared(full.state))
        #expect(incremental.state.usesDefaultHost == full.state.usesDefaultHost)
        #expect(try json(incremental.report) == json(full.report))
        #expect(full.stats?.incremental == false)
        return incremental
    }

    /// Loads `revision` fully and after `previous`, expecting both to refuse it with the same report.
    static func compareInvalid(_ source: ManifestSource, _ revision: String, after previous: LoadedCommit) throws -> ValidationReport {
        func report(_ load: () throws -> LoadedCommit) throws -> ValidationReport? {
            do {
                _ = try load()
                Issue.record("expected the commit to be refused")
                return nil
            } catch let EngineError.invalid(report) {
                return report
            }
        }
        let full = try #require(try report { try source.load(revision) })
        let incremental = try #require(try report { try source.load(revision, after: previous) })
        #expect(try json(incremental) == json(full))
        return incremental
    }

    // MARK: - Tests

    @Test func aOneFileChangeDecodesOneFileAndGivesTheFullLoadsAnswer() async throws {
        let repo = try await Repository()
        let first = try await Self.seed(repo)
        let source = try ManifestSource(location: repo.path, path: "manifests", cacheRoot: repo.path + "/.cache")
        let loaded = try source.load(first)
        #expect(Self.describe(loaded.stats) == "full changed 8, decoded 8, reused 0")
        #expect(loaded.stats?.fullLoadReason == "no earlier commit")
        #expect(loaded.report.diagnostics.contains { $0.file == "manifests/linked.yaml" && $0.message.contains("symbolic link") })

        // Modified, added and deleted; and changes outside the manifest path, which are not read.
        try repo.write("manifests/instance.yaml", Self.instance(vcpus: 2))
        try repo.write("manifests/projects/lab.yaml", Self.project("lab"))
        try repo.remove("manifests/networks/mgmt.yaml")
        try repo.write("other/ignored.yaml", "still: [not read")
        try repo.write("README.md", "lab, edited\n")
        let second = try await repo.commit("edit, add, delete")
        let edited = try Self.compare(source, second, after: loaded)
        #expect(Self.describe(edited.stats) == "incremental changed 3, decoded 2, reused 6, patched")
        #expect(edited.state.instances.first?.spec.vcpus == 2)
        #expect(edited.state.projects.map(\.name) == ["lab", "ops", "shop"])
        #expect(edited.state.networks.map(\.name) == ["frontend"])
        // The unchanged link is still reported.
        #expect(edited.report.diagnostics.contains { $0.file == "manifests/linked.yaml" && $0.message.contains("symbolic link") })

        // Invalid: a dangling reference in the changed file, and a duplicate declared in a new file that
        // sorts first, so that the error lands on the unchanged file declaring it later.
        try repo.write("manifests/instance.yaml", Self.instance(vcpus: 2, network: "nowhere"))
        try repo.write("manifests/projects/a-copy.yaml", Self.project("ops"))
        let third = try await repo.commit("break it")
        let report = try Self.compareInvalid(source, third, after: edited)
        let dangling = try #require(report.diagnostics.first { $0.message.contains("unknown network \"nowhere\"") })
        #expect(dangling.file == "manifests/instance.yaml")
        #expect(dangling.line == 9)
        #expect(dangling.field == "spec.networks[0].network")
        #expect(report.diagnostics.contains { $0.file == "manifests/projects/ops.yaml" && $0.message.contains("duplicate Project ops") })

        // Fixed, and a file moved, after the last valid commit (what the daemon has applied).
        try repo.write("manifests/instance.yaml", Self.instance(vcpus: 3))
        try repo.remove("manifests/projects/a-copy.yaml")
        try repo.write("manifests/people/user.yaml", try String(contentsOfFile: repo.path + "/manifests/user.yaml", encoding: .utf8))
        try repo.remove("manifests/user.yaml")
        let fourth = try await repo.commit("fix it, move the user")
        let fixed = try Self.compare(source, fourth, after: edited)
        #expect(Self.describe(fixed.stats) == "incremental changed 3, decoded 2, reused 6, patched", "the instance and the moved user")
        #expect(fixed.state.users.first?.source?.file == "manifests/people/user.yaml")
        #expect(fixed.state.instances.first?.spec.vcpus == 3)

        // The same commit again reads nothing.
        let again = try source.load(fourth, after: fixed)
        #expect(Self.describe(again.stats) == "incremental changed 0, decoded 0, reused 8, patched")
    }

    @Test func linksAndOversizedFilesChangeAsInAFullLoad() async throws {
        let repo = try await Repository()
        try await Self.seed(repo)
        let source = try ManifestSource(location: repo.path, path: "", cacheRoot: repo.path + "/.cache")
        source.limits = ManifestLimits(maxFileBytes: 4096)
        try repo.write("other/ignored.yaml", Self.project("other"))
        let valid = try await repo.commit("other/ becomes a manifest")
        let loaded = try source.load(valid)
        // A link replaced by a file, a file by a link, and a file over the size limit.
        try repo.remove("manifests/linked.yaml")
        try repo.write("manifests/linked.yaml", Self.project("linked"))
        try repo.remove("manifests/image.yaml")
        try repo.link("manifests/image.yaml", to: "../other/ignored.yaml")
        try repo.write("manifests/big.yaml", Self.project("big") + "# " + String(repeating: "x", count: 5000) + "\n")
        let second = try await repo.commit("links and sizes")
        let report = try Self.compareInvalid(source, second, after: loaded)
        #expect(report.diagnostics.contains { $0.file == "manifests/image.yaml" && $0.message.contains("symbolic link") })
        #expect(report.diagnostics.contains { $0.file == "manifests/big.yaml" && $0.message.contains("at most 4096 bytes") })
        #expect(!report.diagnostics.contains { $0.file == "manifests/linked.yaml" })
    }

    @Test func fallsBackToAFullLoadWhenAnIncrementalOneCannotStandIn() async throws {
        let repo = try await Repository()
        let first = try await Self.seed(repo)
        let source = try ManifestSource(location: repo.path, path: "manifests", cacheRoot: repo.path + "/.cache")
        let loaded = try source.load(first)

        // Other limits: everything is read again under the new ones.
        try repo.write("manifests/instance.yaml", Self.instance(vcpus: 2))
        let second = try await repo.commit("edit")
        source.limits = ManifestLimits(maxFileBytes: 1 << 20)
        let relimited = try Self.compare(source, second, after: loaded)
        #expect(relimited.stats?.incremental == false)
        #expect(relimited.stats?.fullLoadReason == "the limits changed")
        source.limits = .default

        // Another manifest path: everything under it is read (other/ignored.yaml is not YAML).
        let whole = try ManifestSource(location: repo.path, path: "", cacheRoot: repo.path + "/.cache")
        do {
            _ = try whole.load(second, after: loaded)
            Issue.record("expected other/ignored.yaml to be read and refused")
        } catch let EngineError.invalid(report) {
            #expect(report.summary.files == 9)
            #expect(report.diagnostics.contains { $0.file == "other/ignored.yaml" })
        }

        // The manifest path is no longer a directory: refused as a full load refuses it.
        try FileManager.default.removeItem(atPath: repo.path + "/manifests")
        try repo.write("manifests", "a file now\n")
        let third = try await repo.commit("manifests is a file")
        #expect(throws: EngineError.self) { try source.load(third) }
        do {
            _ = try source.load(third, after: loaded)
            Issue.record("expected the path to be refused")
        } catch let EngineError.source(message) {
            #expect(message.contains("not a directory"), "\(message)")
        }

        // The earlier commit is gone from the repository (history rewritten and collected).
        try await repo.git("checkout", "-q", "--orphan", "rewritten", second)
        let rewritten = try await repo.commit("rewritten")
        try await repo.git("branch", "-D", "main")
        try await repo.git("reflog", "expire", "--expire=now", "--all")
        try await repo.git("gc", "-q", "--prune=now")
        let reopened = try ManifestSource(location: repo.path, path: "manifests", cacheRoot: repo.path + "/.cache")
        let unrelated = try Self.compare(reopened, rewritten, after: loaded)
        #expect(unrelated.stats?.incremental == false)
        #expect(unrelated.stats?.fullLoadReason?.hasPrefix("cannot compare with \(first.prefix(12))") == true,
                "\(unrelated.stats?.fullLoadReason ?? "")")
    }
}
