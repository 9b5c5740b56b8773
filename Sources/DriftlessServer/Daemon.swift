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
/// timer, optionally heal it. All work runs one item at a time on this actor's queue, so two applies
/// never overlap; the HTTP side only reads the store and enqueues work.
public actor Daemon {
    /// Work for the loop.
    enum Work: Sendable {
        /// Fetch the repository and apply a new head (timer or webhook).
        case poll(reason: String)
        /// Compare the hosts with the last applied commit (timer or event).
        case driftCheck(reason: String)
    }

    public let configuration: ServeConfiguration
    let reconciler: Reconciler
    let logger: Logger
    let notifier: Notifier
    private let work: AsyncStream<Work>
    private let enqueue: AsyncStream<Work>.Continuation

    private var sessions: HostSessions?
    private var applied: LoadedCommit?
    private var policy: AccessPolicy?
    private var refusedHead: String?
    private var notifiedFailure: String?
    private var driftPending = false
    private(set) var ready = false
    private var stopping = false
    private var lastAppliedCommitGauge: Gauge?
    private var eventWatch: Task<Void, Never>?

    public init(configuration: ServeConfiguration, logger: Logger) throws {
        self.configuration = configuration
        reconciler = try Reconciler(stateDirectory: configuration.stateDirectory)
        reconciler.connectTimeout = .seconds(5)
        reconciler.imageDirectories = configuration.imageDirectories
        self.logger = logger
        notifier = Notifier(url: configuration.notifyURL, format: configuration.notifyFormat, logger: logger)
        (work, enqueue) = AsyncStream.makeStream(of: Work.self, bufferingPolicy: .unbounded)
    }

    // MARK: - What the HTTP side asks

    public var store: Store { reconciler.store }
    public var isReady: Bool { ready }

    /// The grant of a bearer token, from the applied commit's users (nil: the token or its user is
    /// unknown, or the user is disabled).
    public func grant(forToken token: String) -> AccessPolicy.Grant? {
        guard let user = try? reconciler.store.tokenUser(token), let policy else { return nil }
        return try? policy.grant(for: user).get()
    }

    /// The applied commit (for plans of another revision and status).
    public var appliedCommit: LoadedCommit? { applied }

    /// Triggers a fetch (webhooks).
    public nonisolated func requestPoll(reason: String) {
        enqueue.yield(.poll(reason: reason))
    }

    /// Plans `revision` against the live hosts without applying it.
    public func plan(revision: String?) async throws -> Plan {
        let source = try reconciler.source(configuration.repository, path: configuration.path)
        let commit = try source.load(revision ?? configuration.branch)
        let sessions = try await currentSessions(for: commit)
        return try await reconciler.plan(commit, previous: applied?.state, sessions: sessions).plan
    }

    // MARK: - The loop

    /// Runs until `stop()`; the in-flight item (an apply, a drift check) always finishes first.
    public func run() async {
        logger.info("driftless serve starting", metadata: [
            "repository": "\(Reconciler.displayLocation(configuration.repository))", "state": "\(configuration.stateDirectory)",
        ])
        await restore()
        ready = true
        enqueue.yield(.poll(reason: "start"))
        let timers = Task { [configuration, enqueue] in
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: configuration.pollInterval)
                        enqueue.yield(.poll(reason: "interval"))
                    }
                }
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: configuration.driftInterval)
                        enqueue.yield(.driftCheck(reason: "interval"))
                    }
                }
            }
        }
        for await item in work {
            if stopping { break }
            switch item {
            case let .poll(reason):
                await poll(reason: reason)
            case let .driftCheck(reason):
                driftPending = false
                await checkDrift(reason: reason)
            }
        }
        timers.cancel()
        eventWatch?.cancel()
        await sessions?.close()
        logger.info("driftless serve stopped")
    }

    /// Stops after the item in flight; nothing new starts.
    public func stop() {
        stopping = true
        enqueue.finish()
    }

    /// Loads the last applied commit (so drift is checked and tokens work right after a restart) and
    /// marks runs a killed daemon left open as interrupted.
    func restore() async {
        do {
            let interrupted = try reconciler.store.recoverInterruptedRuns()
            if !interrupted.isEmpty {
                logger.warning("a previous run was interrupted; the hosts are observed afresh",
                               metadata: ["in-flight": "\(interrupted.map(\.action).joined(separator: ", "))"])
            }
            guard let run = try reconciler.store.lastAppliedRun(), let commit = run.commit else { return }
            let source = try reconciler.source(configuration.repository, path: configuration.path)
            let loaded = try source.load(commit)
            adopt(loaded)
        } catch {
            logger.error("could not restore the last applied commit", metadata: ["error": "\(error)"])
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
            if head == applied?.commit || head == refusedHead { return }
            if let last = applied?.commit, !configuration.acceptHistoryRewrite,
               !(try source.repository.isAncestor(last, of: head))
            {
                refuse(head: head, reason: "history rewrite: \(head.prefix(12)) does not descend from the last applied commit \(last.prefix(12)); refusing it (start with --accept-history-rewrite to allow)")
                return
            }
            let commit: LoadedCommit
            do {
                commit = try source.load(head)
            } catch let error as EngineError {
                refuse(head: head, reason: "\(error)")
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

    func refuse(head: String, reason: String) {
        refusedHead = head
        logger.error("commit refused", metadata: ["commit": "\(head.prefix(12))", "reason": "\(reason)"])
        reconciler.recordRefusal(kind: "apply", commit: head, repository: configuration.repository, path: configuration.path,
                                 reason: reason)
        Counter(label: "driftless_runs_total", dimensions: [("kind", "apply"), ("result", "refused")]).increment()
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
        if result.succeeded {
            logger.info("applied", metadata: ["commit": "\(commit.commit.prefix(12))", "run": "\(result.runID)",
                                              "plan": "\(planned.plan.header)"])
            adopt(commit)
            notifiedFailure = nil
            requestDriftCheck(reason: "after apply")
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

    func requestDriftCheck(reason: String) {
        guard !driftPending else { return }
        driftPending = true
        enqueue.yield(.driftCheck(reason: reason))
    }

    func checkDrift(reason: String) async {
        guard let applied else { return }
        let started = ContinuousClock.now
        do {
            let sessions = try await currentSessions(for: applied)
            let planned = try await reconciler.plan(applied, previous: applied.state, sessions: sessions)
            let (report, new) = try reconciler.store.recordDrift(DriftReport(plan: planned.plan, hosts: planned.hosts))
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
    /// check (debounced). When a libvirt connection dies, the next check reconnects and re-subscribes.
    func watchEvents(_ sessions: HostSessions) {
        let debounce = configuration.eventDebounce
        eventWatch = Task { [weak self] in
            let events = sessions.events()
            for await host in events {
                try? await Task.sleep(for: debounce)
                await self?.requestDriftCheck(reason: "event on \(host)")
            }
        }
        Task { [weak self] in
            // Notice a lost libvirt connection without waiting for the drift interval.
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                guard let self else { return }
                if await self.sessionsLost(sessions) { await self.requestDriftCheck(reason: "connection lost"); return }
            }
        }
    }

    func sessionsLost(_ watched: HostSessions) -> Bool {
        guard let sessions, sessions === watched else { return false }
        return !sessions.isHealthy
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
