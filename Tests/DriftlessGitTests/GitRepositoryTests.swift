import DriftlessCore
import DriftlessGit
import Foundation
import Testing

@Suite("Git source")
struct GitRepositoryTests {
    @Test func readsTheCommitNotTheWorkingTree() async throws {
        let repo = try await TestRepository()
        try repo.write("projects.yaml", TestRepository.project("committed"))
        let commit = try await repo.commit("first")
        // Uncommitted changes in the working tree must not be read.
        try repo.write("projects.yaml", TestRepository.project("uncommitted"))
        try repo.write("new.yaml", TestRepository.project("untracked"))

        let snapshot = try GitRepository.open(path: repo.path).readManifests(at: nil)
        #expect(snapshot.commit == commit)
        #expect(snapshot.files.map(\.path) == ["projects.yaml"])
        let result = ManifestLoader.load(snapshot.files)
        #expect(result.state.projects.map(\.name) == ["committed"])
    }

    @Test func resolvesBranchesTagsAndCommits() async throws {
        let repo = try await TestRepository()
        try repo.write("p.yaml", TestRepository.project("one"))
        let first = try await repo.commit("one")
        try await repo.git("tag", "v1")
        try await repo.git("checkout", "-q", "-b", "feature")
        try repo.write("p.yaml", TestRepository.project("two"))
        let second = try await repo.commit("two")
        try await repo.git("checkout", "-q", "main")

        let git = try GitRepository.open(path: repo.path)
        #expect(try git.resolve(nil) == first)
        #expect(try git.resolve("main") == first)
        #expect(try git.resolve("v1") == first)
        #expect(try git.resolve("feature") == second)
        #expect(try git.resolve(String(second.prefix(10))) == second)
        #expect(try git.resolve("feature~1") == first)
        #expect(throws: GitSourceError.self) { try git.resolve("no-such-branch") }
        let names = try ManifestLoader.load(git.readManifests(at: "feature").files).state.projects.map(\.name)
        #expect(names == ["two"])
    }

    @Test func readsOnlyUnderThePath() async throws {
        let repo = try await TestRepository()
        try repo.write("cloud/a.yaml", TestRepository.project("a"))
        try repo.write("cloud/nested/b.yml", TestRepository.project("b"))
        try repo.write("cloud/readme.md", "not a manifest")
        try repo.write("other/c.yaml", TestRepository.project("c"))
        try await repo.commit("layout")

        let git = try GitRepository.open(path: repo.path)
        let snapshot = try git.readManifests(at: nil, under: "./cloud/")
        #expect(snapshot.files.map(\.path).sorted() == ["cloud/a.yaml", "cloud/nested/b.yml"])
        #expect(throws: GitSourceError.self) { try git.readManifests(at: nil, under: "missing") }
        #expect(throws: GitSourceError.self) { try git.readManifests(at: nil, under: "../etc") }
        #expect(throws: GitSourceError.self) { try git.readManifests(at: nil, under: "cloud/a.yaml") }
    }

    @Test func symlinksAreReportedAndNeverFollowed() async throws {
        let repo = try await TestRepository()
        try repo.write("real.yaml", TestRepository.project("real"))
        try FileManager.default.createSymbolicLink(atPath: repo.path + "/passwd.yaml", withDestinationPath: "/etc/passwd")
        try FileManager.default.createSymbolicLink(atPath: repo.path + "/inside.yaml", withDestinationPath: "real.yaml")
        try await repo.commit("links")

        let snapshot = try GitRepository.open(path: repo.path).readManifests(at: nil)
        #expect(snapshot.files.map(\.path) == ["real.yaml"])
        let warnings = snapshot.diagnostics.items.filter { $0.message.contains("symbolic link skipped") }
        #expect(Set(warnings.compactMap(\.location?.file)) == ["passwd.yaml", "inside.yaml"])
        let everything = snapshot.diagnostics.map(\.description).joined()
        #expect(!everything.contains("root:"), "bytes from outside the repository leaked")
        #expect(!everything.contains("/etc/passwd"))
    }

    @Test func aSymlinkedManifestDirectoryIsRefused() async throws {
        let repo = try await TestRepository()
        try repo.write("real/a.yaml", TestRepository.project("a"))
        try FileManager.default.createSymbolicLink(atPath: repo.path + "/cloud", withDestinationPath: "/etc")
        try await repo.commit("linked dir")
        let snapshot = try GitRepository.open(path: repo.path).readManifests(at: nil, under: "cloud")
        #expect(snapshot.files.isEmpty)
        #expect(snapshot.diagnostics.items.contains { $0.severity == .error && $0.location?.file == "cloud" })
    }

