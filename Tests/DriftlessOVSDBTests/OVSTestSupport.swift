import DriftlessOVSDB
import DriftlessProcess
import Foundation
import XCTest

/// Access to the real Open vSwitch on this machine for integration tests.
enum OVS {
    /// The database socket `scripts/start-ovs.sh` creates.
    static let socketPath = "/var/run/openvswitch/db.sock"

    /// Whether the developer asked to skip tests that need Open vSwitch.
    static var skipRequested: Bool {
        ProcessInfo.processInfo.environment["DRIFTLESS_SKIP_OVS_TESTS"] == "1"
    }

    /// The repository's `scripts/` folder (symlinks resolved, so a dev package pointing here works too).
    static var scriptsDirectory: URL {
        URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts")
    }

    struct CommandFailure: Error, CustomStringConvertible {
        var command: String
        var status: Int32
        var output: String
        var description: String { "`\(command)` exited \(status): \(output)" }
    }

    struct MissingOpenVSwitch: Error, CustomStringConvertible {
        var description: String {
            "\(OVS.socketPath) is absent: Open vSwitch is not running. Start it with scripts/start-ovs.sh "
                + "(as root), or set DRIFTLESS_SKIP_OVS_TESTS=1 to skip these integration tests explicitly."
        }
    }

    /// Runs a program and returns its standard output; throws on a non-zero exit. (swift-subprocess stops
    /// reading when the program exits, even when a daemon it started, ovsdb-server from start-ovs.sh, keeps
    /// the pipes open.)
    @discardableResult
    static func run(_ executable: String, _ arguments: [String]) throws -> String {
        let output = try ChildProcess.runBlocking(executable, arguments)
        guard output.succeeded else {
            throw CommandFailure(
                command: ([executable] + arguments).joined(separator: " "), status: output.status,
                output: output.stdout + output.stderr)
        }
        return output.stdout
    }

    /// Runs `ovs-vsctl --timeout=10 ARGS` and returns its trimmed output.
    @discardableResult
    static func vsctl(_ arguments: String...) throws -> String {
        try run("/usr/bin/ovs-vsctl", ["--timeout=10"] + arguments).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Runs a repository script (`start-ovs.sh`, `stop-ovs.sh`).
    static func script(_ name: String, _ arguments: [String] = []) throws {
        try run("/bin/bash", [scriptsDirectory.appendingPathComponent(name).path] + arguments)
    }

    /// Rows of `ovs-vsctl --format=json --columns=... list|find TABLE ...`, as column → value.
    static func rows(_ arguments: [String]) throws -> [[String: OVSDBValue]] {
        let text = try run("/usr/bin/ovs-vsctl", ["--timeout=10", "--format=json"] + arguments)
        let json = try JSONValue(parsing: text)
        let headings = (json["headings"]?.arrayValue ?? []).compactMap(\.stringValue)
        return try (json["data"]?.arrayValue ?? []).map { row in
            var result: [String: OVSDBValue] = [:]
            for (heading, cell) in zip(headings, row.arrayValue ?? []) {
                result[heading] = try OVSDBValue(json: cell)
            }
            return result
        }
    }

    /// A short random tag for names: bridges are `dlt-test-<tag>` (15 characters, the Linux limit).
    static func randomTag() -> String {
        String(UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(6))
    }
}
