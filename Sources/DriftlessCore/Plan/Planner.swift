/// Computes a plan: the desired state of a commit against what the drivers observed, field by field.
///
/// Level-based: it compares the commit with the hosts as they are now, whatever happened before.
/// The inventory is on the hosts: an instance whose domain carries Driftless's marker, or a volume the
/// store records as Driftless's, that the commit does not declare is pruned; nothing else ever is. One
/// Driftless state directory owns a set of hosts (as one Terraform state owns its resources).
/// `previous` is the desired state of the last applied commit (or `--base`): it decides whether a
/// volume whose manifest is gone is deleted (`deletionPolicy: Delete`) or retained (the default).
///
/// A plan is made in phases, each reading what the earlier ones decided (see docs/architecture.md):
/// `PlacementPhase` (which host each instance and volume lives on), `ImagePhase`, `VolumePhase`,
/// `InstancePhase` (with the ports of running instances), then per host `TrunkPhase` and `PrunePhase`.
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
        guard let context = PlanContext(desired: desired, commit: commit, hosts: hosts, allocations: allocations,
                                        previous: previous, owner: owner)
        else {
            return Outcome(plan: Plan(commit: commit, actions: [], diagnostics: [
                Diagnostic(.error, at: nil, "no host to plan for"),
            ]), steps: [])
        }
        let placement = PlacementPhase.place(context)
        let images = ImagePhase.run(context, placement)
        let volumes = VolumePhase.run(context, placement, images: images)
        let instances = InstancePhase.run(context, placement, images: images, volumes: volumes)

        var diagnostics = placement.diagnostics + volumes.diagnostics + instances.diagnostics
        var trunkSteps: [(PlannedAction, ApplyStep)] = []
        var pruneSteps: [(PlannedAction, ApplyStep)] = []
        for host in context.hosts {
            if context.retired.contains(host.target.name) {
                if let problem = context.retirementProblem(host) { diagnostics.append(problem) }
                continue
            }
            if let unreadable = PlanContext.unreadable(host) {
                diagnostics.append(unreadable)
                continue
            }
            let trunks = TrunkPhase.run(on: host, context)
            trunkSteps.insert(contentsOf: trunks.steps, at: 0)
            diagnostics += trunks.diagnostics
            pruneSteps += PrunePhase.run(on: host, context, trunks: trunks.wanted, kept: instances.keptInterfaceIDs)
        }

        // Deletes run first (an instance frees its volumes), then trunks, then creates in dependency order.
        // Nothing is planned on a host that could not be read: neither "absent" nor "extra" can be concluded.
        let unknown = Set(context.hosts.filter { !$0.isKnown }.map(\.target.name)).union(context.retired)
        let ordered = (instances.replacedSteps + pruneSteps + trunkSteps + images.steps + volumes.steps + instances.steps)
            .filter { !unknown.contains($0.1.host) }
        var seen = Set<String>()
        let actions = ordered.compactMap { pair -> PlannedAction? in
            let key = "\(pair.0.action.rawValue) \(pair.0.id) \(pair.0.host ?? "")"
            return seen.insert(key).inserted ? pair.0 : nil
        }
        return Outcome(plan: Plan(commit: commit, actions: actions, diagnostics: diagnostics),
                       steps: ordered.map { (action: $0.0, step: $0.1) })
    }
}
