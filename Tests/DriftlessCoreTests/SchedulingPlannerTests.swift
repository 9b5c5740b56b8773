@testable import DriftlessCore
import DriftlessTesting
import Testing

/// The scheduler inside a plan of several hosts: where new instances go and why, a full cloud as a plan
/// error naming each host's constraint, drained and unreadable hosts, and never a second copy.
@Suite("Planner: scheduling")
struct SchedulingPlannerTests {
    /// A project `shop`, the image `tiny`, the network `net` (VLAN 10), and three Hosts tb1..tb3 without
    /// CPU overcommit, labelled `rack` (`labels` by host, else `a`), with `hostExtra` spec lines by host.
    static func threeHosts(hostExtra: [String: String] = [:], labels: [String: String] = ["tb3": "b"]) -> String {
        var text = """
            apiVersion: driftless.dev/v1
            kind: Project
            metadata: {name: shop}
            ---
            apiVersion: driftless.dev/v1
            kind: Image
            metadata: {name: tiny}
            spec: {source: {path: /var/lib/driftless/images/tiny.qcow2}, sha256: \(TestManifests.digest), format: qcow2}
            ---
            apiVersion: driftless.dev/v1
            kind: Network
            metadata: {name: net, project: shop}
            spec: {cidr: 10.0.0.0/24, vlan: 10}
            """
        for name in ["tb1", "tb2", "tb3"] {
            text += """

                ---
                apiVersion: driftless.dev/v1
                kind: Host
                metadata: {name: \(name), labels: {rack: \(labels[name] ?? "a")}}
                spec:
                  overcommit: {cpu: 1.0}
                \(hostExtra[name].map { "  " + $0 } ?? "")
                """
        }
        return text
    }

    /// Three hosts tb1..tb3 (`threeHosts`, 2 vCPUs and 2 GiB each as their libvirt reports), tb3 in rack
    /// b; `instances` are added as `web-1`… with `extra` spec lines.
    static func cloud(instances: Int, memory: String = "512MiB", extra: String = "", hostExtra: [String: String] = [:]) throws
        -> DesiredState
    {
        var text = threeHosts(hostExtra: hostExtra)
        for index in 0..<instances {
            text += """

                ---
                apiVersion: driftless.dev/v1
                kind: Instance
                metadata: {name: web-\(index + 1), project: shop}
                spec:
                  image: tiny
                  vcpus: 1
                  memory: \(memory)
                  rootDisk: 1GiB
                  networks: [{network: net}]
                \(extra.isEmpty ? "" : "  " + extra)
                """
        }
        let result = TestManifests.load(["cloud.yaml": text], includeBase: false)
        try #require(result.isValid, "\(result.diagnostics.map(\.description))")
        return result.state
    }

    static func hosts(_ state: DesiredState, unreadable: String? = nil) -> [HostObservation] {
        state.hosts.map { host in
            var observation = HostObservation(
                target: HostTarget(host),
                compute: .known(ComputeObservation(instances: [], unmanagedDomainNames: [],
                                                   capacity: HostCapacity(vcpus: 2, memory: .gibibytes(2), freeMemory: .gibibytes(20)))),
                storage: .known(StorageObservation(volumes: [], images: [], unmanagedVolumeNames: [])), ports: .known([]))
            if host.name == unreadable { observation.compute = .unknown(reason: "libvirtd is down") }
            return observation
        }
    }

    static func plan(_ state: DesiredState, _ hosts: [HostObservation], previous: DesiredState? = nil) -> Planner.Outcome {
        Planner.plan(desired: state, commit: "c1", hosts: hosts, allocations: IPAllocator.allocate(for: state, existing: []).allocations,
                     previous: previous)
    }

    static func placed(_ outcome: Planner.Outcome) -> [String: String] {
        Dictionary(outcome.steps.compactMap { pair -> (String, String)? in
            guard case let .createInstance(host, request) = pair.step else { return nil }
            return (request.id.name, host)
        }, uniquingKeysWith: { a, _ in a })
    }

    @Test func newInstancesSpreadAcrossTheHostsAndThePlanSaysWhy() throws {
        let state = try Self.cloud(instances: 6)
        let outcome = Self.plan(state, Self.hosts(state))
        #expect(outcome.plan.diagnostics.isEmpty, "\(outcome.plan.diagnostics)")
        let placed = Self.placed(outcome)
        #expect(Set(placed.values) == ["tb1", "tb2", "tb3"])
        #expect(Dictionary(grouping: placed.values, by: { $0 }).mapValues(\.count) == ["tb1": 2, "tb2": 2, "tb3": 2])
        let web1 = try #require(outcome.plan.actions.first { $0.id.name == "web-1" })
        #expect(web1.changes.first?.field == "host")
        #expect(web1.changes.first?.after == "tb1 (spread: most free memory of 3 hosts that fit)")
    }

    @Test func aFullCloudIsAPlanErrorNamingEachHostsConstraint() throws {
        // 7 instances of 1 vCPU on 3 hosts of 2 vCPUs: the seventh does not fit.
        let state = try Self.cloud(instances: 7, memory: "256MiB")
        let outcome = Self.plan(state, Self.hosts(state))
        let errors = outcome.plan.diagnostics.filter { $0.severity == .error }
        #expect(errors.count == 1)
        let message = try #require(errors.first?.message)
        #expect(message == "no host can take instance shop/web-7: tb1: vcpus: needs 1, 0 of 2 free (2 × 1.0); tb2: vcpus: needs 1, 0 of 2 free (2 × 1.0); tb3: vcpus: needs 1, 0 of 2 free (2 × 1.0)")
        #expect(errors.first?.location?.file == "cloud.yaml", "the error points at the instance's manifest")
        #expect(Self.placed(outcome).count == 6)
    }

