/// The drivers of one reachable host.
public struct HostDrivers: Sendable {
    public var target: HostTarget
    public var compute: any ComputeDriver
    public var storage: any StorageDriver
    public var network: any NetworkDriver

    public init(target: HostTarget, compute: any ComputeDriver, storage: any StorageDriver, network: any NetworkDriver) {
        self.target = target
        self.compute = compute
        self.storage = storage
        self.network = network
    }

    /// Observes the host through its three drivers, in parallel; a driver that fails makes its part
    /// `.unknown`, never empty.
    public func observe() async -> HostObservation {
        async let compute = Self.observed { try await self.compute.observe() }
        async let storage = Self.observed { try await self.storage.observe() }
        async let ports: Observed<[ObservedPort]> = {
            do { return try await network.observePorts() } catch { return .unknown(reason: "\(error)") }
        }()
        async let elsewhere = network.portsOnOtherBridges()
        return await HostObservation(target: target, compute: compute, storage: storage, ports: ports,
                                     portsOnOtherBridges: elsewhere)
    }

    static func observed<T: Sendable>(_ body: @Sendable () async throws -> T) async -> Observed<T> {
        do { return .known(try await body()) } catch { return .unknown(reason: "\(error)") }
    }
}

/// What happened to one step of an apply, as journalled and shown.
public struct ApplyEvent: Sendable, Equatable {
    public enum Phase: String, Sendable, Codable {
        case started
        case retrying
        case succeeded
        case failed
        /// Not run because a step it depends on failed (or was skipped).
        case skipped
        /// A milestone inside a long step (where a move stands: `MovePhase`), in `detail`; journalled
        /// like the others, so a crash after it is on record.
        case progress
    }

    public var step: String
    public var phase: Phase
    public var detail: String?
    /// Steps finished so far and the total, for progress lines.
    public var done: Int
    public var total: Int

    public init(step: String, phase: Phase, detail: String? = nil, done: Int, total: Int) {
        self.step = step
        self.phase = phase
        self.detail = detail
        self.done = done
        self.total = total
    }
}

/// The outcome of an apply.
public struct ApplyResult: Sendable {
    public struct StepResult: Sendable, Codable, Equatable {
        public var step: String
        public var phase: ApplyEvent.Phase
        public var detail: String?
        public var attempts: Int
    }

    public var steps: [StepResult]

    public var succeeded: Int { steps.count { $0.phase == .succeeded } }
    public var failed: Int { steps.count { $0.phase == .failed } }
    public var skipped: Int { steps.count { $0.phase == .skipped } }
    public var isSuccess: Bool { failed == 0 && skipped == 0 }
}

/// Carries out a plan's steps on the hosts: in dependency order, independent steps in parallel (bounded),
/// failures retried with backoff unless they are terminal (`FailureKind.of`), dependents of a failed step skipped and reported.
///
/// Every step is handed to `journal` before it runs and after it ends; the journal is durable (the store
/// writes before returning), so a run killed at any point leaves a record of what was in flight. If the
/// journal cannot be written the step does not run.
public struct Applier: Sendable {
    public struct Options: Sendable {
        /// How many steps run at once.
        public var parallelism: Int
        /// Attempts for a step failing with a transient error (the first included).
        public var attempts: Int
        /// The first backoff; doubled after each failed attempt.
        public var backoff: Duration
        /// How long a deleted instance may take to shut down before it is powered off.
        public var shutdownTimeout: Duration

        public init(parallelism: Int = 4, attempts: Int = 3, backoff: Duration = .milliseconds(500),
                    shutdownTimeout: Duration = .seconds(20)) {
            self.parallelism = max(1, parallelism)
            self.attempts = max(1, attempts)
            self.backoff = backoff
            self.shutdownTimeout = shutdownTimeout
        }
    }

    public typealias Journal = @Sendable (ApplyEvent) async throws -> Void

    public var drivers: [String: HostDrivers]
    public var options: Options
    public var journal: Journal

    public init(drivers: [String: HostDrivers], options: Options = Options(), journal: @escaping Journal) {
        self.drivers = drivers
        self.options = options
        self.journal = journal
    }

