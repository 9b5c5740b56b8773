import DriftlessCore
import DriftlessTesting
import Foundation
import Testing

@Suite("Applier")
struct ApplierTests {
    /// The fixture's plan from scratch: an image, a volume, an instance.
    static func steps() throws -> [ApplyStep] {
        let state = try PlannerTests.desired()
        let allocations = IPAllocator.allocate(for: state, existing: []).allocations
        return Planner.plan(desired: state, commit: "c", hosts: [PlannerTests.empty()], allocations: allocations).steps.map(\.step)
    }

    static func applier(_ host: InMemoryHost, parallelism: Int = 4, journal: @escaping Applier.Journal = { _ in }) -> Applier {
        Applier(drivers: ["local": HostDrivers(target: PlannerTests.target, compute: host, storage: host, network: host)],
                options: Applier.Options(parallelism: parallelism, attempts: 3, backoff: .milliseconds(1)), journal: journal)
    }

    @Test func dependenciesRunFirstAndIndependentStepsInParallel() async throws {
        let steps = try Self.steps()
        let host = InMemoryHost(delay: .milliseconds(5))
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
        let host = InMemoryHost(delay: .milliseconds(5))
        _ = await Self.applier(host, parallelism: 1).apply(try Self.steps())
        #expect(host.maxInFlight == 1)
    }

    @Test func transientFailuresAreRetriedTerminalOnesAreNot() async throws {
        let steps = try Self.steps()
        let host = InMemoryHost(delay: .milliseconds(5))
        host.fail("import tiny", .transient, times: 2)
        let result = await Self.applier(host).apply(steps)
        #expect(result.isSuccess)
        #expect(result.steps.first { $0.step.hasPrefix("import-image") }?.attempts == 3)

        let terminal = InMemoryHost(delay: .milliseconds(5))
        terminal.fail("volume data", .terminal, times: Int.max)
        let failed = await Self.applier(terminal).apply(steps)
        #expect(failed.steps.first { $0.step.hasPrefix("create-volume") && $0.step.contains("shop/data") }?.attempts == 1)
        #expect(terminal.calls.filter { $0 == "volume data" }.count == 1)
    }

    /// An error that does not say what it is is worth another try (`FailureKind.of`); one wrapped as
    /// terminal is not.
    @Test func unknownErrorsAreRetriedTerminalOnesAreNot() async throws {
        struct Unclassified: Error {}
        #expect(FailureKind.of(Unclassified()) == .transient)
        #expect(FailureKind.of(TerminalError(Unclassified())) == .terminal)
        #expect(FailureKind.of(InMemoryHost.Failure(failureKind: .terminal, description: "x")) == .terminal)
    }

    /// The in-memory host observes what the applier made: applying a plan, then planning again, is empty.
    @Test func applyThenPlanIsEmptyOnTheInMemoryHost() async throws {
        let state = try PlannerTests.desired()
        let allocations = IPAllocator.allocate(for: state, existing: []).allocations
        let host = InMemoryHost()
        let drivers = host.drivers(for: PlannerTests.target)
        let first = Planner.plan(desired: state, commit: "c", hosts: [await drivers.observe()], allocations: allocations)
        let result = await Applier(drivers: ["local": drivers]) { _ in }.apply(first.steps.map(\.step))
        #expect(result.isSuccess)
        let second = Planner.plan(desired: state, commit: "c", hosts: [await drivers.observe()], allocations: allocations, previous: state)
        #expect(second.plan.isEmpty, "\(second.plan.actions.map { "\($0.action) \($0.id)" })")
    }

    @Test func dependentsOfAFailedStepAreSkippedAndReported() async throws {
        let steps = try Self.steps()
        let host = InMemoryHost(delay: .milliseconds(5))
        host.fail("import tiny", .terminal, times: Int.max)
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
        let host = InMemoryHost(delay: .milliseconds(5))
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
        let host = InMemoryHost(delay: .milliseconds(5))
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
