/// Declared instances on their hosts: each resolved into an `InstanceRequest` (image, volumes, NICs with
/// their addresses, guest accounts), then created, replaced (a new root disk), updated in place with the
/// changes `InstanceChangeSet` decides, and its OVS ports put back where they went missing.
enum InstancePhase {
    struct Result {
        var steps: [(PlannedAction, ApplyStep)] = []
        /// The deletes of instances being replaced: they run first, with the other deletes.
        var replacedSteps: [(PlannedAction, ApplyStep)] = []
        var diagnostics: [Diagnostic] = []
        /// The interface IDs of the NICs of instances kept in place: their ports are not stray.
        var keptInterfaceIDs = Set<String>()
    }

    static func run(_ context: PlanContext, _ placement: Placement, images: ImagePhase.Result, volumes: VolumePhase.Result) -> Result {
        let desired = context.desired
        let users = Dictionary(desired.users.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let networks = Dictionary(desired.networks.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var result = Result()
        for instance in desired.instances {
            guard let host = placement.host(ofInstance: instance.id) else { continue }
            let domain = ComputeNaming.domainName(instance.id)
            if let compute = host.compute.value, compute.unmanagedDomainNames.contains(domain) {
                result.diagnostics.append(Diagnostic(.error, at: instance.source?.location, field: "metadata.name",
                                                     "host \(host.target.name) has a domain \(domain) that Driftless does not manage; it is never changed"))
                continue
            }
            guard let image = desired.image(named: instance.spec.image, project: instance.project),
                  let observedImage = images.image(image.id, on: host.target.name)
            else { continue }
            let nics = self.nics(of: instance, on: host, networks: networks, addresses: context.addresses)
            if let problem = physicalNetworkProblem(instance, on: host, networks: networks) {
                result.diagnostics.append(problem)
                continue
            }
            let accounts = guestAccounts(instance, users: users)
            let request = self.request(for: instance, image: observedImage, nics: nics, accounts: accounts,
                                       volumes: volumes.attachments, context: context)
            if let move = placement.moves[instance.id] {
                if let step = self.move(instance, move, to: host, request: request, result: &result) { result.steps.append(step) }
                for nic in request.nics { result.keptInterfaceIDs.insert(nic.identity.interfaceID) }
                continue
            }
            guard let observed = context.instancesByHost[host.target.name]?[instance.id] else {
                let action = PlannedAction(action: .create, id: instance.id, host: host.target.name, source: instance.source?.location,
                                           changes: creation(of: instance, image: image, nics: nics, accounts: accounts,
                                                             host: placement.reasons[instance.id].map { "\(host.target.name) (\($0))" }))
                result.steps.append((action, .createInstance(host: host.target.name, request)))
                continue
            }
            let changes = InstanceChangeSet.between(request, observed)
            if changes.requiresReplacement {
                let action = PlannedAction(action: .replace, id: instance.id, host: host.target.name, source: instance.source?.location,
                                           changes: changes.fieldChanges)
                result.replacedSteps.append((action, .deleteInstance(host: host.target.name, observed)))
                result.steps.append((action, .createInstance(host: host.target.name, request)))
                continue
            }
            let inPlace = changes.fieldChanges
            let portFixes = portChanges(request, observed, ports: context.portsByHost[host.target.name] ?? [:], owner: context.owner)
            if !inPlace.isEmpty || !portFixes.changes.isEmpty {
                let action = PlannedAction(action: .update, id: instance.id, host: host.target.name,
                                           source: instance.source?.location, changes: inPlace + portFixes.changes)
                if !inPlace.isEmpty {
                    result.steps.append((action, .updateInstance(host: host.target.name, request, observed)))
                }
                if !portFixes.ports.isEmpty {
                    result.steps.append((action, .ensurePorts(host: host.target.name, PortChangeSet(ensure: portFixes.ports))))
                }
            }
            for nic in request.nics { result.keptInterfaceIDs.insert(nic.identity.interfaceID) }
        }
        return result
    }

    /// The move of `instance` to `host`: a plan error when it would also need a new root disk (one thing at
    /// a time), else the action (`moves to H (restarts)`, the volumes it copies, what else changes on the
    /// way) and its step.
    static func move(_ instance: Instance, _ move: Placement.Move, to host: HostObservation, request: InstanceRequest,
                     result: inout Result) -> (PlannedAction, ApplyStep)? {
        let changes = InstanceChangeSet.between(request, move.observed)
        if move.arrived == nil, changes.requiresReplacement {
            result.diagnostics.append(Diagnostic(
                .error, at: instance.source?.location,
                "instance \(instance.id.qualifiedName) would move to \(host.target.name) and get a new root disk at once: \(changes.fieldChanges.filter { $0.effect == .replace }.map(\.field).joined(separator: ", "))",
                hint: "change one thing at a time: move it first, then change its image or root disk"))
            return nil
        }
        var fields = [FieldChange(field: "host", before: move.from.target.name, after: host.target.name,
                                  effect: move.arrived == nil ? .restarts : nil)]
        if !move.volumes.isEmpty {
            fields.append(FieldChange(field: "volumes", before: nil, after: move.volumes.map { "\($0.id.name) (\($0.capacity), copied)" }.joined(separator: ", ")))
        }
        // Whatever else changed is in the definition made on the new host: it takes effect as it starts there.
        if move.arrived == nil {
            fields += changes.fieldChanges.map { FieldChange(field: $0.field, before: $0.before, after: $0.after, sensitive: $0.sensitive) }
        }
        let action = PlannedAction(action: .move, id: instance.id, host: host.target.name, source: instance.source?.location,
                                   changes: fields, note: move.reason)
        let volumes = move.volumes.map { volume in
            InstanceMove.Volume(observed: volume, incoming: IncomingVolume(id: volume.id, volumeName: volume.volumeName,
                                                                           format: volume.format, capacity: volume.capacity, recorded: true))
        }
        return (action, .moveInstance(InstanceMove(from: move.from.target.name, to: host.target.name, request: request,
                                                   observed: move.observed, volumes: volumes, arrived: move.arrived)))
    }

    /// The instance's NICs on `host`, numbered per network, each with its address: the manifest's, else
    /// the allocator's (else DHCP). A NIC on an undeclared network is left out.
    static func nics(of instance: Instance, on host: HostObservation, networks: [ObjectID: Network],
                     addresses: [NICOwner: IPv4Address]) -> [NICAttachment] {
        var ordinals: [String: Int] = [:]
        return instance.spec.networks.compactMap { nic -> NICAttachment? in
            let ordinal = ordinals[nic.network, default: 0]
            ordinals[nic.network] = ordinal + 1
            guard let network = networks[ObjectID(.network, project: instance.project, nic.network)] else { return nil }
            let owner = NICOwner(project: instance.project ?? "", instance: instance.name, network: nic.network, ordinal: ordinal)
            return NICAttachment(identity: NICIdentity(owner: owner), bridge: host.target.bridge, vlan: network.spec.vlan,
                                 mtu: network.spec.mtu, address: nic.ip ?? addresses[owner],
                                 prefixLength: network.spec.cidr.prefixLength, gateway: network.spec.effectiveGateway,
                                 disableOffloads: host.target.datapath == .netdev)
        }
    }

    /// The instance as the compute driver is asked to make it, with its spec hash.
    static func request(for instance: Instance, image: ObservedImage, nics: [NICAttachment], accounts: [GuestAccount],
                        volumes: [ObjectID: DiskAttachment], context: PlanContext) -> InstanceRequest {
        var request = InstanceRequest(
            id: instance.id, vcpus: instance.spec.vcpus, memory: instance.spec.memory, power: instance.spec.power,
            rootDisk: RootDiskRequest(volumeName: StorageNaming.rootDiskName(project: instance.project ?? "", instance: instance.name),
                                      size: instance.spec.rootDisk, image: image),
            volumes: instance.spec.volumes.compactMap { volumes[ObjectID(.volume, project: instance.project, $0)] },
            nics: nics, seed: CloudInitSeed(hostname: instance.name, accounts: accounts, userData: instance.spec.userData),
            specHash: "", commit: context.commit, owner: context.owner)
        request.specHash = StableHash.sha256Hex("\(request.vcpus)|\(request.memory)|\(request.power)|\(request.rootDisk.image.volumeName)|\(request.rootDisk.size)|\(request.volumes.map(\.path))|\(request.nics.map(\.identity.mac))|\(request.seedHash)")
        return request
    }

    /// What a plan shows for a new instance.
    /// What a new instance is made with; `host` says where it goes and why, in a cloud of several hosts.
    static func creation(of instance: Instance, image: Image, nics: [NICAttachment], accounts: [GuestAccount],
                         host: String? = nil) -> [FieldChange] {
        var created = host.map { [FieldChange(field: "host", before: nil, after: $0)] } ?? []
        created += [FieldChange(field: "image", before: nil, after: image.name),
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
        return created
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
        // Whether the mapped interface can be plugged is the Host's question (`TrunkPhase`).
        return nil
    }
}
