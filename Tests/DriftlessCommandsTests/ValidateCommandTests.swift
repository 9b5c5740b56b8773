import Foundation
import Testing

/// `driftless validate` and `driftless schema`, run as a user runs them.
@Suite("driftless validate")
struct ValidateCommandTests {
    @Test func theBundledLabIsValid() async throws {
        let output = try await DriftlessBinary.run(["validate", "examples/lab"], in: DriftlessBinary.repositoryRoot)
        #expect(output.status == 0, "\(output.stdout)\(output.stderr)")
        #expect(output.stdout == "examples/lab: 13 objects in 6 files valid\n")
    }

    @Test func aBrokenManifestGivesFileLineColumnAndExitOne() async throws {
        let scratch = try ScratchDirectory()
        try scratch.copyLab(to: "cloud")
        let path = scratch.path + "/cloud/instances.yaml"
        let text = try String(contentsOfFile: path, encoding: .utf8)
        try text.replacingOccurrences(of: "memory: 512MiB\n  rootDisk: 4GiB\n  networks:\n    - network: frontend\n      ip: 10.10.0.11",
                                      with: "memory: 2GB\n  rootDisk: 4GiB\n  networks:\n    - network: frontend\n      ip: 10.10.0.11")
            .write(toFile: path, atomically: true, encoding: .utf8)

        let output = try await DriftlessBinary.run(["validate", "cloud"], in: scratch.path)
        #expect(output.status == 1)
        #expect(output.stdout.contains("cloud/instances.yaml:11:11: error: spec.memory: \"2GB\" does not use a binary unit (did you mean 2GiB?)"),
                "\(output.stdout)")
        #expect(output.stdout.hasSuffix("cloud: 1 error, 0 warnings in 13 documents in 6 files\n"), "\(output.stdout)")
    }

    @Test func jsonOutputIsParseable() async throws {
        let scratch = try ScratchDirectory()
        try scratch.write("bad.yaml", "apiVersion: driftless.dev/v1\nkind: Projekt\nmetadata: {name: x}\n")
        let output = try await DriftlessBinary.run(["validate", ".", "--format", "json"], in: scratch.path)
        #expect(output.status == 1)
        let json = try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any]
        #expect(json?["valid"] as? Bool == false)
        let diagnostics = json?["diagnostics"] as? [[String: Any]]
        #expect(diagnostics?.count == 1)
        #expect(diagnostics?.first?["file"] as? String == "bad.yaml")
        #expect(diagnostics?.first?["line"] as? Int == 2)
        #expect(diagnostics?.first?["column"] as? Int == 7)
        #expect(diagnostics?.first?["severity"] as? String == "error")
        #expect(diagnostics?.first?["hint"] as? String == "did you mean \"Project\"?")
        #expect((json?["summary"] as? [String: Any])?["errors"] as? Int == 1)
    }

    @Test func validatesACommitStraightFromGit() async throws {
        let scratch = try ScratchDirectory()
        try await scratch.git("init", "-q", "-b", "main")
        try scratch.copyLab(to: "infra/lab")
        try await scratch.git("add", "-A")
        try await scratch.git("commit", "-q", "-m", "lab")
        let good = try await scratch.git("rev-parse", "HEAD")
        // Break the lab in a second commit; the first must still validate.
        try scratch.write("infra/lab/broken.yaml", "apiVersion: driftless.dev/v1\nkind: Volume\nmetadata: {name: v, project: shop}\nspec: {size: 10GB}\n")
        try await scratch.git("add", "-A")
        try await scratch.git("commit", "-q", "-m", "break")

        let state = scratch.path + "/state"
        let bad = try await DriftlessBinary.run(["validate", "--repo", scratch.path, "--path", "infra/lab", "--state", state])
        #expect(bad.status == 1)
        #expect(bad.stdout.contains("infra/lab/broken.yaml:4:14: error: spec.size: \"10GB\" does not use a binary unit (did you mean 10GiB?)"),
                "\(bad.stdout)")

        let ok = try await DriftlessBinary.run(["validate", "--repo", scratch.path, "--rev", good, "--path", "infra/lab", "--state", state])
        #expect(ok.status == 0, "\(ok.stdout)\(ok.stderr)")
        #expect(ok.stdout.contains("at \(good.prefix(12)): 13 objects in 6 files valid"), "\(ok.stdout)")

        // The same through a file:// URL, fetched into the cache named by DRIFTLESS_STATE.
        let remote = try await DriftlessBinary.run(["validate", "--repo", "file://" + scratch.path, "--rev", good, "--path", "infra/lab"],
                                             environment: ["DRIFTLESS_STATE": state])
        #expect(remote.status == 0, "\(remote.stdout)\(remote.stderr)")
        #expect(FileManager.default.fileExists(atPath: state + "/repos"))
    }

    @Test func unreadableSourcesFailWithAClearMessage() async throws {
        let scratch = try ScratchDirectory()
        try await scratch.git("init", "-q", "-b", "main")
        try scratch.write("p.yaml", "apiVersion: driftless.dev/v1\nkind: Project\nmetadata: {name: p}\n")
        try await scratch.git("add", "-A")
        try await scratch.git("commit", "-q", "-m", "p")
        let missingRev = try await DriftlessBinary.run(["validate", "--repo", scratch.path, "--rev", "no-such-rev-xyz"])
        #expect(missingRev.status == 1)
        #expect(missingRev.stderr.contains("revision \"no-such-rev-xyz\" not found"), "\(missingRev.stderr)")
        let missingDirectory = try await DriftlessBinary.run(["validate", "/nonexistent/dir"])
        #expect(missingDirectory.status == 1)
        #expect(missingDirectory.stderr.contains("/nonexistent/dir is not a directory"))
        let pathWithoutRepo = try await DriftlessBinary.run(["validate", "--path", "cloud"])
        #expect(pathWithoutRepo.status != 0)
        #expect(pathWithoutRepo.stderr.contains("--path needs --repo"), "\(pathWithoutRepo.stderr)")
        let notARepository = try await DriftlessBinary.run(["validate", "--repo", "/tmp"])
        #expect(notARepository.status == 1)
        #expect(notARepository.stderr == "error: /tmp is not a git repository\n", "\(notARepository.stderr)")
    }

    @Test func schemaCommandPrintsEveryKind() async throws {
        let output = try await DriftlessBinary.run(["schema"])
        #expect(output.status == 0)
        let json = try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any]
        #expect(Set(json?.keys.map { $0 } ?? []) == ["Host", "Project", "User", "Image", "Network", "Volume", "Instance"])
        let one = try await DriftlessBinary.run(["schema", "instance"])
        let shipped = try String(contentsOfFile: DriftlessBinary.repositoryRoot + "/manifests/instance.json", encoding: .utf8)
        #expect(one.stdout == shipped)
    }

    @Test func helpTeaches() async throws {
        let output = try await DriftlessBinary.run(["validate", "--help"])
        #expect(output.status == 0)
        #expect(output.stdout.contains("path:line:column: error: message"))
        #expect(output.stdout.contains("--repo <path-or-url>"))
        #expect(output.stdout.contains("Examples:"))
    }
}
