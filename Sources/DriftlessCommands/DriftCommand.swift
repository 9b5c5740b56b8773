import ArgumentParser
import DriftlessCore
import DriftlessEngine
import DriftlessStore
import Foundation

/// `driftless drift`: compare the hosts with the last applied commit.
struct DriftCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drift",
        abstract: "Report where the hosts differ from the last applied commit; optionally heal it.",
        discussion: """
            Reads the commit the last successful apply recorded in the state directory, observes every host \
            and reports each drifted field (expected and found), each missing object, each unexpected managed \
            object and each host that could not be read. Objects without Driftless's markers are never \
            reported or touched.

            --heal applies the last applied commit again to converge the drift, under the same safety rules \
            and lock as `driftless apply`.

            Exit status: 0 no drift (or healed), 1 error. With --detailed-exitcode, 2 when drift is present \
            and was not healed.
            """
    )

    @OptionGroup var source: SourceOptions

    @Option(name: .long, help: "Output format: text, markdown or json.")
    var format: ReportFormat = .text

    @Flag(name: .long, help: "Exit 2 when drift is present, 0 when there is none, 1 on error.")
    var detailedExitcode = false

    @Flag(name: .long, help: "Converge the drift: apply the last applied commit again.")
    var heal = false

    @Flag(name: .long, help: "With --heal: allow replacing instances and destroying data.")
    var allowReplace = false

    @Flag(name: .long, help: "With --heal: allow moving instances to other hosts (they restart there).")
    var allowMove = false

    @Option(name: .long, help: ArgumentHelp("With --heal: how many steps run at once.", valueName: "n"))
    var parallel: Int = 4

    @OptionGroup var stateOptions: StateOptions

    @OptionGroup var imageOptions: ImageDirectoryOptions

    @OptionGroup var hostAccess: HostAccessOptions

    func validate() throws {
        try source.requireRepository()
    }

    func run() async throws {
        let outcome = try await reportingErrors { () async throws -> (DriftReport, Bool?) in
            let directory = stateOptions.directory
            let lock = heal ? try StateLock(stateDirectory: directory, command: "driftless drift --heal --repo \(Reconciler.displayLocation(source.location))") : nil
            defer { lock?.release() }
            let reconciler = try Reconciler(stateDirectory: directory)
            reconciler.gitCredentials = source.git.credentials
            reconciler.imageDirectories = imageOptions.directories
            reconciler.hostAccess = hostAccess.access
            if heal {
                reportInterrupted(try reconciler.store.recoverInterruptedRuns())
            }
            guard let last = try reconciler.store.lastAppliedRun(), let commitID = last.commit else {
                throw EngineError.nothingApplied
            }
            let source = try reconciler.source(self.source.location, path: self.source.path ?? last.path ?? "")
            let commit = try source.load(commitID)
            let sessions = await reconciler.connect(commit)
            do {
                let result = try await check(commit, sessions: sessions, reconciler: reconciler)
                await sessions.close()
                return result
            } catch {
                await sessions.close()
                throw error
            }
        }
        let (report, healed) = outcome
        if healed == nil { printReport(report) }
        if healed == false { throw ExitCode.failure }
        if healed == true { return }
        // A host that could not be read is an error: nothing is known about it, drift or not.
        if report.items.contains(where: { $0.type == .unreachable }) { throw ExitCode.failure }
        if detailedExitcode && report.hasDrift { throw ExitStatus.changes }
    }

    /// The engine's drift check, recorded; with --heal, its plan goes through the converge pipeline.
    func check(_ commit: LoadedCommit, sessions: HostSessions, reconciler: Reconciler) async throws -> (DriftReport, Bool?) {
        let check = try await reconciler.checkDrift(commit, sessions: sessions)
        let report = check.report
        reconciler.recordDrift(report, repository: commit.repository, path: commit.path)
        guard heal && !(check.planned.plan.isEmpty && check.planned.steps.isEmpty) else { return (report, nil) }
        printReport(report)
        let printer = ProgressPrinter()
        let policy = ConvergePolicy(purpose: .heal, allowReplace: allowReplace, allowMassDelete: false, allowMove: allowMove,
                                    parallelism: parallel)
        let outcome = try await reconciler.converge(.planned(check.planned), policy: policy, sessions: { _ in sessions },
                                                    hooks: ConvergeHooks(progress: { printer.handle($0) }))
        switch outcome {
        case let .refused(refusal):
            throw refusal.engineError
        case let .applied(run), let .failed(run), let .nothingToDo(_, recorded: run?):
            Terminal.writeError(run.succeeded ? "Healed (run #\(run.runID)).\n" : "Healing FAILED (run #\(run.runID)).\n")
            return (report, run.succeeded)
        case .nothingToDo(_, recorded: nil), .planned:
            return (report, true)
        }
    }

    func printReport(_ report: DriftReport) {
        switch format {
        case .text: Terminal.write(report.renderText())
        case .markdown: Terminal.write(report.renderMarkdown())
        case .json: Terminal.write((try? report.renderJSON()) ?? "{}\n")
        }
    }
}
