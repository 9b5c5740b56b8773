import DriftlessCore
import Foundation
import Testing

/// Records every driver call and can fail chosen ones; stands in for hosts only in these scheduling tests
/// (the drivers themselves are tested against real libvirtd and OVS).
final class ScriptedHost: ComputeDriver, StorageDriver, NetworkDriver, @unchecked Sendable {
    struct Failure: DriverError {
        var failureKind: FailureKind
        var description: String
    }

    private let lock = NSLock()
    private(set) var calls: [String] = []
    private var inFlight = 0
    private(set) var maxInFlight = 0
    /// Call name → failures to throw before succeeding (Int.max: always).
    var failures: [String: (FailureKind, Int)] = [:]
    var delay: Duration = .milliseconds(5)

    func call(_ name: String) async throws {
        lock.withLock {
            calls.append(name)
            inFlight += 1
            maxInFlight = max(maxInFlight, inFlight)
        }
        try? await Task.sleep(for: delay)
        let failure: FailureKind? = lock.withLock {
            inFlight -= 1
            guard let (kind, remaining) = failures[name], remaining > 0 else { return nil }
            failures[name] = (kind, remaining == Int.max ? remaining : remaining - 1)
            return kind
        }
        if let failure { throw Failure(failureKind: failure, description: "\(name) failed (\(failure.rawValue))") }
    }

    func observe() async throws -> ComputeObservation { ComputeObservation(instances: [], unmanagedDomainNames: []) }
    func create(_ request: InstanceRequest) async throws -> ObservedInstance {
        try await call("create \(request.id.name)")
        return ObservedInstance(id: request.id, domainName: request.domainName, uuid: "u", specHash: "", commit: "", imageVolume: nil,
                                seedHash: nil, vcpus: 1, memory: .mebibytes(64), liveVCPUs: nil, liveMemory: nil, power: .running,
                                rootDiskPath: nil, volumePaths: [], nics: [])
    }
    func update(_ request: InstanceRequest, from observed: ObservedInstance) async throws -> InstanceUpdate {
        try await call("update \(request.id.name)")
        return InstanceUpdate()
    }
    func delete(_ observed: ObservedInstance, shutdownTimeout: Duration) async throws { try await call("delete \(observed.id.name)") }
    func ensurePools() async throws {}
    func observe() async throws -> StorageObservation { StorageObservation(volumes: [], images: [], unmanagedVolumeNames: []) }
    func importImage(_ request: ImageRequest) async throws -> ObservedImage {
        try await call("import \(request.id.name)")
        return ObservedImage(id: request.id, volumeName: request.volumeName, path: "/i", sha256: request.sha256, format: request.format, size: .zero)
    }
    func deleteImage(_ image: ObservedImage) async throws {}
    func createVolume(_ request: VolumeRequest) async throws -> ObservedVolume {
        try await call("volume \(request.id.name)")
        return ObservedVolume(id: request.id, volumeName: request.volumeName, path: "/v", capacity: request.size, format: request.format)
    }
    func resizeVolume(_ volume: ObservedVolume, to size: ByteSize) async throws -> ObservedVolume { volume }
    func deleteVolume(_ volume: ObservedVolume) async throws { try await call("delete-volume \(volume.id.name)") }
    func releaseVolume(_ volume: ObservedVolume) async throws { try await call("retain-volume \(volume.id.name)") }
    func ensureBridge() async throws {}
    func observePorts() async throws -> Observed<[ObservedPort]> { .known([]) }
    func apply(_ changes: PortChangeSet) async throws { try await call("ports") }
}

@Suite("Applier")
struct ApplierTests {
    /// The fixture's plan from scratch: an image, a volume, an instance.
    static func steps() throws -> [ApplyStep] {
        let state = try PlannerTests.desired()
        let allocations = IPAllocator.allocate(for: state, existing: []).allocations
        return Planner.plan(desired: state, commit: "c", hosts: [PlannerTests.empty()], allocations: allocations).steps.map(\.step)
    }

    static func applier(_ host: ScriptedHost, parallelism: Int = 4, journal: @escaping Applier.Journal = { _ in }) -> Applier {
        Applier(drivers: ["local": HostDrivers(target: PlannerTests.target, compute: host, storage: host, network: host)],
                options: Applier.Options(parallelism: parallelism, attempts: 3, backoff: .milliseconds(1)), journal: journal)
    }

