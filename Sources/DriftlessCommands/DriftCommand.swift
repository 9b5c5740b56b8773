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

    @Option(name: .long, help: ArgumentHelp("With --heal: how many steps run at once.", valueName: "n"))
    var parallel: Int = 4

    @OptionGroup var stateOptions: StateOptions

    @OptionGroup var imageOptions: ImageDirectoryOptions

    func run() async throws {
        let outcome = try await reportingErrors { () async throws -> (DriftReport, Bool?) in
            let directory = stateOptions.directory
            let lock = heal ? try StateLock(stateDirectory: directory, command: "driftless drift --heal --repo \(Reconciler.displayLocation(source.repo))") : nil
            defer { lock?.release() }
            let reconciler = try Reconciler(stateDirectory: directory)
            reconciler.gitCredentials = source.git.credentials
            reconciler.imageDirectories = imageOptions.directories
            if heal {
                reportInterrupted(try reconciler.store.recoverInterruptedRuns())
            }
            guard let last = try reconciler.store.lastAppliedRun(), let commitID = last.commit else {
                throw EngineError.nothingApplied
            }
            let source = try reconciler.source(self.source.repo, path: self.source.path ?? last.path ?? "")
            let commit = try source.load(commitID)
            let sessions = await reconciler.connect(commit)
            do {
                let planned = try await reconciler.plan(commit, previous: commit.state, sessions: sessions)
                let report = DriftReport(plan: planned.plan, hosts: planned.hosts)
                reconciler.recordDrift(report, repository: commit.repository, path: commit.path)
                var healed: Bool?
                if heal && !planned.plan.isEmpty {
                    let refusals = ApplyGuard(allowMassDelete: false, allowReplace: allowReplace)
                        .refusals(plan: planned.plan, desired: commit.state, hosts: planned.hosts)
                    if !refusals.isEmpty {
                        printReport(report)
                        reconciler.recordRefusal(kind: "apply", commit: commit.commit, repository: commit.repository,
                                                 path: commit.path, reason: "heal: " + refusals.joined(separator: "; "))
                        throw EngineError.refused(refusals)
                    }
                    printReport(report)
                    let printer = ProgressPrinter()
                    let applied = try await reconciler.apply(planned, sessions: sessions, options: Applier.Options(parallelism: parallel),
                                                             kind: "apply") { printer.handle($0) }
                    healed = applied.succeeded
                    Terminal.writeError(applied.succeeded ? "Healed (run #\(applied.runID)).\n" : "Healing FAILED (run #\(applied.runID)).\n")
                }
                await sessions.close()
                return (report, healed)
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

    func printReport(_ report: DriftReport) {
        switch format {
        case .text: Terminal.write(report.renderText())
        case .markdown: Terminal.write(report.renderMarkdown())
        case .json: Terminal.write((try? report.renderJSON()) ?? "{}\n")
        }
    }
}
