import DriftlessProcess
import Foundation

/// Runs the built `driftless` executable, as a user would.
enum DriftlessBinary {
    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// The `driftless` executable beside the test bundle in the build products directory.
    static var url: URL {
        let products = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        return products.appendingPathComponent("driftless")
    }

    /// Runs the binary (swift-subprocess: both streams read at once, so a full stderr pipe never blocks it).
    static func run(_ arguments: [String], in directory: String? = nil, environment: [String: String] = [:]) async throws -> Output {
        var env = environment
        env["NO_COLOR"] = "1"
        let output = try await ChildProcess.run(url.path, arguments, in: directory, environment: env)
        return Output(status: output.status, stdout: output.stdout, stderr: output.stderr)
    }

    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
}

/// A scratch directory, removed when released.
final class ScratchDirectory {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "driftless-cli-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func write(_ relative: String, _ text: String) throws {
        let url = URL(fileURLWithPath: path).appendingPathComponent(relative)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try text.write(to: url, atomically: true, encoding: .utf8)
    }

    func copyLab(to relative: String) throws {
        let destination = URL(fileURLWithPath: path).appendingPathComponent(relative)
        try FileManager.default.createDirectory(at: destination.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: DriftlessBinary.repositoryRoot + "/examples/lab", toPath: destination.path)
    }

    @discardableResult
    func git(_ arguments: String...) async throws -> String {
        let output = try await ChildProcess.runChecked("git", ["-c", "user.name=Test", "-c", "user.email=t@example.com"] + arguments,
                                                         in: path)
        return output.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