    /// The steps each step waits for, by index.
    public static func dependencies(of steps: [ApplyStep]) -> [Set<Int>] {
        var importsByVolume: [String: Int] = [:]
        var volumeSteps: [String: [ObjectID: Int]] = [:]
        var instanceSteps: [String: [ObjectID: [Int]]] = [:]
        var deletesByInstance: [String: [ObjectID: Int]] = [:]
        var detachers: [String: [String: [Int]]] = [:]
        for (index, step) in steps.enumerated() {
            switch step {
            case let .importImage(host, request): importsByVolume["\(host) \(request.volumeName)"] = index
            case let .createVolume(host, request): volumeSteps[host, default: [:]][request.id] = index
            case let .resizeVolume(host, volume, _): volumeSteps[host, default: [:]][volume.id] = index
            case let .createInstance(host, request): instanceSteps[host, default: [:]][request.id, default: []].append(index)
            case let .updateInstance(host, request, observed):
                instanceSteps[host, default: [:]][request.id, default: []].append(index)
                for path in observed.volumePaths { detachers[host, default: [:]][path, default: []].append(index) }
            case let .deleteInstance(host, observed):
                deletesByInstance[host, default: [:]][observed.id] = index
                for path in observed.volumePaths { detachers[host, default: [:]][path, default: []].append(index) }
            case let .moveInstance(move):
                instanceSteps[move.to, default: [:]][move.request.id, default: []].append(index)
            default: break
            }
        }
        return steps.enumerated().map { index, step in
            var deps = Set<Int>()
            switch step {
            case let .createVolume(host, request):
                if let base = request.baseImage, let i = importsByVolume["\(host) \(base.volumeName)"] { deps.insert(i) }
            case let .createInstance(host, request):
                if let i = importsByVolume["\(host) \(request.rootDisk.image.volumeName)"] { deps.insert(i) }
                for volume in request.volumes { if let id = volume.volume, let i = volumeSteps[host]?[id] { deps.insert(i) } }
                if let i = deletesByInstance[host]?[request.id] { deps.insert(i) }  // a replacement
            case let .updateInstance(host, request, _):
                for volume in request.volumes { if let id = volume.volume, let i = volumeSteps[host]?[id] { deps.insert(i) } }
            case let .deleteVolume(host, volume), let .retainVolume(host, volume):
                deps.formUnion(detachers[host]?[volume.path] ?? [])
            case let .moveInstance(move):
                if move.arrived == nil, let i = importsByVolume["\(move.to) \(move.request.rootDisk.image.volumeName)"] { deps.insert(i) }
                for volume in move.request.volumes { if let id = volume.volume, let i = volumeSteps[move.to]?[id] { deps.insert(i) } }
            case let .ensurePorts(host, set):
                for port in set.ensure {
                    let id = ObjectID(.instance, project: port.identity.owner.project, port.identity.owner.instance)
                    deps.formUnion(instanceSteps[host]?[id] ?? [])
                }
            case .importImage, .resizeVolume, .deleteInstance:
                break
            }
            deps.remove(index)
            return deps
        }
    }

    /// Runs every step; never throws: failures are in the result (and the journal).
    public func apply(_ steps: [ApplyStep]) async -> ApplyResult {
        let deps = Self.dependencies(of: steps)
        let total = steps.count
        var results = [ApplyResult.StepResult?](repeating: nil, count: total)

        func finish(_ index: Int, _ result: ApplyResult.StepResult, counter: LockedCounter) async {
            results[index] = result
            if result.phase == .skipped {
                try? await journal(ApplyEvent(step: result.step, phase: .skipped, detail: result.detail, done: counter.increment(), total: total))
            }
        }

        let finished = LockedCounter()  // steps ended, for progress lines
        await withTaskGroup(of: (Int, ApplyResult.StepResult).self) { group in
            var started = Set<Int>()
            var running = 0
            func launchReady() async {
                var progress = true
                while progress {
                    progress = false
                    for index in 0..<total where !started.contains(index) {
                        let waiting = deps[index]
                        if waiting.contains(where: { results[$0] == nil }) { continue }
                        if let blocker = waiting.first(where: { results[$0]?.phase != .succeeded }) {
                            started.insert(index)
                            await finish(index, .init(step: steps[index].key, phase: .skipped,
                                                detail: "not run: \(steps[blocker].key) did not succeed", attempts: 0),
                                   counter: finished)
                            progress = true
                            continue
                        }
                        guard running < options.parallelism else { return }
                        started.insert(index)
                        running += 1
                        let step = steps[index]
                        group.addTask { (index, await self.run(step, finished: finished, total: total)) }
                    }
                }
            }
            await launchReady()
            while let (index, result) = await group.next() {
                running -= 1
                await finish(index, result, counter: finished)
                await launchReady()
            }
        }
        return ApplyResult(steps: results.map { $0! })
    }

