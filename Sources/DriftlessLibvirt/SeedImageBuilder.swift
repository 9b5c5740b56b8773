import DriftlessCore
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
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = ["-quiet", "-output", output.path, "-volid", "cidata", "-joliet", "-rock"] + paths
        let errors = directory.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: errors.path, contents: nil)
        process.standardError = try FileHandle(forWritingTo: errors)
        process.standardOutput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw Failure(description: "cannot run \(tool) (install genisoimage): \(error)")
        }
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let message = (try? String(contentsOf: errors, encoding: .utf8)) ?? ""
            throw Failure(description: "\(tool) failed (\(process.terminationStatus)): \(message)")
        }
        return try Data(contentsOf: output)
    }
}
