import ArgumentParser
import DriftlessCore
import DriftlessEngine
import DriftlessStore
import Foundation

/// `--repo`, `--rev` and `--path`: where the desired state comes from.
struct SourceOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The git repository of manifests: a local path or a URL (file://, https://, ssh). Required, except by `apply PLAN-FILE`, which reads the plan's own repository by default.",
                                            valueName: "path-or-url"))
    var repo: String?

    /// The repository's location (checked given by `requireRepository()` in the command's `validate()`).
    var location: String { repo ?? "" }

    /// Fails parsing when `--repo` is missing.
    func requireRepository() throws {
        guard repo != nil else { throw ValidationError("missing --repo: the git repository of manifests (a local path or a URL)") }
    }


    @Option(name: .long, help: ArgumentHelp("The manifests' directory inside the repository (default: the root).",
                                            valueName: "subdir"))
    var path: String?

    @OptionGroup var git: GitCredentialOptions
}

/// `--format text|markdown|json` for plans and drift reports.
enum ReportFormat: String, ExpressibleByArgument, CaseIterable {
    case text
    case markdown
    case json
}

/// Exit codes shared by plan, apply and drift (Terraform's `-detailed-exitcode` convention).
enum ExitStatus {
    /// Changes or drift present (only with --detailed-exitcode).
    static let changes = ExitCode(2)
}

extension EngineError {
    /// Prints the error; for invalid manifests, every diagnostic with its file, line and field.
    func report() {
        if case let .invalid(report) = self {
            Terminal.writeError(report.renderText(color: Terminal.stderrUseColor))
        }
        Terminal.writeError("error: \(self)\n")
    }
}

/// Runs `body`, printing any error the way an operator reads it and exiting 1.
func reportingErrors<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as ExitCode {
        throw error
    } catch let error as EngineError {
        error.report()
        throw ExitCode.failure
    } catch {
        Terminal.writeError("error: \(error)\n")
        throw ExitCode.failure
    }
}

/// Says which steps a killed run left in flight (`Store.recoverInterruptedRuns`), if any.
func reportInterrupted(_ recovered: [Store.InterruptedAction]) {
    guard !recovered.isEmpty else { return }
    Terminal.writeError("A previous run was interrupted with \(recovered.count) step\(recovered.count == 1 ? "" : "s") in flight ("
        + recovered.map(\.action).joined(separator: ", ") + "); the hosts are observed afresh.\n")
}

/// Progress lines on standard error while an apply runs: each step as it starts and ends, with its time.
final class ProgressPrinter: @unchecked Sendable {
    private let lock = NSLock()
    private var started: [String: ContinuousClock.Instant] = [:]
    private let color = Terminal.stderrUseColor

    func handle(_ event: ApplyEvent) {
        lock.lock()
        defer { lock.unlock() }
        let width = String(event.total).count
        let counter = "[\(String(repeating: " ", count: max(0, width - String(event.done).count)))\(event.done)/\(event.total)]"
        func paint(_ text: String, _ code: String) -> String { color ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text }
        var line: String
        switch event.phase {
        case .started:
            started[event.step] = .now
            line = "\(counter) \(paint("started  ", "1")) \(event.step)"
        case .retrying:
            line = "\(counter) \(paint("retrying ", "33")) \(event.step): \(event.detail ?? "")"
        case .succeeded:
            line = "\(counter) \(paint("done     ", "32")) \(event.step)\(elapsed(event.step))"
            // What an update did (each field's effect, how a guest was powered off) is the report's news.
            if event.step.hasPrefix("update-instance "), let detail = event.detail, !detail.isEmpty { line += ": \(detail)" }
        case .failed:
            line = "\(counter) \(paint("FAILED   ", "31")) \(event.step)\(elapsed(event.step)): \(event.detail ?? "")"
        case .skipped:
            line = "\(counter) \(paint("skipped  ", "33")) \(event.step): \(event.detail ?? "")"
        case .progress:
            line = "\(counter) \(paint("         ", "0")) \(event.step): \(event.detail ?? "")\(elapsed(event.step))"
        }
        Terminal.writeError(line + "\n")
    }

    private func elapsed(_ step: String) -> String {
        guard let start = started[step] else { return "" }
        let seconds = (ContinuousClock.now - start).inSeconds
        return String(format: " (%.1f s)", seconds)
    }
}

/// Asks on a terminal; refuses elsewhere.
enum Confirmation {
    static func ask(_ question: String) -> Bool {
        guard isatty(STDIN_FILENO) == 1 else { return false }
        Terminal.writeError("\(question)\n  Only 'yes' will be accepted: ")
        return readLine()?.trimmingCharacters(in: .whitespaces) == "yes"
    }
}
