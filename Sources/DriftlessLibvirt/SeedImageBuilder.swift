import DriftlessCore
import DriftlessProcess
import Foundation

/// Builds a cloud-init NoCloud seed ISO (volume label `cidata`) with `genisoimage`, run with an argument
/// list (never a shell) in a private temporary directory.
public struct SeedImageBuilder: Sendable {
    public var tool: String

    public init(tool: String = "/usr/bin/genisoimage") {
        self.tool = tool
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// The ISO image's bytes.
    public func build(_ documents: CloudInitDocuments) throws -> Data {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("driftless-seed-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(at: directory) }
        var paths: [String] = []
        for (name, contents) in documents.files {
            let url = directory.appendingPathComponent(name)
            try Data(contents.utf8).write(to: url)
            paths.append(url.path)
        }
        let output = directory.appendingPathComponent("seed.iso")
        // Called on a libvirt worker thread (inside the compute driver's blocking calls), never on a
        // cooperative one: `runBlocking` runs the child from a thread of its own.
        let run: ChildProcess.Output
        do {
            run = try ChildProcess.runBlocking(tool, ["-quiet", "-output", output.path, "-volid", "cidata", "-joliet", "-rock"] + paths,
                                               outputLimit: 1 << 20)
        } catch {
            throw Failure(description: "cannot run \(tool) (install genisoimage): \(error)")
        }
        guard run.succeeded else {
            throw Failure(description: "\(tool) failed (\(run.status)): \(run.stderr)")
        }
        return try Data(contentsOf: output)
    }
}
