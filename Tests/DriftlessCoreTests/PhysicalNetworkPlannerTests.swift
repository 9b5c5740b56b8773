import DriftlessCore
import Testing

/// Provider networks (a Host's `physicalNetworks`, a Network's `physicalNetwork`) and guest accounts, as
/// the planner turns them into steps and plan errors.
@Suite("Planner: physical networks and guest accounts")
struct PhysicalNetworkPlannerTests {
    static let mapped: HostTarget = {
        var target = PlannerTests.target
        target.physicalNetworks = [PhysicalNetworkMapping(name: "physnet1", interface: "eth1")]
        return target
    }()

    /// The fixture with frontend (VLAN 10) on physnet1.
    static func desired() throws -> DesiredState {
        var state = try PlannerTests.desired()
        let index = try #require(state.networks.firstIndex { $0.name == "frontend" })
        state.networks[index].spec.physicalNetwork = "physnet1"
        return state
    }

    static func host(_ target: HostTarget = mapped, interfaces: [HostInterface]? = [HostInterface(name: "eth1", bridge: nil)],
                     ports: [ObservedPort] = [], elsewhere: [String: String] = [:]) -> HostObservation {
        HostObservation(target: target,
                        compute: .known(ComputeObservation(instances: [], unmanagedDomainNames: [], hostInterfaces: interfaces)),
                        storage: .known(StorageObservation(volumes: [], images: [], unmanagedVolumeNames: [])),
                        ports: .known(ports), portsOnOtherBridges: elsewhere)
    }

    func plan(_ state: DesiredState, _ host: HostObservation) -> Planner.Outcome {
        Planner.plan(desired: state, commit: "c1", hosts: [host],
                     allocations: IPAllocator.allocate(for: state, existing: []).allocations)
    }

    static func trunks(_ outcome: Planner.Outcome) -> [DesiredTrunk] {
        outcome.steps.flatMap { step -> [DesiredTrunk] in
            if case let .ensurePorts(_, set) = step.step { return set.trunks }
            return []
        }
    }

    @Test func theInterfaceBecomesATrunkOfThePhysicalNetworksVLANsOnce() throws {
        let state = try Self.desired()
        let first = plan(state, Self.host())
        #expect(first.plan.diagnostics.isEmpty, "\(first.plan.diagnostics)")
        #expect(Self.trunks(first) == [DesiredTrunk(interface: "eth1", physicalNetwork: "physnet1", vlans: [10])])
        let action = try #require(first.plan.actions.first { $0.id == ObjectID(.host, "local") })
        #expect(action.changes.map(\.summary) == ["physicalNetworks.physnet1: eth1 trunk 10 (live)"])
        #expect(first.steps.first.map { if case .ensurePorts = $0.step { true } else { false } } == true, "the trunk goes first")

        // Plugged as planned: nothing more to do for it.
        let plugged = ObservedPort(name: "eth1", interfaceID: nil, mac: nil, vlan: nil, mtu: nil,
                                   marks: [OVSMarks.managed: "true", OVSMarks.physicalNetwork: "physnet1"], trunks: [10])
        #expect(Self.trunks(plan(state, Self.host(ports: [plugged]))).isEmpty)

        // Someone changed its trunks: put back; it carries a second network once one is declared on physnet1.
        var retrunked = plugged
        retrunked.trunks = [10, 99]
        #expect(Self.trunks(plan(state, Self.host(ports: [retrunked]))).map(\.vlans) == [[10]])
        var two = state
        let mgmt = try #require(two.networks.firstIndex { $0.name == "mgmt" })
        two.networks[mgmt].spec.physicalNetwork = "physnet1"
        #expect(Self.trunks(plan(two, Self.host(ports: [plugged]))).map(\.vlans) == [[10, 20]])

        // No network on physnet1 any more: the trunk Driftless plugged is pruned like any other port.
        let hostOnly = try PlannerTests.desired()
        let prune = plan(hostOnly, Self.host(ports: [plugged]))
        let deletes = prune.steps.flatMap { step -> [String] in
            if case let .ensurePorts(_, set) = step.step { return set.delete }
            return []
        }
        #expect(deletes == ["eth1"])
    }

