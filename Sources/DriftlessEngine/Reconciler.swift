import DriftlessCore
import DriftlessGit
import DriftlessStore
import Foundation

/// The control loop, one step at a time: read the commit → validate → observe every host → diff → plan →
/// apply → record. Level-based: every run reads the hosts as they are; nothing is replayed.
///
/// The CLI and the daemon are thin layers over this type.
public final class Reconciler: @unchecked Sendable {
    public let stateDirectory: String
    public let store: Store
    /// How long connecting to a host may take before it counts as unreachable.
    public var connectTimeout: Duration = .seconds(10)
    /// The operator's credentials for remote hosts (`--pki`, `--ssh-key`, `--ssh-known-hosts`).
    public var hostAccess = HostAccess.none
    /// Where fetching, reading and validating a commit run: never on a cooperative thread or an actor.
    public let sourceLane = BlockingLane(label: "driftless.source")
    /// How long reading and validating a commit may take (nil: no limit; the daemon sets one).
    public var sourceTimeout: Duration?
    /// How remotes are authenticated (token file, ssh key and known_hosts); never part of a URL.
    public var gitCredentials = GitCredentials.none.withEnvironment()

    /// The operator's image directories: Images' `source.path` files must be under one of them
    /// (`--image-dir`, `DRIFTLESS_IMAGE_DIRS`).
    public var imageDirectories: [String] = [ImagePathPolicy.defaultDirectory]

    /// Where image files may be read from: the image directories, never this state directory.
    public var imagePaths: ImagePathPolicy {
        ImagePathPolicy(directories: imageDirectories, stateDirectory: stateDirectory)
    }

    public init(stateDirectory: String) throws {
        self.stateDirectory = stateDirectory
        store = try Store(stateDirectory: stateDirectory)
    }

    /// Where fetched remotes are cached.
    public var repositoryCache: String { (stateDirectory as NSString).appendingPathComponent("repos") }

    public func source(_ location: String, path: String) throws -> ManifestSource {
        try ManifestSource(location: location, path: path, cacheRoot: repositoryCache, credentials: gitCredentials,
                           imagePaths: imagePaths)
    }

    /// Reads and validates `revision` of `source` on the source lane, within `sourceTimeout`; only the files
    /// changed since `previous` are read and decoded when it is given (`ManifestSource.load(_:after:)`).
    public func read(_ source: ManifestSource, _ revision: String?, after previous: LoadedCommit? = nil) async throws -> LoadedCommit {
        try await sourceLane.run("reading \(revision ?? "HEAD") of \(source.repository.displayName)", timeout: sourceTimeout) {
            try source.load(revision, after: previous)
        }
    }

    /// The repository as last fetched (or the local one), without contacting the remote.
    public func cachedSource(_ location: String, path: String) throws -> ManifestSource {
        try ManifestSource.withoutFetching(location: location, path: path, cacheRoot: repositoryCache, imagePaths: imagePaths)
    }

    /// A computed plan, with everything needed to apply it.
    public struct PlannedRun: Sendable {
        public var commit: LoadedCommit
        public var plan: Plan
        public var steps: [ApplyStep]
        public var hosts: [HostObservation]
        public var allocations: [IPAllocation]
    }

    public static func targets(of state: DesiredState) -> [HostTarget] {
        state.effectiveHosts.map(HostTarget.init)
    }

    /// Connects to the commit's hosts.
    public func connect(_ commit: LoadedCommit) async -> HostSessions {
        await HostSessions.connect(Self.targets(of: commit.state), store: store, timeout: connectTimeout, imagePaths: imagePaths,
                                   access: hostAccess)
    }

    /// Plans `commit` against the hosts as they are. `previous` is the desired state of the last applied
    /// commit (or of `--base`): what it declared and `commit` does not is pruned.
    public func plan(_ commit: LoadedCommit, previous: DesiredState?, sessions: HostSessions, baseCommit: String? = nil)
        async throws -> PlannedRun
    {
        var hosts = await sessions.observe()
        // A Host the last applied commit declared and this one does not is read once more: removing a Host
        // that still runs instances is a plan error, not a silent loss of sight.
        let declared = Set(Self.targets(of: commit.state).map(\.name)).union(hosts.map(\.target.name))
        let retired = (previous.map(Self.targets(of:)) ?? []).filter { !declared.contains($0.name) }
        if !retired.isEmpty {
            let temporary = await HostSessions.connect(retired, store: store, timeout: connectTimeout, imagePaths: imagePaths,
                                                       access: hostAccess)
            hosts += await temporary.observe()
            await temporary.close()
        }
        return try plan(commit, previous: previous, hosts: hosts, baseCommit: baseCommit)
    }

    /// Plans `commit` against observations already made (some hosts may be `unknown`).
    public func plan(_ commit: LoadedCommit, previous: DesiredState?, hosts: [HostObservation], baseCommit: String? = nil)
        throws -> PlannedRun
    {
        let allocation = IPAllocator.allocate(for: commit.state, existing: try store.loadAllocations())
        let outcome = Planner.plan(desired: commit.state, commit: commit.commit, hosts: hosts,
                                   allocations: allocation.allocations, previous: previous, owner: try store.installationID())
        var plan = outcome.plan
        plan.baseCommit = baseCommit
        plan.diagnostics = allocation.diagnostics.items + plan.diagnostics
        return PlannedRun(commit: commit, plan: plan, steps: outcome.steps.map(\.step), hosts: hosts,
                          allocations: allocation.allocations)
    }

