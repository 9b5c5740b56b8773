import ArgumentParser
import DriftlessCore
import DriftlessEngine
import DriftlessStore
import Foundation

/// `driftless apply`: converge the hosts to a commit.
struct ApplyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Converge the hosts to a commit: plan, confirm, apply, record.",
        discussion: """
            Plans like `driftless plan`, prints the plan, asks for confirmation on a terminal (and refuses \
            without --yes elsewhere), then applies it: images and volumes before the instances that use \
            them, instance deletes before the volumes they free, Open vSwitch port fixes last, independent steps in parallel, transient failures retried, the \
            dependents of a failed step skipped. Every step is journalled in the state directory before and \
            after it runs; only one apply runs per state directory at a time.

            Refused unless allowed: a commit that declares nothing, or a plan deleting more than half of the \
            managed objects (--allow-mass-delete); a plan that replaces an instance or destroys a volume's \
            data (--allow-replace).

            Exit status: 0 applied (or nothing to do), 1 refused, invalid or a step failed.
            """
    )

    @OptionGroup var source: SourceOptions

    @Option(name: .long, help: ArgumentHelp("The branch, tag or commit to apply (default: HEAD).", valueName: "rev"))
    var rev: String?

    @Flag(name: .long, help: "Apply without asking.")
    var yes = false

    @Flag(name: .long, help: "Plan and check the safety rules, then stop.")
    var dryRun = false

    @Flag(name: .long, help: "Allow replacing instances (new root disk) and deleting volumes under deletionPolicy: Delete.")
    var allowReplace = false

    @Flag(name: .long, help: "Allow an empty commit, or a plan deleting more than half of the managed objects.")
    var allowMassDelete = false

    @Option(name: .long, help: ArgumentHelp("How many steps run at once.", valueName: "n"))
    var parallel: Int = 4

    @Option(name: .long, help: ArgumentHelp("How long a deleted instance may take to shut down (ACPI) before it is powered off (0 to 3600).",
                                            valueName: "seconds"))
    var shutdownTimeout: Int = 20

    @Option(name: .long, help: "Output format: text or json (the plan and each step's result).")
    var format: OutputFormat = .text

    @OptionGroup var stateOptions: StateOptions

    @OptionGroup var imageOptions: ImageDirectoryOptions

    func validate() throws {
        guard parallel >= 1 && parallel <= 64 else { throw ValidationError("--parallel must be between 1 and 64") }
        guard (0...3600).contains(shutdownTimeout) else {
            throw ValidationError("--shutdown-timeout takes a number of seconds between 0 and 3600")
        }
    }

    func run() async throws {
        let applied = try await reportingErrors { () async throws -> Reconciler.AppliedRun? in
            try await execute()
        }
        guard let applied else { return }
        if format == .json {
            Terminal.write(try ApplyReport(applied).json())
        } else {
            let r = applied.result
            var line = "\nApply \(applied.succeeded ? "complete" : "FAILED"): \(r.succeeded) succeeded, \(r.failed) failed, \(r.skipped) skipped"
            if !applied.unreachable.isEmpty {
                line += "; unreachable: " + applied.unreachable.map { "\($0.key) (\($0.value))" }.sorted().joined(separator: ", ")
            }
            Terminal.write(line + " (run #\(applied.runID)).\n")
        }
        if !applied.succeeded { throw ExitCode.failure }
    }

    func execute() async throws -> Reconciler.AppliedRun? {
        let directory = stateOptions.directory
        let lock = try StateLock(stateDirectory: directory, command: "driftless apply --repo \(Reconciler.displayLocation(source.repo))")
        defer { lock.release() }
        let reconciler = try Reconciler(stateDirectory: directory)
        reconciler.gitCredentials = source.git.credentials
        reconciler.imageDirectories = imageOptions.directories
        let recovered = try reconciler.store.recoverInterruptedRuns()
        reportInterrupted(recovered)
        let source = try reconciler.source(self.source.repo, path: self.source.path ?? "")
        let commit: LoadedCommit
        do {
            commit = try source.load(rev)
        } catch let error as EngineError {
            reconciler.recordRefusal(kind: "apply", commit: nil, repository: self.source.repo, path: self.source.path, reason: "\(error)")
            throw error
        }
        let previous = try reconciler.previousState(in: source)?.state
        let sessions = await reconciler.connect(commit)
        do {
            let result = try await apply(commit, previous: previous, sessions: sessions, reconciler: reconciler, recovered: recovered)
            await sessions.close()
            return result
        } catch {
            await sessions.close()
            throw error
        }
    }

    func apply(_ commit: LoadedCommit, previous: DesiredState?, sessions: HostSessions, reconciler: Reconciler,
               recovered: [Store.InterruptedAction]) async throws -> Reconciler.AppliedRun?
    {
        let planned = try await reconciler.plan(commit, previous: previous, sessions: sessions)
        if format == .text { Terminal.write(PlanRenderer.text(planned.plan, color: Terminal.useColor)) }
        if planned.plan.hasErrors {
            let reason = "the plan has errors"
            reconciler.recordRefusal(kind: "apply", commit: commit.commit, repository: commit.repository, path: commit.path, reason: reason)
            if format == .json { for d in planned.plan.diagnostics { Terminal.writeError(d.description + "\n") } }
            throw EngineError.refused([reason + "; nothing was changed"])
        }
        let refusals = ApplyGuard(allowMassDelete: allowMassDelete, allowReplace: allowReplace)
            .refusals(plan: planned.plan, desired: commit.state, hosts: planned.hosts)
        if !refusals.isEmpty {
            reconciler.recordRefusal(kind: "apply", commit: commit.commit, repository: commit.repository, path: commit.path,
                                     reason: refusals.joined(separator: "; "))
            throw EngineError.refused(refusals)
        }
        if dryRun {
            if format == .json { Terminal.write(try PlanRenderer.json(planned.plan)) }
            Terminal.writeError("Dry run: nothing was changed.\n")
            return nil
        }
        if !planned.plan.isEmpty && !yes {
            guard isatty(STDIN_FILENO) == 1 else {
                throw EngineError.refused(["standard input is not a terminal; pass --yes to apply without asking"])
            }
            guard Confirmation.ask("Apply this plan to the hosts?") else {
                throw EngineError.refused(["not confirmed; nothing was changed"])
            }
        }
        let printer = ProgressPrinter()
        let options = Applier.Options(parallelism: parallel, shutdownTimeout: .seconds(shutdownTimeout))
        return try await reconciler.apply(planned, sessions: sessions, options: options, recovered: recovered) { event in
            printer.handle(event)
        }
    }
}

/// The JSON form of an apply: the plan, each step's result and the run.
struct ApplyReport: Encodable {
    var run: Int64
    var commit: String
    var succeeded: Bool
    var plan: PlanDocument
    var steps: [ApplyResult.StepResult]
    var unreachable: [String: String]

    init(_ applied: Reconciler.AppliedRun) {
        run = applied.runID
        commit = applied.planned.commit.commit
        succeeded = applied.succeeded
        plan = PlanDocument(applied.planned.plan)
        steps = applied.result.steps
        unreachable = applied.unreachable
    }

    func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self) + "\n"
    }
}
