import DriftlessLibvirt
import Foundation
import XCTest

/// A name unique to this test run, prefixed so leftovers are easy to find and remove.
func uniqueTestName(_ suffix: String = "") -> String {
    let random = UUID().uuidString.prefix(8).lowercased()
    return suffix.isEmpty ? "dlt-test-\(random)" : "dlt-test-\(random)-\(suffix)"
}

/// The output of a finished command.
struct CommandResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs a command to completion and captures its output (for checks "from outside").
///
/// Uses `posix_spawnp`, a blocking `waitpid` and output files rather than Foundation's
/// `Process` and pipes: `Process` notices a child's exit through a descriptor the child
/// inherits, so any daemon a script leaves behind holding it made `waitUntilExit` hang.
@discardableResult
func runCommand(_ arguments: [String]) throws -> CommandResult {
    struct SpawnFailed: Error { var arguments: [String]; var errno: Int32 }
    let directory = FileManager.default.temporaryDirectory
    let outFile = directory.appendingPathComponent("dlt-cmd-\(UUID().uuidString).out")
    let errFile = directory.appendingPathComponent("dlt-cmd-\(UUID().uuidString).err")
    defer {
        try? FileManager.default.removeItem(at: outFile)
        try? FileManager.default.removeItem(at: errFile)
    }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, outFile.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_addopen(&actions, 2, errFile.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var pid: pid_t = 0
    let spawned = posix_spawnp(&pid, arguments[0], &actions, nil, &argv, environ)
    guard spawned == 0 else { throw SpawnFailed(arguments: arguments, errno: spawned) }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    let exited = (status & 0x7f) == 0
    return CommandResult(
        status: exited ? (status >> 8) & 0xff : 128 + (status & 0x7f),
        stdout: (try? String(contentsOf: outFile, encoding: .utf8)) ?? "",
        stderr: (try? String(contentsOf: errFile, encoding: .utf8)) ?? ""
    )
}

/// The repository root, found from this file's path (Tests/DriftlessLibvirtTests/…).
let repositoryRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// Reads events until `done` says the collected list is complete, or the timeout passes.
func collectEvents(
    from stream: AsyncStream<DomainEvent>,
    timeout: Duration = .seconds(10),
    until done: @escaping @Sendable ([DomainEvent]) -> Bool
) async -> [DomainEvent] {
    await withTaskGroup(of: [DomainEvent]?.self) { group in
        group.addTask {
            var events: [DomainEvent] = []
            for await event in stream {
                events.append(event)
                if done(events) { break }
            }
            return events
        }
        group.addTask {
            try? await Task.sleep(for: timeout)
            return nil
        }
        var result: [DomainEvent] = []
        if let first = await group.next() {
            result = first ?? []
        }
        group.cancelAll()
        // A timeout leaves the reader running until cancelled; collect what it had.
        if result.isEmpty, let second = await group.next() {
            result = second ?? []
        }
        return result
    }
}

/// Polls `condition` until it holds or `timeout` passes; returns whether it held.
func waitUntil(timeout: TimeInterval = 10, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return true }
        Thread.sleep(forTimeInterval: 0.1)
    }
    return try condition()
}

/// Asserts that `body` throws a `LibvirtError` and returns it for further checks.
func assertLibvirtError<T>(
    _ body: @autoclosure () throws -> T,
    file: StaticString = #filePath,
    line: UInt = #line
) -> LibvirtError? {
    do {
        _ = try body()
        XCTFail("expected a LibvirtError, got success", file: file, line: line)
    } catch let error as LibvirtError {
        return error
    } catch {
        XCTFail("expected a LibvirtError, got \(error)", file: file, line: line)
    }
    return nil
}
