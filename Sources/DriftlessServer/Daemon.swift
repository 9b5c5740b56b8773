import DriftlessCore
import DriftlessEngine
import DriftlessStore
import Foundation
import Logging
import Prometheus
import AsyncAlgorithms
#if canImport(Glibc)
import Glibc
#endif

/// The control loop of `driftless serve`: reconcile each new commit once, check drift on events and on a
/// timer, optionally heal it.
///
/// Every piece of work that uses the host sessions — an apply, a drift check, a plan asked for over the API
/// — is a key of one bounded `WorkQueue`, run one at a time by `run()`, so nothing interleaves with an
/// apply and nothing closes sessions another item is using. What the HTTP side reads (readiness, the
/// applied commit, the access policy) is published in a lock, so token lookups never wait behind the
/// loop. Fetches and validation run off the actor on one serial lane, each within a time limit.
public actor Daemon {
    /// Work for the loop: keys of the work queue.
    enum Work: Hashable, Sendable {
        /// Fetch the repository and apply a new head (start, timer, webhook, retry).
        case poll
        /// Compare the hosts with the last applied commit (start, timer, event, after an apply).
        case driftCheck
        /// Plan a revision for review (the API); each request is its own key.
        case review(Int)
    }

    /// Why the daemon cannot plan a revision now.
    public struct PlanUnavailable: Error, CustomStringConvertible {
        public enum Reason: Sendable {
            /// Nothing applied yet: there are no hosts the daemon may connect to for a review.
            case nothingApplied
            /// The repository could not be fetched.
            case remoteUnavailable
            /// Too many plans wait already, or the daemon is stopping.
            case busy
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
    /// Bounded: the two loop keys always merge; plans asked for over the API take the rest.
    let queue = WorkQueue<Work>(capacity: 2 + Daemon.maxWaitingReviews)
    static let maxWaitingReviews = 8
    /// What the HTTP side reads without waiting for the loop.
    let published = Published()
    /// Plans asked for over the API, waiting for their turn in the queue.
    let reviews = PendingReviews()

    private var watched: WatchedSessions?
    private var applied: LoadedCommit?
    private var refusedHead: String?
    private var notifiedFailure: String?
    private var stopping = false
    private var lastObservation: Observation?
    /// Consecutive retryable failures of the poll, for its backoff.
    private var pollFailures = 0

    /// The daemon's series on `/metrics`.
    public let metrics: DaemonMetrics

    public init(configuration: ServeConfiguration, logger: Logger, registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) throws {
        self.configuration = configuration
        reconciler = try Reconciler(stateDirectory: configuration.stateDirectory)
        reconciler.connectTimeout = .seconds(5)
        reconciler.sourceTimeout = configuration.sourceTimeout
        reconciler.gitCredentials = configuration.gitCredentials
        reconciler.imageDirectories = configuration.imageDirectories
        reconciler.hostAccess = configuration.hostAccess
        self.logger = logger
        notifier = Notifier(url: configuration.notifyURL, format: configuration.notifyFormat, logger: logger)
        metrics = DaemonMetrics(registry: registry)
    }

    // MARK: - What the HTTP side asks (never waits for the loop)

    public nonisolated var store: Store { reconciler.store }
    public nonisolated var isReady: Bool { published.ready }

    /// The grant of a bearer token, from the applied commit's users (nil: the token or its user is
    /// unknown, or the user is disabled).
    public nonisolated func grant(forToken token: String) -> AccessPolicy.Grant? {
        guard let policy = published.policy, let user = try? reconciler.store.tokenUser(token) else { return nil }
        return try? policy.grant(for: user).get()
    }

    /// The grant of a user of the applied commit (a dashboard session's), nil when the user is unknown or
    /// disabled.
    public nonisolated func grant(forUser user: String) -> AccessPolicy.Grant? {
        try? published.policy?.grant(for: user).get()
    }

    /// The applied commit (for plans of another revision and status).
    public nonisolated var appliedCommit: LoadedCommit? { published.applied }

    /// What the last drift check observed (nil before the first).
    public var observation: Observation? { lastObservation }

    /// Triggers a fetch (webhooks); while one waits, this is the same fetch.
    public nonisolated func requestPoll(reason: String) {
        queue.add(.poll, reason: reason)
    }

    /// Plans `revision` without applying it, in its turn in the queue, against the hosts of the applied
    /// commit only: hosts the revision adds, or whose libvirt or OVSDB endpoint it changes, are never
    /// connected to and are shown as not observed (`Reconciler.observeForReview`).
    public nonisolated func plan(revision: String?) async throws -> RevisionPlan {
        guard published.applied != nil else {
            throw PlanUnavailable(reason: .nothingApplied,
                                  description: "nothing has been applied yet; revisions are planned only against the hosts of the applied commit")
        }
        return try await withCheckedThrowingContinuation { continuation in
            let id = reviews.add(revision: revision, continuation: continuation)
            if !queue.add(.review(id), reason: "api") {
                reviews.take(id)?.continuation.resume(throwing: PlanUnavailable(
                    reason: .busy, description: "too many plans are waiting; try again later"))
            }
        }
    }

    // MARK: - The loop

    /// Runs until `stop()`; the in-flight item (an apply, a drift check, a plan) always finishes first.
    ///
    /// The hosts are watched from the start: the last applied commit is restored from the store and the
    /// local repository (or fetch cache) before anything is fetched, and the first item is a drift check,
    /// which connects to the hosts and subscribes to their events. Only then is the remote fetched.
    public func run() async {
        logger.info("driftless serve starting", metadata: [
            "repository": "\(Reconciler.displayLocation(configuration.repository))", "state": "\(configuration.stateDirectory)",
        ])
        await restore()
        published.ready = true
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
            case let .review(id):
                if let request = reviews.take(id) {
                    do { request.continuation.resume(returning: try await review(request.revision)) } catch {
                        request.continuation.resume(throwing: error)
                    }
                }
            }
        }
        timers.cancel()
        changes.finish()
        reviews.failAll(PlanUnavailable(reason: .busy, description: "the daemon is stopping"))
        await watched?.close()
        watched = nil
        logger.info("driftless serve stopped")
    }

    /// Stops after the item in flight; nothing new starts.
    public func stop() {
        stopping = true
        queue.shutDown()
    }

    /// Reads the source off the actor, on the source lane, within the configured time.
    func offLoop<T: Sendable>(_ what: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await reconciler.sourceLane.run(what, timeout: configuration.sourceTimeout, body)
    }

    /// Marks runs a killed daemon left open as interrupted, and loads the last applied commit from the
    /// store and the local repository or fetch cache, without contacting the remote: tokens, drift checks
    /// and host events work at once, whether the remote answers or not.
    func restore() async {
        do {
            let interrupted = try reconciler.store.recoverInterruptedRuns()
            if !interrupted.isEmpty {
                logger.warning("a previous run was interrupted; the hosts are observed afresh",
                               metadata: ["in-flight": "\(interrupted.map(\.action).joined(separator: ", "))"])
            }
            guard let commit = try reconciler.store.lastAppliedCommit() else { return }
            let (reconciler, configuration) = (self.reconciler, self.configuration)
            let loaded = try await offLoop("reading the last applied commit") {
                try reconciler.cachedSource(configuration.repository, path: configuration.path).load(commit)
            }
            adopt(loaded)
            logger.info("restored the last applied commit", metadata: ["commit": "\(commit.prefix(12))"])
        } catch {
            logger.error("could not restore the last applied commit; it is read again after the next fetch",
                         metadata: ["error": "\(error)"])
        }
    }

    func adopt(_ commit: LoadedCommit) {
        applied = commit
        published.adopt(commit)
        let run = try? reconciler.store.lastAppliedRun()
        metrics.applied(commit: commit.commit, at: run.map { $0.finishedAt ?? $0.startedAt })
        metrics.knownHosts(Reconciler.targets(of: commit.state).map(\.name))
    }

    // MARK: - Poll and apply

    /// What a poll found on the source lane: the head, and the last applied commit read again when the
    /// daemon's copy of it is stale.
    struct Fetched: Sendable {
        var source: ManifestSource
        var head: String
        var last: String?
        var restored: LoadedCommit?
        /// Why the head is refused before it is read (a history rewrite), naming only commits.
        var rewrite: String?
    }

    func poll(reason: String) async {
        let started = ContinuousClock.now
        do {
            let (reconciler, configuration, appliedCommit) = (self.reconciler, self.configuration, applied?.commit)
            let fetched = try await offLoop("fetching \(Reconciler.displayLocation(configuration.repository))") {
                try Self.fetch(reconciler: reconciler, configuration: configuration, applied: appliedCommit)
            }
            if let restored = fetched.restored {
                adopt(restored)
                queue.add(.driftCheck, reason: "restored the last applied commit")
            }
            pollFailures = 0
            let head = fetched.head
            if head == fetched.last || head == refusedHead {
                logger.debug("poll: nothing new", metadata: ["commit": "\(head.prefix(12))", "trigger": "\(reason)"])
                return
            }
            if let rewrite = fetched.rewrite {
                refuse(head: head, reason: rewrite, publicReason: rewrite)
                return
            }
            logger.info("reconciling a new commit", metadata: ["commit": "\(head.prefix(12))", "trigger": "\(reason)"])
            let policy = ConvergePolicy(purpose: .apply, allowReplace: configuration.allowReplace,
                                        allowMassDelete: configuration.allowMassDelete, allowMove: configuration.allowMove,
                                        parallelism: configuration.parallelism)
            let source = fetched.source
            let outcome = try await reconciler.converge(
                .revision(source, head, previous: applied?.state, after: applied),
                policy: policy, sessions: { [self] commit in try await self.currentSessions(for: commit) }, hooks: stepLogging())
            await handle(outcome, commit: head, started: started)
        } catch {
            pollFailures += 1
            let kind = FailureKind.of(error)
            logger.error("poll failed", metadata: ["error": "\(error)", "retry": "\(kind == .transient)"])
            metrics.run("error")
            await notifyOnce(key: "poll \(error)", event: "run.failed", text: "Driftless could not reconcile: \(error)")
            if kind == .transient { retryPoll() }
        }
    }

    /// A retryable failure polls again sooner than the interval: 1 s, doubling, at most the interval.
    func retryPoll() {
        let delay = min(Duration.seconds(1) * (1 << min(pollFailures - 1, 10)), configuration.pollInterval)
        guard delay < configuration.pollInterval else { return }
        Task { [queue] in
            try? await Task.sleep(for: delay)
            queue.add(.poll, reason: "retry")
        }
    }

    /// Fetches, resolves the head and checks its ancestry: blocking git work, on the source lane.
    static func fetch(reconciler: Reconciler, configuration: ServeConfiguration, applied: String?) throws -> Fetched {
        let source = try reconciler.source(configuration.repository, path: configuration.path)
        let head = try resolveHead(source, branch: configuration.branch)
        // The last applied commit as the store has it: what the daemon remembers may be missing (the
        // remote was unreachable at start and the cache empty) or stale.
        let last = try reconciler.store.lastAppliedCommit()
        var fetched = Fetched(source: source, head: head, last: last)
        if let last, applied != last, source.repository.contains(commit: last) {
            fetched.restored = try source.load(last)
        }
        if let last, head != last, !configuration.acceptHistoryRewrite {
            let known = source.repository.contains(commit: last)
            let descends = try known && source.repository.isAncestor(last, of: head)
            if !descends {
                let why = known ? "does not descend from" : "cannot be related to (it is not in the repository)"
                fetched.rewrite = "history rewrite: \(head.prefix(12)) \(why) the last applied commit \(last.prefix(12)); "
                    + "refusing it (start with --accept-history-rewrite to allow)"
            }
        }
        return fetched
    }

    static func resolveHead(_ source: ManifestSource, branch: String?) throws -> String {
        guard let branch else { return try source.resolve(nil) }
        if let commit = try? source.resolve("refs/remotes/origin/\(branch)") { return commit }
        return try source.resolve(branch)
    }

    /// What a refused commit's run records (`Reconciler.refusalReason`).
    static func refusalReason(_ error: EngineError) -> String {
        Reconciler.refusalReason(error)
    }

    /// Records and reports a refused head; the daemon keeps serving, and the head is not tried again until
    /// another one arrives. `publicReason` is set when the reason names no project's objects. `recorded`
    /// when the pipeline already wrote the run.
    func refuse(head: String, reason: String, publicReason: String? = nil, recorded: Bool = false) {
        refusedHead = head
        logger.error("commit refused", metadata: ["commit": "\(head.prefix(12))", "reason": "\(reason)"])
        if !recorded {
            reconciler.recordRefusal(kind: .apply, commit: head, repository: configuration.repository, path: configuration.path,
                                     reason: reason, publicReason: publicReason)
        }
        metrics.run("refused")
        changes.publish(.run)
        let notifier = self.notifier
        Task { await notifier.send(event: "run.refused", text: "Driftless refused \(head.prefix(12)): \(reason)", payload: ["commit": head]) }
    }

    /// Logs each step as it ends.
    func stepLogging() -> ConvergeHooks {
        let logger = self.logger
        return ConvergeHooks(planned: { planned in
            guard let stats = planned.commit.stats else { return }
            logger.debug("read the commit", metadata: [
                "commit": "\(planned.commit.commit.prefix(12))", "incremental": "\(stats.incremental)",
                "changed": "\(stats.changedPaths)", "decoded": "\(stats.decodedFiles)", "reused": "\(stats.reusedFiles)",
                "full-load-reason": "\(stats.fullLoadReason ?? "")",
            ])
        }, progress: { event in
            if event.phase != .started {
                logger.info("step \(event.phase.rawValue)", metadata: ["step": "\(event.step)", "detail": "\(event.detail ?? "")"])
            }
        })
    }

    /// Measures, records and notifies the outcome of a converge.
    func handle(_ outcome: ConvergeOutcome, commit: String, started: ContinuousClock.Instant) async {
        switch outcome {
        case let .refused(refusal):
            let reason: String = if case let .invalid(report) = refusal.cause {
                Self.refusalReason(.invalid(report))
            } else {
                refusal.reasons.joined(separator: "; ")
            }
            refuse(head: commit, reason: reason, recorded: true)
        case .planned, .nothingToDo(_, recorded: nil):
            break
        case let .applied(run), let .failed(run), let .nothingToDo(_, recorded: run?):
            let resultLabel = run.succeeded ? "succeeded" : "failed"
            metrics.runDuration(ContinuousClock.now - started)
            metrics.run(resultLabel)
            if let sessions = watched?.sessions { recordReachability(sessions) }
            changes.publish(.run)
            if run.succeeded {
                logger.info("applied", metadata: ["commit": "\(run.planned.commit.commit.prefix(12))", "run": "\(run.runID)",
                                                  "plan": "\(run.planned.plan.header)"])
                adopt(run.planned.commit)
                notifiedFailure = nil
                queue.add(.driftCheck, reason: "after apply")
            } else {
                logger.error("apply failed", metadata: ["commit": "\(run.planned.commit.commit.prefix(12))", "run": "\(run.runID)",
                                                        "failed": "\(run.failedSteps.map(\.step).joined(separator: ", "))"])
                await notifyOnce(key: "run \(run.planned.commit.commit)", event: "run.failed",
                                 text: "Driftless run #\(run.runID) failed applying \(run.planned.commit.commit.prefix(12)): "
                                     + "\(run.result.failed) failed, \(run.result.skipped) skipped"
                                     + (run.unreachable.isEmpty ? "" : "; unreachable: \(run.unreachable.keys.sorted().joined(separator: ", "))"))
            }
        }
    }

    func notifyOnce(key: String, event: String, text: String) async {
        guard notifiedFailure != key else { return }
        notifiedFailure = key
        await notifier.send(event: event, text: text, payload: [:])
    }

    // MARK: - Plans for review

    /// Plans `revision` (a queue item): read and validated on the source lane; observed through the
    /// daemon's sessions when they are the applied commit's, else through short-lived ones.
    func review(_ revision: String?) async throws -> RevisionPlan {
        guard let applied else {
            throw PlanUnavailable(reason: .nothingApplied,
                                  description: "nothing has been applied yet; revisions are planned only against the hosts of the applied commit")
        }
        let (reconciler, configuration) = (self.reconciler, self.configuration)
        let revision = revision ?? configuration.branch
        enum Read: Sendable { case commit(LoadedCommit), invalid(ValidationReport, [String?]) }
        let read: Read
        do {
            read = try await offLoop("reading \(revision ?? "HEAD")") {
                let source: ManifestSource
                do {
                    source = try reconciler.source(configuration.repository, path: configuration.path)
                } catch {
                    throw PlanUnavailable(reason: .remoteUnavailable, description: "\(error)")
                }
                do {
                    return .commit(try source.load(revision, after: applied))
                } catch let EngineError.invalid(report) {
                    let scope = ProjectScope(files: (try? source.files(revision)) ?? [])
                    return .invalid(report, report.diagnostics.map { entry in
                        scope.project(at: entry.file.map { SourceLocation(file: $0, line: entry.line ?? 1, column: entry.column ?? 1) })
                    })
                }
            }
        } catch let error as BlockingLane.Timeout {
            throw PlanUnavailable(reason: .remoteUnavailable, description: "\(error)")
        }
        let commit: LoadedCommit
        switch read {
        case let .invalid(report, projects): return .invalid(report, diagnosticProjects: projects)
        case let .commit(loaded): commit = loaded
        }
        // The daemon's own sessions when they are the applied commit's and healthy, else short-lived ones.
        let live: HostSessions
        var temporary: HostSessions?
        if let sessions = watched?.sessions, sessions.targets == Reconciler.targets(of: applied.state), sessions.isHealthy {
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

    // MARK: - Drift

    func checkDrift(reason: String) async {
        guard let applied else { return }
        let started = ContinuousClock.now
        do {
            let sessions = try await currentSessions(for: applied)
            let check = try await reconciler.checkDrift(applied, sessions: sessions)
            let (report, new) = try reconciler.store.recordDrift(check.report)
            lastObservation = Observation(hosts: check.planned.hosts, at: report.checkedAt)
            changes.publish(.drift)
            metrics.driftChecked(items: report.items.count, duration: ContinuousClock.now - started)
            logger.debug("drift check", metadata: ["items": "\(report.items.count)", "trigger": "\(reason)"])
            recordReachability(sessions)
            if !new.isEmpty {
                logger.warning("drift", metadata: ["items": "\(new.count)", "trigger": "\(reason)",
                                                  "first": "\(new[0].type.rawValue) \(new[0].kind.lowercased()) \(new[0].name)"])
                var single = report
                single.items = new
                await notifier.send(event: "drift", text: single.renderText(), payload: ["commit": applied.commit])
            }
            if configuration.heal && check.isHealable {
                logger.info("healing drift", metadata: ["items": "\(report.items.count)"])
                // The check's own plan is the heal: the same commit against the hosts as just observed.
                let policy = ConvergePolicy(purpose: .heal, allowReplace: configuration.allowReplace,
                                            allowMassDelete: configuration.allowMassDelete, allowMove: configuration.allowMove,
                                        parallelism: configuration.parallelism)
                let outcome = try await reconciler.converge(.planned(check.planned), policy: policy, sessions: { _ in sessions },
                                                            hooks: stepLogging())
                await handle(outcome, commit: applied.commit, started: started)
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
            metrics.host(target.name, reachable: sessions.unreachable[target.name] == nil)
        }
    }

    // MARK: - Host sessions and their watchers

    /// The live sessions for `commit`'s hosts: kept between runs (their event streams report drift), made
    /// again — with a new watcher, the old one cancelled and awaited first — when the hosts change or a
    /// connection was lost (libvirtd or ovsdb-server restarted). Only queue items call this, one at a time.
    func currentSessions(for commit: LoadedCommit) async throws -> HostSessions {
        let targets = Reconciler.targets(of: commit.state)
        if let sessions = watched?.sessions, sessions.targets == targets, sessions.isHealthy { return sessions }
        await watched?.close()
        let fresh = await reconciler.connect(commit)
        watched = WatchedSessions(fresh, queue: queue, debounce: configuration.eventDebounce)
        return fresh
    }

    /// How many watchers are running (for tests: one per live set of sessions, never more).
    var runningWatchers: Int { WatchedSessions.running.value }
}

/// Host sessions and the one task that watches their events, owned together: replacing or closing the
/// sessions cancels the watcher and waits for it to end before the sessions close.
///
/// The watcher merges the hosts' libvirt lifecycle events, OVSDB port changes and connection losses
/// (`HostSessions.events()`), debounces them (swift-async-algorithms: one drift check after a burst has
/// been quiet for `debounce`) and adds one `driftCheck` naming the hosts of the burst.
final class WatchedSessions: Sendable {
    let sessions: HostSessions
    private let watcher: Task<Void, Never>

    /// Watchers alive in this process.
    static let running = AtomicCounter()

    init(_ sessions: HostSessions, queue: WorkQueue<Daemon.Work>, debounce: Duration) {
        self.sessions = sessions
        Self.running.add(1)
        watcher = Task {
            defer { Self.running.add(-1) }
            await Self.forward(sessions.events(), to: queue, debounce: debounce)
        }
    }

    /// Adds one `driftCheck` per burst of `events` (host names), once the burst has been quiet for
    /// `debounce`, naming the hosts of the burst; returns when `events` ends (after the last burst's
    /// check) or the task is cancelled.
    static func forward(_ events: AsyncStream<String>, to queue: WorkQueue<Daemon.Work>, debounce: Duration) async {
        let burst = HostBurst()
        let (ticks, tick) = AsyncStream.makeStream(of: Int.self, bufferingPolicy: .bufferingNewest(1))
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                var count = 0
                for await host in events {
                    burst.insert(host)
                    count += 1
                    tick.yield(count)
                }
                tick.finish()
            }
            group.addTask {
                for await _ in ticks.debounce(for: debounce) {
                    let hosts = burst.drain()
                    if !hosts.isEmpty { queue.add(.driftCheck, reason: "event on " + hosts.joined(separator: ", ")) }
                }
            }
        }
    }

    func close() async {
        watcher.cancel()
        await watcher.value
        await sessions.close()
    }
}

/// The hosts of a burst of events, collected until the debounced event takes them.
final class HostBurst: @unchecked Sendable {
    private let lock = NSLock()
    private var hosts: Set<String> = []

    func insert(_ host: String) { lock.withLock { _ = hosts.insert(host) } }
    func drain() -> [String] { lock.withLock { defer { hosts.removeAll() }; return hosts.sorted() } }
}

/// A counter read from any thread.
final class AtomicCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0

    var value: Int { lock.withLock { count } }
    func add(_ delta: Int) { lock.withLock { count += delta } }
}

