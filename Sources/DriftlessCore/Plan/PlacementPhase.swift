/// Where each declared instance and volume lives: what the later phases read.
struct Placement {
    /// Each placed instance's host. An instance missing here gets no step in this plan (no room, a host
    /// that could not be read and may hold it, a move that is refused).
    var instances: [ObjectID: HostObservation] = [:]
    /// Each placed volume's host.
    var volumes: [ObjectID: HostObservation] = [:]
    /// Why each new instance goes where it goes, for the plan (`spread: most free memory of 3 hosts that fit`).
    var reasons: [ObjectID: String] = [:]
    var diagnostics: [Diagnostic] = []

    /// The host of a declared instance, nil when it is not placed.
    func host(ofInstance id: ObjectID) -> HostObservation? { instances[id] }

    /// The host of a declared volume, nil when it is not placed.
    func host(ofVolume id: ObjectID) -> HostObservation? { volumes[id] }
}

/// Places instances and volumes on hosts, with the `Scheduler` (filters, then weighers).
///
/// - An instance that runs stays where it runs, and its resources count there.
/// - A new instance pinned with `spec.host` goes there, if that host can take it (else a plan error).
/// - A new instance whose volumes already exist goes where they are (their data is there).
/// - Any other new instance is scheduled; a cloud without room for it is a plan error naming, per host,
///   the constraint that failed.
/// - While a host cannot be read, new unpinned instances are not placed (a warning at each): one may
///   already run on that host, and placing it elsewhere would make a second copy.
/// - A volume stays where it exists, else goes with the instance that lists it, else to the first host
///   that is read and schedulable.
/// - An instance that runs on one host and is pinned to another would move: that is refused with a plan
///   error (never a second copy).
enum PlacementPhase {
    static func place(_ context: PlanContext) -> Placement {
        let desired = context.desired
        let declared = Dictionary(desired.hosts.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var scheduler = Scheduler(hosts: context.hosts.map { host in
            var schedulable = schedulerHost(host, declared: declared[host.target.name])
            if context.retired.contains(host.target.name) { schedulable.unknownReason = "no longer declared" }
            return schedulable
        })
        var placement = Placement()
        var volumeOn: [ObjectID: HostObservation] = [:]
        for host in context.hosts {
            for volume in host.storage.value?.volumes ?? [] where volumeOn[volume.id] == nil { volumeOn[volume.id] = host }
        }
        let unreadable = context.hosts.filter { !$0.isKnown && !context.retired.contains($0.target.name) }.map(\.target.name)
        let several = context.hosts.count > 1

        // Instances that run stay, and count where they are.
        var pending: [Instance] = []
        for instance in desired.instances {
            guard let current = context.runsOn[instance.id] else {
                pending.append(instance)
                continue
            }
            if let pinned = instance.spec.host, pinned != current.target.name, context.hostsByName[pinned] != nil {
                placement.diagnostics.append(Diagnostic(
                    .error, at: instance.location(of: "spec.host"), field: "spec.host",
                    "instance \(instance.id.qualifiedName) runs on \(current.target.name); moving it to \(pinned) is not planned",
                    hint: "set spec.host back to \(current.target.name); Driftless never makes a second copy"))
            }
            placement.instances[instance.id] = current
            scheduler.claim(request(for: instance), on: current.target.name)
        }

        // New instances, pinned ones first (they are not the scheduler's to move), then by name.
        pending.sort { ($0.spec.host == nil ? 1 : 0, $0.id) < ($1.spec.host == nil ? 1 : 0, $1.id) }
        for instance in pending {
            let request = request(for: instance)
            let required = instance.spec.volumes.compactMap { volumeOn[ObjectID(.volume, project: instance.project, $0)] }.first
            let fixed = instance.spec.host.flatMap { context.hostsByName[$0] } ?? required
            if let fixed {
                guard fixed.isKnown else { continue }
                if let schedulerHost = scheduler.host(named: fixed.target.name),
                   let problem = scheduler.problem(placing: request, on: schedulerHost) {
                    let why = instance.spec.host != nil ? "it is pinned to \(fixed.target.name)" : "its volumes are on \(fixed.target.name)"
                    placement.diagnostics.append(Diagnostic(
                        .error, at: instance.location(of: instance.spec.host != nil ? "spec.host" : "spec.volumes"),
                        field: instance.spec.host != nil ? "spec.host" : "spec.volumes",
                        "instance \(instance.id.qualifiedName) cannot be placed: \(why), which cannot take it: \(problem)"))
                    continue
                }
                scheduler.claim(request, on: fixed.target.name, new: true)
                placement.instances[instance.id] = fixed
                if several { placement.reasons[instance.id] = instance.spec.host != nil ? "pinned" : "where its volumes are" }
                continue
            }
            guard unreadable.isEmpty else {
                // At the instance's manifest, so its project's users see it.
                placement.diagnostics.append(Diagnostic(
                    .warning, at: instance.source?.location,
                    "instance \(instance.id.qualifiedName) is not placed while \(unreadable.joined(separator: ", ")) cannot be read: it may run there already"))
                continue
            }
            switch scheduler.place(request) {
            case let .success(decision):
                placement.instances[instance.id] = context.hostsByName[decision.host]
                if several { placement.reasons[instance.id] = decision.reason }
            case let .failure(noRoom):
                placement.diagnostics.append(Diagnostic(.error, at: instance.source?.location, field: "spec", noRoom.description,
                                                        hint: "add a host, free one, raise its capacity or overcommit, or relax spec.placement"))
            }
        }

        // Volumes: where they exist, else with their instance, else on the first host that can be used.
        let fallback = context.hosts.first { host in
            host.isKnown && !context.retired.contains(host.target.name) && (declared[host.target.name]?.spec.schedulable ?? true)
        }
        for instance in desired.instances {
            guard let host = placement.instances[instance.id] else { continue }
            for name in instance.spec.volumes {
                let id = ObjectID(.volume, project: instance.project, name)
                placement.volumes[id] = volumeOn[id] ?? host
            }
        }
        for volume in desired.volumes where placement.volumes[volume.id] == nil {
            let listed = desired.instances.contains { instance in
                instance.spec.volumes.contains { ObjectID(.volume, project: instance.project, $0) == volume.id }
            }
            if let existing = volumeOn[volume.id] {
                placement.volumes[volume.id] = existing
            } else if !listed, unreadable.isEmpty, let fallback {
                placement.volumes[volume.id] = fallback
            }
        }
        return placement
    }

    /// What `instance` asks of a host.
    static func request(for instance: Instance) -> Scheduler.Request {
        Scheduler.Request(instance: instance.id, vcpus: instance.spec.vcpus, memory: instance.spec.memory,
                          hostSelector: instance.spec.placement.hostSelector, group: instance.spec.placement.group,
                          antiAffinity: instance.spec.placement.antiAffinity, strategy: instance.spec.placement.strategy)
    }

    /// A host as the scheduler sees it: the Host's labels, drain flag, capacity (declared, else
    /// reported) and overcommit, and the memory it reports free.
    static func schedulerHost(_ host: HostObservation, declared: Host?) -> Scheduler.Host {
        let reported = host.compute.value?.capacity
        let spec = declared?.spec
        return Scheduler.Host(
            name: host.target.name, labels: declared?.meta.labels ?? [:], schedulable: spec?.schedulable ?? true,
            unknownReason: host.isKnown ? nil : (host.unknownReason ?? "not observed"),
            vcpus: spec?.capacity?.vcpus ?? reported?.vcpus, memory: spec?.capacity?.memory ?? reported?.memory,
            cpuRatio: spec?.overcommit.cpu ?? 4.0, memoryRatio: spec?.overcommit.memory ?? 1.0,
            freeMemory: reported?.freeMemory)
    }
}