    @Test func aDrainedHostGetsNothingNewAndLabelsSelect() throws {
        let state = try Self.cloud(instances: 4, extra: "placement: {hostSelector: {rack: a}}", hostExtra: ["tb2": "schedulable: false"])
        let placed = Self.placed(Self.plan(state, Self.hosts(state)))
        #expect(Set(placed.values) == ["tb1"], "tb2 is drained and tb3 is in rack b: \(placed)")
        #expect(placed.count == 2, "tb1 has 2 vCPUs")
    }

    @Test func antiAffinityByLabelKeepsAGroupInDifferentRacks() throws {
        let state = try Self.cloud(instances: 3, extra: "placement: {group: web, antiAffinity: rack}")
        let outcome = Self.plan(state, Self.hosts(state))
        let placed = Self.placed(outcome)
        #expect(placed["web-1"] == "tb1" && placed["web-2"] == "tb3", "\(placed)")
        #expect(placed["web-3"] == nil)
        #expect(outcome.plan.diagnostics.first?.message.contains("anti-affinity: group web already has an instance where rack=a (tb1)") == true)
    }

    @Test func whileAHostCannotBeReadNewUnpinnedInstancesWait() throws {
        let state = try Self.cloud(instances: 2)
        let outcome = Self.plan(state, Self.hosts(state, unreadable: "tb2"))
        #expect(Self.placed(outcome).isEmpty, "an instance may already run on tb2: no second copy")
        let waiting = outcome.plan.diagnostics.filter { $0.severity == .warning && $0.message.contains("is not placed while tb2 cannot be read") }
        #expect(waiting.count == 2, "one warning per instance, at its manifest: \(outcome.plan.diagnostics)")
        #expect(waiting.allSatisfy { $0.location?.file == "cloud.yaml" })
        #expect(!outcome.plan.hasErrors)
    }

    @Test func aRunningInstancePinnedElsewhereMovesNeverASecondCopy() throws {
        var state = try Self.cloud(instances: 1)
        let hosts = Self.hosts(state)
        let first = Self.plan(state, hosts)
        let host = try #require(Self.placed(first)["web-1"])
        var after = hosts
        let index = try #require(after.firstIndex { $0.target.name == host })
        after[index] = PlannerTests.applied(first, onto: after[index])
        let elsewhere = host == "tb1" ? "tb2" : "tb1"
        state.instances[0].spec.host = elsewhere
        let moved = Self.plan(state, after)
        #expect(Self.placed(moved).isEmpty, "no create on the new host")
        #expect(!moved.plan.hasErrors, "\(moved.plan.diagnostics)")
        #expect(moved.plan.actions.map(\.action) == [.create, .move], "the image on the new host, then the move")
        #expect(moved.plan.actions.last?.changes.first?.summary == "host: \(host) → \(elsewhere) (restarts)")
        #expect(!moved.steps.contains { if case .deleteInstance = $0.step { true } else { false } }, "nor a delete on the old one")
        guard case let .moveInstance(move)? = moved.steps.last?.step else { Issue.record("expected a move step"); return }
        #expect(move.from == host && move.to == elsewhere && move.arrived == nil)
        #expect(move.request.nics.allSatisfy { $0.bridge == after.first { $0.target.name == elsewhere }?.target.bridge })
    }

    @Test func removingAHostThatStillRunsInstancesIsAPlanError() throws {
        let state = try Self.cloud(instances: 3)
        let hosts = Self.hosts(state)
        let first = Self.plan(state, hosts)
        let after = try hosts.map { host in
            PlannerTests.applied(Planner.Outcome(plan: first.plan, steps: first.steps.filter { $0.step.host == host.target.name }),
                                 onto: host)
        }.map { observation -> HostObservation in
            var observation = observation
            observation.target = try #require(hosts.first { $0.target.name == observation.target.name }).target
            return observation
        }
        var without = state
        without.hosts.removeAll { $0.name == "tb3" }
        // tb3 still runs web-3: its Host cannot go.
        let refused = Self.plan(without, after, previous: state)
        #expect(refused.plan.diagnostics.contains { $0.severity == .error && $0.message == "host tb3 is no longer declared but still runs 1 instance: shop/web-3" },
                "\(refused.plan.diagnostics)")
        #expect(!refused.steps.contains { $0.step.host == "tb3" }, "nothing is changed or pruned on it")
        #expect(Self.placed(refused).isEmpty, "and web-3 is not made again elsewhere")

        // An empty host goes quietly; one that cannot be read does not.
        let empty = Self.hosts(state)
        let bare = try Self.cloud(instances: 0)
        #expect(!Self.plan(bare.removingHost("tb3"), empty, previous: bare).plan.hasErrors)
        var unreadable = empty
        unreadable[2].compute = .unknown(reason: "libvirtd is down")
        let unknown = Self.plan(bare.removingHost("tb3"), unreadable, previous: bare)
        #expect(unknown.plan.diagnostics.contains { $0.severity == .error && $0.message.hasPrefix("host tb3 is no longer declared and cannot be read") })
    }
}

extension DesiredState {
    func removingHost(_ name: String) -> DesiredState {
        var state = self
        state.hosts.removeAll { $0.name == name }
        return state
    }
}
