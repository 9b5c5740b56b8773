/// Computes a plan: the desired state of a commit against what the drivers observed, field by field.
///
/// Level-based: it compares the commit with the hosts as they are now, whatever happened before.
/// The inventory is on the hosts: an instance whose domain carries Driftless's marker, or a volume the
/// store records as Driftless's, that the commit does not declare is pruned; nothing else ever is. One
/// Driftless state directory owns a set of hosts (as one Terraform state owns its resources).
/// `previous` is the desired state of the last applied commit (or `--base`): it decides whether a
/// volume whose manifest is gone is deleted (`deletionPolicy: Delete`) or retained (the default).
public enum Planner {
    /// A plan and the steps that carry it out, in dependency order.
    public struct Outcome: Sendable {
        public var plan: Plan
        public var steps: [(action: PlannedAction, step: ApplyStep)]
    }

    public static func plan(
        desired: DesiredState, commit: String, hosts: [HostObservation], allocations: [IPAllocation],
        previous: DesiredState? = nil, owner: String? = nil
    ) -> Outcome {
        // Another installation's instances (another state directory's marker) are not ours: never
        // changed or pruned, and a collision if this commit declares one with the same name.
        let hosts = hosts.map { host -> HostObservation in
            guard let owner, let compute = host.compute.value else { return host }
            var mine = compute
            mine.instances = compute.instances.filter { $0.owner == owner }
            mine.unmanagedDomainNames.formUnion(compute.instances.filter { $0.owner != owner }.map(\.domainName))
            var filtered = host
            filtered.compute = .known(mine)
            return filtered
        }
        var diagnostics: [Diagnostic] = []
        var steps: [(PlannedAction, ApplyStep)] = []
        guard let firstHost = hosts.first else {
            return Outcome(plan: Plan(commit: commit, actions: [], diagnostics: [
                Diagnostic(.error, at: nil, "no host to plan for"),
            ]), steps: [])
        }
        let byName = Dictionary(hosts.map { ($0.target.name, $0) }, uniquingKeysWith: { a, _ in a })
        let addresses = Dictionary(allocations.map { ($0.owner, $0.address) }, uniquingKeysWith: { a, _ in a })

        // What each host holds, by identity (plans over thousands of objects stay linear).
        var observedInstances: [String: [ObjectID: ObservedInstance]] = [:]
        var observedVolumes: [String: [ObjectID: ObservedVolume]] = [:]
        var portsByInterface: [String: [String: ObservedPort]] = [:]
        var runsOn: [ObjectID: HostObservation] = [:]
        for host in hosts {
            for instance in host.compute.value?.instances ?? [] {
                observedInstances[host.target.name, default: [:]][instance.id] = instance
                if runsOn[instance.id] == nil { runsOn[instance.id] = host }
            }
            for volume in host.storage.value?.volumes ?? [] { observedVolumes[host.target.name, default: [:]][volume.id] = volume }
            for port in host.ports.value ?? [] {
                if let id = port.interfaceID { portsByInterface[host.target.name, default: [:]][id] = port }
            }
        }

        // Where each instance lives: pinned, else where it already runs, else the first host.
        func placement(_ instance: Instance) -> HostObservation {
            if let pinned = instance.spec.host, let host = byName[pinned] { return host }
            return runsOn[instance.id] ?? firstHost
        }
        var volumeHost: [ObjectID: HostObservation] = [:]
        for instance in desired.instances {
            for name in instance.spec.volumes {
                volumeHost[ObjectID(.volume, project: instance.project, name)] = placement(instance)
            }
        }

        // Images each host needs.
        var neededImages: [String: Set<ObjectID>] = [:]
        func need(_ image: Image, on host: HostObservation) {
            neededImages[host.target.name, default: []].insert(image.id)
        }
        for instance in desired.instances {
            if let image = desired.image(named: instance.spec.image, project: instance.project) { need(image, on: placement(instance)) }
        }
        for volume in desired.volumes {
            if let name = volume.spec.image, let image = desired.image(named: name, project: volume.project) {
                need(image, on: volumeHost[volume.id] ?? firstHost)
            }
        }
        var imageOnHost: [String: [ObjectID: ObservedImage]] = [:]
        for host in hosts {
            for id in (neededImages[host.target.name] ?? []).sorted() {
                guard let image = desired.images.first(where: { $0.id == id }) else { continue }
                let request = ImageRequest(id: image.id, source: image.spec.source, sha256: image.spec.sha256, format: image.spec.format)
                if let existing = host.storage.value?.images.first(where: { $0.volumeName == request.volumeName }) {
                    imageOnHost[host.target.name, default: [:]][id] = existing
                    continue
                }
                imageOnHost[host.target.name, default: [:]][id] = ObservedImage(
                    id: id, volumeName: request.volumeName, path: host.newImagePath(request.volumeName), sha256: image.spec.sha256, format: image.spec.format,
                    size: image.spec.minDisk ?? .zero)
                let action = PlannedAction(action: .create, id: id, host: host.target.name, source: image.source?.location,
                                           changes: [FieldChange(field: "sha256", before: nil, after: String(image.spec.sha256.prefix(12)))])
                steps.append((action, .importImage(host: host.target.name, request)))
            }
        }

        // Volumes.
        var volumePaths: [ObjectID: DiskAttachment] = [:]
        for volume in desired.volumes {
            let host = volumeHost[volume.id] ?? firstHost
            let name = StorageNaming.volumeName(project: volume.project ?? "", name: volume.name, format: volume.spec.format)
            if let storage = host.storage.value, storage.unmanagedVolumeNames.contains(name) {
                diagnostics.append(Diagnostic(.error, at: volume.source?.location, field: "metadata.name",
                                              "host \(host.target.name) has a volume \(name) that Driftless does not manage; it is never overwritten (which volumes are Driftless's is recorded in the state directory: is this the one that made it?)"))
                continue
            }
            let observed = observedVolumes[host.target.name]?[volume.id]
            let path = observed?.path ?? host.newVolumePath(name)
            volumePaths[volume.id] = DiskAttachment(path: path, format: volume.spec.format, volume: volume.id)
            if let observed {
                if volume.spec.size > observed.capacity {
                    let action = PlannedAction(action: .update, id: volume.id, host: host.target.name, source: volume.source?.location,
                                               changes: [FieldChange(field: "size", before: observed.capacity.description,
                                                                     after: volume.spec.size.description, effect: .live)])
                    steps.append((action, .resizeVolume(host: host.target.name, observed, volume.spec.size)))
                } else if volume.spec.size < observed.capacity {
                    diagnostics.append(Diagnostic(.error, at: volume.location(of: "spec.size"), field: "spec.size",
                                                  "volume \(volume.id.qualifiedName) is \(observed.capacity) on \(host.target.name); volumes cannot shrink to \(volume.spec.size)"))
                }
                continue
            }
            let base = volume.spec.image.flatMap { desired.image(named: $0, project: volume.project) }
                .flatMap { imageOnHost[host.target.name]?[$0.id] }
            let request = VolumeRequest(id: volume.id, volumeName: name, size: volume.spec.size, format: volume.spec.format,
                                        baseImage: base, deletionPolicy: volume.spec.deletionPolicy)
            let action = PlannedAction(action: .create, id: volume.id, host: host.target.name, source: volume.source?.location,
                                       changes: [FieldChange(field: "size", before: nil, after: volume.spec.size.description),
                                                 FieldChange(field: "format", before: nil, after: volume.spec.format.rawValue),
                                                 FieldChange(field: "deletionPolicy", before: nil, after: volume.spec.deletionPolicy.rawValue)])
            steps.append((action, .createVolume(host: host.target.name, request)))
        }

        // Instances.
        let usersByName = Dictionary(desired.users.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let networks = Dictionary(desired.networks.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var deleteSteps: [(PlannedAction, ApplyStep)] = []
        var desiredInterfaceIDs = Set<String>()
        for instance in desired.instances {
            let host = placement(instance)
            let domain = ComputeNaming.domainName(instance.id)
            if let compute = host.compute.value, compute.unmanagedDomainNames.contains(domain) {
                diagnostics.append(Diagnostic(.error, at: instance.source?.location, field: "metadata.name",
                                              "host \(host.target.name) has a domain \(domain) that Driftless does not manage; it is never changed"))
                continue
            }
            guard let image = desired.image(named: instance.spec.image, project: instance.project),
                  let observedImage = imageOnHost[host.target.name]?[image.id]
            else { continue }
            var ordinals: [String: Int] = [:]
            let nics = instance.spec.networks.compactMap { nic -> NICAttachment? in
                let ordinal = ordinals[nic.network, default: 0]
                ordinals[nic.network] = ordinal + 1
                guard let network = networks[ObjectID(.network, project: instance.project, nic.network)] else { return nil }
                let owner = NICOwner(project: instance.project ?? "", instance: instance.name, network: nic.network, ordinal: ordinal)
                return NICAttachment(identity: NICIdentity(owner: owner), bridge: host.target.bridge, vlan: network.spec.vlan,
                                     mtu: network.spec.mtu, address: nic.ip ?? addresses[owner],
                                     prefixLength: network.spec.cidr.prefixLength, gateway: network.spec.effectiveGateway,
                                     disableOffloads: host.target.datapath == .netdev)
            }
            if let problem = physicalNetworkProblem(instance, on: host, networks: networks) {
                diagnostics.append(problem)
                continue
            }
            let accounts = guestAccounts(instance, users: usersByName)
            var request = InstanceRequest(
                id: instance.id, vcpus: instance.spec.vcpus, memory: instance.spec.memory, power: instance.spec.power,
                rootDisk: RootDiskRequest(volumeName: StorageNaming.rootDiskName(project: instance.project ?? "", instance: instance.name),
                                          size: instance.spec.rootDisk, image: observedImage),
                volumes: instance.spec.volumes.compactMap { volumePaths[ObjectID(.volume, project: instance.project, $0)] },
                nics: nics, seed: CloudInitSeed(hostname: instance.name, accounts: accounts, userData: instance.spec.userData),
                specHash: "", commit: commit, owner: owner)
            request.specHash = StableHash.sha256Hex("\(request.vcpus)|\(request.memory)|\(request.power)|\(request.rootDisk.image.volumeName)|\(request.rootDisk.size)|\(request.volumes.map(\.path))|\(request.nics.map(\.identity.mac))|\(request.seedHash)")

            guard let observed = observedInstances[host.target.name]?[instance.id] else {
                var created = [FieldChange(field: "image", before: nil, after: image.name),
                               FieldChange(field: "vcpus", before: nil, after: String(instance.spec.vcpus)),
                               FieldChange(field: "memory", before: nil, after: instance.spec.memory.description),
                               FieldChange(field: "rootDisk", before: nil, after: instance.spec.rootDisk.description)]
                if !nics.isEmpty {
                    created.append(FieldChange(field: "networks", before: nil, after: nics.map {
                        "\($0.identity.owner.network) (vlan \($0.vlan), \($0.address?.description ?? "dhcp")\($0.disableOffloads ? ", offloads off" : ""))"
                    }.joined(separator: ", ")))
                }
                if !accounts.isEmpty {
                    created.append(FieldChange(field: "users", before: nil, after: GuestAccount.describe(accounts)))
                }
                if !instance.spec.volumes.isEmpty {
                    created.append(FieldChange(field: "volumes", before: nil, after: instance.spec.volumes.joined(separator: ", ")))
                }
                if instance.spec.power != .running {
                    created.append(FieldChange(field: "power", before: nil, after: instance.spec.power.rawValue))
                }
                if instance.spec.userData != nil {
                    created.append(FieldChange(field: "userData", before: nil, after: nil, sensitive: true))
                }
                let action = PlannedAction(action: .create, id: instance.id, host: host.target.name, source: instance.source?.location,
                                           changes: created)
                steps.append((action, .createInstance(host: host.target.name, request)))
                continue
            }
            let instanceChanges = InstanceChangeSet.between(request, observed)
            if instanceChanges.requiresReplacement {
                let action = PlannedAction(action: .replace, id: instance.id, host: host.target.name, source: instance.source?.location,
                                           changes: instanceChanges.fieldChanges)
                deleteSteps.append((action, .deleteInstance(host: host.target.name, observed)))
                steps.append((action, .createInstance(host: host.target.name, request)))
                continue
            }
            var changes = instanceChanges.fieldChanges
            let portFixes = portChanges(request, observed, ports: portsByInterface[host.target.name] ?? [:], owner: owner)
            changes += portFixes.changes
            if !changes.isEmpty {
                let action = PlannedAction(action: .update, id: instance.id, host: host.target.name,
                                           source: instance.source?.location, changes: changes)
                if changes.count > portFixes.changes.count {
                    steps.append((action, .updateInstance(host: host.target.name, request, observed)))
                }
                if !portFixes.ports.isEmpty {
                    steps.append((action, .ensurePorts(host: host.target.name, PortChangeSet(ensure: portFixes.ports))))
                }
            }
            for nic in request.nics { desiredInterfaceIDs.insert(nic.identity.interfaceID) }
        }

        // Prune: what Driftless manages on the hosts and the commit no longer declares.
        let desiredIDs = Set(desired.instances.map(\.id) + desired.volumes.map(\.id))
        for host in hosts {
            guard host.isKnown else {
                diagnostics.append(Diagnostic(.warning, at: nil, "host \(host.target.name) could not be read (\(host.unknownReason ?? "unknown")); nothing on it is planned, and nothing on it is deleted"))
                continue
            }
            for observed in host.compute.value?.instances ?? [] where !desiredIDs.contains(observed.id) {
                let action = PlannedAction(action: .delete, id: observed.id, host: host.target.name, source: nil,
                                           note: "its manifest is gone; attached volumes are detached, not deleted")
                deleteSteps.append((action, .deleteInstance(host: host.target.name, observed)))
            }
            // Ports of instances being deleted go with their domain (libvirt unplugs them).
            let leaving = Set((host.compute.value?.instances ?? []).filter { !desiredIDs.contains($0.id) }
                .flatMap { $0.nics.compactMap(\.interfaceID) })
            let trunks = trunkChanges(desired, on: host, owner: owner)
            steps.insert(contentsOf: trunks.steps, at: 0)
            diagnostics += trunks.diagnostics
            let strayPorts = (host.ports.value ?? []).filter { port in
                guard port.isMarked, owner == nil || port.marks[OVSMarks.owner] == owner else { return false }
                if port.physicalNetwork != nil { return !trunks.wanted.contains(port.name) }
                guard let id = port.interfaceID else { return true }
                return !desiredInterfaceIDs.contains(id) && !leaving.contains(id)
            }
            if !strayPorts.isEmpty {
                let names = strayPorts.map(\.name).sorted()
                let action = PlannedAction(action: .delete, id: ObjectID(.network, host.target.name + "-ports"), host: host.target.name,
                                           source: nil, changes: [FieldChange(field: "ports", before: names.joined(separator: ", "), after: nil, effect: .live)],
                                           note: "Open vSwitch ports Driftless made for NICs that no longer exist")
                deleteSteps.append((action, .ensurePorts(host: host.target.name, PortChangeSet(delete: names))))
            }
            for observed in host.storage.value?.volumes ?? [] where !desiredIDs.contains(observed.id) {
                let policy = previous?.volumes.first { $0.id == observed.id }?.spec.deletionPolicy ?? .retain
                if policy == .delete {
                    let action = PlannedAction(action: .delete, id: observed.id, host: host.target.name, source: nil,
                                               changes: [FieldChange(field: "data", before: observed.capacity.description, after: nil,
                                                                     effect: .destroysData)],
                                               note: "deletionPolicy: Delete")
                    deleteSteps.append((action, .deleteVolume(host: host.target.name, observed)))
                } else {
                    let action = PlannedAction(action: .retain, id: observed.id, host: host.target.name, source: nil,
                                               note: "manifest removed; deletionPolicy Retain keeps the data and stops managing it")
                    deleteSteps.append((action, .retainVolume(host: host.target.name, observed)))
                }
            }
        }
        // Nothing is planned on a host that could not be read: its state is unknown, so neither "absent"
        // (create) nor "extra" (delete) can be concluded.
        let unknown = Set(hosts.filter { !$0.isKnown }.map(\.target.name))
        // Deletes run first (an instance frees its volumes), then creates in dependency order.
        let ordered = (deleteSteps + steps).filter { !unknown.contains($0.1.host) }
        var seen = Set<String>()
        let actions = ordered.compactMap { pair -> PlannedAction? in
            let key = "\(pair.0.action.rawValue) \(pair.0.id) \(pair.0.host ?? "")"
            return seen.insert(key).inserted ? pair.0 : nil
        }
        return Outcome(plan: Plan(commit: commit, actions: actions, diagnostics: diagnostics),
                       steps: ordered.map { (action: $0.0, step: $0.1) })
    }

    /// The ports of a running instance's NICs that are missing from the bridge or carry another VLAN tag
    /// (someone ran `ovs-vsctl del-port` or `set port … tag=`): libvirt plugs ports only when a domain
    /// starts, so Driftless puts them back.
    static func portChanges(_ request: InstanceRequest, _ observed: ObservedInstance, ports byInterface: [String: ObservedPort],
                            owner: String?) -> (changes: [FieldChange], ports: [DesiredPort])
    {
        guard observed.power == .running, request.power == .running else { return ([], []) }
        let plugged = Set(observed.nics.map(\.mac))
        var changes: [FieldChange] = []
        var fixes: [DesiredPort] = []
        for nic in request.nics where plugged.contains(nic.identity.mac) {
            let field = "networks.\(nic.identity.owner.network)[\(nic.identity.owner.ordinal)].port"
            guard let port = byInterface[nic.identity.interfaceID] else {
                changes.append(FieldChange(field: field, before: "(missing)", after: "\(nic.identity.deviceName) tag \(nic.vlan)", effect: .live))
                fixes.append(DesiredPort(identity: nic.identity, vlan: nic.vlan, mtu: nic.mtu, owner: owner))
                continue
            }
            if port.vlan != nic.vlan {
                changes.append(FieldChange(field: field, before: "tag \(port.vlan.map(String.init) ?? "(none)")", after: "tag \(nic.vlan)", effect: .live))
                fixes.append(DesiredPort(identity: nic.identity, vlan: nic.vlan, mtu: nic.mtu, owner: owner))
            }
        }
        return (changes, fixes)
    }

    /// The guest accounts of an instance: each enabled User it lists, with that user's keys; sudo for a
    /// cloud admin or an admin of the instance's project. A disabled user gets no account.
    static func guestAccounts(_ instance: Instance, users: [String: User]) -> [GuestAccount] {
        var seen = Set<String>()
        return instance.spec.users.compactMap { name -> GuestAccount? in
            guard seen.insert(name).inserted, let user = users[name], user.spec.enabled else { return nil }
            let projectAdmin = user.spec.roles.contains { $0.project == instance.project && $0.role == .admin }
            return GuestAccount(name: user.name, sshKeys: user.spec.sshKeys, sudo: user.spec.admin || projectAdmin)
        }
    }

    /// A NIC on a network that runs on a physical network needs the instance's host to map that physical
    /// network.
    static func physicalNetworkProblem(_ instance: Instance, on host: HostObservation, networks: [ObjectID: Network]) -> Diagnostic? {
        for (index, nic) in instance.spec.networks.enumerated() {
            guard let network = networks[ObjectID(.network, project: instance.project, nic.network)],
                  let physical = network.spec.physicalNetwork else { continue }
            let field = "spec.networks[\(index)].network"
            if !host.target.physicalNetworks.contains(where: { $0.name == physical }) {
                return Diagnostic(.error, at: instance.location(of: field), field: field,
                                  "network \(network.name) runs on physical network \(physical), which host \(host.target.name) does not map",
                                  hint: "add \(physical) to host \(host.target.name)'s physicalNetworks, or place the instance on a host that maps it")
            }
        }
        // Whether the mapped interface can be plugged is the Host's question (`trunkChanges`).
        return nil
    }

    /// The trunks of `host`'s physical networks that carry at least one declared network's VLAN, each as
    /// it should be; an interface that is missing or in another bridge is a plan error on the Host.
    static func trunkChanges(_ desired: DesiredState, on host: HostObservation, owner: String?)
        -> (steps: [(PlannedAction, ApplyStep)], wanted: Set<String>, diagnostics: [Diagnostic])
    {
        guard host.isKnown else { return ([], [], []) }
        let declared = desired.hosts.first { $0.name == host.target.name }
        let observed = Dictionary((host.ports.value ?? []).map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var trunks: [DesiredTrunk] = []
        var changes: [FieldChange] = []
        var wanted = Set<String>()
        var diagnostics: [Diagnostic] = []
        for (index, mapping) in host.target.physicalNetworks.enumerated() {
            let vlans = Set(desired.networks.filter { $0.spec.physicalNetwork == mapping.name }.map(\.spec.vlan)).sorted()
            guard !vlans.isEmpty else { continue }
            wanted.insert(mapping.interface)
            if let problem = trunkProblem(mapping, on: host) {
                let field = "spec.physicalNetworks[\(index)].interface"
                diagnostics.append(Diagnostic(.error, at: declared?.location(of: field), field: field, problem))
                continue
            }
            let trunk = DesiredTrunk(interface: mapping.interface, physicalNetwork: mapping.name, vlans: vlans, owner: owner)
            let after = "\(mapping.interface) trunk \(vlans.map(String.init).joined(separator: ","))"
            let field = "physicalNetworks.\(mapping.name)"
            guard let port = observed[mapping.interface] else {
                changes.append(FieldChange(field: field, before: nil, after: after, effect: .live))
                trunks.append(trunk)
                continue
            }
            guard port.isMarked else {
                let field = "spec.physicalNetworks[\(index)].interface"
                diagnostics.append(Diagnostic(.error, at: declared?.location(of: field), field: field,
                                              "port \(mapping.interface) on bridge \(host.target.bridge) of host \(host.target.name) was not made by Driftless; it is left alone"))
                continue
            }
            if port.trunks != vlans || port.vlan != nil || port.physicalNetwork != mapping.name {
                let before = port.vlan.map { "\(port.name) tag \($0)" }
                    ?? "\(port.name) trunk \(port.trunks.isEmpty ? "(all)" : port.trunks.map(String.init).joined(separator: ","))"
                changes.append(FieldChange(field: field, before: before, after: after, effect: .live))
                trunks.append(trunk)
            }
        }
        guard !trunks.isEmpty else { return ([], wanted, diagnostics) }
        let action = PlannedAction(action: .update, id: ObjectID(.host, host.target.name), host: host.target.name,
                                   source: declared?.source?.location, changes: changes,
                                   note: "host interfaces plugged into \(host.target.bridge) as trunks of the physical networks' VLANs")
        return ([(action, .ensurePorts(host: host.target.name, PortChangeSet(trunks: trunks)))], wanted, diagnostics)
    }

    /// Why `mapping`'s interface cannot be plugged into `host`'s bridge, if it cannot.
    static func trunkProblem(_ mapping: PhysicalNetworkMapping, on host: HostObservation) -> String? {
        let name = mapping.interface
        if let holder = host.portsOnOtherBridges[name] {
            return "interface \(name) (physical network \(mapping.name)) is already a port of bridge \(holder) on host \(host.target.name); it is left alone"
        }
        guard let interfaces = host.compute.value?.hostInterfaces else { return nil }
        guard let interface = interfaces.first(where: { $0.name == name }) else {
            return "interface \(name) of physical network \(mapping.name) does not exist on host \(host.target.name)"
        }
        if let bridge = interface.bridge {
            return "interface \(name) (physical network \(mapping.name)) is already in bridge \(bridge) on host \(host.target.name); it is left alone"
        }
        return nil
    }
}
