import ArgumentParser
import DriftlessCore
import DriftlessStore
import Foundation

/// `driftless status`: the last applied commit and what the state directory knows.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the last applied commit, the latest runs and who holds the state lock.",
        discussion: "Reads only the state directory; no host is contacted (use `driftless drift` for that)."
    )

    @Option(name: .long, help: "Output format: text or json.")
    var format: OutputFormat = .text

    @OptionGroup var stateOptions: StateOptions

    struct Status: Encodable {
        var stateDirectory: String
        var lastApplied: Store.Run?
        var latestRuns: [Store.Run]
        var lockHolder: StateLock.Holder?
        var ipAllocations: Int
    }

    func run() async throws {
        let status = try await reportingErrors { () throws -> Status in
            let store = try Store(stateDirectory: stateOptions.directory)
            let lockPath = (stateOptions.directory as NSString).appendingPathComponent("driftless.lock")
            // Read, never taken: a status must not make an apply starting now fail. The holder record is
            // cleared on release; a record whose process is gone is a stale lock (flock died with it).
            let holder = StateLock.readHolder(lockPath).flatMap { kill($0.pid, 0) == 0 ? $0 : nil }
            return Status(stateDirectory: stateOptions.directory, lastApplied: try store.lastAppliedRun(),
                          latestRuns: try store.history(limit: 5), lockHolder: holder,
                          ipAllocations: try store.loadAllocations().count)
        }
        if format == .json {
            Terminal.write(try encodeJSON(status))
            return
        }
        var lines = ["State directory: \(status.stateDirectory)"]
        if let last = status.lastApplied {
            lines.append("Last applied:    \(last.commit.map { String($0.prefix(12)) } ?? "-") at \(last.finishedAt ?? last.startedAt) (run #\(last.id))")
            if let repository = last.repository {
                lines.append("Repository:      \(repository)\(last.path.map { $0.isEmpty ? "" : " (path \($0))" } ?? "")".escapingControlCharacters)
            }
        } else {
            lines.append("Last applied:    nothing yet")
        }
        lines.append("Apply lock:      \(status.lockHolder.map { "held by \($0)" } ?? "free")")
        lines.append("IP allocations:  \(status.ipAllocations)")
        if !status.latestRuns.isEmpty {
            lines.append("Latest runs:")
            lines += status.latestRuns.map { "  " + $0.line }
        }
        Terminal.write(lines.joined(separator: "\n") + "\n")
    }
}

/// `driftless history`: the runs kept in the state directory, or one run's journal.
struct HistoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "List past runs (apply, drift), newest first, or show one run's journal.",
        discussion: """
            Examples:
              driftless history               the latest 20 runs
              driftless history 42            every step of run 42, as journalled
            """
    )

    @Argument(help: ArgumentHelp("A run to show in full.", valueName: "run"))
    var runID: Int64?

    @Option(name: .long, help: ArgumentHelp("How many runs to list.", valueName: "n"))
    var limit: Int = 20

    @Option(name: .long, help: "Output format: text or json.")
    var format: OutputFormat = .text

    @OptionGroup var stateOptions: StateOptions

    struct RunDetail: Encodable {
        var run: Store.Run
        var journal: [Store.JournalEntry]
    }

    func run() async throws {
        try await reportingErrors {
            let store = try Store(stateDirectory: stateOptions.directory)
            if let runID {
                guard let found = try store.run(runID) else { throw ValidationError("no run #\(runID) in \(stateOptions.directory)") }
                let detail = RunDetail(run: found.run, journal: try store.journalEntries(run: runID))
                if format == .json { return Terminal.write(try encodeJSON(detail)) }
                var lines = [detail.run.line]
                if let summary = detail.run.summary { lines.append("  plan: \(summary.escapingControlCharacters)") }
                for entry in detail.journal {
                    lines.append(("  \(timestamp(entry.at))  \(entry.phase.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0)) \(entry.action)"
                        + (entry.detail.map { ": \($0)" } ?? "")).escapingControlCharacters)
                }
                return Terminal.write(lines.joined(separator: "\n") + "\n")
            }
            let runs = try store.history(limit: limit)
            if format == .json { return Terminal.write(try encodeJSON(runs)) }
            if runs.isEmpty { return Terminal.write("No runs yet.\n") }
            Terminal.write(runs.map(\.line).joined(separator: "\n") + "\n")
        }
    }
}

/// A run as `status` and `history` show it.
extension Store.Run {
    /// `#12  apply  3f2a9c1b0d4e  2026-11-27 14:02:11  12.3 s  succeeded  3 succeeded, 0 failed, 0 skipped`
    var line: String {
        let duration = finishedAt.map { String(format: "%6.1f s", $0.timeIntervalSince(startedAt)) } ?? "   ... "
        let parts = ["#\(id)".padding(toLength: 5, withPad: " ", startingAt: 0), kind.rawValue.padding(toLength: 6, withPad: " ", startingAt: 0),
                     (commit.map { String($0.prefix(12)) } ?? "-").padding(toLength: 12, withPad: " ", startingAt: 0),
                     timestamp(startedAt), duration, (result?.rawValue ?? "running").padding(toLength: 11, withPad: " ", startingAt: 0),
                     (detail ?? summary ?? "").escapingControlCharacters]
        return parts.joined(separator: "  ")
    }
}

func timestamp(_ date: Date) -> String {
    let formatter = DateFormatter()
    formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
    formatter.locale = Locale(identifier: "en_US_POSIX")
    return formatter.string(from: date)
}

func encodeJSON<T: Encodable>(_ value: T) throws -> String {
    try DocumentJSON.render(value)
}
