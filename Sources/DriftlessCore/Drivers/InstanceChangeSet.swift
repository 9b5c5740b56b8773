/// What bringing an observed instance to a request changes, field by field, each with how it takes effect.
///
/// The one place that decides change effects: the planner renders these changes into the plan
/// (`fieldChanges`), and a compute driver's `update` carries out the same value and reports its `effects`.
/// A change of image or a smaller root disk needs a new root disk (`requiresReplacement`); no driver makes
/// that in place.
public struct InstanceChangeSet: Sendable, Hashable {
    /// A value that changes, and how the change takes effect.
    public struct Change<Value: Sendable & Hashable>: Sendable, Hashable {
        public var before: Value
        public var after: Value
        public var effect: ChangeEffect

        public init(before: Value, after: Value, effect: ChangeEffect) {
            self.before = before
            self.after = after
            self.effect = effect
        }
    }

    /// Volumes attached and detached; both happen live.
    public struct VolumeChanges: Sendable, Hashable {
        /// The paths of the attached volumes now, and as requested.
        public var before: Set<String>
        public var after: Set<String>
        /// Requested volumes not attached yet, in the request's order.
        public var attach: [DiskAttachment]
        /// Paths of attached volumes the request no longer lists.
        public var detach: Set<String>

        public var effect: ChangeEffect { .live }
    }

    /// NICs attached, detached or given another VLAN tag, by MAC; all happen live.
    public struct NICChanges: Sendable, Hashable {
        /// The NICs now and as requested, each as `mac@vlan`, sorted (what plans show).
        public var before: [String]
        public var after: [String]
        /// Requested NICs whose MAC the instance does not have yet, in the request's order.
        public var attach: [NICAttachment]
        /// MACs of the instance's NICs the request no longer has.
        public var detach: Set<String>
        /// Requested NICs the instance has with another VLAN tag, in the request's order.
        public var retag: [NICAttachment]

        public var effect: ChangeEffect { .live }
    }

    /// A NIC whose virtio offloads are turned on or off: fixed when QEMU starts the NIC, so at next boot
    /// for a running guest.
    public struct OffloadChange: Sendable, Hashable {
        public var nic: NICAttachment
        /// Whether the offloads are off now.
        public var offBefore: Bool
        public var effect: ChangeEffect
    }

    /// The instance is powered on or off; live.
    public struct PowerChange: Sendable, Hashable {
        /// Nil when the instance is neither running nor stopped (paused, crashed…).
        public var before: PowerState?
        public var after: PowerState

        public var effect: ChangeEffect { .live }
    }

    /// The cloud-init seed is rebuilt (what it carries changed); cloud-init reads it at next boot.
    public struct SeedChange: Sendable, Hashable {
        /// The guest accounts of the seed last applied as recorded (nil: not recorded), and as requested,
        /// as `GuestAccount.describe` shows them.
        public var usersBefore: String?
        public var usersAfter: String

        public var effect: ChangeEffect { .reboot }
    }

    /// Another image: a replacement.
    public var image: Change<String>?
    /// A larger root disk grows live; a smaller one is a replacement.
    public var rootDisk: Change<ByteSize>?
    public var memory: Change<ByteSize>?
    public var vcpus: Change<Int>?
    public var volumes: VolumeChanges?
    public var nics: NICChanges?
    public var offloads: [OffloadChange]
    public var power: PowerChange?
    public var seed: SeedChange?

    /// The changes from `observed` to `request`.
    ///
    /// - Parameter running: whether the guest runs while the changes are made, which decides between
    ///   `live` and `reboot`; by default, what `observed` says. A driver that powers the guest off first
    ///   passes the state after that.
    public static func between(_ request: InstanceRequest, _ observed: ObservedInstance, running: Bool? = nil) -> InstanceChangeSet {
        let running = running ?? (observed.power == .running)
        var set = InstanceChangeSet(offloads: [])
        if let image = observed.imageVolume, image != request.rootDisk.image.volumeName {
            set.image = Change(before: image, after: request.rootDisk.image.volumeName, effect: .replace)
        }
        if let size = observed.rootDiskSize, request.rootDisk.size != size {
            set.rootDisk = Change(before: size, after: request.rootDisk.size, effect: request.rootDisk.size > size ? .live : .replace)
        }
        if request.memory != observed.memory {
            // An increase is written to the definition only: the running guest keeps its size until it reboots.
            let effect: ChangeEffect = running && request.memory > observed.memory ? .reboot : .live
            set.memory = Change(before: observed.memory, after: request.memory, effect: effect)
        }
        if request.vcpus != observed.vcpus {
            set.vcpus = Change(before: observed.vcpus, after: request.vcpus, effect: running ? .reboot : .live)
        }
        let wantedVolumes = Set(request.volumes.map(\.path)), currentVolumes = Set(observed.volumePaths)
        if wantedVolumes != currentVolumes {
            set.volumes = VolumeChanges(before: currentVolumes, after: wantedVolumes,
                                        attach: request.volumes.filter { !currentVolumes.contains($0.path) },
                                        detach: currentVolumes.subtracting(wantedVolumes))
        }
        let wantedNICs = request.nics.map { "\($0.identity.mac)@\($0.vlan)" }.sorted()
        let currentNICs = observed.nics.map { "\($0.mac)@\($0.vlan ?? 0)" }.sorted()
        if wantedNICs != currentNICs {
            let wantedMACs = Set(request.nics.map(\.identity.mac)), currentMACs = Set(observed.nics.map(\.mac))
            set.nics = NICChanges(
                before: currentNICs, after: wantedNICs,
                attach: request.nics.filter { !currentMACs.contains($0.identity.mac) },
                detach: currentMACs.subtracting(wantedMACs),
                retag: request.nics.filter { nic in
                    observed.nics.first { $0.mac == nic.identity.mac }.map { $0.vlan != nic.vlan } ?? false
                })
        }
        for nic in request.nics {
            guard let now = observed.nics.first(where: { $0.mac == nic.identity.mac }), now.offloadsOff != nic.disableOffloads else { continue }
            set.offloads.append(OffloadChange(nic: nic, offBefore: now.offloadsOff, effect: running ? .reboot : .live))
        }
        let power: PowerState? = switch observed.power {
        case .running: .running
        case .stopped: .stopped
        case .other: nil
        }
        if power != request.power {
            set.power = PowerChange(before: power, after: request.power)
        }
        if observed.seedHash != request.seedHash {
            set.seed = SeedChange(usersBefore: observed.seedUsers, usersAfter: GuestAccount.describe(request.seed.accounts))
        }
        return set
    }

