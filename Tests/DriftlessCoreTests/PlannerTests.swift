import DriftlessCore
import Testing

/// The planner against observations shaped as the drivers report them.
@Suite("Planner")
struct PlannerTests {
    static let target = HostTarget(
        name: "local", libvirtURI: "qemu:///system", ovsdbEndpoint: "unix:/run/db.sock", bridge: "br-int", datapath: .netdev,
        storagePool: PoolSpec(name: "vols", path: "/pools/vols"), imagePool: PoolSpec(name: "imgs", path: "/pools/imgs"))

    static func desired(_ extra: String = "") throws -> DesiredState {
        let result = Fixtures.load(extra.isEmpty ? [:] : ["extra.yaml": extra])
        try #require(result.isValid, "\(result.diagnostics.map(\.description))")
        return result.state
    }

    static func empty() -> HostObservation {
        HostObservation(target: target, compute: .known(ComputeObservation(instances: [], unmanagedDomainNames: [])),
                        storage: .known(StorageObservation(volumes: [], images: [], unmanagedVolumeNames: [])),
                        ports: .known([]))
    }

    /// What the hosts look like after the drivers carried out `outcome` (as the drivers report objects).
    static func applied(_ outcome: Planner.Outcome, onto host: HostObservation) -> HostObservation {
        var instances = host.compute.value?.instances ?? []
        var volumes = host.storage.value?.volumes ?? []
        var images = host.storage.value?.images ?? []
        for (_, step) in outcome.steps {
            switch step {
            case let .importImage(_, r):
                images.append(ObservedImage(id: r.id, volumeName: r.volumeName, path: "/pools/imgs/" + r.volumeName,
                                            sha256: r.sha256, format: r.format, size: .mebibytes(64)))
            case let .createVolume(_, r):
                volumes.append(ObservedVolume(id: r.id, volumeName: r.volumeName, path: "/pools/vols/" + r.volumeName,
                                              capacity: r.size, format: r.format))
            case let .resizeVolume(_, v, size):
                volumes = volumes.map { $0.id == v.id ? ObservedVolume(id: v.id, volumeName: v.volumeName, path: v.path, capacity: size, format: v.format) : $0 }
            case let .deleteVolume(_, v), let .retainVolume(_, v):
                volumes.removeAll { $0.id == v.id }
            case let .createInstance(_, r), let .updateInstance(_, r, _):
                instances.removeAll { $0.id == r.id }
                instances.append(ObservedInstance(
                    id: r.id, domainName: r.domainName, uuid: "u", specHash: r.specHash, commit: r.commit,
                    imageVolume: r.rootDisk.image.volumeName, seedHash: r.seedHash, owner: r.owner, rootDiskSize: r.rootDisk.size, vcpus: r.vcpus, memory: r.memory,
                    liveVCPUs: nil, liveMemory: nil, power: r.power == .running ? .running : .stopped,
                    rootDiskPath: "/pools/vols/" + r.rootDisk.volumeName, volumePaths: r.volumes.map(\.path),
                    nics: r.nics.map { ObservedNIC(mac: $0.identity.mac, interfaceID: $0.identity.interfaceID, bridge: $0.bridge, vlan: $0.vlan,
                                                     offloadsOff: $0.disableOffloads) }, seedUsers: GuestAccount.describe(r.seed.accounts)))
            case let .deleteInstance(_, o):
                instances.removeAll { $0.id == o.id }
            case .ensurePorts:
                break  // Ports follow the running instances below, as libvirt plugs them.
            case .moveInstance:
                break  // One host here: moves are `MoveTests`'s, over in-memory hosts.
            }
        }
        // libvirt plugs a running domain's NICs into the bridge, with the VLAN tag of its definition.
        let ports = instances.filter { $0.power == .running }.flatMap { instance in
            instance.nics.map { ObservedPort(name: "tap-\($0.mac)", interfaceID: $0.interfaceID, mac: $0.mac, vlan: $0.vlan, mtu: nil, marks: [:]) }
        }
        return HostObservation(target: host.target,
                               compute: .known(ComputeObservation(instances: instances, unmanagedDomainNames: [])),
                               storage: .known(StorageObservation(volumes: volumes, images: images, unmanagedVolumeNames: [])),
                               ports: .known(ports))
    }

