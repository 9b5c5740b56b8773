@testable import DriftlessCore
import Testing

/// The planner's phases one at a time, each against a `PlanContext` built as `Planner.plan` builds it.
@Suite("Planner phases")
struct PlannerPhaseTests {
    static let node2 = HostTarget(
        name: "node-2", libvirtURI: "qemu+ssh://node-2/system", ovsdbEndpoint: "tcp:node-2:6640", bridge: "br-int", datapath: .netdev,
        storagePool: PoolSpec(name: "vols", path: "/srv/vols"), imagePool: PoolSpec(name: "imgs", path: "/srv/imgs"))

    /// A second instance `api` in shop on the same image, with no volume; and an unattached volume `spare`.
    static let api = """
        apiVersion: driftless.dev/v1
        kind: Instance
        metadata: {name: api, project: shop}
        spec: {image: tiny, vcpus: 1, memory: 256MiB, rootDisk: 1GiB}
        ---
        apiVersion: driftless.dev/v1
        kind: Volume
        metadata: {name: spare, project: shop}
        spec: {size: 1GiB, image: tiny}
        """

    static let web = ObjectID(.instance, project: "shop", "web")
    static let apiID = ObjectID(.instance, project: "shop", "api")
    static let data = ObjectID(.volume, project: "shop", "data")
    static let spare = ObjectID(.volume, project: "shop", "spare")

