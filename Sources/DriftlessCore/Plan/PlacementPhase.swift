/// Where each declared instance and volume lives: what the later phases read.
struct Placement {
    /// Each placed instance's host. An instance missing here gets no step in this plan (no room, a host
    /// that could not be read and may hold it, a move that is refused).
    var instances: [ObjectID: HostObservation] = [:]
    /// Each placed volume's host.
    var volumes: [ObjectID: HostObservation] = [:]
    /// Why each new instance goes where it goes, for the plan (`spread: most free memory of 3 hosts that fit`).
    var reasons: [ObjectID: String] = [:]
    /// Instances that go to another host (their entry in `instances` is the new host), and the volumes
    /// those moves carry (placed on the new host, but copied there by the move, never created empty).
    var moves: [ObjectID: Move] = [:]
    var movingVolumes: Set<ObjectID> = []

    struct Move {
        var from: HostObservation
        /// The domain on `from`.
        var observed: ObservedInstance
        /// The domain an interrupted move already defined on the new host.
        var arrived: ObservedInstance?
        /// The instance's volumes on `from`.
        var volumes: [ObservedVolume]
        /// Why it moves, for the plan.
        var reason: String
    }
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
/// - An instance that runs on one host moves (`InstanceMove`) when pinned to another, or, unpinned, when
///   its host is drained or no longer matches its hostSelector: to the pinned host if it can take it (else
///   a plan error), else where the scheduler puts it (else it stays, with a warning). Never a second copy:
///   an instance found on two hosts is changed only when the two are an interrupted move's ends.
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

        // Instances that run stay, and count where they are, unless told to move; a move an interruption
        // left between its copy and its end is finished.
        var pending: [Instance] = []
        var leaving: [(instance: Instance, from: HostObservation, observed: ObservedInstance)] = []
        for instance in desired.instances {
            let found = context.foundOn[instance.id] ?? []
            guard let current = found.first else {
                pending.append(instance)
                continue
            }
            if found.count > 1 {
                guard let (from, to) = interruptedMove(of: instance.id, found: found, context) else {
                    placement.diagnostics.append(Diagnostic(
                        .error, at: instance.source?.location,
                        "instance \(instance.id.qualifiedName) is defined on \(found.map(\.target.name).joined(separator: " and ")); Driftless changes neither until only one is left",
                        hint: "undefine the copy that is not the instance (virsh undefine on its host)"))
                    continue
                }
                placement.instances[instance.id] = to
                placement.moves[instance.id] = Placement.Move(
                    from: from, observed: context.instancesByHost[from.target.name]![instance.id]!,
                    arrived: context.instancesByHost[to.target.name]![instance.id]!,
                    volumes: volumes(of: instance, on: from, context), reason: "finishes the move from \(from.target.name)")
                scheduler.claim(request(for: instance), on: to.target.name)
                continue
            }
            let observed = context.instancesByHost[current.target.name]![instance.id]!
            if let pinned = instance.spec.host, pinned != current.target.name, context.hostsByName[pinned] != nil {
                leaving.append((instance, current, observed))
                continue
            }
            if instance.spec.host == nil, !context.retired.contains(current.target.name),
               let why = whyLeave(instance, current, declared: declared[current.target.name]) {
                placement.reasons[instance.id] = why
                leaving.append((instance, current, observed))
                continue
            }
            placement.instances[instance.id] = current
            scheduler.claim(request(for: instance), on: current.target.name)
        }

