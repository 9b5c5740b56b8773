import DriftlessCore
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

    /// The arguments that run `qemu-img info` under the limits.
    func arguments(_ path: String, format: String?) -> [String] {
        var arguments = [limiter, "--as=\(memoryLimitBytes)", "--cpu=\(cpuSeconds)", "--", tool, "info", "--output=json"]
        if let format { arguments += ["-f", format] }
        return arguments + ["--", path]
    }

    func info(_ path: String, format: String?, image: String) throws -> [String: Any] {
        let run = try LimitedProcess.run(arguments(path, format: format), timeLimit: timeLimit, outputLimit: 1 << 20)
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
            let message = String(decoding: run.stderr, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw ImageImportError.unsafeImage(image: image, reason: "qemu-img cannot read it as \(format ?? "any format"): \(message)")
        case .exited:
            break
        }
        guard let json = try? JSONSerialization.jsonObject(with: run.stdout) as? [String: Any] else {
            throw ImageImportError.unsafeImage(image: image, reason: "qemu-img gave no information")
        }
        return json
    }
}

/// A child process with a wall-clock limit, its output in private files read back up to a limit.
enum LimitedProcess {
    enum Termination: Equatable {
        case exited(Int32)
        case signaled(Int32)
        case timedOut
    }

    struct Run {
        var termination: Termination
        var stdout: Data
        var stderr: Data
    }

    struct SpawnFailed: Error, CustomStringConvertible {
        var program: String
        var code: Int32
        var description: String { "cannot run \(program): \(String(cString: strerror(code)))" }
    }

    /// Spawns `arguments` (stdin from /dev/null, a minimal environment), waits at most `timeLimit`, then
    /// kills it (SIGKILL) and reaps it.
    static func run(_ arguments: [String], timeLimit: Duration, outputLimit: Int) throws -> Run {
        let directory = FileManager.default.temporaryDirectory.path
        let base = "\(directory)/driftless-qemu-img-\(UUID().uuidString)"
        let outPath = base + ".out", errPath = base + ".err"
        defer {
            unlink(outPath)
            unlink(errPath)
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600)
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var envp: [UnsafeMutablePointer<CChar>?] = [strdup("PATH=/usr/sbin:/usr/bin:/sbin:/bin"), strdup("LC_ALL=C"), nil]
        defer { envp.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, arguments[0], &actions, nil, &argv, &envp)
        guard spawned == 0 else { throw SpawnFailed(program: arguments[0], code: spawned) }

        let deadline = ContinuousClock.now + timeLimit
        var status: Int32 = 0
        var termination: Termination?
        while termination == nil {
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid {
                termination = status & 0x7F == 0 ? .exited((status >> 8) & 0xFF) : .signaled(status & 0x7F)
            } else if reaped < 0 && errno != EINTR {
                termination = .exited(-1)
            } else if ContinuousClock.now >= deadline {
                kill(pid, SIGKILL)
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                termination = .timedOut
            } else {
                usleep(5_000)
            }
        }
        return Run(termination: termination ?? .timedOut, stdout: read(outPath, limit: outputLimit), stderr: read(errPath, limit: 4096))
    }

    static func read(_ path: String, limit: Int) -> Data {
        guard let handle = FileHandle(forReadingAtPath: path) else { return Data() }
        defer { try? handle.close() }
        return (try? handle.read(upToCount: limit)) ?? Data()
    }
}