    static func context(_ state: DesiredState, _ hosts: [HostObservation], previous: DesiredState? = nil,
                        owner: String? = nil) throws -> PlanContext {
        try #require(PlanContext(desired: state, commit: "c1", hosts: hosts,
                                 allocations: IPAllocator.allocate(for: state, existing: []).allocations,
                                 previous: previous, owner: owner))
    }

    static func empty(_ target: HostTarget) -> HostObservation {
        var host = PlannerTests.empty()
        host.target = target
        return host
    }

    /// A host whose storage driver found its pools under `/elsewhere`, not where the Host's spec says.
    static func elsewhere() -> HostObservation {
        var host = PlannerTests.empty()
        host.storage = .known(StorageObservation(
            volumes: [], images: [], unmanagedVolumeNames: [],
            storagePool: StoragePoolObservation(name: "vols", path: "/elsewhere/vols"),
            imagePool: StoragePoolObservation(name: "imgs", path: "/elsewhere/imgs")))
        return host
    }

    /// `host` after the steps planned for it were carried out.
    static func applied(_ state: DesiredState, onto host: HostObservation) -> HostObservation {
        let outcome = Planner.plan(desired: state, commit: "c1", hosts: [host],
                                   allocations: IPAllocator.allocate(for: state, existing: []).allocations)
        var after = PlannerTests.applied(outcome, onto: host)
        after.target = host.target
        return after
    }

    // MARK: - Placement

    @Test func newInstancesSpreadAndTheirVolumesGoWithThem() throws {
        let state = try PlannerTests.desired(Self.api)
        let placement = PlacementPhase.place(try Self.context(state, [PlannerTests.empty(), Self.empty(Self.node2)]))
        // By name: api first, to the emptier host (a tie, broken by name), then web to the other one.
        #expect(placement.host(ofInstance: Self.apiID)?.target.name == "local")
        #expect(placement.host(ofInstance: Self.web)?.target.name == "node-2")
        #expect(placement.host(ofVolume: Self.data)?.target.name == "node-2", "a volume goes with the instance that lists it")
        #expect(placement.host(ofVolume: Self.spare)?.target.name == "local", "a volume no instance lists goes to the first host")
        #expect(placement.reasons[Self.web] == "spread: most free memory of 2 hosts that fit")
    }

    @Test func aPinnedInstanceIsOnItsHostAndItsVolumesWithIt() throws {
        var state = try PlannerTests.desired(Self.api)
        state.instances[state.instances.firstIndex { $0.id == Self.web }!].spec.host = "node-2"
        let placement = PlacementPhase.place(try Self.context(state, [PlannerTests.empty(), Self.empty(Self.node2)]))
        #expect(placement.host(ofInstance: Self.web)?.target.name == "node-2")
        #expect(placement.host(ofVolume: Self.data)?.target.name == "node-2")
        #expect(placement.host(ofInstance: Self.apiID)?.target.name == "local", "the scheduler counts what is pinned to node-2")
        #expect(placement.reasons[Self.web] == "pinned")
    }

    /// Without a pin, an instance stays where it runs; a pin to a host that is not planned for is ignored.
    @Test(arguments: [nil, "nowhere"] as [String?])
    func anInstanceStaysWhereItRuns(pin: String?) throws {
        let state = try PlannerTests.desired()
        let onNode2 = Self.applied(state, onto: Self.empty(Self.node2))
        var pinned = state
        pinned.instances[0].spec.host = pin
        let placement = PlacementPhase.place(try Self.context(pinned, [PlannerTests.empty(), onNode2]))
        #expect(placement.host(ofInstance: Self.web)?.target.name == "node-2")
    }

    // MARK: - Images

    @Test func anImageIsImportedOncePerHostThatNeedsIt() throws {
        var state = try PlannerTests.desired(Self.api)
        let one = try Self.context(state, [PlannerTests.empty()])
        let once = ImagePhase.run(one, PlacementPhase.place(one))
        #expect(once.steps.map(\.1.key) == ["import-image tiny@local"], "two instances and a volume on one image, one host")

        state.instances[state.instances.firstIndex { $0.id == Self.apiID }!].spec.host = "node-2"
        let two = try Self.context(state, [PlannerTests.empty(), Self.empty(Self.node2)])
        let perHost = ImagePhase.run(two, PlacementPhase.place(two))
        #expect(perHost.steps.map(\.1.key) == ["import-image tiny@local", "import-image tiny@node-2"])
        #expect(perHost.image(ObjectID(.image, "tiny"), on: "node-2")?.path.hasPrefix("/srv/imgs/") == true)
    }

    @Test func anImageAlreadyInThePoolIsUsedNotImported() throws {
        let state = try PlannerTests.desired()
        let host = Self.applied(state, onto: PlannerTests.empty())
        let context = try Self.context(state, [host])
        let result = ImagePhase.run(context, PlacementPhase.place(context))
        #expect(result.steps.isEmpty)
        #expect(result.image(ObjectID(.image, "tiny"), on: "local") == host.storage.value?.images.first)
    }

    @Test func aNewImageGoesWhereTheStorageDriverSaysItsPoolIs() throws {
        let state = try PlannerTests.desired()
        let context = try Self.context(state, [Self.elsewhere()])
        let result = ImagePhase.run(context, PlacementPhase.place(context))
        let image = try #require(result.image(ObjectID(.image, "tiny"), on: "local"))
        #expect(image.path == "/elsewhere/imgs/" + image.volumeName)
    }

    // MARK: - Volumes

    @Test func aNewVolumeGoesWhereTheStorageDriverSaysItsPoolIs() throws {
        let state = try PlannerTests.desired()
        let outcome = Planner.plan(desired: state, commit: "c1", hosts: [Self.elsewhere()],
                                   allocations: IPAllocator.allocate(for: state, existing: []).allocations)
        let request = try #require(outcome.steps.compactMap { if case let .createInstance(_, r) = $0.step { r } else { nil } }.first)
        #expect(request.volumes.map(\.path) == ["/elsewhere/vols/vol-shop.data.qcow2"])
        #expect(request.rootDisk.image.path.hasPrefix("/elsewhere/imgs/"), "the root disk's backing file")
    }

    /// The Host's spec is used only when the pool is not defined yet: `ensurePools` defines it there.
    @Test func aPoolNotDefinedYetIsWhereTheHostSaysItWillBe() {
        #expect(PlannerTests.empty().newVolumePath("v") == "/pools/vols/v")
        #expect(Self.elsewhere().newVolumePath("v") == "/elsewhere/vols/v")
        #expect(Self.elsewhere().newImagePath("i") == "/elsewhere/imgs/i")
    }

    /// A volume grows live; it never shrinks: that is a plan error on `spec.size`, with no step.
    @Test(arguments: [true, false])
    func aVolumeGrowsButNeverShrinks(shrinks: Bool) throws {
        var state = try PlannerTests.desired()
        let host = Self.applied(state, onto: PlannerTests.empty())
        state.volumes[0].spec.size = shrinks ? .mebibytes(512) : .gibibytes(2)
        let context = try Self.context(state, [host])
        let placement = PlacementPhase.place(context)
        let result = VolumePhase.run(context, placement, images: ImagePhase.run(context, placement))
        #expect(result.attachments[Self.data]?.path == "/pools/vols/vol-shop.data.qcow2")
        if shrinks {
            #expect(result.steps.isEmpty)
            let error = try #require(result.diagnostics.first)
            #expect(error.field == "spec.size")
            #expect(error.message.contains("volumes cannot shrink to 512MiB"))
        } else {
            #expect(result.diagnostics.isEmpty)
            #expect(result.steps.map(\.1.key) == ["resize-volume shop/data@local"])
            #expect(result.steps.first?.0.changes.map(\.summary) == ["size: 1GiB → 2GiB (live)"])
        }
    }

    @Test func aVolumeNamedLikeOneDriftlessDoesNotManageIsAnError() throws {
        let state = try PlannerTests.desired()
        var host = PlannerTests.empty()
        host.storage = .known(StorageObservation(volumes: [], images: [], unmanagedVolumeNames: ["vol-shop.data.qcow2"]))
        let context = try Self.context(state, [host])
        let placement = PlacementPhase.place(context)
        let result = VolumePhase.run(context, placement, images: ImagePhase.run(context, placement))
        #expect(result.steps.isEmpty)
        #expect(result.attachments.isEmpty, "the instance does not get someone else's volume")
        #expect(result.diagnostics.first?.message.contains("never overwritten") == true)
    }

    // MARK: - Instances

    /// A replacement deletes the old domain with the other deletes and creates it again afterwards; its
    /// NICs are not counted as kept, and an update's ports are.
    @Test func aReplacementIsADeleteFirstAndACreateAfter() throws {
        let state = try PlannerTests.desired()
        let host = Self.applied(state, onto: PlannerTests.empty())
        var smaller = state
        smaller.instances[0].spec.rootDisk = .mebibytes(512)
        for (desired, replaced) in [(smaller, true), (state, false)] {
            let context = try Self.context(desired, [host])
            let placement = PlacementPhase.place(context)
            let images = ImagePhase.run(context, placement)
            let result = InstancePhase.run(context, placement, images: images, volumes: VolumePhase.run(context, placement, images: images))
            #expect(result.replacedSteps.map(\.1.key) == (replaced ? ["delete-instance shop/web@local"] : []))
            #expect(result.steps.map(\.1.key) == (replaced ? ["create-instance shop/web@local"] : []))
            #expect(result.keptInterfaceIDs.count == (replaced ? 0 : 1))
        }
    }

    // MARK: - Prune

    /// A volume whose manifest is gone is deleted only when the previous commit said `deletionPolicy:
    /// Delete`; otherwise (Retain, or no previous commit known) it is retained.
    @Test(arguments: [(DeletionPolicy?.some(.delete), "delete-volume shop/data@local"),
                      (.some(.retain), "retain-volume shop/data@local"),
                      (nil, "retain-volume shop/data@local")])
    func aRemovedVolumeFollowsThePreviousDeletionPolicy(policy: DeletionPolicy?, step: String) throws {
        let state = try PlannerTests.desired()
        let host = Self.applied(state, onto: PlannerTests.empty())
        var previous = state
        if let policy { previous.volumes[0].spec.deletionPolicy = policy }
        var removed = state
        removed.instances = []
        removed.volumes = []
        let context = try Self.context(removed, [host], previous: policy == nil ? nil : previous)
        let steps = PrunePhase.run(on: host, context, trunks: [], kept: [])
        #expect(steps.map(\.1.key) == ["delete-instance shop/web@local", step])
        #expect(steps.last?.0.destroysData == (policy == .delete))
    }

    /// Marked ports without a NIC or trunk go; the ports of a kept instance, of an instance being deleted
    /// (libvirt unplugs those), of another installation and unmarked ones stay.
    @Test(arguments: [nil, "me"] as [String?])
    func strayMarkedPortsArePrunedAndNothingElse(owner: String?) throws {
        let state = try PlannerTests.desired()
        var host = Self.applied(state, onto: PlannerTests.empty())
        let marked = [OVSMarks.managed: "true"].merging(owner.map { [OVSMarks.owner: $0] } ?? [:]) { a, _ in a }
        var ports = host.ports.value ?? []
        let kept = try #require(ports.first?.interfaceID)
        ports += [
            ObservedPort(name: "dlstale", interfaceID: "gone", mac: nil, vlan: 5, mtu: nil, marks: marked),
            ObservedPort(name: "dlkept", interfaceID: kept, mac: nil, vlan: 10, mtu: nil, marks: marked),
            ObservedPort(name: "dlleaving", interfaceID: "leaving", mac: nil, vlan: 5, mtu: nil, marks: marked),
            ObservedPort(name: "dltheirs", interfaceID: "theirs", mac: nil, vlan: 5, mtu: nil,
                         marks: [OVSMarks.managed: "true", OVSMarks.owner: "them"]),
            ObservedPort(name: "eth-admin", interfaceID: nil, mac: nil, vlan: nil, mtu: nil, marks: [:]),
            ObservedPort(name: "eth1", interfaceID: nil, mac: nil, vlan: nil, mtu: nil,
                         marks: marked.merging([OVSMarks.physicalNetwork: "physnet1"]) { a, _ in a }),
            ObservedPort(name: "eth2", interfaceID: nil, mac: nil, vlan: nil, mtu: nil,
                         marks: marked.merging([OVSMarks.physicalNetwork: "physnet2"]) { a, _ in a }),
        ]
        host.ports = .known(ports)
        if var compute = host.compute.value {
            var leaving = compute.instances[0]
            leaving.id = ObjectID(.instance, project: "shop", "old")
            leaving.domainName = "shop.old"
            leaving.nics = [ObservedNIC(mac: "52:54:00:00:00:01", interfaceID: "leaving", bridge: "br-int", vlan: 5)]
            compute.instances = compute.instances.map { var mine = $0; mine.owner = owner; return mine }
            leaving.owner = owner
            compute.instances.append(leaving)
            host.compute = .known(compute)
        }
        let context = try Self.context(state, [host], owner: owner)
        let steps = PrunePhase.run(on: context.hosts[0], context, trunks: ["eth1"], kept: [kept])
        // Without an owner every marked port is Driftless's; with one, only the ports it marked.
        let stray = owner == nil ? ["dlstale", "dltheirs", "eth2"] : ["dlstale", "eth2"]
        #expect(steps.map(\.1.key) == ["delete-instance shop/old@local", "ports \(stray.joined(separator: ","))@local"])
        guard case let .ensurePorts(_, set)? = steps.last?.1 else { Issue.record("no port step"); return }
        #expect(set.delete == stray)
    }

    @Test func nothingIsPrunedOnAHostThatCouldNotBeRead() throws {
        let state = try PlannerTests.desired()
        var host = Self.applied(state, onto: PlannerTests.empty())
        host.ports = .unknown(reason: "ovsdb down")
        let context = try Self.context(DesiredState(), [host])
        #expect(PrunePhase.run(on: host, context, trunks: [], kept: []).isEmpty)
        #expect(PlanContext.unreadable(host)?.message.contains("could not be read (ovsdb down)") == true)
    }
}
