// The incremental load benchmark of issue 12:
//
//   swift run -c release DriftlessLoadBench [N ...] [--runs R]     (default: 1000 5000 10000, 9 runs)
//
// For each N, generates a valid repository of N manifests (benchmarks/generate_repo.py: one document per
// file, 100 per project directory), commits a one-file change (one instance's vCPUs), and times reading
// and validating the new commit from the local repository (no fetch): a full load, which reads and
// decodes every file, and an incremental load after the previous commit, which reads and decodes only
// the changed file and runs the checks across objects on the whole state. Both must give the same report.
// Goal: the incremental load in at most 20 ms, and flat from 1,000 to 10,000 files.
import DriftlessCore
import DriftlessEngine
import DriftlessGit
import DriftlessProcess
import Foundation

/// Milliseconds from a duration.
func milliseconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
}

/// The median of `runs` timings of `body`, in milliseconds.
func median(runs: Int, _ body: () throws -> Void) rethrows -> Double {
    var times: [Double] = []
    for _ in 0..<runs {
        let start = ContinuousClock.now
        try body()
        times.append(milliseconds(ContinuousClock.now - start))
    }
    return times.sorted()[times.count / 2]
}

@discardableResult
func run(_ arguments: String..., in directory: String? = nil) throws -> String {
    let environment = ["GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "b@example.com",
                       "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "b@example.com"]
    let output = try ChildProcess.runBlockingChecked(arguments[0], Array(arguments.dropFirst()), in: directory,
                                                     environment: environment)
    return output.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
}

/// The same report, compared as the JSON that `--format json` prints.
func sameReport(_ a: ValidationReport, _ b: ValidationReport) throws -> Bool {
    let encoder = JSONEncoder()
    encoder.outputFormatting = .sortedKeys
    return try encoder.encode(a) == encoder.encode(b)
}

struct Figures {
    var manifests: Int
    var full: Double
    var incremental: Double
    /// Parts of an incremental load, measured on their own: the git diff, patching the earlier commit's
    /// assembly with the changed file, and the checks across objects over the whole state.
    var diff: Double
    var patch: Double
    var checks: Double
    /// What the incremental load saves most: decoding every file.
    var decodeAll: Double
}

func measure(manifests count: Int, runs: Int, in root: String) throws -> Figures {
    let repo = root + "/repo-\(count)"
    let generator = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("benchmarks/generate_repo.py").path
    try run("python3", generator, String(count), repo)
    let base = try run("git", "rev-parse", "HEAD", in: repo)
    let changed = repo + "/p0000/instances/vm-3.yaml"
    let text = try String(contentsOfFile: changed, encoding: .utf8)
    try text.replacingOccurrences(of: "vcpus: 4", with: "vcpus: 3").write(toFile: changed, atomically: true, encoding: .utf8)
    try run("git", "commit", "-q", "-am", "one instance: 3 vCPUs", in: repo)
    let head = try run("git", "rev-parse", "HEAD", in: repo)

    let repository = try GitRepository.open(path: repo)
    let source = ManifestSource(repository: repository, path: "")
    let previous = try source.load(base)
    let full = try source.load(head)
    let incremental = try source.load(head, after: previous)
    guard let stats = incremental.stats, stats.incremental, stats.decodedFiles == 1, stats.patchedState,
          try sameReport(full.report, incremental.report), full.report.summary.files == count
    else {
        throw BenchFailure(message: "the incremental load of \(count) manifests differs: \(String(describing: incremental.stats))")
    }

    let fullTime = try median(runs: runs) { _ = try source.load(head) }
    let incrementalTime = try median(runs: runs) { _ = try source.load(head, after: previous) }
    let diffTime = try median(runs: runs) { _ = try repository.changedPaths(from: base, to: head, manifestsOnly: false) }
    guard let decoded = incremental.decoded, let earlier = previous.decoded else {
        throw BenchFailure(message: "the loads kept no decoded files")
    }
    let checksTime = median(runs: runs) { _ = ManifestLoader.validate(decoded.assembly, files: decoded.files) }
    let removed = earlier.files.filter { $0.path == "p0000/instances/vm-3.yaml" }
    let added = decoded.files.filter { $0.path == "p0000/instances/vm-3.yaml" }
    let patchTime = median(runs: runs) { _ = earlier.assembly.patched(removing: removed, adding: added) }
    let snapshot = try repository.readManifests(at: head)
    let decodeTime = median(runs: max(3, runs / 3)) { _ = ManifestLoader.decode(snapshot.files) }
    return Figures(manifests: count, full: fullTime, incremental: incrementalTime, diff: diffTime, patch: patchTime,
                   checks: checksTime, decodeAll: decodeTime)
}

struct BenchFailure: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

var arguments = Array(CommandLine.arguments.dropFirst())
var runs = 9
if let flag = arguments.firstIndex(of: "--runs"), flag + 1 < arguments.count, let value = Int(arguments[flag + 1]) {
    runs = value
    arguments.removeSubrange(flag...(flag + 1))
}
let counts = arguments.isEmpty ? [1000, 5000, 10000] : arguments.compactMap { Int($0) }
let root = NSTemporaryDirectory() + "driftless-loadbench-\(UUID().uuidString.prefix(8))"
do {
    try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: root) }
    var results: [Figures] = []
    for count in counts {
        results.append(try measure(manifests: count, runs: runs, in: root))
    }
    print("load of a one-file commit, release build, \(ProcessInfo.processInfo.activeProcessorCount) cores, median of \(runs) runs (fetch excluded)")
    print("manifests       full  incremental | of which: git diff   patch  checks across objects | decode all files")
    for r in results {
        print(String(format: "%9d %8.1fms %10.1fms | %17.2fms %6.2fms %21.1fms | %14.1fms",
                     r.manifests, r.full, r.incremental, r.diff, r.patch, r.checks, r.decodeAll))
    }
} catch {
    FileHandle.standardError.write(Data("DriftlessLoadBench: \(error)\n".utf8))
    exit(1)
}