/// What the daemon publishes to the HTTP side: read under a lock, written by the loop.
final class Published: @unchecked Sendable {
    private let lock = NSLock()
    private var _ready = false
    private var _applied: LoadedCommit?
    private var _policy: AccessPolicy?

    var ready: Bool {
        get { lock.withLock { _ready } }
        set { lock.withLock { _ready = newValue } }
    }
    var applied: LoadedCommit? { lock.withLock { _applied } }
    var policy: AccessPolicy? { lock.withLock { _policy } }

    func adopt(_ commit: LoadedCommit) {
        let policy = AccessPolicy(state: commit.state)
        lock.withLock {
            _applied = commit
            _policy = policy
        }
    }
}

/// Plans asked for over the API, by id, until the loop takes them.
final class PendingReviews: @unchecked Sendable {
    struct Request {
        var revision: String?
        var continuation: CheckedContinuation<Daemon.RevisionPlan, any Error>
    }

    private let lock = NSLock()
    private var next = 0
    private var requests: [Int: Request] = [:]

    func add(revision: String?, continuation: CheckedContinuation<Daemon.RevisionPlan, any Error>) -> Int {
        lock.withLock {
            next += 1
            requests[next] = Request(revision: revision, continuation: continuation)
            return next
        }
    }

    func take(_ id: Int) -> Request? { lock.withLock { requests.removeValue(forKey: id) } }

    func failAll(_ error: any Error) {
        let all = lock.withLock { defer { requests.removeAll() }; return requests.values }
        for request in all { request.continuation.resume(throwing: error) }
    }
}

#if canImport(Glibc)
@_silgen_name("mallopt")
private func driftlessMallopt(_ parameter: Int32, _ value: Int32) -> Int32
@_silgen_name("malloc_trim")
private func driftlessMallocTrim(_ pad: Int) -> Int32
#endif
