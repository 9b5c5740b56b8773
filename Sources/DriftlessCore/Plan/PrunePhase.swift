/// What Driftless manages on a host and the commit no longer declares, and nothing else: instances
/// (their attached volumes are detached, not deleted), marked OVS ports whose NIC or trunk is gone, and
/// volumes, deleted or retained as the previous commit's `deletionPolicy` said (Retain when unknown).
enum PrunePhase {
    /// The prune steps of `host`; none for a host that could not be read.
    ///
    /// - Parameters:
    ///   - trunks: the interfaces that should be trunks on the host (`TrunkPhase`).
    ///   - kept: the interface IDs of the NICs of instances kept in place (`InstancePhase`).
    static func run(on host: HostObservation, _ context: PlanContext, trunks: Set<String>, kept: Set<String>)
        -> [(PlannedAction, ApplyStep)]
    {
        guard host.isKnown else { return [] }
        let desired = context.desired
        let declared = Set(desired.instances.map(\.id) + desired.volumes.map(\.id))
        var steps: [(PlannedAction, ApplyStep)] = []
        let instances = host.compute.value?.instances ?? []
        for observed in instances where !declared.contains(observed.id) {
            let action = PlannedAction(action: .delete, id: observed.id, host: host.target.name, source: nil,
                                       note: "its manifest is gone; attached volumes are detached, not deleted")
            steps.append((action, .deleteInstance(host: host.target.name, observed)))
        }
        // Ports of instances being deleted go with their domain (libvirt unplugs them).
        let leaving = Set(instances.filter { !declared.contains($0.id) }.flatMap { $0.nics.compactMap(\.interfaceID) })
        let strayPorts = (host.ports.value ?? []).filter { port in
            guard port.isMarked, context.owner == nil || port.marks[OVSMarks.owner] == context.owner else { return false }
            if port.physicalNetwork != nil { return !trunks.contains(port.name) }
            guard let id = port.interfaceID else { return true }
            return !kept.contains(id) && !leaving.contains(id)
        }
        if !strayPorts.isEmpty {
            let names = strayPorts.map(\.name).sorted()
            let action = PlannedAction(action: .delete, id: ObjectID(.network, host.target.name + "-ports"), host: host.target.name,
                                       source: nil, changes: [FieldChange(field: "ports", before: names.joined(separator: ", "), after: nil, effect: .live)],
                                       note: "Open vSwitch ports Driftless made for NICs that no longer exist")
            steps.append((action, .ensurePorts(host: host.target.name, PortChangeSet(delete: names))))
        }
        for observed in host.storage.value?.volumes ?? [] where !declared.contains(observed.id) {
            let policy = context.previous?.volumes.first { $0.id == observed.id }?.spec.deletionPolicy ?? .retain
            if policy == .delete {
                let action = PlannedAction(action: .delete, id: observed.id, host: host.target.name, source: nil,
                                           changes: [FieldChange(field: "data", before: observed.capacity.description, after: nil,
                                                                 effect: .destroysData)],
                                           note: "deletionPolicy: Delete")
                steps.append((action, .deleteVolume(host: host.target.name, observed)))
            } else {
                let action = PlannedAction(action: .retain, id: observed.id, host: host.target.name, source: nil,
                                           note: "manifest removed; deletionPolicy Retain keeps the data and stops managing it")
                steps.append((action, .retainVolume(host: host.target.name, observed)))
            }
        }
        return steps
    }
}