        // Instances that leave their host: pinned elsewhere, or off a host that is drained or no longer
        // matches their hostSelector. Their resources count on the new host; without one they stay.
        for (instance, from, observed) in leaving {
            let request = request(for: instance)
            let stay = {
                placement.instances[instance.id] = from
                scheduler.claim(request, on: from.target.name)
            }
            var to: HostObservation?
            var reason = "pinned"
            if let pinned = instance.spec.host.flatMap({ context.hostsByName[$0] }) {
                if let problem = moveProblem(instance, from: from, to: pinned, context) ?? scheduler.host(named: pinned.target.name)
                    .flatMap({ scheduler.problem(placing: request, on: $0) }) {
                    placement.diagnostics.append(Diagnostic(
                        .error, at: instance.location(of: "spec.host"), field: "spec.host",
                        "instance \(instance.id.qualifiedName) runs on \(from.target.name) and cannot move to \(pinned.target.name): \(problem)",
                        hint: "set spec.host back to \(from.target.name), or make room on \(pinned.target.name)"))
                    stay()
                    continue
                }
                to = pinned
            } else {
                let why = placement.reasons[instance.id] ?? "told to leave"
                guard unreadable.isEmpty else {
                    placement.diagnostics.append(Diagnostic(
                        .warning, at: instance.source?.location,
                        "instance \(instance.id.qualifiedName) stays on \(from.target.name) (\(why)) while \(unreadable.joined(separator: ", ")) cannot be read"))
                    stay()
                    continue
                }
                switch scheduler.place(request) {
                case let .success(decision):
                    let chosen = context.hostsByName[decision.host]!
                    if let problem = moveProblem(instance, from: from, to: chosen, context) {
                        placement.diagnostics.append(Diagnostic(
                            .warning, at: instance.source?.location,
                            "instance \(instance.id.qualifiedName) stays on \(from.target.name) (\(why)): it cannot move to \(chosen.target.name): \(problem)"))
                        stay()
                        continue
                    }
                    to = chosen
                    reason = "\(why); \(decision.reason)"
                case let .failure(noRoom):
                    placement.diagnostics.append(Diagnostic(
                        .warning, at: instance.source?.location,
                        "instance \(instance.id.qualifiedName) stays on \(from.target.name) (\(why)): \(noRoom.description)"))
                    stay()
                    continue
                }
            }
            guard let to else { continue }
            scheduler.claim(request, on: to.target.name, new: true)
            placement.instances[instance.id] = to
            placement.moves[instance.id] = Placement.Move(from: from, observed: observed, arrived: nil,
                                                          volumes: volumes(of: instance, on: from, context), reason: reason)
            placement.reasons[instance.id] = nil
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
                if let move = placement.moves[instance.id], move.volumes.contains(where: { $0.id == id }) {
                    placement.volumes[id] = host
                    placement.movingVolumes.insert(id)
                    continue
                }
                placement.volumes[id] = context.volumesByHost[host.target.name]?[id] != nil ? host : volumeOn[id] ?? host
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

    /// Why an instance that runs on `host` and is not pinned must leave it: the host is drained, or no
    /// longer has the labels the instance's hostSelector asks for. Nil: it stays.
    static func whyLeave(_ instance: Instance, _ host: HostObservation, declared: Host?) -> String? {
        guard let declared else { return nil }
        if !declared.spec.schedulable { return "\(host.target.name) is drained" }
        let labels = declared.meta.labels
        for (key, value) in instance.spec.placement.hostSelector.sorted(by: { $0.key < $1.key }) where labels[key] != value {
            return "\(host.target.name) no longer has label \(key)=\(value)"
        }
        return nil
    }

    /// The move an interruption left after its copy: the instance on two hosts, one marked as moving to
    /// the other, which is marked as moved from it. Nil for any other duplicate.
    static func interruptedMove(of id: ObjectID, found: [HostObservation], _ context: PlanContext)
        -> (from: HostObservation, to: HostObservation)?
    {
        guard found.count == 2 else { return nil }
        for (from, to) in [(found[0], found[1]), (found[1], found[0])] {
            let old = context.instancesByHost[from.target.name]?[id], new = context.instancesByHost[to.target.name]?[id]
            if old?.movingTo == to.target.name, new?.movedFrom == from.target.name, from.isKnown, to.isKnown { return (from, to) }
        }
        return nil
    }

    /// The instance's volumes as found on `host` (what a move copies from there).
    static func volumes(of instance: Instance, on host: HostObservation, _ context: PlanContext) -> [ObservedVolume] {
        instance.spec.volumes.compactMap { context.volumesByHost[host.target.name]?[ObjectID(.volume, project: instance.project, $0)] }
    }

    /// Why `instance` cannot move from `from` to `to`, nil when it can: both hosts must be read; its volumes
    /// must all be on `from` (or not made yet) and be no other instance's; and the image pools must be at
    /// one path, because the root disk's qcow2 header names its backing image by path.
    static func moveProblem(_ instance: Instance, from: HostObservation, to: HostObservation, _ context: PlanContext) -> String? {
        guard from.isKnown else { return "\(from.target.name) cannot be read (\(from.unknownReason ?? "unknown"))" }
        guard to.isKnown else { return "\(to.target.name) cannot be read (\(to.unknownReason ?? "unknown"))" }
        guard !context.retired.contains(to.target.name) else { return "\(to.target.name) is no longer declared" }
        for name in instance.spec.volumes {
            let id = ObjectID(.volume, project: instance.project, name)
            if let elsewhere = context.hosts.first(where: { host in
                host.target.name != from.target.name && host.target.name != to.target.name && context.volumesByHost[host.target.name]?[id] != nil
            }) {
                return "its volume \(name) is on \(elsewhere.target.name)"
            }
            if let other = context.desired.instances.first(where: { $0.id != instance.id && $0.project == instance.project && $0.spec.volumes.contains(name) }) {
                return "its volume \(name) is listed by instance \(other.name) too"
            }
        }
        let source = from.newImagePath(""), destination = to.newImagePath("")
        if source != destination {
            return "the image pools are at different paths (\(from.target.name): \(source), \(to.target.name): \(destination)), and the root disk names its backing image by path"
        }
        return nil
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
