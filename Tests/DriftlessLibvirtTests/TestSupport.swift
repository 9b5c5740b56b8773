import DriftlessLibvirt
import DriftlessProcess
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

/// Runs a command to completion and captures its output (for checks "from outside"), through
/// `ChildProcess`: swift-subprocess waits on the child's pid (Foundation's `Process` noticed an exit
/// through a descriptor the child inherits, so a daemon a script left behind holding it made
/// `waitUntilExit` hang), and it stops reading the output once the child has exited.
@discardableResult
func runCommand(_ arguments: [String]) async throws -> CommandResult {
    CommandResult(try await ChildProcess.run(arguments[0], Array(arguments.dropFirst())))
}

/// `runCommand` for synchronous tests and `tearDown` (XCTest's main thread, never a cooperative thread:
/// the rule of `ChildProcess.runBlocking`).
@discardableResult
func runCommandBlocking(_ arguments: [String]) throws -> CommandResult {
    CommandResult(try ChildProcess.runBlocking(arguments[0], Array(arguments.dropFirst())))
}

extension CommandResult {
    init(_ output: ChildProcess.Output) {
        self.init(status: output.status, stdout: output.stdout, stderr: output.stderr)
    }
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
func eventually(timeout: TimeInterval = 10, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(100))
    }
    return try await condition()
}

/// `eventually` for synchronous tests.
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
