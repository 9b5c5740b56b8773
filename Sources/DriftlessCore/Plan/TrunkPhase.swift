/// A host's physical networks: each interface that carries at least one declared network's VLAN is
/// plugged into the host's bridge as a trunk of those VLANs; an interface that is missing, in another
/// bridge or a port Driftless did not make is a plan error on the Host.
enum TrunkPhase {
    struct Result {
        var steps: [(PlannedAction, ApplyStep)] = []
        /// The interfaces that should be trunks (also those with a problem): their ports are not stray.
        var wanted = Set<String>()
        var diagnostics: [Diagnostic] = []
    }

    /// The trunks of `host` as they should be; nothing for a host that could not be read.
    static func run(on host: HostObservation, _ context: PlanContext) -> Result {
        guard host.isKnown else { return Result() }
        let desired = context.desired
        let declared = desired.hosts.first { $0.name == host.target.name }
        let observed = Dictionary((host.ports.value ?? []).map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var trunks: [DesiredTrunk] = []
        var changes: [FieldChange] = []
        var result = Result()
        for (index, mapping) in host.target.physicalNetworks.enumerated() {
            let vlans = Set(desired.networks.filter { $0.spec.physicalNetwork == mapping.name }.map(\.spec.vlan)).sorted()
            guard !vlans.isEmpty else { continue }
            result.wanted.insert(mapping.interface)
            if let problem = problem(mapping, on: host) {
                let field = "spec.physicalNetworks[\(index)].interface"
                result.diagnostics.append(Diagnostic(.error, at: declared?.location(of: field), field: field, problem))
                continue
            }
            let trunk = DesiredTrunk(interface: mapping.interface, physicalNetwork: mapping.name, vlans: vlans, owner: context.owner)
            let after = "\(mapping.interface) trunk \(vlans.map(String.init).joined(separator: ","))"
            let field = "physicalNetworks.\(mapping.name)"
            guard let port = observed[mapping.interface] else {
                changes.append(FieldChange(field: field, before: nil, after: after, effect: .live))
                trunks.append(trunk)
                continue
            }
            guard port.isMarked else {
                let field = "spec.physicalNetworks[\(index)].interface"
                result.diagnostics.append(Diagnostic(.error, at: declared?.location(of: field), field: field,
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
        guard !trunks.isEmpty else { return result }
        let action = PlannedAction(action: .update, id: ObjectID(.host, host.target.name), host: host.target.name,
                                   source: declared?.source?.location, changes: changes,
                                   note: "host interfaces plugged into \(host.target.bridge) as trunks of the physical networks' VLANs")
        result.steps = [(action, .ensurePorts(host: host.target.name, PortChangeSet(trunks: trunks)))]
        return result
    }

    /// Why `mapping`'s interface cannot be plugged into `host`'s bridge, if it cannot.
    static func problem(_ mapping: PhysicalNetworkMapping, on host: HostObservation) -> String? {
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
