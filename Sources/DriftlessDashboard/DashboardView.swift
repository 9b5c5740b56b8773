import DriftlessCore
import Foundation

/// What one grant may see of a `DashboardInput`, joined for drawing: declared objects with what the hosts
/// show of them and their drift. Filtering happens here, once, with the same rules as the API
/// (`AccessPolicy.Grant.canSee`, `visible(_:)`): objects and drift items of the grant's projects; hosts,
/// their capacity and bridges for cloud admins only. Pages and the topology draw only from this.
public struct DashboardView: Sendable {
    /// How an object differs from the commit, in words and for colour.
    public struct DriftMark: Sendable, Equatable {
        public var type: DriftReport.ItemKind
        /// The drifted fields (`power`, `memory`, `nic[0].port`…).
        public var fields: [String]

        /// `drifted: power, memory`, `missing`, `unexpected`.
        public var text: String {
            fields.isEmpty ? type.rawValue : "\(type.rawValue): \(fields.joined(separator: ", "))"
        }
    }

    public struct HostRow: Sendable, Equatable {
        public var name: String
        /// nil before the first check.
        public var reachable: Bool?
        public var unreachableReason: String?
        public var libvirt: String
        public var bridge: String
        public var datapath: String
        public var instances: Int
        public var vcpusUsed: Int
        public var memoryUsed: ByteSize
        /// What the scheduler may place: capacity times overcommit (nil: no capacity declared).
        public var vcpusLimit: Int?
        public var memoryLimit: ByteSize?
    }

    public struct NIC: Sendable, Equatable {
        public var network: String
        public var address: String?
        public var vlan: Int?
    }

    public struct InstanceRow: Sendable, Equatable {
        public var project: String
        public var name: String
        /// Where the instance runs (observed), else where it is pinned or planned.
        public var host: String?
        /// What the host shows: `running`, `stopped`, another libvirt state, `not found`, or `unknown`
        /// (the host could not be read, or nothing was observed yet).
        public var power: String
        public var declaredPower: String?
        public var vcpus: Int
        public var memory: ByteSize
        public var nics: [NIC]
        public var volumes: [String]
        public var drift: DriftMark?
        /// False for a managed domain the commit no longer declares.
        public var declared: Bool
    }

    public struct NetworkRow: Sendable, Equatable {
        public var project: String
        public var name: String
        public var cidr: String
        public var gateway: String
        public var vlan: Int
        public var mtu: Int?
        public var instances: Int
        /// The physical network the VLAN leaves the hosts on; nil: internal to each host.
        public var physicalNetwork: String? = nil
    }

    public struct VolumeRow: Sendable, Equatable {
        public var project: String
        public var name: String
        public var size: ByteSize
        public var format: String
        public var deletionPolicy: String
        public var attachedTo: [String]
        public var drift: DriftMark?
    }

    public struct RoleRow: Sendable, Equatable {
        public var user: String
        public var role: String
        public var enabled: Bool
    }

    public struct ProjectRow: Sendable, Equatable {
        public var name: String
        public var description: String?
        public var instances: Int
        public var running: Int
        public var drifted: Int
        public var networks: Int
        public var volumes: Int
    }

    public let grant: AccessPolicy.Grant
    public let input: DashboardInput
    public let projects: [ProjectRow]
    /// nil unless the grant is a cloud admin's.
    public let hosts: [HostRow]?
    public let instances: [InstanceRow]
    public let networks: [NetworkRow]
    public let volumes: [VolumeRow]
    public let roles: [String: [RoleRow]]
    /// The latest drift report with only the grant's items.
    public let drift: DriftReport?

