import DriftlessCore
import DriftlessStore
import Foundation

/// What a converge may do: one value for every caller (`apply`, `drift --heal`, `serve`).
public struct ConvergePolicy: Sendable {
    /// Why the run converges: a new commit, or the last applied one again (healing drift).
    public enum Purpose: Sendable {
        case apply
        case heal
    }

    public var purpose: Purpose
    /// Waives the data-loss rule: replacements, changes that replace or destroy data, volume deletes.
    public var allowReplace: Bool
    /// Waives the empty-commit and mass-delete rules.
    public var allowMassDelete: Bool
    /// Allows moves of instances to other hosts (they stop, their disks are copied, they start there).
    public var allowMove: Bool
    /// Stops after the guard: the outcome is `.planned`, nothing is recorded or changed.
    public var dryRun: Bool
    /// How many steps run at once.
    public var parallelism: Int
    /// How long a deleted instance may take to shut down before it is powered off.
    public var shutdownTimeout: Duration

    public init(purpose: Purpose = .apply, allowReplace: Bool = false, allowMassDelete: Bool = false, allowMove: Bool = false,
                dryRun: Bool = false, parallelism: Int = 4, shutdownTimeout: Duration = .seconds(20)) {
        self.purpose = purpose
        self.allowMove = allowMove
        self.allowReplace = allowReplace
        self.allowMassDelete = allowMassDelete
        self.dryRun = dryRun
        self.parallelism = parallelism
        self.shutdownTimeout = shutdownTimeout
    }

    /// The guard this policy applies; the same rules for every caller.
    public var guardRules: ApplyGuard { ApplyGuard(allowMassDelete: allowMassDelete, allowReplace: allowReplace, allowMove: allowMove) }

    public var applierOptions: Applier.Options { Applier.Options(parallelism: parallelism, shutdownTimeout: shutdownTimeout) }

    /// An apply records even a plan with nothing to do: the commit becomes the applied one (its users
    /// and policies take effect). A heal of an already applied commit with nothing to do records nothing.
    var recordsEmptyPlans: Bool { purpose == .apply }
}

/// How a converge ended.
public enum ConvergeOutcome: Sendable {
    /// Every step succeeded on every host, and every host was observed.
    case applied(Reconciler.AppliedRun)
    /// The hosts already match. `recorded` is the run that made the commit the applied one (apply only).
    case nothingToDo(Reconciler.PlannedRun, recorded: Reconciler.AppliedRun?)
    /// The policy said `dryRun`: planned and guarded, nothing recorded or changed.
    case planned(Reconciler.PlannedRun)
    /// Nothing was changed: the commit is invalid, a safety rule or the caller's approval said no.
    case refused(Reconciler.Refusal)
    /// Applied, and a step failed (its dependents skipped) or a host could not be reached or observed.
    case failed(Reconciler.AppliedRun)

    /// The run recorded in the history, when there was one.
    public var run: Reconciler.AppliedRun? {
        switch self {
        case let .applied(run), let .failed(run): run
        case let .nothingToDo(_, recorded): recorded
        case .planned, .refused: nil
        }
    }

    /// The plan, when the converge got that far.
    public var plannedRun: Reconciler.PlannedRun? {
        switch self {
        case let .applied(run), let .failed(run): run.planned
        case let .nothingToDo(planned, _), let .planned(planned): planned
        case let .refused(refusal): refusal.planned
        }
    }
}

/// Lifecycle hooks of a converge, for the command line (show the plan, ask, print progress) and the daemon
/// (log steps).
public struct ConvergeHooks: Sendable {
    /// The plan, before the guard.
    public var planned: @Sendable (Reconciler.PlannedRun) async -> Void
    /// After the guard allowed a plan with changes, before anything changes: nil to go on, or why not (a
    /// refusal that is not recorded: nothing was decided about the commit).
    public var approve: @Sendable (Reconciler.PlannedRun) async -> String?
    /// Each journal event of the apply.
    public var progress: @Sendable (ApplyEvent) -> Void

    public init(planned: @escaping @Sendable (Reconciler.PlannedRun) async -> Void = { _ in },
                approve: @escaping @Sendable (Reconciler.PlannedRun) async -> String? = { _ in nil },
                progress: @escaping @Sendable (ApplyEvent) -> Void = { _ in }) {
        self.planned = planned
        self.approve = approve
        self.progress = progress
    }
}

extension Reconciler {
    /// Why a converge changed nothing.
    public struct Refusal: Sendable, Error, CustomStringConvertible {
        public enum Cause: Sendable {
            /// The commit does not validate.
            case invalid(ValidationReport)
            /// The plan has errors, or a safety rule of `ApplyGuard` said no.
            case guardRules
            /// The caller's `approve` hook said no (not confirmed, not a terminal).
            case notApproved
        }

        public var cause: Cause
        public var reasons: [String]
        /// The plan that was refused (nil when the commit did not validate).
        public var planned: PlannedRun?

        public var description: String { "refused: " + reasons.joined(separator: "; ") }

        /// The error the command line reports.
        public var engineError: EngineError {
            if case let .invalid(report) = cause { return .invalid(report) }
            return .refused(reasons)
        }
    }