    /// Runs one step with its journal entries and retries.
    func run(_ step: ApplyStep, finished: LockedCounter, total: Int) async -> ApplyResult.StepResult {
        let key = step.key
        do {
            try await journal(ApplyEvent(step: key, phase: .started, done: finished.value, total: total))
        } catch {
            _ = finished.increment()
            return .init(step: key, phase: .failed, detail: "not run: the journal could not be written: \(error)", attempts: 0)
        }
        var delay = options.backoff
        var attempt = 0
        while true {
            attempt += 1
            do {
                let detail = try await execute(step) { milestone in
                    try? await journal(ApplyEvent(step: key, phase: .progress, detail: milestone, done: finished.value, total: total))
                }
                try? await journal(ApplyEvent(step: key, phase: .succeeded, detail: detail, done: finished.increment(), total: total))
                return .init(step: key, phase: .succeeded, detail: detail, attempts: attempt)
            } catch {
                let transient = FailureKind.of(error) == .transient
                if transient && attempt < options.attempts && !Task.isCancelled {
                    try? await journal(ApplyEvent(step: key, phase: .retrying, detail: "\(error)", done: finished.value, total: total))
                    try? await Task.sleep(for: delay)
                    delay *= 2
                    continue
                }
                try? await journal(ApplyEvent(step: key, phase: .failed, detail: "\(error)", done: finished.increment(), total: total))
                return .init(step: key, phase: .failed, detail: "\(error)", attempts: attempt)
            }
        }
    }

    /// Calls the driver for one step; returns a note for the journal. `progress` is told each milestone
    /// of a long step.
    func execute(_ step: ApplyStep, progress: @Sendable (String) async -> Void = { _ in }) async throws -> String? {
        guard let host = drivers[step.host] else { throw ApplyError.hostUnavailable(step.host) }
        switch step {
        case let .moveInstance(move):
            guard let source = drivers[move.from] else { throw ApplyError.hostUnavailable(move.from) }
            return try await self.move(move, from: source, to: host, progress: progress)
        case let .importImage(_, request):
            let image = try await host.storage.importImage(request)
            return image.volumeName
        case let .createVolume(_, request):
            return try await host.storage.createVolume(request).volumeName
        case let .resizeVolume(_, volume, size):
            return try await host.storage.resizeVolume(volume, to: size).capacity.description
        case let .deleteVolume(_, volume):
            try await host.storage.deleteVolume(volume)
            return nil
        case let .retainVolume(_, volume):
            try await host.storage.releaseVolume(volume)
            return "kept at \(volume.path)"
        case let .createInstance(_, request):
            return try await host.compute.create(request).uuid
        case let .updateInstance(_, request, observed):
            return try await host.compute.update(request, from: observed).summary
        case let .deleteInstance(_, observed):
            try await host.compute.delete(observed, shutdownTimeout: options.shutdownTimeout)
            return nil
        case let .ensurePorts(_, set):
            try await host.network.apply(set)
            return nil
        }
    }
}

extension Applier {
    /// Carries out `move` (see `InstanceMove` for the order and why a kill anywhere converges).
    func move(_ move: InstanceMove, from source: HostDrivers, to target: HostDrivers,
              progress: @Sendable (String) async -> Void) async throws -> String {
        if move.arrived == nil {
            try await source.compute.prepareMove(move.observed, to: move.to, shutdownTimeout: options.shutdownTimeout)
            await progress(MovePhase.stopped.rawValue)
            let disks = (move.observed.rootDiskPath.map { [($0, move.rootDisk)] } ?? [])
                + move.volumes.map { ($0.observed.path, $0.incoming) }
            var copied: UInt64 = 0
            for (path, incoming) in disks {
                let reader = try await source.storage.read(volumeAt: path)
                _ = try await target.storage.receive(incoming, from: reader)
                copied += reader.length
            }
            await progress(MovePhase.copied.rawValue + " \(ByteSize(bytes: copied))")
            _ = try await target.compute.arrive(move.request, from: move.from)
            await progress(MovePhase.arrived.rawValue)
        }
        // The new copy is the instance now: the old one goes, volumes first (a kill between leaves the old
        // domain, which the next plan still recognises as the move's source).
        for volume in move.volumes {
            try await source.storage.deleteVolume(volume.observed)
        }
        try await source.compute.delete(move.observed, shutdownTimeout: options.shutdownTimeout)
        await progress(MovePhase.departed.rawValue)
        let settled = try await target.compute.settle(move.request)
        return "on \(move.to) as \(settled.uuid)"
    }
}

/// Why the applier could not run a step.
public enum ApplyError: DriverError, Equatable {
    case hostUnavailable(String)

    public var failureKind: FailureKind { .transient }

    public var description: String {
        switch self {
        case let .hostUnavailable(host): "host \(host) is unreachable"
        }
    }
}
