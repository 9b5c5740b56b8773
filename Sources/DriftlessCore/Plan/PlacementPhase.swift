/// Where each declared instance and volume lives: what the later phases read, and the seam a scheduler
/// replaces.
struct Placement {
    /// Each declared instance's host.
    var instances: [ObjectID: HostObservation]
    /// Each volume an instance lists: its instance's host.
    var volumes: [ObjectID: HostObservation]
    /// Where a volume that no instance lists goes.
    var unattached: HostObservation

    /// The host of a declared instance (the fallback host for one that was not placed).
    func host(ofInstance id: ObjectID) -> HostObservation { instances[id] ?? unattached }

    /// The host of a declared volume: its instance's, else the fallback host.
    func host(ofVolume id: ObjectID) -> HostObservation { volumes[id] ?? unattached }
}

/// Places instances and volumes on hosts.
///
/// Today's rule, without a scheduler: an instance pinned with `spec.host` to a host being planned is
/// there; else it stays on the host it already runs on; else it goes to the first host. A volume goes
/// with the instance that lists it (the last one declared, when several do), else to the first host.
enum PlacementPhase {
    static func place(_ context: PlanContext) -> Placement {
        var placement = Placement(instances: [:], volumes: [:], unattached: context.firstHost)
        for instance in context.desired.instances {
            let host = self.host(for: instance, context)
            placement.instances[instance.id] = host
            for name in instance.spec.volumes {
                placement.volumes[ObjectID(.volume, project: instance.project, name)] = host
            }
        }
        return placement
    }

    /// Pinned, else where it already runs, else the first host.
    static func host(for instance: Instance, _ context: PlanContext) -> HostObservation {
        if let pinned = instance.spec.host, let host = context.hostsByName[pinned] { return host }
        return context.runsOn[instance.id] ?? context.firstHost
    }
}