    func plan(_ state: DesiredState, _ host: HostObservation, previous: DesiredState? = nil) -> Planner.Outcome {
        let allocations = IPAllocator.allocate(for: state, existing: []).allocations
        return Planner.plan(desired: state, commit: "c1", hosts: [host], allocations: allocations, previous: previous)
    }

    @Test func fromScratchThenNothingToDo() throws {
        let state = try Self.desired()
        let first = plan(state, Self.empty())
        #expect(first.plan.header == "3 to create, 0 to update, 0 to replace, 0 to delete; 0 volumes destroyed")
        #expect(first.plan.actions.map(\.id.kind) == [.image, .volume, .instance], "images and volumes before instances")
        let after = Self.applied(first, onto: Self.empty())
        let second = plan(state, after)
        #expect(second.plan.isEmpty, "\(PlanRenderer.text(second.plan))")
    }

    @Test func oneFieldChangeIsOneInPlaceUpdateWithItsEffect() throws {
        let state = try Self.desired()
        let host = Self.applied(plan(state, Self.empty()), onto: Self.empty())
        var changed = state
        changed.instances[0].spec.memory = .mebibytes(512)
        let outcome = plan(changed, host)
        #expect(outcome.plan.actions.count == 1)
        let action = try #require(outcome.plan.actions.first)
        #expect(action.action == .update)
        #expect(action.changes.map(\.summary) == ["memory: 256MiB → 512MiB (at next boot)"])
        #expect(outcome.plan.header.contains("1 to update (1 at next boot)"))
    }

    @Test func anotherImageIsAReplacementThatDestroysTheRootDisk() throws {
        let state = try Self.desired("""
            apiVersion: driftless.dev/v1
            kind: Image
            metadata: {name: other}
            spec: {source: {path: /var/lib/driftless/images/other.qcow2}, sha256: \(String(repeating: "b", count: 64)), format: qcow2}
            """)
        let host = Self.applied(plan(state, Self.empty()), onto: Self.empty())
        var changed = state
        changed.instances[0].spec.image = "other"
        let outcome = plan(changed, host)
        let replace = try #require(outcome.plan.actions.first { $0.action == .replace })
        #expect(replace.destroysData)
        #expect(replace.changes.first?.effect == .replace)
        #expect(outcome.plan.summary.replace == 1)
    }

    @Test func removalDeletesOnlyThatInstanceAndRetainsVolumes() throws {
        let state = try Self.desired()
        let host = Self.applied(plan(state, Self.empty()), onto: Self.empty())
        var removed = state
        removed.instances = []
        removed.volumes = []
        let outcome = plan(removed, host, previous: state)
        #expect(outcome.plan.actions.map(\.action) == [.delete, .retain])
        #expect(outcome.plan.actions.first?.id == ObjectID(.instance, project: "shop", "web"))
        #expect(outcome.plan.summary.volumesDestroyed == 0)

        var deletable = state
        deletable.volumes[0].spec.deletionPolicy = .delete
        let withDelete = plan(removed, host, previous: deletable)
        let volumeAction = try #require(withDelete.plan.actions.first { $0.id.kind == .volume })
        #expect(volumeAction.action == .delete)
        #expect(withDelete.plan.summary.volumesDestroyed == 1)
    }

    @Test func anUnknownHostGetsNoDeletes() throws {
        let state = try Self.desired()
        let host = Self.applied(plan(state, Self.empty()), onto: Self.empty())
        let unknown = HostObservation(target: host.target, compute: .unknown(reason: "libvirtd unreachable"),
                                      storage: host.storage, ports: host.ports)
        var removed = state
        removed.instances = []
        let outcome = plan(removed, unknown, previous: state)
        #expect(outcome.plan.actions.isEmpty, "nothing is planned on a host whose state is unknown")
        #expect(outcome.steps.isEmpty)
        #expect(outcome.plan.diagnostics.contains { $0.message.contains("could not be read (libvirtd unreachable); nothing on it is planned, and nothing on it is deleted") })
    }

    @Test func anUnmanagedDomainWithTheNameIsAPlanError() throws {
        let state = try Self.desired()
        let host = HostObservation(target: Self.target,
                                   compute: .known(ComputeObservation(instances: [], unmanagedDomainNames: ["shop.web"])),
                                   storage: Self.empty().storage, ports: .known([]))
        let outcome = plan(state, host)
        #expect(outcome.plan.hasErrors)
        #expect(!outcome.plan.actions.contains { $0.id.kind == .instance })
    }