    /// Where the desired state of a converge comes from, and how far along it already is.
    public enum ConvergeInput: Sendable {
        /// Read and validate `revision` of `source` (nil: HEAD); `previous` is the last applied state. `after`,
        /// a commit loaded before from the same source, lets the read decode only the files changed since.
        case revision(ManifestSource, String?, previous: DesiredState?, after: LoadedCommit? = nil)
        /// A validated commit, to observe and plan.
        case commit(LoadedCommit, previous: DesiredState?)
        /// A plan already made against the sessions (a drift check's, for healing).
        case planned(PlannedRun)
    }

    /// The one pipeline: read → validate → observe → plan → guard → apply → record, for `apply`,
    /// `drift --heal` and the daemon alike.
    ///
    /// - `sessions` gives the host sessions of a commit: the caller's own (the daemon keeps its between
    ///   runs) or new ones (`connect`); the pipeline never closes them.
    /// - Refusals are recorded in the history (but the caller's `approve`), and so is every apply. Only an
    ///   outcome of `.applied` or a recorded `.nothingToDo` moves the last applied commit.
    /// - Throws only for what stopped the run itself (the source unreadable, the store failing); classify
    ///   such errors with `FailureKind.of`.
    public func converge(_ input: ConvergeInput, policy: ConvergePolicy,
                         sessions: @Sendable (LoadedCommit) async throws -> HostSessions,
                         hooks: ConvergeHooks = ConvergeHooks()) async throws -> ConvergeOutcome
    {
        let planned: PlannedRun
        let live: HostSessions
        switch input {
        case let .revision(source, revision, previous, after):
            let commit: LoadedCommit
            do {
                commit = try await read(source, revision, after: after)
            } catch let error as EngineError {
                if case let .invalid(report) = error {
                    let refusal = Refusal(cause: .invalid(report), reasons: ["\(error)"], planned: nil)
                    recordRefusal(kind: .apply, commit: report.source.commit ?? (try? source.resolve(revision)),
                                  repository: source.repository.displayName, path: source.path, reason: Self.refusalReason(error))
                    return .refused(refusal)
                }
                recordRefusal(kind: .apply, commit: nil, repository: source.repository.displayName, path: source.path,
                              reason: "\(error)")
                throw error
            }
            live = try await sessions(commit)
            planned = try await plan(commit, previous: previous, sessions: live)
        case let .commit(commit, previous):
            live = try await sessions(commit)
            planned = try await plan(commit, previous: previous, sessions: live)
        case let .planned(made):
            live = try await sessions(made.commit)
            planned = made
        }
        await hooks.planned(planned)
        return try await carryOut(planned, sessions: live, policy: policy, hooks: hooks)
    }

    /// Guard → apply → record for a plan made against `sessions`.
    func carryOut(_ planned: PlannedRun, sessions: HostSessions, policy: ConvergePolicy, hooks: ConvergeHooks) async throws
        -> ConvergeOutcome
    {
        let commit = planned.commit
        let refusals = policy.guardRules.refusals(plan: planned.plan, desired: commit.state, hosts: planned.hosts)
        if !refusals.isEmpty {
            let prefix = policy.purpose == .heal ? "heal: " : ""
            recordRefusal(kind: .apply, commit: commit.commit, repository: commit.repository, path: commit.path,
                          reason: prefix + refusals.joined(separator: "; "))
            return .refused(Refusal(cause: .guardRules, reasons: refusals, planned: planned))
        }
        if policy.dryRun { return .planned(planned) }
        let nothingToDo = planned.plan.isEmpty && planned.steps.isEmpty
        if nothingToDo && !policy.recordsEmptyPlans { return .nothingToDo(planned, recorded: nil) }
        if !nothingToDo, let reason = await hooks.approve(planned) {
            return .refused(Refusal(cause: .notApproved, reasons: [reason], planned: planned))
        }
        let applied = try await apply(planned, sessions: sessions, options: policy.applierOptions, kind: .apply,
                                      progress: hooks.progress)
        if !applied.succeeded { return .failed(applied) }
        return nothingToDo ? .nothingToDo(planned, recorded: applied) : .applied(applied)
    }

    /// A drift check: the last applied commit planned against the hosts as they are, as a report. The plan
    /// is the heal (`converge(.planned(check.planned), …)`).
    public struct DriftCheck: Sendable {
        public var planned: PlannedRun
        public var report: DriftReport

        /// Whether a heal may run: drift present and every host read (nothing is healed on a host that
        /// could not be observed).
        public var isHealable: Bool {
            !(planned.plan.isEmpty && planned.steps.isEmpty) && report.items.allSatisfy { $0.type != .unreachable }
        }
    }

    /// Compares the hosts with `applied`, the last applied commit (desired and previous state alike).
    public func checkDrift(_ applied: LoadedCommit, sessions: HostSessions) async throws -> DriftCheck {
        let planned = try await plan(applied, previous: applied.state, sessions: sessions)
        return DriftCheck(planned: planned, report: DriftReport(plan: planned.plan, hosts: planned.hosts))
    }

    /// What a refused commit's run records: for invalid manifests, the first diagnostics too (the detail of
    /// a run is shown whole only to cloud admins).
    public static func refusalReason(_ error: EngineError) -> String {
        guard case let .invalid(report) = error else { return "\(error)" }
        let first = report.diagnostics.filter { $0.severity == .error }.prefix(5).map { entry in
            (entry.file.map { "\($0):\(entry.line ?? 1):\(entry.column ?? 1): " } ?? "") + (entry.field.map { "\($0): " } ?? "") + entry.message
        }
        return "\(error)" + (first.isEmpty ? "" : ": " + first.joined(separator: "; "))
    }
}