    @Test func dependenciesRunFirstAndIndependentStepsInParallel() async throws {
        let steps = try Self.steps()
        let host = ScriptedHost()
        let result = await Self.applier(host, parallelism: 8).apply(steps)
        #expect(result.isSuccess)
        let calls = host.calls
        let importIndex = try #require(calls.firstIndex { $0.hasPrefix("import") })
        for (index, call) in calls.enumerated() where call.hasPrefix("create") {
            #expect(index > importIndex, "\(call) ran before its image was imported: \(calls)")
        }
        #expect(host.maxInFlight > 1, "independent steps run in parallel")
    }

    @Test func parallelismIsBounded() async throws {
        let host = ScriptedHost()
        _ = await Self.applier(host, parallelism: 1).apply(try Self.steps())
        #expect(host.maxInFlight == 1)
    }

    @Test func transientFailuresAreRetriedTerminalOnesAreNot() async throws {
        let steps = try Self.steps()
        let host = ScriptedHost()
        host.failures["import tiny"] = (.transient, 2)
        let result = await Self.applier(host).apply(steps)
        #expect(result.isSuccess)
        #expect(result.steps.first { $0.step.hasPrefix("import-image") }?.attempts == 3)

        let terminal = ScriptedHost()
        terminal.failures["volume data"] = (.terminal, Int.max)
        let failed = await Self.applier(terminal).apply(steps)
        #expect(failed.steps.first { $0.step.hasPrefix("create-volume") && $0.step.contains("shop/data") }?.attempts == 1)
        #expect(terminal.calls.filter { $0 == "volume data" }.count == 1)
    }

    @Test func dependentsOfAFailedStepAreSkippedAndReported() async throws {
        let steps = try Self.steps()
        let host = ScriptedHost()
        host.failures["import tiny"] = (.terminal, Int.max)
        let result = await Self.applier(host).apply(steps)
        #expect(result.failed == 1)
        let skipped = result.steps.filter { $0.phase == .skipped }
        #expect(Set(skipped.map(\.step)).isSuperset(of: Set(steps.filter { if case .createInstance = $0 { true } else { false } }.map(\.key))))
        #expect(skipped.allSatisfy { $0.detail?.contains("import-image tiny@local did not succeed") == true })
        #expect(!host.calls.contains { $0.hasPrefix("create ") }, "no instance is created without its image")
        #expect(result.steps.contains { $0.step.contains("create-volume") && $0.phase == .succeeded }, "independent steps still run")
    }

    @Test func everyStepIsJournalledBeforeAndAfter() async throws {
        let steps = try Self.steps()
        let host = ScriptedHost()
        let events = EventLog()
        _ = await Self.applier(host) { events.append($0) }.apply(steps)
        let log = events.events
        for step in steps {
            let phases = log.filter { $0.step == step.key }.map(\.phase)
            #expect(phases == [.started, .succeeded], "\(step.key): \(phases)")
        }
        #expect(log.last?.done == steps.count)
    }

    @Test func aStepWhoseJournalCannotBeWrittenDoesNotRun() async throws {
        struct DiskFull: Error {}
        let host = ScriptedHost()
        let result = await Self.applier(host) { event in if event.phase == .started { throw DiskFull() } }.apply(try Self.steps())
        #expect(host.calls.isEmpty)
        #expect(result.failed > 0)
    }
}

final class EventLog: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var events: [ApplyEvent] = []
    func append(_ event: ApplyEvent) { lock.withLock { events.append(event) } }
}