    /// The desired state of the last applied commit, read from `source`; nil when nothing was applied or
    /// that commit is not in this repository.
    public func previousState(in source: ManifestSource) throws -> LoadedCommit? {
        guard let run = try store.lastAppliedRun(), let commit = run.commit else { return nil }
        return try? source.load(commit)
    }

    /// What an apply did.
    public struct AppliedRun: Sendable {
        public var runID: Int64
        public var planned: PlannedRun
        public var result: ApplyResult
        /// Actions left in flight by runs that were killed, found before this one started.
        public var recovered: [Store.InterruptedAction]
        /// Hosts that could not be reached, prepared or observed, and why: nothing was done on them.
        public var unreachable: [String: String]

        /// The steps that failed, and those not run because a step they wait for did not succeed.
        public var failedSteps: [ApplyResult.StepResult] { result.steps.filter { $0.phase == .failed } }
        public var skippedSteps: [ApplyResult.StepResult] { result.steps.filter { $0.phase == .skipped } }

        public var succeeded: Bool { result.isSuccess && unreachable.isEmpty && !planned.plan.hasErrors }
    }

    /// Applies a planned run under the state lock (taken by the caller): records the run, persists IP
    /// allocations, prepares the hosts and carries out the steps, journalling each one.
    public func apply(_ planned: PlannedRun, sessions: HostSessions, options: Applier.Options, kind: Store.RunKind = .apply,
                      recovered: [Store.InterruptedAction] = [],
                      progress: @escaping @Sendable (ApplyEvent) -> Void = { _ in }) async throws -> AppliedRun
    {
        let planJSON = try? PlanRenderer.json(planned.plan)
        let runID = try store.beginRun(kind: kind, commit: planned.commit.commit, repository: planned.commit.repository,
                                       path: planned.commit.path, summary: planned.plan.header, planJSON: planJSON,
                                       diagnosticProjects: ProjectScope(state: planned.commit.state).projects(of: planned.plan.diagnostics))
        try store.saveAllocations(planned.allocations)
        var unreachable = sessions.unreachable
        // A host that was reached but could not be read got no step: the run must not count as converged.
        for host in planned.hosts where !host.isKnown && unreachable[host.target.name] == nil {
            unreachable[host.target.name] = "not observed: " + (host.unknownReason ?? "unknown")
        }
        for (host, reason) in await sessions.prepare() where unreachable[host] == nil { unreachable[host] = reason }
        let store = self.store
        // Each line carries its step's project, kind and name as columns: the API authorises it by its
        // project and nothing reads the key back.
        let steps = Dictionary(planned.steps.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        let applier = Applier(drivers: sessions.drivers.filter { unreachable[$0.key] == nil }, options: options) { event in
            let step = steps[event.step]
            try await store.journal(run: runID, action: event.step, phase: Store.StepPhase(event.phase), detail: event.detail,
                              project: step?.project, kind: step?.kind.rawValue, name: step?.name)
            FaultInjection.journalWritten()
            progress(event)
        }
        let result = await applier.apply(planned.steps)
        let applied = AppliedRun(runID: runID, planned: planned, result: result, recovered: recovered, unreachable: unreachable)
        var outcome = "\(result.succeeded) succeeded, \(result.failed) failed, \(result.skipped) skipped"
        if !unreachable.isEmpty { outcome += "; unreachable: " + unreachable.keys.sorted().joined(separator: ", ") }
        try store.finishRun(runID, result: applied.succeeded ? .succeeded : .failed, detail: outcome)
        return applied
    }

    /// Where a repository is, as a saved plan records it to read it again: a local path made absolute, a
    /// remote's URL without credentials.
    public static func recordedLocation(_ location: String) -> String {
        if GitRepository.isRemote(location) { return Redaction.displayURL(location) }
        return URL(fileURLWithPath: location).standardizedFileURL.path
    }

    /// A repository location as it may be shown, logged or stored: credentials in a URL become `***`.
    public static func displayLocation(_ location: String) -> String {
        Redaction.redact(location)
    }

    /// Records a run that never reached the hosts (refused, invalid source). `publicReason` is the reason
    /// as every API user may read it (only when it names no project's objects).
    public func recordRefusal(kind: Store.RunKind, commit: String?, repository: String?, path: String?, reason: String,
                              publicReason: String? = nil) {
        if let id = try? store.beginRun(kind: kind, commit: commit, repository: repository.map(Self.displayLocation), path: path) {
            try? store.finishRun(id, result: .refused, detail: reason, publicDetail: publicReason)
        }
    }

    /// Records a drift check in the history.
    public func recordDrift(_ report: DriftReport, repository: String?, path: String?) {
        guard let id = try? store.beginRun(kind: .drift, commit: report.commit, repository: repository, path: path,
                                           summary: "\(report.items.count) drift item\(report.items.count == 1 ? "" : "s")")
        else { return }
        try? store.finishRun(id, result: report.hasDrift ? .drifted : .clean)
    }
}
