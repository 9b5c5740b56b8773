import DriftlessCore
import Testing

/// The one decision of what an instance update changes and with which effect, as both the plan and a
/// compute driver read it.
@Suite("InstanceChangeSet")
struct InstanceChangeSetTests {
    static let image = ObservedImage(id: ObjectID(.image, "tiny"), volumeName: "img-tiny-aaaaaaaaaaaa.qcow2", path: "/pools/imgs/img-tiny-aaaaaaaaaaaa.qcow2",
                                     sha256: String(repeating: "a", count: 64), format: .qcow2, size: .mebibytes(64))

    static func nic(_ network: String, ordinal: Int = 0, vlan: Int, offloadsOff: Bool = false) -> NICAttachment {
        NICAttachment(identity: NICIdentity(owner: NICOwner(project: "shop", instance: "web", network: network, ordinal: ordinal)),
                      bridge: "br-int", vlan: vlan, mtu: nil, address: nil, prefixLength: 24, gateway: nil, disableOffloads: offloadsOff)
    }

    static func request(memory: ByteSize = .mebibytes(256), vcpus: Int = 1, power: PowerState = .running, rootDisk: ByteSize = .gibibytes(1),
                        volumes: [String] = [], nics: [NICAttachment] = [], image: ObservedImage = image) -> InstanceRequest {
        InstanceRequest(
            id: ObjectID(.instance, project: "shop", "web"), vcpus: vcpus, memory: memory, power: power,
            rootDisk: RootDiskRequest(volumeName: "root-shop.web.qcow2", size: rootDisk, image: image),
            volumes: volumes.map { DiskAttachment(path: "/pools/vols/" + $0, format: .qcow2) }, nics: nics,
            seed: CloudInitSeed(hostname: "web", accounts: [], userData: nil), specHash: "h", commit: "c")
    }

    /// The instance as a driver reports it after carrying out `request`.
    static func observed(_ request: InstanceRequest, power: ObservedInstance.Power = .running) -> ObservedInstance {
        ObservedInstance(
            id: request.id, domainName: request.domainName, uuid: "u", specHash: request.specHash, commit: request.commit,
            imageVolume: request.rootDisk.image.volumeName, seedHash: request.seedHash, rootDiskSize: request.rootDisk.size,
            vcpus: request.vcpus, memory: request.memory, liveVCPUs: nil, liveMemory: nil, power: power, rootDiskPath: nil,
            volumePaths: request.volumes.map(\.path),
            nics: request.nics.map { ObservedNIC(mac: $0.identity.mac, interfaceID: $0.identity.interfaceID, bridge: $0.bridge, vlan: $0.vlan,
                                                 offloadsOff: $0.disableOffloads) },
            seedUsers: GuestAccount.describe(request.seed.accounts))
    }

    @Test func nothingChangedIsEmpty() {
        let request = Self.request()
        let changes = InstanceChangeSet.between(request, Self.observed(request))
        #expect(changes.isEmpty)
        #expect(changes.fieldChanges.isEmpty)
        #expect(changes.effects.isEmpty)
        #expect(!changes.requiresReplacement)
    }

    /// More memory on a running guest waits for a reboot; less is set live; a stopped guest takes either
    /// at once. A driver that powered the guest off first says so with `running: false`.
    @Test(arguments: [
        (ObservedInstance.Power.running, nil as Bool?, 512 as UInt64, ChangeEffect.reboot),
        (.running, nil, 128, .live),
        (.stopped, nil, 512, .live),
        (.running, false, 512, .live),
        (.other("paused"), nil, 512, .live),
    ])
    func memoryEffectFollowsWhetherTheGuestRuns(power: ObservedInstance.Power, running: Bool?, mebibytes: UInt64, effect: ChangeEffect) {
        let observed = Self.observed(Self.request(), power: power)
        let changes = InstanceChangeSet.between(Self.request(memory: .mebibytes(mebibytes)), observed, running: running)
        #expect(changes.memory == .init(before: .mebibytes(256), after: .mebibytes(mebibytes), effect: effect))
        #expect(changes.effects["memory"] == effect)
    }