@Suite("Apply guard and drift report")
struct ApplyGuardTests {
    @Test func emptyCommitsMassDeletesAndReplacementsAreRefusedUnlessAllowed() throws {
        let state = try PlannerTests.desired()
        let allocations = IPAllocator.allocate(for: state, existing: []).allocations
        let first = Planner.plan(desired: state, commit: "c", hosts: [PlannerTests.empty()], allocations: allocations)
        let host = PlannerTests.applied(first, onto: PlannerTests.empty())

        var empty = DesiredState()
        empty.hosts = state.hosts
        let emptyPlan = Planner.plan(desired: empty, commit: "e", hosts: [host], allocations: [], previous: state).plan
        #expect(ApplyGuard().refusals(plan: emptyPlan, desired: empty, hosts: [host]).first?.contains("declares no images") == true)
        #expect(ApplyGuard(allowMassDelete: true).refusals(plan: emptyPlan, desired: empty, hosts: [host]).isEmpty)

        var most = state
        most.instances = Array(most.instances.prefix(1))
        most.volumes = []
        let mostPlan = Planner.plan(desired: most, commit: "m", hosts: [host], allocations: allocations, previous: state).plan
        let deletes = mostPlan.actions.filter { $0.action == .delete }.count
        let managed = (host.compute.value?.instances.count ?? 0) + (host.storage.value?.volumes.count ?? 0)
        #expect(deletes * 2 <= managed || ApplyGuard().refusals(plan: mostPlan, desired: most, hosts: [host]).contains { $0.contains("more than half") })

        var newImage = state
        newImage.images[0].spec.sha256 = String(repeating: "a", count: 64)
        let replacePlan = Planner.plan(desired: newImage, commit: "r", hosts: [host], allocations: allocations, previous: state).plan
        #expect(replacePlan.summary.replace > 0)
        #expect(ApplyGuard().refusals(plan: replacePlan, desired: newImage, hosts: [host]).contains { $0.contains("--allow-replace") })
        #expect(ApplyGuard(allowReplace: true).refusals(plan: replacePlan, desired: newImage, hosts: [host]).isEmpty)
    }

    @Test func aPlanWithErrorsIsRefusedWhateverIsAllowed() throws {
        let state = try PlannerTests.desired()
        let plan = Plan(commit: "c", actions: [], diagnostics: [Diagnostic(.error, at: nil, "host local has a domain shop.web that Driftless does not manage")])
        let refusals = ApplyGuard(allowMassDelete: true, allowReplace: true).refusals(plan: plan, desired: state, hosts: [])
        #expect(refusals == ["the plan has errors: error: host local has a domain shop.web that Driftless does not manage"], "\(refusals)")
    }

    @Test func driftReportListsFieldsMissingUnexpectedAndUnreachable() throws {
        let state = try PlannerTests.desired()
        let allocations = IPAllocator.allocate(for: state, existing: []).allocations
        let host = PlannerTests.applied(Planner.plan(desired: state, commit: "c", hosts: [PlannerTests.empty()], allocations: allocations),
                                        onto: PlannerTests.empty())
        var instances = try #require(host.compute.value?.instances)
        instances[0].memory = .mebibytes(32)
        instances[0].power = .stopped
        let drifted = HostObservation(target: host.target, compute: .known(ComputeObservation(instances: instances, unmanagedDomainNames: [])),
                                      storage: host.storage, ports: host.ports)
        let unreachable = HostObservation(target: HostTarget(name: "far", libvirtURI: "qemu+ssh://far/system", ovsdbEndpoint: "tcp:far:6640",
                                                             bridge: "br-int", datapath: .system, storagePool: PlannerTests.target.storagePool,
                                                             imagePool: PlannerTests.target.imagePool),
                                          compute: .unknown(reason: "connection refused"), storage: .unknown(reason: "x"), ports: .unknown(reason: "x"))
        let plan = Planner.plan(desired: state, commit: "c", hosts: [drifted, unreachable], allocations: allocations, previous: state).plan
        let report = DriftReport(plan: plan, hosts: [drifted, unreachable])
        let item = try #require(report.items.first { $0.type == .drifted })
        #expect(Set(item.fields.map(\.field)).isSuperset(of: ["memory", "power"]))
        #expect(item.fields.first { $0.field == "power" }?.actual == "stopped")
        #expect(item.fields.first { $0.field == "power" }?.expected == "running")
        #expect(report.items.contains { $0.type == .unreachable && $0.name == "far" && $0.detail == "connection refused" })
        let text = report.renderText()
        #expect(text.contains("memory: expected"))
        #expect(text.contains("unreachable: host far"))
        #expect(try report.renderJSON().contains("\"type\" : \"drifted\""))
    }
}
