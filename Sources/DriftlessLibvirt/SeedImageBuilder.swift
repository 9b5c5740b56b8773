import DriftlessCore
import DriftlessProcess
import Foundation

/// Builds a cloud-init NoCloud seed ISO (volume label `cidata`) with `genisoimage`, run with an argument
/// list (never a shell) in a private temporary directory, while the calling task suspends.
public struct SeedImageBuilder: Sendable {
    public var tool: String

    public init(tool: String = "/usr/bin/genisoimage") {
        self.tool = tool
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// The ISO image's bytes; the caller suspends while `genisoimage` runs.
    public func build(_ documents: CloudInitDocuments) async throws -> Data {
        let directory = try stage(documents)
        defer { try? FileManager.default.removeItem(at: directory.root) }
        let run: ChildProcess.Output
        do {
            run = try await ChildProcess.run(tool, arguments(directory), outputLimit: 1 << 20)
        } catch {
            throw Failure(description: "cannot run \(tool) (install genisoimage): \(error)")
        }
        return try result(run, directory)
    }

    /// A private directory holding the seed's files, and where the ISO goes.
    struct Staged {
        var root: URL
        var files: [String]
        var output: URL
    }

    func stage(_ documents: CloudInitDocuments) throws -> Staged {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("driftless-seed-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        var paths: [String] = []
        do {
            for (name, contents) in documents.files {
                let url = directory.appendingPathComponent(name)
                try Data(contents.utf8).write(to: url)
                paths.append(url.path)
            }
        } catch {
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
        return Staged(root: directory, files: paths, output: directory.appendingPathComponent("seed.iso"))
    }

    func arguments(_ staged: Staged) -> [String] {
        ["-quiet", "-output", staged.output.path, "-volid", "cidata", "-joliet", "-rock"] + staged.files
    }

    func result(_ run: ChildProcess.Output, _ staged: Staged) throws -> Data {
        guard run.succeeded else {
            throw Failure(description: "\(tool) failed (\(run.status)): \(run.stderr)")
        }
        return try Data(contentsOf: staged.output)
    }
}