    @Test func submodulesAreReportedAndSkipped() async throws {
        let inner = try await TestRepository()
        try inner.write("x.yaml", TestRepository.project("inner"))
        try await inner.commit("inner")
        let repo = try await TestRepository()
        try repo.write("a.yaml", TestRepository.project("outer"))
        try await repo.git("-c", "protocol.file.allow=always", "submodule", "add", "-q", inner.path, "vendor/sub")
        try await repo.commit("with submodule")

        let snapshot = try GitRepository.open(path: repo.path).readManifests(at: nil)
        #expect(snapshot.files.map(\.path) == ["a.yaml"])
        #expect(snapshot.diagnostics.items.contains {
            $0.message.contains("submodule skipped") && $0.location?.file == "vendor/sub"
        })
    }

    @Test func listsChangedManifestPaths() async throws {
        let repo = try await TestRepository()
        try repo.write("m/keep.yaml", TestRepository.project("keep"))
        try repo.write("m/change.yaml", TestRepository.project("change"))
        try repo.write("m/drop.yaml", TestRepository.project("drop"))
        try repo.write("elsewhere.yaml", TestRepository.project("elsewhere"))
        let base = try await repo.commit("base")
        try repo.write("m/change.yaml", TestRepository.project("changed"))
        try repo.remove("m/drop.yaml")
        try repo.write("m/add.yml", TestRepository.project("add"))
        try repo.write("m/notes.txt", "ignored")
        try repo.write("elsewhere.yaml", TestRepository.project("outside"))
        let head = try await repo.commit("head")

        let changes = try GitRepository.open(path: repo.path).changedPaths(from: base, to: head, under: "m")
        let summary = Set(changes.map { "\($0.status.rawValue) \($0.newPath ?? $0.oldPath ?? "")" })
        #expect(summary == ["modified m/change.yaml", "deleted m/drop.yaml", "added m/add.yml"])

        let reread = try GitRepository.open(path: repo.path).readFiles(["m/change.yaml", "m/drop.yaml"], at: head)
        #expect(reread.files.map(\.path) == ["m/change.yaml"])

        // Every changed path under m/, whatever its name (for incremental loads).
        let all = try GitRepository.open(path: repo.path).changedPaths(from: base, to: head, under: "m", manifestsOnly: false)
        #expect(Set(all.map { $0.newPath ?? $0.oldPath ?? "" }) == ["m/change.yaml", "m/drop.yaml", "m/add.yml", "m/notes.txt"])
    }

    /// The tree walk reports what `git diff --no-renames` reports: nested changes below unchanged
    /// directories, a directory turned into a file and back, a file turned into a link, a mode change.
    @Test func changedPathsAreThoseGitReports() async throws {
        let repo = try await TestRepository()
        for name in ["a/keep.yaml", "a/b/c/deep.yaml", "a/b/other.yaml", "x/file.yaml", "d/inside.yaml", "m.yaml", "z.yaml"] {
            try repo.write(name, TestRepository.project(name.replacingOccurrences(of: "/", with: "-")))
        }
        let base = try await repo.commit("base")
        try repo.write("a/b/c/deep.yaml", TestRepository.project("deeper"))
        try repo.write("a/b/c/new.yaml", TestRepository.project("new"))
        try FileManager.default.removeItem(atPath: repo.path + "/x")
        try repo.write("x", "now a file\n")
        try FileManager.default.removeItem(atPath: repo.path + "/d")
        try repo.write("d.yaml", "beside where d was\n")
        try repo.remove("m.yaml")
        try FileManager.default.createSymbolicLink(atPath: repo.path + "/m.yaml", withDestinationPath: "z.yaml")
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: repo.path + "/z.yaml")
        let head = try await repo.commit("head")

        let git = try GitRepository.open(path: repo.path)
        func listed(_ from: String, _ to: String, under path: String = "") throws -> [String] {
            try git.changedPaths(from: from, to: to, under: path, manifestsOnly: false).map {
                "\($0.status == .modified ? "M" : $0.status == .added ? "A" : "D")\t\($0.newPath ?? $0.oldPath ?? "")"
            }
        }
        func reported(_ from: String, _ to: String, under path: String = "") async throws -> [String] {
            let output = try await repo.git("diff", "--no-renames", "--name-status", from, to, "--", path.isEmpty ? "." : path + "/")
            // A change of type is a delete and an add (no type-change detection).
            return output.split(separator: "\n").flatMap { line in
                line.hasPrefix("T\t") ? ["D" + line.dropFirst(), "A" + line.dropFirst()] : [String(line)]
            }
        }
        for (from, to, path) in [(base, head, ""), (head, base, ""), (base, head, "a/b"), (base, head, "x")] {
            let expected = try await reported(from, to, under: path)
            #expect(try listed(from, to, under: path) == expected, "under \"\(path)\"")
        }
        #expect(try listed(base, base).isEmpty)
    }

    @Test func tellsWhetherAManifestPathIsADirectory() async throws {
        let repo = try await TestRepository()
        try repo.write("m/p.yaml", TestRepository.project("p"))
        try repo.write("file.yaml", TestRepository.project("f"))
        let commit = try await repo.commit("layout")
        let git = try GitRepository.open(path: repo.path)
        #expect(try git.isDirectory("", at: commit))
        #expect(try git.isDirectory("./m/", at: commit))
        #expect(try !git.isDirectory("file.yaml", at: commit))
        #expect(try !git.isDirectory("absent", at: commit))
    }

    @Test func fetchesAFileRemoteIntoTheCache() async throws {
        let origin = try await TestRepository()
        try origin.write("p.yaml", TestRepository.project("v1"))
        let first = try await origin.commit("v1")
        let cache = NSTemporaryDirectory() + "driftless-cache-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: cache) }

        let url = "file://" + origin.path
        var git = try GitRepository.fetch(url: url, cacheRoot: cache)
        #expect(git.isRemoteCache)
        #expect(try git.resolve(nil) == first)
        #expect(try git.resolve("main") == first)

        try origin.write("p.yaml", TestRepository.project("v2"))
        let second = try await origin.commit("v2")
        git = try GitRepository.fetch(url: url, cacheRoot: cache)
        #expect(try git.resolve(nil) == second)
        #expect(try ManifestLoader.load(git.readManifests(at: nil).files).state.projects.map(\.name) == ["v2"])
        #expect(try git.isAncestor(first, of: second))
        #expect(try !git.isAncestor(second, of: first))
        // One cache directory per remote, reused.
        #expect(try FileManager.default.contentsOfDirectory(atPath: cache).count == 1)
    }

    @Test func credentialsNeverAppearInErrors() async throws {
        let cache = NSTemporaryDirectory() + "driftless-cache-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: cache) }
        do {
            _ = try GitRepository.fetch(url: "https://deploy:s3cr3t-t0ken@127.0.0.1:1/cloud.git", cacheRoot: cache)
            Issue.record("fetching from a closed port succeeded")
        } catch {
            let text = "\(error)"
            #expect(!text.contains("s3cr3t-t0ken"), "\(text)")
            #expect(!text.contains("deploy:"), "\(text)")
        }
        #expect(Redaction.redact("fatal: https://u:p@host/x and ssh://git@host:22/y") == "fatal: https://***@host/x and ssh://***@host:22/y")
    }

    @Test func oversizedFilesAreErrorsAndNotRead() async throws {
        let repo = try await TestRepository()
        try repo.write("big.yaml", String(repeating: "# padding\n", count: 2000))
        try await repo.commit("big")
        let limits = ManifestLimits(maxFileBytes: 1000)
        let snapshot = try GitRepository.open(path: repo.path).readManifests(at: nil, limits: limits)
        #expect(snapshot.files.isEmpty)
        #expect(snapshot.diagnostics.items.contains { $0.message.contains("at most 1000 bytes") && $0.location?.file == "big.yaml" })
    }

    @Test func opensABareRepository() async throws {
        let repo = try await TestRepository()
        try repo.write("p.yaml", TestRepository.project("bare"))
        let commit = try await repo.commit("c")
        let bare = NSTemporaryDirectory() + "driftless-bare-\(UUID().uuidString).git"
        defer { try? FileManager.default.removeItem(atPath: bare) }
        _ = try await TestRepository.run(["git", "clone", "-q", "--bare", repo.path, bare], in: NSTemporaryDirectory())
        #expect(try GitRepository.open(path: bare).resolve(nil) == commit)
        #expect(throws: GitSourceError.self) { try GitRepository.open(path: "/nonexistent/repo") }
    }
}
