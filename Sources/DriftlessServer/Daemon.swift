import DriftlessCore
import DriftlessEngine
import DriftlessStore
import Foundation
import Logging
import Metrics
#if canImport(Glibc)
import Glibc
#endif

/// The control loop of `driftless serve`: reconcile each new commit once, check drift on events and on a
/// timer, optionally heal it. All work runs one item at a time from this actor's queue, so two applies
/// never overlap; the HTTP side only reads the store and enqueues work.
///
/// The queue holds at most one item of each kind (`WorkQueue`): a burst of polls, webhooks or host
/// events while an item waits is that one item, level-based, since each item reads the current state.
public actor Daemon {
    /// Work for the loop: keys of the work queue.
    enum Work: Hashable, Sendable {
        /// Fetch the repository and apply a new head (start, timer or webhook).
        case poll
        /// Compare the hosts with the last applied commit (start, timer, event, after an apply).
        case driftCheck
    }

    /// Why the daemon cannot plan a revision now.
    public struct PlanUnavailable: Error, CustomStringConvertible {
        public enum Reason: Sendable {
            /// Nothing applied yet: there are no hosts the daemon may connect to for a review.
            case nothingApplied
            /// The repository could not be fetched.
            case remoteUnavailable
        }

        public var reason: Reason
        public var description: String
    }

    /// A revision planned for review, with the project of each diagnostic (nil: cloud-wide), for the API
    /// to show each user only theirs.
    public enum RevisionPlan: Sendable {
        case planned(Plan, diagnosticProjects: [String?])
        /// The revision does not validate: its report, nothing planned.
        case invalid(ValidationReport, diagnosticProjects: [String?])
    }

    /// What the last drift check saw on the hosts, for the dashboard.
    public struct Observation: Sendable {
        public var hosts: [HostObservation]
        public var at: Date
    }

    public let configuration: ServeConfiguration
    /// Tells the dashboard's open pages that a drift report was recorded or a run finished.
    public nonisolated let changes = ChangeFeed()
    let reconciler: Reconciler
    let logger: Logger
    let notifier: Notifier
    let queue = WorkQueue<Work>()

    private var sessions: HostSessions?
    private var applied: LoadedCommit?
    private var policy: AccessPolicy?
    private var refusedHead: String?
    private var notifiedFailure: String?
    private(set) var ready = false
    private var stopping = false
    private var lastAppliedCommitGauge: Gauge?
    private var eventWatch: Task<Void, Never>?
    private var lastObservation: Observation?

    public init(configuration: ServeConfiguration, logger: Logger) throws {
        self.configuration = configuration
        reconciler = try Reconciler(stateDirectory: configuration.stateDirectory)
        reconciler.connectTimeout = .seconds(5)
        reconciler.gitCredentials = configuration.gitCredentials
        reconciler.imageDirectories = configuration.imageDirectories
        self.logger = logger
        notifier = Notifier(url: configuration.notifyURL, format: configuration.notifyFormat, logger: logger)
    }

    // MARK: - What the HTTP side asks

    public nonisolated var store: Store { reconciler.store }
    public var isReady: Bool { ready }

    /// The grant of a bearer token, from the applied commit's users (nil: the token or its user is
    /// unknown, or the user is disabled).
    public func grant(forToken token: String) -> AccessPolicy.Grant? {
        guard let user = try? reconciler.store.tokenUser(token), let policy else { return nil }
        return try? policy.grant(for: user).get()
    }

    /// The grant of a user of the applied commit (a dashboard session's), nil when the user is unknown or
    /// disabled.
    public func grant(forUser user: String) -> AccessPolicy.Grant? {
        try? policy?.grant(for: user).get()
    }

    /// The applied commit (for plans of another revision and status).
    public var appliedCommit: LoadedCommit? { applied }

    /// What the last drift check observed (nil before the first).
    public var observation: Observation? { lastObservation }

    /// Triggers a fetch (webhooks); while one waits, this is the same fetch.
    public nonisolated func requestPoll(reason: String) {
        queue.add(.poll, reason: reason)
    }

    /// Plans `revision` without applying it, against the hosts of the applied commit only: hosts the
    /// revision adds, or whose libvirt or OVSDB endpoint it changes, are never connected to and are shown
    /// as not observed (`Reconciler.observeForReview`).
    public func plan(revision: String?) async throws -> RevisionPlan {
        guard let applied else {
            throw PlanUnavailable(reason: .nothingApplied,
                                  description: "nothing has been applied yet; revisions are planned only against the hosts of the applied commit")
        }
        let source: ManifestSource
        do {
            source = try reconciler.source(configuration.repository, path: configuration.path)
        } catch {
            throw PlanUnavailable(reason: .remoteUnavailable, description: "\(error)")
        }
        let revision = revision ?? configuration.branch
        let commit: LoadedCommit
        do {
            commit = try source.load(revision)
        } catch let EngineError.invalid(report) {
            let scope = ProjectScope(files: (try? source.files(revision)) ?? [])
            return .invalid(report, diagnosticProjects: report.diagnostics.map { entry in
                scope.project(at: entry.file.map { SourceLocation(file: $0, line: entry.line ?? 1, column: entry.column ?? 1) })
            })
        }
        // The daemon's own sessions when they are the applied commit's (an apply of a new commit may be
        // using others: those are left alone), else short-lived ones to the applied commit's hosts.
        let live: HostSessions
        var temporary: HostSessions?
        if let sessions, sessions.targets == Reconciler.targets(of: applied.state), sessions.isHealthy {
            live = sessions
        } else {
            live = await reconciler.connect(applied)
            temporary = live
        }
        let hosts = await reconciler.observeForReview(commit, applied: applied, sessions: live)
        await temporary?.close()
        let plan = try reconciler.plan(commit, previous: applied.state, hosts: hosts).plan
        return .planned(plan, diagnosticProjects: ProjectScope(state: commit.state).projects(of: plan.diagnostics))
    }

    // MARK: - The loop

    /// Runs until `stop()`; the in-flight item (an apply, a drift check) always finishes first.
    ///
    /// The hosts are watched from the start: the last applied commit is restored from the store and the
    /// local repository (or fetch cache) before anything is fetched, and the first item is a drift check,
    /// which connects to the hosts and subscribes to their events. Only then is the remote fetched.
    public func run() async {
        logger.info("driftless serve starting", metadata: [
            "repository": "\(Reconciler.displayLocation(configuration.repository))", "state": "\(configuration.stateDirectory)",
        ])
        restore()
        ready = true
        if applied != nil { queue.add(.driftCheck, reason: "start") }
        queue.add(.poll, reason: "start")
        let timers = Task { [configuration, queue] in
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: configuration.pollInterval)
                        queue.add(.poll, reason: "interval")
                    }
                }
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: configuration.driftInterval)
                        queue.add(.driftCheck, reason: "interval")
                    }
                }
                group.addTask { [changes] in
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .seconds(15))
                        changes.publish(.heartbeat)
                    }
                }
            }
        }
        while let item = await queue.next() {
            if stopping { break }
            let reason = item.reasons.joined(separator: ", ") + (item.triggers > item.reasons.count ? " (\(item.triggers) triggers)" : "")
            switch item.key {
            case .poll:
                await poll(reason: reason)
            case .driftCheck:
                await checkDrift(reason: reason)
            }
        }
        timers.cancel()
        changes.finish()
        eventWatch?.cancel()
        await sessions?.close()
        logger.info("driftless serve stopped")
    }

    /// Stops after the item in flight; nothing new starts.
    public func stop() {
        stopping = true
        queue.shutDown()
    }

    /// Marks runs a killed daemon left open as interrupted, and loads the last applied commit from the
    /// store and the local repository or fetch cache, without contacting the remote: tokens, drift checks
    /// and host events work at once, whether the remote answers or not.
    func restore() {
        do {
            let interrupted = try reconciler.store.recoverInterruptedRuns()
            if !interrupted.isEmpty {
                logger.warning("a previous run was interrupted; the hosts are observed afresh",
                               metadata: ["in-flight": "\(interrupted.map(\.action).joined(separator: ", "))"])
            }
            guard let commit = try reconciler.store.lastAppliedCommit() else { return }
            let source = try reconciler.cachedSource(configuration.repository, path: configuration.path)
            adopt(try source.load(commit))
            logger.info("restored the last applied commit", metadata: ["commit": "\(commit.prefix(12))"])
        } catch {
            logger.error("could not restore the last applied commit; it is read again after the next fetch",
                         metadata: ["error": "\(error)"])
        }
    }

    func adopt(_ commit: LoadedCommit) {
        applied = commit
        policy = AccessPolicy(state: commit.state)
        lastAppliedCommitGauge?.record(0)
        let gauge = Gauge(label: "driftless_last_applied_commit_info", dimensions: [("commit", String(commit.commit.prefix(12)))])
        gauge.record(1)
        lastAppliedCommitGauge = gauge
        if let run = try? reconciler.store.lastAppliedRun() {
            Gauge(label: "driftless_last_applied_timestamp_seconds").record((run.finishedAt ?? run.startedAt).timeIntervalSince1970)
        }
    }

    // MARK: - Poll and apply

    func poll(reason: String) async {
        let started = ContinuousClock.now
        do {
            let source = try reconciler.source(configuration.repository, path: configuration.path)
            let head = try resolveHead(source)
            // The last applied commit as the store has it: what the daemon remembers may be missing (the
            // remote was unreachable at start and the cache empty) or stale.
            let last = try reconciler.store.lastAppliedCommit()
            if let last, applied?.commit != last, source.repository.contains(commit: last) {
                adopt(try source.load(last))
                queue.add(.driftCheck, reason: "restored the last applied commit")
            }
            if head == last || head == refusedHead { return }
            if let last, !configuration.acceptHistoryRewrite {
                let known = source.repository.contains(commit: last)
                let descends = try known && source.repository.isAncestor(last, of: head)
                if !descends {
                    let why = known ? "does not descend from" : "cannot be related to (it is not in the repository)"
                    let reason = "history rewrite: \(head.prefix(12)) \(why) the last applied commit \(last.prefix(12)); "
                        + "refusing it (start with --accept-history-rewrite to allow)"
                    refuse(head: head, reason: reason, publicReason: reason)
                    return
                }
            }
            let commit: LoadedCommit
            do {
                commit = try source.load(head)
            } catch let error as EngineError {
                refuse(head: head, reason: Self.refusalReason(error))
                return
            }
            logger.info("reconciling a new commit", metadata: ["commit": "\(head.prefix(12))", "trigger": "\(reason)"])
            try await apply(commit, kind: "apply", started: started)
        } catch {
            logger.error("poll failed", metadata: ["error": "\(error)"])
            Counter(label: "driftless_runs_total", dimensions: [("kind", "apply"), ("result", "error")]).increment()
            await notifyOnce(key: "poll \(error)", event: "run.failed", text: "Driftless could not reconcile: \(error)")
        }
    }

    func resolveHead(_ source: ManifestSource) throws -> String {
        guard let branch = configuration.branch else { return try source.resolve(nil) }
        if let commit = try? source.resolve("refs/remotes/origin/\(branch)") { return commit }
        return try source.resolve(branch)
    }

    /// What a refused commit's run records: for invalid manifests, the first diagnostics too (the detail
    /// of a run is shown whole only to cloud admins).
    static func refusalReason(_ error: EngineError) -> String {
        guard case let .invalid(report) = error else { return "\(error)" }
        let first = report.diagnostics.filter { $0.severity == .error }.prefix(5).map { entry in
            (entry.file.map { "\($0):\(entry.line ?? 1):\(entry.column ?? 1): " } ?? "") + (entry.field.map { "\($0): " } ?? "") + entry.message
        }
        return "\(error)" + (first.isEmpty ? "" : ": " + first.joined(separator: "; "))
    }

    /// Records and reports a refused head; the daemon keeps serving, and the head is not tried again until
    /// another one arrives. `publicReason` is set when the reason names no project's objects.
    func refuse(head: String, reason: String, publicReason: String? = nil) {
        refusedHead = head
        logger.error("commit refused", metadata: ["commit": "\(head.prefix(12))", "reason": "\(reason)"])
        reconciler.recordRefusal(kind: "apply", commit: head, repository: configuration.repository, path: configuration.path,
                                 reason: reason, publicReason: publicReason)
        Counter(label: "driftless_runs_total", dimensions: [("kind", "apply"), ("result", "refused")]).increment()
        changes.publish(.run)
        let notifier = self.notifier
        Task { await notifier.send(event: "run.refused", text: "Driftless refused \(head.prefix(12)): \(reason)", payload: ["commit": head]) }
    }

    /// Plans and applies `commit` under the safety rules; records, measures and notifies.
    func apply(_ commit: LoadedCommit, kind: String, started: ContinuousClock.Instant) async throws {
        let sessions = try await currentSessions(for: commit)
        let planned = try await reconciler.plan(commit, previous: applied?.state, sessions: sessions)
        try await carryOut(planned, sessions: sessions, kind: kind, started: started)
    }

    /// Applies a plan already made against `sessions` under the safety rules; records, measures and notifies.
    func carryOut(_ planned: Reconciler.PlannedRun, sessions: HostSessions, kind: String, started: ContinuousClock.Instant)
        async throws
    {
        let commit = planned.commit
        let refusals = ApplyGuard(allowMassDelete: configuration.allowMassDelete, allowReplace: configuration.allowReplace)
            .refusals(plan: planned.plan, desired: commit.state, hosts: planned.hosts)
        if !refusals.isEmpty {
            refuse(head: commit.commit, reason: refusals.joined(separator: "; "))
            return
        }
        let logger = self.logger
        let result = try await reconciler.apply(planned, sessions: sessions, options: Applier.Options(parallelism: configuration.parallelism),
                                                kind: kind) { event in
            if event.phase != .started {
                logger.info("step \(event.phase.rawValue)", metadata: ["step": "\(event.step)", "detail": "\(event.detail ?? "")"])
            }
        }
        let resultLabel = result.succeeded ? "succeeded" : "failed"
        Timer(label: "driftless_run_duration_seconds", dimensions: [("kind", kind)]).record(since: started)
        Counter(label: "driftless_runs_total", dimensions: [("kind", kind), ("result", resultLabel)]).increment()
        recordReachability(sessions)
        changes.publish(.run)
        if result.succeeded {
            logger.info("applied", metadata: ["commit": "\(commit.commit.prefix(12))", "run": "\(result.runID)",
                                              "plan": "\(planned.plan.header)"])
            adopt(commit)
            notifiedFailure = nil
            queue.add(.driftCheck, reason: "after apply")
        } else {
            logger.error("apply failed", metadata: ["commit": "\(commit.commit.prefix(12))", "run": "\(result.runID)"])
            await notifyOnce(key: "run \(commit.commit)", event: "run.failed",
                             text: "Driftless run #\(result.runID) failed applying \(commit.commit.prefix(12)): "
                                 + "\(result.result.failed) failed, \(result.result.skipped) skipped"
                                 + (result.unreachable.isEmpty ? "" : "; unreachable: \(result.unreachable.keys.sorted().joined(separator: ", "))"))
        }
    }

    func notifyOnce(key: String, event: String, text: String) async {
        guard notifiedFailure != key else { return }
        notifiedFailure = key
        await notifier.send(event: event, text: text, payload: [:])
    }

    // MARK: - Drift

    func checkDrift(reason: String) async {
        guard let applied else { return }
        let started = ContinuousClock.now
        do {
            let sessions = try await currentSessions(for: applied)
            let planned = try await reconciler.plan(applied, previous: applied.state, sessions: sessions)
            let (report, new) = try reconciler.store.recordDrift(DriftReport(plan: planned.plan, hosts: planned.hosts))
            lastObservation = Observation(hosts: planned.hosts, at: report.checkedAt)
            changes.publish(.drift)
            Gauge(label: "driftless_drift_items").record(report.items.count)
            logger.debug("drift check", metadata: ["items": "\(report.items.count)", "trigger": "\(reason)"])
            Timer(label: "driftless_drift_check_duration_seconds").record(since: started)
            recordReachability(sessions)
            if !new.isEmpty {
                logger.warning("drift", metadata: ["items": "\(new.count)", "trigger": "\(reason)",
                                                  "first": "\(new[0].type.rawValue) \(new[0].kind.lowercased()) \(new[0].name)"])
                var single = report
                single.items = new
                await notifier.send(event: "drift", text: single.renderText(), payload: ["commit": applied.commit])
            }
            if configuration.heal && !planned.plan.isEmpty && report.items.allSatisfy({ $0.type != .unreachable }) {
                logger.info("healing drift", metadata: ["items": "\(report.items.count)"])
                // The check's own plan is the heal: the same commit against the hosts as just observed.
                try await carryOut(planned, sessions: sessions, kind: "apply", started: started)
            }
        } catch {
            logger.error("drift check failed", metadata: ["error": "\(error)"])
        }
        Self.returnFreedMemory()
    }

    /// A check parses every domain's XML; glibc keeps the freed pages in its arenas unless asked to give
    /// them back, which made the daemon's resident size grow with each check on large hosts.
    static func returnFreedMemory() {
        #if canImport(Glibc)
        _ = driftlessMallocTrim(0)
        #endif
    }

    /// Fewer malloc arenas: the daemon's work is serialised, and each arena holds freed memory of its own.
    public static func limitMallocArenas() {
        #if canImport(Glibc)
        _ = driftlessMallopt(-8, 2)  // M_ARENA_MAX, which Glibc's Swift overlay does not export
        #endif
    }

    func recordReachability(_ sessions: HostSessions) {
        for target in sessions.targets {
            Gauge(label: "driftless_host_reachable", dimensions: [("host", target.name)])
                .record(sessions.unreachable[target.name] == nil ? 1 : 0)
        }
    }

    // MARK: - Host sessions and their events

    /// The live sessions for `commit`'s hosts: kept between runs (their event streams report drift), made
    /// again when the hosts change or a connection was lost (libvirtd or ovsdb-server restarted).
    func currentSessions(for commit: LoadedCommit) async throws -> HostSessions {
        let targets = Reconciler.targets(of: commit.state)
        if let sessions, sessions.targets == targets, sessions.isHealthy { return sessions }
        await sessions?.close()
        eventWatch?.cancel()
        let fresh = await reconciler.connect(commit)
        sessions = fresh
        watchEvents(fresh)
        return fresh
    }

    /// Subscribes to the hosts' libvirt lifecycle events and OVSDB port changes; each asks for a drift
    /// check, `eventDebounce` later (a burst is one check). When a libvirt connection dies, a check is
    /// asked for within a second, and it reconnects and re-subscribes. Cancelled when the sessions are
    /// replaced.
    func watchEvents(_ sessions: HostSessions) {
        let debounce = configuration.eventDebounce
        eventWatch = Task { [queue] in
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await host in sessions.events() {
                        queue.add(.driftCheck, reason: "event on \(host)", after: debounce)
                    }
                }
                group.addTask {
                    // Notice a lost libvirt connection without waiting for the drift interval.
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .seconds(1))
                        if !Task.isCancelled && !sessions.isHealthy {
                            queue.add(.driftCheck, reason: "connection lost")
                            return
                        }
                    }
                }
            }
        }
    }
}

extension Timer {
    /// Records the time since `start`.
    func record(since start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
    }
}

#if canImport(Glibc)
@_silgen_name("mallopt")
private func driftlessMallopt(_ parameter: Int32, _ value: Int32) -> Int32
@_silgen_name("malloc_trim")
private func driftlessMallocTrim(_ pad: Int) -> Int32
#endif