    /// Whether the instance needs a new root disk (another image, or a smaller root disk): a replacement
    /// that loses the data on the root disk, never an in-place update.
    public var requiresReplacement: Bool {
        image != nil || rootDisk?.effect == .replace
    }

    /// Whether nothing changes.
    public var isEmpty: Bool {
        image == nil && rootDisk == nil && memory == nil && vcpus == nil && volumes == nil && nics == nil && offloads.isEmpty
            && power == nil && seed == nil
    }

    /// The changes as the plan shows them: for a replacement, what forces it; otherwise every in-place
    /// change, in a fixed order.
    public var fieldChanges: [FieldChange] {
        if requiresReplacement {
            var replaced: [FieldChange] = []
            if let image { replaced.append(FieldChange(field: "image", before: image.before, after: image.after, effect: image.effect)) }
            if let rootDisk, rootDisk.effect == .replace {
                replaced.append(FieldChange(field: "rootDisk", before: rootDisk.before.description, after: rootDisk.after.description,
                                            effect: rootDisk.effect))
            }
            return replaced
        }
        var changes: [FieldChange] = []
        if let memory {
            changes.append(FieldChange(field: "memory", before: memory.before.description, after: memory.after.description, effect: memory.effect))
        }
        if let vcpus {
            changes.append(FieldChange(field: "vcpus", before: String(vcpus.before), after: String(vcpus.after), effect: vcpus.effect))
        }
        if let rootDisk {
            changes.append(FieldChange(field: "rootDisk", before: rootDisk.before.description, after: rootDisk.after.description,
                                       effect: rootDisk.effect))
        }
        if let volumes {
            changes.append(FieldChange(field: "volumes", before: Self.names(volumes.before), after: Self.names(volumes.after),
                                       effect: volumes.effect))
        }
        if let nics {
            changes.append(FieldChange(field: "networks", before: nics.before.joined(separator: ", "), after: nics.after.joined(separator: ", "),
                                       effect: nics.effect))
        }
        for offload in offloads {
            let field = "networks.\(offload.nic.identity.owner.network)[\(offload.nic.identity.owner.ordinal)].offloads"
            changes.append(FieldChange(field: field, before: offload.offBefore ? "off" : "on", after: offload.nic.disableOffloads ? "off" : "on",
                                       effect: offload.effect))
        }
        if let power {
            changes.append(FieldChange(field: "power", before: power.before?.rawValue ?? "other", after: power.after.rawValue,
                                       effect: power.effect))
        }
        if let seed {
            if let before = seed.usersBefore, before != seed.usersAfter {
                changes.append(FieldChange(field: "users", before: before, after: seed.usersAfter, effect: seed.effect))
            }
            changes.append(FieldChange(field: "cloud-init (users, keys, userData, addresses)", before: nil, after: nil, effect: seed.effect,
                                       sensitive: true))
        }
        return changes
    }

    /// The effect of each in-place change, by the names a driver's `InstanceUpdate` reports: `memory`,
    /// `vcpus`, `rootDisk`, `volumes`, `networks`, `networks.offloads`, `seed`, `power`.
    public var effects: [String: ChangeEffect] {
        var effects: [String: ChangeEffect] = [:]
        if let memory { effects["memory"] = memory.effect }
        if let vcpus { effects["vcpus"] = vcpus.effect }
        if let rootDisk, rootDisk.effect != .replace { effects["rootDisk"] = rootDisk.effect }
        if let volumes { effects["volumes"] = volumes.effect }
        if let nics { effects["networks"] = nics.effect }
        if let offload = offloads.first { effects["networks.offloads"] = offload.effect }
        if let seed { effects["seed"] = seed.effect }
        if let power { effects["power"] = power.effect }
        return effects
    }

    /// The volumes' file names, sorted: `vol-shop.data.qcow2, …`.
    static func names(_ paths: Set<String>) -> String {
        paths.map { $0.split(separator: "/").last.map(String.init) ?? $0 }.sorted().joined(separator: ", ")
    }
}
