import Foundation

/// Reads the manifest files under a directory on disk (a pre-commit hook, an editor).
///
/// Symbolic links are never followed, the same rule as reading from git: they are reported and skipped.
/// Hidden directories (`.git`) are skipped.
public enum DirectorySource {
    /// Reads every `*.yaml`/`*.yml` under `directory`; paths are reported as `prefix` joined with the path
    /// relative to `directory`.
    public static func read(
        _ directory: String, displayPrefix prefix: String? = nil, limits: ManifestLimits = .default
    ) throws -> (files: [ManifestFile], diagnostics: Diagnostics) {
        let root = URL(fileURLWithPath: directory, isDirectory: true).standardizedFileURL
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw SourceError.notADirectory(directory)
        }
        let displayRoot = prefix ?? directory
        func display(_ relative: String) -> String {
            displayRoot == "." || displayRoot.isEmpty ? relative
                : (displayRoot.hasSuffix("/") ? displayRoot + relative : displayRoot + "/" + relative)
        }
        var files: [ManifestFile] = []
        var diagnostics = Diagnostics()
        var pending = [""]
        while let relativeDirectory = pending.popLast() {
            let url = relativeDirectory.isEmpty ? root : root.appendingPathComponent(relativeDirectory)
            let entries = try FileManager.default.contentsOfDirectory(atPath: url.path).sorted()
            for entry in entries where !entry.hasPrefix(".") {
                let relative = relativeDirectory.isEmpty ? entry : relativeDirectory + "/" + entry
                let path = root.appendingPathComponent(relative).path
                let attributes = try FileManager.default.attributesOfItem(atPath: path)
                let type = attributes[.type] as? FileAttributeType
                if type == .typeSymbolicLink {
                    if ManifestFile.isManifestPath(entry) || !entry.contains(".") {
                        diagnostics.warning("symbolic link skipped; Driftless never follows links",
                                            at: SourceLocation(file: display(relative), line: 1, column: 1))
                    }
                } else if type == .typeDirectory {
                    pending.append(relative)
                } else if type == .typeRegular, ManifestFile.isManifestPath(entry) {
                    let size = (attributes[.size] as? NSNumber)?.intValue ?? 0
                    if size > limits.maxFileBytes {
                        diagnostics.error(
                            "file is \(size) bytes; manifest files may be at most \(limits.maxFileBytes) bytes",
                            at: SourceLocation(file: display(relative), line: 1, column: 1),
                            hint: "split it into several files")
                        continue
                    }
                    let data = try Data(contentsOf: URL(fileURLWithPath: path))
                    files.append(ManifestFile(path: display(relative), contents: Array(data)))
                }
            }
        }
        return (files, diagnostics)
    }
}

/// Failures to read a manifest source at all (as opposed to problems in its manifests).
public enum SourceError: Error, CustomStringConvertible, Equatable {
    case notADirectory(String)

    public var description: String {
        switch self {
        case let .notADirectory(path): "\(path) is not a directory"
        }
    }
}
