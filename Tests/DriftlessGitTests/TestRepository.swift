import DriftlessProcess
import Foundation

/// A real git repository in a temporary directory, driven by the `git` command line.
final class TestRepository {
    let path: String

    init() async throws {
        path = NSTemporaryDirectory() + "driftless-git-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try await git("init", "-q", "-b", "main")
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// Runs git in the repository and returns its trimmed standard output.
    @discardableResult
    func git(_ arguments: String...) async throws -> String {
        try await Self.run(["git"] + arguments, in: path)
    }

    /// Async: these tests run in parallel on Swift's cooperative threads, which must never block on a child.
    static func run(_ arguments: [String], in directory: String) async throws -> String {
        let environment = [
            "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.com",
            "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.com",
            "GIT_CONFIG_NOSYSTEM": "1", "HOME": directory,
        ]
        let output = try await ChildProcess.run(arguments[0], Array(arguments.dropFirst()), in: directory, environment: environment)
        guard output.succeeded else {
            throw CommandFailed(command: arguments.joined(separator: " "), output: output.stderr)
        }
        return output.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    struct CommandFailed: Error, CustomStringConvertible {
        var command: String
        var output: String
        var description: String { "\(command) failed: \(output)" }
    }

    func write(_ relativePath: String, _ contents: String) throws {
        let url = URL(fileURLWithPath: path).appendingPathComponent(relativePath)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try contents.write(to: url, atomically: true, encoding: .utf8)
    }

    func remove(_ relativePath: String) throws {
        try FileManager.default.removeItem(atPath: URL(fileURLWithPath: path).appendingPathComponent(relativePath).path)
    }

    /// Stages everything and commits; returns the new commit id.
    @discardableResult
    func commit(_ message: String) async throws -> String {
        try await git("add", "-A")
        try await git("commit", "-q", "-m", message)
        return try await git("rev-parse", "HEAD")
    }

    static func project(_ name: String) -> String {
        "apiVersion: driftless.dev/v1\nkind: Project\nmetadata: {name: \(name)}\n"
    }
}