    @Test func vcpusChangeAtNextBootOfARunningGuest() {
        let observed = Self.observed(Self.request())
        #expect(InstanceChangeSet.between(Self.request(vcpus: 2), observed).vcpus?.effect == .reboot)
        #expect(InstanceChangeSet.between(Self.request(vcpus: 2), observed, running: false).vcpus?.effect == .live)
    }

    /// Another image or a smaller root disk needs a new root disk: the plan shows only what forces it.
    @Test func anotherImageOrASmallerRootDiskIsAReplacement() {
        let observed = Self.observed(Self.request())
        var other = Self.image
        other.volumeName = "img-other-bbbbbbbbbbbb.qcow2"
        let replaced = InstanceChangeSet.between(Self.request(memory: .mebibytes(512), rootDisk: .mebibytes(512), image: other), observed)
        #expect(replaced.requiresReplacement)
        #expect(replaced.fieldChanges.map(\.summary) == [
            "image: img-tiny-aaaaaaaaaaaa.qcow2 → img-other-bbbbbbbbbbbb.qcow2 (replaces the instance: root disk data is lost)",
            "rootDisk: 1GiB → 512MiB (replaces the instance: root disk data is lost)",
        ])
        #expect(Self.request(rootDisk: .mebibytes(512)).requiresReplacement(of: observed))

        let grown = InstanceChangeSet.between(Self.request(rootDisk: .gibibytes(2)), observed)
        #expect(!grown.requiresReplacement)
        #expect(grown.rootDisk?.effect == .live)
        #expect(grown.effects == ["rootDisk": .live])
    }

    @Test func volumesAndNICsSayWhatToAttachDetachAndRetag() {
        let front = Self.nic("front", vlan: 10), back = Self.nic("back", vlan: 20), side = Self.nic("side", vlan: 30)
        let observed = Self.observed(Self.request(volumes: ["a", "b"], nics: [front, back]))
        var retagged = back
        retagged.vlan = 21
        let changes = InstanceChangeSet.between(Self.request(volumes: ["b", "c"], nics: [retagged, side]), observed)
        #expect(changes.volumes?.attach.map(\.path) == ["/pools/vols/c"])
        #expect(changes.volumes?.detach == ["/pools/vols/a"])
        #expect(changes.nics?.attach == [side])
        #expect(changes.nics?.detach == [front.identity.mac])
        #expect(changes.nics?.retag == [retagged])
        #expect(changes.fieldChanges.first { $0.field == "volumes" }?.summary == "volumes: a, b → b, c (live)")
        #expect(changes.effects["volumes"] == .live)
        #expect(changes.effects["networks"] == .live)
        #expect(changes.effects["seed"] == .reboot, "the guest's network configuration changed")
    }

    /// The plan's field names and a driver's effect names for the same value.
    @Test func everyChangeHasAFieldForThePlanAndAnEffectForTheDriver() {
        let before = Self.request(nics: [Self.nic("front", vlan: 10)])
        let observed = Self.observed(before, power: .stopped)
        let after = Self.request(memory: .mebibytes(512), vcpus: 2, power: .running, rootDisk: .gibibytes(2), volumes: ["a"],
                                 nics: [Self.nic("front", vlan: 10, offloadsOff: true), Self.nic("back", vlan: 20)])
        let changes = InstanceChangeSet.between(after, observed)
        #expect(changes.fieldChanges.map(\.field) == [
            "memory", "vcpus", "rootDisk", "volumes", "networks", "networks.front[0].offloads", "power",
            "cloud-init (users, keys, userData, addresses)",
        ])
        #expect(changes.effects == [
            "memory": .live, "vcpus": .live, "rootDisk": .live, "volumes": .live, "networks": .live,
            "networks.offloads": .live, "power": .live, "seed": .reboot,
        ])
    }
}
