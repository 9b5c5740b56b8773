/// What every phase of a plan reads: the commit and its desired state, the hosts as observed, and what
/// each host holds by identity (so that plans over thousands of objects stay linear).
///
/// Another installation's instances (another state directory's marker) are not ours: the context moves
/// them to the host's unmanaged domain names, so no phase changes or prunes them, and declaring one with
/// the same name is a collision.
struct PlanContext {
    let desired: DesiredState
    let commit: String
    /// The installation planning; nil: every instance with Driftless's marker counts as its own.
    let owner: String?
    /// The desired state of the last applied commit (or `--base`).
    let previous: DesiredState?
    /// The hosts in the order given, never empty.
    let hosts: [HostObservation]
    /// The first host of each name.
    let hostsByName: [String: HostObservation]
    /// Addresses the allocator gave NICs that the manifest gives none.
    let addresses: [NICOwner: IPv4Address]
    /// Per host name, the managed instances and volumes found there by identity, and the ports by
    /// interface ID.
    let instancesByHost: [String: [ObjectID: ObservedInstance]]
    let volumesByHost: [String: [ObjectID: ObservedVolume]]
    let portsByHost: [String: [String: ObservedPort]]
    /// Every host each managed instance is found on, in host order: more than one only while a move is
    /// between its copy and its end, or when a domain was copied by hand.
    let foundOn: [ObjectID: [HostObservation]]
    /// Hosts observed that the commit no longer declares and the last applied commit (`previous`) did:
    /// looked at only to refuse removing a Host that still runs instances. Nothing is placed, changed or
    /// pruned on them. (A host observed that neither declares is planned like the others.)
    let retired: Set<String>

    /// Nil when there is no host to plan for.
    init?(desired: DesiredState, commit: String, hosts: [HostObservation], allocations: [IPAllocation],
          previous: DesiredState?, owner: String?) {
        let hosts = hosts.map { Self.setAside(instancesNotOwnedBy: owner, on: $0) }
        guard !hosts.isEmpty else { return nil }
        self.desired = desired
        self.commit = commit
        self.owner = owner
        self.previous = previous
        self.hosts = hosts
        hostsByName = Dictionary(hosts.map { ($0.target.name, $0) }, uniquingKeysWith: { a, _ in a })
        addresses = Dictionary(allocations.map { ($0.owner, $0.address) }, uniquingKeysWith: { a, _ in a })
        var instances: [String: [ObjectID: ObservedInstance]] = [:]
        var volumes: [String: [ObjectID: ObservedVolume]] = [:]
        var ports: [String: [String: ObservedPort]] = [:]
        var foundOn: [ObjectID: [HostObservation]] = [:]
        for host in hosts {
            for instance in host.compute.value?.instances ?? [] {
                instances[host.target.name, default: [:]][instance.id] = instance
                foundOn[instance.id, default: []].append(host)
            }
            for volume in host.storage.value?.volumes ?? [] { volumes[host.target.name, default: [:]][volume.id] = volume }
            for port in host.ports.value ?? [] {
                if let id = port.interfaceID { ports[host.target.name, default: [:]][id] = port }
            }
        }
        instancesByHost = instances
        volumesByHost = volumes
        portsByHost = ports
        self.foundOn = foundOn
        let declared = Set(desired.effectiveHosts.map(\.name)), before = Set(previous?.effectiveHosts.map(\.name) ?? [])
        retired = Set(hosts.map(\.target.name).filter { !declared.contains($0) && before.contains($0) })
    }

    /// Why a host the commit no longer declares cannot be let go: it still runs Driftless's instances, or
    /// it cannot be read to tell. Nil when it is empty of instances.
    func retirementProblem(_ host: HostObservation) -> Diagnostic? {
        guard retired.contains(host.target.name) else { return nil }
        guard let compute = host.compute.value else {
            return Diagnostic(.error, at: nil,
                              "host \(host.target.name) is no longer declared and cannot be read (\(host.unknownReason ?? "unknown")): whether instances still run there is not known",
                              hint: "keep its Host manifest until it can be read")
        }
        guard !compute.instances.isEmpty else { return nil }
        let names = compute.instances.map(\.id.qualifiedName).sorted()
        return Diagnostic(.error, at: nil,
                          "host \(host.target.name) is no longer declared but still runs \(names.count) instance\(names.count == 1 ? "" : "s"): \(names.joined(separator: ", "))",
                          hint: "keep its Host manifest until they are deleted or moved (drain it with schedulable: false)")
    }

    /// `host` with the instances of another installation than `owner` moved to its unmanaged domain names.
    static func setAside(instancesNotOwnedBy owner: String?, on host: HostObservation) -> HostObservation {
        guard let owner, let compute = host.compute.value else { return host }
        var mine = compute
        mine.instances = compute.instances.filter { $0.owner == owner }
        mine.unmanagedDomainNames.formUnion(compute.instances.filter { $0.owner != owner }.map(\.domainName))
        var filtered = host
        filtered.compute = .known(mine)
        return filtered
    }

    /// Why nothing is planned on `host`, when it could not be read: its state is unknown, so neither
    /// "absent" (create) nor "extra" (delete) can be concluded.
    static func unreadable(_ host: HostObservation) -> Diagnostic? {
        guard !host.isKnown else { return nil }
        return Diagnostic(.warning, at: nil, "host \(host.target.name) could not be read (\(host.unknownReason ?? "unknown")); nothing on it is planned, and nothing on it is deleted")
    }
}
