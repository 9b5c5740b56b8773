/// The safety rules an apply must pass before anything on a host changes.
///
/// - A commit that declares nothing (no image, network, volume or instance) is refused: an empty
///   checkout or a bad merge must not prune a cloud.
/// - A plan that deletes more than half of the objects Driftless manages on the hosts is refused.
/// - A plan that replaces an instance (new root disk) or destroys a volume's data needs a second yes.
/// - A plan with errors (a collision, a volume that would shrink) is never applied; no flag allows it.
///
/// - A plan that moves an instance to another host (it stops, its disks are copied, it starts there)
///   needs a yes of its own; finishing a move that was interrupted after its copy does not.
///
/// Each rule has its flag (`--allow-mass-delete`, `--allow-replace`, `--allow-move`); a refusal names the flag.
public struct ApplyGuard: Sendable {
    public var allowMassDelete: Bool
    public var allowReplace: Bool
    public var allowMove: Bool

    public init(allowMassDelete: Bool = false, allowReplace: Bool = false, allowMove: Bool = false) {
        self.allowMassDelete = allowMassDelete
        self.allowReplace = allowReplace
        self.allowMove = allowMove
    }

    /// Why the plan may not be applied; empty when it may.
    public func refusals(plan: Plan, desired: DesiredState, hosts: [HostObservation]) -> [String] {
        var reasons: [String] = []
        if plan.hasErrors {
            reasons.append("the plan has errors: " + plan.diagnostics.filter { $0.severity == .error }.map(\.description)
                .joined(separator: "; "))
        }
        let managed = hosts.reduce(0) { count, host in
            count + (host.compute.value?.instances.count ?? 0) + (host.storage.value?.volumes.count ?? 0)
        }
        let deletes = plan.actions.filter { $0.action == .delete && ($0.id.kind == .instance || $0.id.kind == .volume) }.count
        if !allowMassDelete {
            if desired.images.isEmpty && desired.networks.isEmpty && desired.volumes.isEmpty && desired.instances.isEmpty {
                reasons.append("the commit declares no images, networks, volumes or instances; applying it would prune everything Driftless manages (use --allow-mass-delete if that is intended)")
            } else if managed > 0 && deletes * 2 > managed {
                reasons.append("the plan deletes \(deletes) of the \(managed) objects Driftless manages, more than half (use --allow-mass-delete if that is intended)")
            }
        }
        if !allowReplace {
            let destructive = plan.actions.filter(\.destroysData)
            if !destructive.isEmpty {
                let names = destructive.map { "\($0.action.rawValue) \($0.id.kind.rawValue.lowercased()) \($0.id.qualifiedName)" }
                reasons.append("the plan loses data (\(names.joined(separator: "; "))); use --allow-replace to apply it")
            }
        }
        if !allowMove {
            let moves = plan.actions.filter(\.startsMove)
            if !moves.isEmpty {
                let names = moves.map { "\($0.id.qualifiedName) to \($0.host ?? "?")" }
                reasons.append("the plan moves instances to other hosts, where they restart (\(names.joined(separator: "; "))); use --allow-move to apply it")
            }
        }
        return reasons
    }
}
