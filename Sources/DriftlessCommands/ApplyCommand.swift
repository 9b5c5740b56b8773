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

    @Argument(help: ArgumentHelp("A plan saved by `driftless plan --out`: apply exactly it, or refuse if the commit or the hosts changed.",
                                 valueName: "plan-file"))
    var planFile: String?

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

    @Flag(name: .long, help: "Allow moving instances to other hosts: each stops, its disks are copied, it starts there.")
    var allowMove = false

    @Option(name: .long, help: ArgumentHelp("How many steps run at once.", valueName: "n"))
    var parallel: Int = 4

    @Option(name: .long, help: ArgumentHelp("How long a deleted instance may take to shut down (ACPI) before it is powered off (0 to 3600).",
                                            valueName: "seconds"))
    var shutdownTimeout: Int = 20

    @Option(name: .long, help: "Output format: text or json (the plan and each step's result).")
    var format: OutputFormat = .text

    @OptionGroup var stateOptions: StateOptions

    @OptionGroup var imageOptions: ImageDirectoryOptions

    @OptionGroup var hostAccess: HostAccessOptions

    func validate() throws {
        if planFile != nil && rev != nil { throw ValidationError("a saved plan names its commit: give either --rev or a plan file") }
        if planFile == nil { try source.requireRepository() }
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
        let saved = try planFile.map(Self.readSavedPlan)
        guard let location = source.repo ?? saved?.location else {
            throw EngineError.source("the saved plan \(planFile ?? "") does not say where its repository is (it predates that): give --repo")
        }
        let lock = try StateLock(stateDirectory: directory, command: "driftless apply --repo \(Reconciler.displayLocation(location))")
        defer { lock.release() }
        let reconciler = try Reconciler(stateDirectory: directory)
        reconciler.gitCredentials = source.git.credentials
        reconciler.imageDirectories = imageOptions.directories
        reconciler.hostAccess = hostAccess.access
        let recovered = try reconciler.store.recoverInterruptedRuns()
        reportInterrupted(recovered)
        let source = try reconciler.source(location, path: self.source.path ?? saved?.path ?? "")
        let previous = try reconciler.previousState(in: source)?.state
        let policy = ConvergePolicy(purpose: .apply, allowReplace: allowReplace, allowMassDelete: allowMassDelete, allowMove: allowMove, dryRun: dryRun,
                                    parallelism: parallel, shutdownTimeout: .seconds(shutdownTimeout))
        let (format, yes) = (self.format, self.yes)
        let printer = ProgressPrinter()
        let hooks = ConvergeHooks(
            planned: { planned in
                if format == .text { Terminal.write(PlanRenderer.text(planned.plan, color: Terminal.useColor)) }
            },
            approve: { _ in
                if yes { return nil }
                guard isatty(STDIN_FILENO) == 1 else { return "standard input is not a terminal; pass --yes to apply without asking" }
                return Confirmation.ask("Apply this plan to the hosts?") ? nil : "not confirmed; nothing was changed"
            },
            progress: { printer.handle($0) })
        let opened = SessionsOpened(reconciler)
        let outcome: ConvergeOutcome
        do {
            if let saved {
                outcome = try await applySaved(saved, source: source, reconciler: reconciler, policy: policy, hooks: hooks, opened: opened)
            } else {
                outcome = try await reconciler.converge(.revision(source, rev, previous: previous), policy: policy,
                                                        sessions: { try await opened.connect($0) }, hooks: hooks)
            }
        } catch {
            await opened.close()
            throw error
        }
        await opened.close()
        switch outcome {
        case let .refused(refusal):
            if format == .json, let plan = refusal.planned?.plan, plan.hasErrors {
                for d in plan.diagnostics where d.severity == .error { Terminal.writeError(d.description + "\n") }
            }
            throw refusal.engineError
        case let .planned(planned):
            if format == .json { Terminal.write(try PlanRenderer.json(planned.plan)) }
            Terminal.writeError("Dry run: nothing was changed.\n")
            return nil
        case let .applied(run), let .failed(run), let .nothingToDo(_, recorded: run?):
            var run = run
            run.recovered = recovered
            return run
        case .nothingToDo(_, recorded: nil):
            return nil
        }
    }
}

extension ApplyCommand {
    /// A saved plan: its commit planned again against the hosts as they are now, applied only when the
    /// commit, the last applied commit, every host's observed state and so the plan are as reviewed.
    static func readSavedPlan(_ file: String) throws -> SavedPlan {
        do {
            return try JSONDecoder().decode(SavedPlan.self, from: Data(contentsOf: URL(fileURLWithPath: file)))
        } catch {
            throw EngineError.source("cannot read the saved plan \(file): \(error)")
        }
    }

    func applySaved(_ saved: SavedPlan, source: ManifestSource, reconciler: Reconciler, policy: ConvergePolicy, hooks: ConvergeHooks,
                    opened: SessionsOpened) async throws -> ConvergeOutcome {
        let commit = try await reconciler.read(source, saved.commit)
        let previous = try saved.baseCommit.map { try source.load($0).state } ?? reconciler.previousState(in: source)?.state
        let sessions = try await opened.connect(commit)
        let planned = try await reconciler.plan(commit, previous: previous, sessions: sessions, baseCommit: saved.baseCommit)
        let stale = try reconciler.staleness(of: saved, against: planned)
        guard stale.isEmpty else {
            let reason = "the saved plan \(saved.id) is stale: " + stale.joined(separator: "; ") + "; plan again"
            reconciler.recordRefusal(kind: .apply, commit: saved.commit, repository: commit.repository, path: commit.path, reason: reason)
            throw EngineError.refused([reason])
        }
        return try await reconciler.converge(.planned(planned), policy: policy, sessions: { _ in sessions }, hooks: hooks)
    }
}

/// The sessions a command opens for one converge, closed when it ends.
final class SessionsOpened: @unchecked Sendable {
    private let reconciler: Reconciler
    private let lock = NSLock()
    private var opened: [HostSessions] = []

    init(_ reconciler: Reconciler) {
        self.reconciler = reconciler
    }

    func connect(_ commit: LoadedCommit) async throws -> HostSessions {
        let sessions = await reconciler.connect(commit)
        lock.withLock { opened.append(sessions) }
        return sessions
    }

    func close() async {
        for sessions in lock.withLock({ opened }) { await sessions.close() }
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
        try DocumentJSON.render(self)
    }
}
