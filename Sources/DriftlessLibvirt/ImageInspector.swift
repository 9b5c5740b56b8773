import DriftlessCore
import Foundation

/// Inspects an image file with `qemu-img info --output=json -f <declared format>` before it is used, and
/// refuses a backing file, an external data file or a format other than the declared one (the attacks of
/// CVE-2022-47951, CVE-2024-32498 and CVE-2024-40767 on Glance and Nova).
public struct ImageInspector: Sendable {
    public var tool: String

    public init(tool: String = "/usr/bin/qemu-img") {
        self.tool = tool
    }

    public func check(_ path: String, declaredFormat: DiskFormat, image: String) throws {
        let declared = try info(path, format: declaredFormat.rawValue, image: image)
        if let format = declared["format"] as? String, format != declaredFormat.rawValue {
            throw ImageImportError.unsafeImage(image: image, reason: "it is \(format), not the declared \(declaredFormat.rawValue)")
        }
        if let backing = declared["backing-filename"] as? String {
            throw ImageImportError.unsafeImage(image: image, reason: "it has a backing file (\(backing))")
        }
        if let specific = declared["format-specific"] as? [String: Any], let data = specific["data"] as? [String: Any],
           let dataFile = data["data-file"] as? String {
            throw ImageImportError.unsafeImage(image: image, reason: "it has an external data file (\(dataFile))")
        }
        // A file declared raw may still carry another format's header; probing tells.
        if declaredFormat == .raw {
            let probed = try info(path, format: nil, image: image)
            if let format = probed["format"] as? String, format != "raw" {
                throw ImageImportError.unsafeImage(image: image, reason: "it is declared raw but is \(format)")
            }
        }
    }

    func info(_ path: String, format: String?, image: String) throws -> [String: Any] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        var arguments = ["info", "--output=json"]
        if let format { arguments += ["-f", format] }
        process.arguments = arguments + ["--", path]
        let directory = FileManager.default.temporaryDirectory
        let out = directory.appendingPathComponent("driftless-qemu-img-\(UUID().uuidString).out")
        let err = directory.appendingPathComponent("driftless-qemu-img-\(UUID().uuidString).err")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        defer {
            try? FileManager.default.removeItem(at: out)
            try? FileManager.default.removeItem(at: err)
        }
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let message = (try? String(contentsOf: err, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            throw ImageImportError.unsafeImage(image: image, reason: "qemu-img cannot read it as \(format ?? "any format"): \(message)")
        }
        let data = try Data(contentsOf: out)
        guard let json = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ImageImportError.unsafeImage(image: image, reason: "qemu-img gave no information")
        }
        return json
    }
}
