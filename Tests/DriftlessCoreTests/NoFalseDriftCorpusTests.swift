import DriftlessCore
import Testing

/// "No false drift": for every kind and field a manifest can change, the plan shows the change, and once
/// the drivers have carried it out (as they report objects back), a plan against the same commit is
/// empty. Fields that change nothing on a host (quotas, e-mail, roles) plan nothing at all.
@Suite("No false drift corpus")
struct NoFalseDriftCorpusTests {
    struct Mutation: CustomTestStringConvertible, Sendable {
        var name: String
        /// The action kinds the change must plan (empty: nothing on a host changes).
        var expected: Set<ActionKind>
        var apply: @Sendable (inout DesiredState) -> Void
        var testDescription: String { name }
    }

    static let mutations: [Mutation] = [
        Mutation(name: "instance.vcpus", expected: [.update]) { $0.instances[0].spec.vcpus = 2 },
        Mutation(name: "instance.memory up", expected: [.update]) { $0.instances[0].spec.memory = .mebibytes(512) },
        Mutation(name: "instance.memory down", expected: [.update]) { $0.instances[0].spec.memory = .mebibytes(128) },
        Mutation(name: "instance.power stopped", expected: [.update]) { $0.instances[0].spec.power = .stopped },
        Mutation(name: "instance.volumes detach", expected: [.update]) { $0.instances[0].spec.volumes = [] },
        Mutation(name: "instance.networks add NIC", expected: [.update]) {
            $0.instances[0].spec.networks.append(.init(network: "frontend", ip: nil))
        },
        Mutation(name: "instance.networks fixed ip", expected: [.update]) {
            $0.instances[0].spec.networks[0].ip = IPv4Address("10.0.0.20")
        },
        Mutation(name: "instance.userData", expected: [.update]) { $0.instances[0].spec.userData = "#cloud-config\n" },
        Mutation(name: "instance.users", expected: [.update]) { $0.instances[0].spec.users = [] },
        Mutation(name: "instance.rootDisk grow", expected: [.update]) { $0.instances[0].spec.rootDisk = .gibibytes(2) },
        Mutation(name: "instance.rootDisk shrink (replacement)", expected: [.replace]) {
            $0.instances[0].spec.rootDisk = .mebibytes(512)
        },
        Mutation(name: "instance.image (new digest)", expected: [.create, .replace]) {
            $0.images[0].spec.sha256 = String(repeating: "c", count: 64)
        },
        Mutation(name: "instance added", expected: [.create]) {
            var copy = $0.instances[0]
            copy.id = ObjectID(.instance, project: copy.project, "web-2")
            copy.meta.name = "web-2"
            copy.spec.volumes = []
            copy.spec.networks = [.init(network: "frontend", ip: nil)]
            $0.instances.append(copy)
        },
        Mutation(name: "instance removed", expected: [.delete, .retain]) { $0.instances = []; $0.volumes = [] },
        Mutation(name: "volume.size grow", expected: [.update]) { $0.volumes[0].spec.size = .gibibytes(2) },
        Mutation(name: "network.vlan", expected: [.update]) { $0.networks[NoFalseDriftCorpusTests.frontend(in: $0)].spec.vlan = 11 },
        Mutation(name: "network.mtu", expected: [.update]) { $0.networks[NoFalseDriftCorpusTests.frontend(in: $0)].spec.mtu = 1400 },
        Mutation(name: "network.gateway", expected: [.update]) { $0.networks[NoFalseDriftCorpusTests.frontend(in: $0)].spec.gateway = IPv4Address("10.0.0.254") },
        Mutation(name: "user.sshKeys", expected: [.update]) { $0.users[0].spec.sshKeys = [] },
        Mutation(name: "unused network.vlan (no host change)", expected: []) {
            $0.networks[$0.networks.firstIndex { $0.name == "mgmt" }!].spec.vlan = 21
        },
        Mutation(name: "user.email (no host change)", expected: []) { $0.users[0].spec.email = "a@example.org" },
        // A project admin gets sudo in the project's guests: losing the role changes the seed (next boot).
        Mutation(name: "user.roles (sudo in the seed)", expected: [.update]) { $0.users[0].spec.roles = [] },
        Mutation(name: "project.quota (no host change)", expected: []) { $0.projects[0].spec.quota.instances = 9 },
        Mutation(name: "volume.deletionPolicy (no host change)", expected: []) { $0.volumes[0].spec.deletionPolicy = .delete },
    ]

    /// The network the fixture's instance uses.
    static func frontend(in state: DesiredState) -> Int { state.networks.firstIndex { $0.name == "frontend" }! }

    func plan(_ state: DesiredState, _ host: HostObservation, previous: DesiredState? = nil) -> Planner.Outcome {
        let allocations = IPAllocator.allocate(for: state, existing: []).allocations
        return Planner.plan(desired: state, commit: "c", hosts: [host], allocations: allocations, previous: previous)
    }

    @Test(arguments: mutations)
    func changeIsPlannedThenApplyLeavesNothingToDo(_ mutation: Mutation) throws {
        let state = try PlannerTests.desired()
        let host = PlannerTests.applied(plan(state, PlannerTests.empty()), onto: PlannerTests.empty())
        try #require(plan(state, host).plan.isEmpty, "the base state converges")

        var changed = state
        mutation.apply(&changed)
        let first = plan(changed, host, previous: state)
        #expect(!first.plan.hasErrors, "\(first.plan.diagnostics)")
        #expect(Set(first.plan.actions.map(\.action)) == mutation.expected, "\(PlanRenderer.text(first.plan))")
        for action in first.plan.actions where action.action == .update {
            #expect(!action.changes.isEmpty && action.changes.allSatisfy { $0.effect != nil }, "every change has an effect: \(action)")
        }

        let after = PlannerTests.applied(first, onto: host)
        let second = plan(changed, after, previous: changed)
        #expect(second.plan.isEmpty, "false drift after applying \(mutation.name):\n\(PlanRenderer.text(second.plan))")
    }
}