    @Test func userDataChangesAreSensitive() throws {
        let state = try Self.desired()
        let host = Self.applied(plan(state, Self.empty()), onto: Self.empty())
        var changed = state
        changed.instances[0].spec.userData = "#cloud-config\n# CANARY-plan-secret\n"
        let outcome = plan(changed, host)
        let text = PlanRenderer.text(outcome.plan) + (try PlanRenderer.json(outcome.plan)) + PlanRenderer.markdown(outcome.plan)
        #expect(!text.contains("CANARY-plan-secret"))
        #expect(text.contains("(sensitive value changed)"))
    }

    /// A host whose port for a running instance's NIC is gone (or carries another tag), as after
    /// `ovs-vsctl del-port`: the plan puts the port back, live, and nothing else.
    @Test func aMissingOrRetaggedPortIsPutBack() throws {
        let state = try Self.desired()
        let host = Self.applied(plan(state, Self.empty()), onto: Self.empty())
        let ports = try #require(host.ports.value)
        try #require(!ports.isEmpty)
        var retagged = ports
        retagged[0].vlan = 999
        for observedPorts in [Array(ports.dropFirst()), retagged] {
            let broken = HostObservation(target: host.target, compute: host.compute, storage: host.storage, ports: .known(observedPorts))
            let outcome = plan(state, broken)
            #expect(outcome.plan.actions.count == 1)
            let action = try #require(outcome.plan.actions.first)
            #expect(action.action == .update)
            #expect(action.changes.count == 1)
            #expect(action.changes.first?.field.hasSuffix(".port") == true)
            #expect(action.changes.first?.effect == .live)
            guard case let .ensurePorts(_, set)? = outcome.steps.map(\.step).first else {
                Issue.record("expected one ensurePorts step, got \(outcome.steps.map(\.step.key))")
                continue
            }
            #expect(set.ensure.count == 1)
            #expect(set.ensure.first?.identity.interfaceID == ports[0].interfaceID)
        }
    }

    /// A port Driftless marked whose NIC no longer exists is removed; an unmarked port never is.
    @Test func strayMarkedPortsAreRemovedUnmarkedNever() throws {
        let state = try Self.desired()
        let host = Self.applied(plan(state, Self.empty()), onto: Self.empty())
        var ports = try #require(host.ports.value)
        ports.append(ObservedPort(name: "dlstale", interfaceID: "gone", mac: nil, vlan: 5, mtu: nil, marks: [OVSMarks.managed: "true"]))
        ports.append(ObservedPort(name: "eth-admin", interfaceID: nil, mac: nil, vlan: nil, mtu: nil, marks: [:]))
        let outcome = plan(state, HostObservation(target: host.target, compute: host.compute, storage: host.storage, ports: .known(ports)))
        let steps = outcome.steps.map(\.step)
        #expect(steps.count == 1)
        guard case let .ensurePorts(_, set)? = steps.first else { Issue.record("no port step"); return }
        #expect(set.delete == ["dlstale"])
        #expect(set.ensure.isEmpty)
    }

    /// Two state directories driving one host never prune or change each other's instances: an instance
    /// marked by another owner is left alone, and declaring one with its name is a collision.
    @Test func anotherInstallationsInstancesAreNeverPrunedOrChanged() throws {
        let state = try Self.desired()
        let theirs = Planner.plan(desired: state, commit: "c", hosts: [Self.empty()],
                                  allocations: IPAllocator.allocate(for: state, existing: []).allocations, owner: "them")
        let host = Self.applied(theirs, onto: Self.empty())
        #expect(host.compute.value?.instances.allSatisfy { $0.owner == "them" } == true)

        var empty = state
        empty.instances = []
        let mine = Planner.plan(desired: empty, commit: "c", hosts: [host], allocations: [], owner: "me")
        #expect(!mine.plan.actions.contains { $0.id.kind == .instance }, "\(PlanRenderer.text(mine.plan))")

        let colliding = Planner.plan(desired: state, commit: "c", hosts: [host],
                                     allocations: IPAllocator.allocate(for: state, existing: []).allocations, owner: "me")
        #expect(colliding.plan.hasErrors)
        #expect(!colliding.steps.contains { if case .createInstance = $0.step { true } else { false } })
    }
}