    @Test func aMissingInterfaceOrOneInAnotherBridgeIsAPlanErrorNamingIt() throws {
        let state = try Self.desired()
        let cases: [(HostObservation, String)] = [
            (Self.host(interfaces: [HostInterface(name: "eth0", bridge: nil)]), "interface eth1 of physical network physnet1 does not exist on host local"),
            (Self.host(interfaces: [HostInterface(name: "eth1", bridge: "br0")]), "interface eth1 (physical network physnet1) is already in bridge br0 on host local"),
            (Self.host(elsewhere: ["eth1": "br-ex"]), "interface eth1 (physical network physnet1) is already a port of bridge br-ex on host local"),
            (Self.host(ports: [ObservedPort(name: "eth1", interfaceID: nil, mac: nil, vlan: nil, mtu: nil, marks: [:])]),
             "port eth1 on bridge br-int of host local was not made by Driftless"),
        ]
        for (host, message) in cases {
            let outcome = plan(state, host)
            let errors = outcome.plan.diagnostics.filter { $0.severity == .error }
            #expect(errors.contains { $0.message.hasPrefix(message) && $0.field == "spec.physicalNetworks[0].interface" },
                    "\(errors.map(\.message))")
            #expect(Self.trunks(outcome).isEmpty, "nothing is plugged")
        }
    }

    @Test func aHostThatDoesNotMapTheNetworksPhysicalNetworkIsAPlanErrorOnTheInstance() throws {
        let outcome = plan(try Self.desired(), Self.host(PlannerTests.target))
        let error = try #require(outcome.plan.diagnostics.first { $0.severity == .error })
        #expect(error.message == "network frontend runs on physical network physnet1, which host local does not map")
        #expect(error.field == "spec.networks[0].network")
        #expect(!outcome.plan.actions.contains { $0.id.kind == .instance }, "the instance is not planned")
    }

    @Test func accountsAreTheEnabledListedUsersWithSudoForAdmins() throws {
        let extra = """
            apiVersion: driftless.dev/v1
            kind: User
            metadata: {name: bob}
            spec: {sshKeys: ["\(Fixtures.aliceKey.replacingOccurrences(of: "alice@lab", with: "bob@lab"))"], roles: [{project: shop, role: member}]}
            ---
            apiVersion: driftless.dev/v1
            kind: User
            metadata: {name: carol}
            spec: {enabled: false, roles: [{project: shop, role: admin}]}
            ---
            apiVersion: driftless.dev/v1
            kind: User
            metadata: {name: root-admin}
            spec: {admin: true}
            ---
            apiVersion: driftless.dev/v1
            kind: Instance
            metadata: {name: app, project: shop}
            spec: {image: tiny, vcpus: 1, memory: 256MiB, rootDisk: 1GiB, users: [alice, bob, carol, root-admin]}
            """
        let state = try PlannerTests.desired(extra)
        let outcome = plan(state, Self.host(PlannerTests.target))
        let request = try #require(outcome.steps.compactMap { step -> InstanceRequest? in
            if case let .createInstance(_, request) = step.step, request.id.name == "app" { return request }
            return nil
        }.first)
        #expect(request.seed.accounts.map(\.name) == ["alice", "bob", "root-admin"], "carol is disabled: no account")
        #expect(request.seed.accounts.map(\.sudo) == [true, false, true], "project admin, member, cloud admin")
        let users = outcome.plan.actions.first { $0.id.name == "app" }?.changes.first { $0.field == "users" }
        #expect(users?.after == "alice (sudo, 1 key), bob (1 key), root-admin (sudo, 0 keys)")
    }
}