    public init(grant: AccessPolicy.Grant, input: DashboardInput) {
        self.grant = grant
        self.input = input
        let state = input.state ?? DesiredState()
        let drift = input.drift.map { grant.visible($0) }
        self.drift = drift

        var marks: [String: DriftMark] = [:]
        for item in drift?.items ?? [] where item.type != .unreachable {
            let key = Self.key(item.kind, item.project, item.name)
            var mark = marks[key] ?? DriftMark(type: item.type, fields: [])
            mark.fields += item.fields.map(\.field).filter { !mark.fields.contains($0) }
            marks[key] = mark
        }

        // What each host shows, by object.
        var observedInstances: [ObjectID: (host: String, instance: ObservedInstance)] = [:]
        var reachable: [String: Bool] = [:]
        for host in input.hosts {
            reachable[host.target.name] = host.compute.value != nil
            for instance in host.compute.value?.instances ?? [] { observedInstances[instance.id] = (host.target.name, instance) }
        }
        let addresses = Dictionary(input.allocations.map { ($0.owner, $0.address.description) }, uniquingKeysWith: { a, _ in a })
        let networksByName = Dictionary(state.networks.map { ("\($0.project ?? "")/\($0.name)", $0) }, uniquingKeysWith: { a, _ in a })
        let observed = !input.hosts.isEmpty

        var instances: [InstanceRow] = []
        for instance in state.instances {
            guard let project = instance.project, grant.canSee(project: project) else { continue }
            let found = observedInstances[instance.id]
            let driftMark = marks[Self.key("Instance", project, instance.name)]
            let host = found?.host ?? instance.spec.host ?? drift?.items.first { $0.kind == "Instance" && $0.project == project && $0.name == instance.name }?.host
            let power: String
            if let found {
                power = Self.text(found.instance.power)
            } else if driftMark?.type == .missing || (observed && host.map { reachable[$0] == true } ?? false) {
                power = "not found"
            } else {
                power = "unknown"
            }
            var ordinals: [String: Int] = [:]
            let nics = instance.spec.networks.map { nic -> NIC in
                let ordinal = ordinals[nic.network, default: 0]
                ordinals[nic.network] = ordinal + 1
                let owner = NICOwner(project: project, instance: instance.name, network: nic.network, ordinal: ordinal)
                return NIC(network: nic.network, address: nic.ip?.description ?? addresses[owner],
                           vlan: networksByName["\(project)/\(nic.network)"]?.spec.vlan)
            }
            instances.append(InstanceRow(
                project: project, name: instance.name, host: host, power: power, declaredPower: instance.spec.power.rawValue,
                vcpus: instance.spec.vcpus, memory: instance.spec.memory, nics: nics, volumes: instance.spec.volumes,
                drift: driftMark, declared: true))
        }
        // Managed domains the commit no longer declares.
        let declaredIDs = Set(state.instances.map(\.id))
        for (id, found) in observedInstances.sorted(by: { $0.key < $1.key }) where !declaredIDs.contains(id) {
            guard let project = id.project, grant.canSee(project: project) else { continue }
            instances.append(InstanceRow(
                project: project, name: id.name, host: found.host, power: Self.text(found.instance.power), declaredPower: nil,
                vcpus: found.instance.vcpus, memory: found.instance.memory,
                nics: found.instance.nics.map { NIC(network: $0.bridge ?? "?", address: nil, vlan: $0.vlan) }, volumes: [],
                drift: marks[Self.key("Instance", project, id.name)] ?? DriftMark(type: .unexpected, fields: []), declared: false))
        }
        self.instances = instances

        networks = state.networks.compactMap { network in
            guard let project = network.project, grant.canSee(project: project) else { return nil }
            return NetworkRow(project: project, name: network.name, cidr: network.spec.cidr.description,
                              gateway: network.spec.effectiveGateway.description, vlan: network.spec.vlan, mtu: network.spec.mtu,
                              instances: instances.filter { $0.project == project && $0.nics.contains { $0.network == network.name } }.count,
                              physicalNetwork: network.spec.physicalNetwork)
        }
        volumes = state.volumes.compactMap { volume in
            guard let project = volume.project, grant.canSee(project: project) else { return nil }
            return VolumeRow(project: project, name: volume.name, size: volume.spec.size, format: volume.spec.format.rawValue,
                             deletionPolicy: volume.spec.deletionPolicy.rawValue,
                             attachedTo: instances.filter { $0.project == project && $0.volumes.contains(volume.name) }.map(\.name),
                             drift: marks[Self.key("Volume", project, volume.name)])
        }
        var roles: [String: [RoleRow]] = [:]
        for user in state.users {
            for binding in user.spec.roles where grant.canSee(project: binding.project) {
                roles[binding.project, default: []].append(RoleRow(user: user.name, role: binding.role.rawValue, enabled: user.spec.enabled))
            }
        }
        self.roles = roles.mapValues { $0.sorted { ($0.user, $0.role) < ($1.user, $1.role) } }

        projects = state.projects.filter { grant.canSee(project: $0.name) }.map { project in
            let mine = instances.filter { $0.project == project.name }
            let declared = mine.filter(\.declared)
            return ProjectRow(name: project.name, description: project.spec.description, instances: declared.count,
                              running: declared.filter { $0.power == "running" }.count, drifted: mine.filter { $0.drift != nil }.count,
                              networks: state.networks.filter { $0.project == project.name }.count,
                              volumes: state.volumes.filter { $0.project == project.name }.count)
        }

        if grant.cloudAdmin {
            hosts = state.effectiveHosts.map { host in
                let observation = input.hosts.first { $0.target.name == host.name }
                let running = observation?.compute.value?.instances ?? []
                let capacity = host.spec.capacity
                return HostRow(
                    name: host.name, reachable: observation.map { $0.isKnown }, unreachableReason: observation?.unknownReason,
                    libvirt: host.spec.libvirt, bridge: host.spec.bridge, datapath: host.spec.datapath.rawValue,
                    instances: running.count, vcpusUsed: running.reduce(0) { $0 + $1.vcpus },
                    memoryUsed: ByteSize(bytes: running.reduce(0) { $0 + $1.memory.bytes }),
                    vcpusLimit: capacity.map { Int((Double($0.vcpus) * host.spec.overcommit.cpu).rounded(.down)) },
                    memoryLimit: capacity.map { ByteSize(bytes: UInt64((Double($0.memory.bytes) * host.spec.overcommit.memory).rounded(.down))) })
            }
        } else {
            hosts = nil
        }
    }

    static func key(_ kind: String, _ project: String?, _ name: String) -> String {
        "\(kind)|\(project ?? "")|\(name)"
    }

    static func text(_ power: ObservedInstance.Power) -> String {
        switch power {
        case .running: "running"
        case .stopped: "stopped"
        case let .other(state): state
        }
    }

    /// Whether the grant sees `project` and it is declared.
    public func seesProject(_ name: String) -> Bool {
        projects.contains { $0.name == name }
    }

    /// Visible drift items, excluding unreachable hosts (cloud-wide).
    public var driftItemCount: Int { drift?.items.count ?? 0 }
}
