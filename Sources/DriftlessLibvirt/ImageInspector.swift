import DriftlessCore
import DriftlessProcess
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Inspects an image file with `qemu-img info --output=json -f <declared format>` before it is used, and
/// refuses a backing file, an external data file or a format other than the declared one (the attacks of
/// CVE-2022-47951, CVE-2024-32498 and CVE-2024-40767 on Glance and Nova).
///
/// A crafted image can make `qemu-img info` spin or allocate without bound (CVE-2015-5162), so it runs
/// the way QEMU's documentation, Nova and Glance run it on untrusted images: under `prlimit` with an
/// address-space limit (1 GiB) and a CPU-time limit (30 s), and it is killed when it has not finished
/// within a wall-clock limit (CPU time does not count a process that blocks).
public struct ImageInspector: Sendable {
    public var tool: String
    /// `prlimit` from util-linux, which sets the limits and then runs the tool.
    public var limiter: String
    public var memoryLimitBytes: Int
    public var cpuSeconds: Int
    public var timeLimit: Duration

    public init(tool: String = "/usr/bin/qemu-img", limiter: String = "/usr/bin/prlimit",
                memoryLimitBytes: Int = 1 << 30, cpuSeconds: Int = 30, timeLimit: Duration = .seconds(30)) {
        self.tool = tool
        self.limiter = limiter
        self.memoryLimitBytes = memoryLimitBytes
        self.cpuSeconds = cpuSeconds
        self.timeLimit = timeLimit
    }

    public func check(_ path: String, declaredFormat: DiskFormat, image: String) async throws {
        let declared = try await info(path, format: declaredFormat.rawValue, image: image)
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
            let probed = try await info(path, format: nil, image: image)
            if let format = probed["format"] as? String, format != "raw" {
                throw ImageImportError.unsafeImage(image: image, reason: "it is declared raw but is \(format)")
            }
        }
    }

    /// The arguments that run `qemu-img info` under the limits.
    func arguments(_ path: String, format: String?) -> [String] {
        var arguments = [limiter, "--as=\(memoryLimitBytes)", "--cpu=\(cpuSeconds)", "--", tool, "info", "--output=json"]
        if let format { arguments += ["-f", format] }
        return arguments + ["--", path]
    }

    func info(_ path: String, format: String?, image: String) async throws -> [String: Any] {
        let run = try await LimitedProcess.run(arguments(path, format: format), timeLimit: timeLimit, outputLimit: 1 << 20)
        switch run.termination {
        case .timedOut:
            throw ImageImportError.unsafeImage(
                image: image, reason: "qemu-img info did not finish within \(timeLimit.components.seconds) s; refused as unsafe")
        case let .signaled(signal) where signal == SIGXCPU || signal == SIGKILL:
            throw ImageImportError.unsafeImage(
                image: image, reason: "qemu-img info used up its CPU limit of \(cpuSeconds) s; refused as unsafe")
        case let .signaled(signal):
            throw ImageImportError.unsafeImage(
                image: image, reason: "qemu-img info died of signal \(signal) under its limits (\(memoryLimitBytes >> 20) MiB of "
                    + "memory, \(cpuSeconds) s of CPU); refused as unsafe")
        case let .exited(status) where status != 0:
            let message = run.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
            throw ImageImportError.unsafeImage(image: image, reason: "qemu-img cannot read it as \(format ?? "any format"): \(message)")
        case .exited:
            break
        }
        guard let json = try? JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any] else {
            throw ImageImportError.unsafeImage(image: image, reason: "qemu-img gave no information")
        }
        return json
    }
}

/// A child process with a wall-clock limit and a bounded output, run through `ChildProcess` while the
/// caller suspends; at the limit the task running it is cancelled, which kills the child (SIGKILL).
enum LimitedProcess {
    enum Termination: Equatable {
        case exited(Int32)
        case signaled(Int32)
        case timedOut
    }

    struct Run {
        var termination: Termination
        var stdout: String
        var stderr: String
    }

    /// Runs `arguments` (stdin from /dev/null, a minimal environment) for at most `timeLimit`.
    static func run(_ arguments: [String], timeLimit: Duration, outputLimit: Int) async throws -> Run {
        try await withThrowingTaskGroup(of: Run?.self) { group in
            group.addTask {
                let output = try await ChildProcess.run(
                    arguments[0], Array(arguments.dropFirst()),
                    environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"], inheritEnvironment: false,
                    outputLimit: outputLimit)
                return Run(termination: output.signal.map(Termination.signaled) ?? .exited(output.status),
                           stdout: output.stdout, stderr: String(output.stderr.prefix(4096)))
            }
            group.addTask {
                try await Task.sleep(for: timeLimit)
                return nil
            }
            defer { group.cancelAll() }
            let first = try await group.next() ?? nil
            return first ?? Run(termination: .timedOut, stdout: "", stderr: "")
        }
    }
}
