import DriftlessCore

extension Reconciler {
    /// Why a host of a reviewed revision is not observed.
    public static let newHostReason = "not observed (new host): the daemon connects only to the hosts of the applied commit"

    /// Whether two hosts are the same connection targets: same name, libvirt URI and OVSDB endpoint.
    public static func sameEndpoints(_ a: HostTarget, _ b: HostTarget) -> Bool {
        a.name == b.name && a.libvirtURI == b.libvirtURI && a.ovsdbEndpoint == b.ovsdbEndpoint
    }

    /// Observes the hosts of `commit` (a branch under review) without connecting anywhere the applied
    /// commit does not: a revision is input from whoever can push a branch, and its hosts must not make the
    /// daemon open connections (SSRF).
    ///
    /// - A host identical to one of `sessions` (the daemon's live connections) is observed through them.
    /// - A host with the name and endpoints of an applied one but other settings (bridge, pools) is
    ///   observed through a short-lived connection to those same endpoints.
    /// - Any other host, new by name or with another libvirt URI or OVSDB endpoint, is never contacted: it
    ///   is `unknown` with `newHostReason`, so the plan shows it and plans nothing on it.
    public func observeForReview(_ commit: LoadedCommit, applied: LoadedCommit, sessions: HostSessions) async -> [HostObservation] {
        let targets = Self.targets(of: commit.state)
        let appliedTargets = Self.targets(of: applied.state)
        let live = Set(sessions.targets)
        var reused: [HostTarget] = [], reconnected: [HostTarget] = []
        for target in targets where appliedTargets.contains(where: { Self.sameEndpoints($0, target) }) {
            if live.contains(target) { reused.append(target) } else { reconnected.append(target) }
        }
        var observed: [String: HostObservation] = [:]
        if !reused.isEmpty {
            for observation in await sessions.observe() where reused.contains(observation.target) {
                observed[observation.target.name] = observation
            }
        }
        if !reconnected.isEmpty {
            let temporary = await HostSessions.connect(reconnected, store: store, timeout: connectTimeout, imagePaths: imagePaths, access: hostAccess)
            for observation in await temporary.observe() { observed[observation.target.name] = observation }
            await temporary.close()
        }
        return targets.map { target in
            observed[target.name] ?? HostObservation(target: target, compute: .unknown(reason: Self.newHostReason),
                                                     storage: .unknown(reason: Self.newHostReason),
                                                     ports: .unknown(reason: Self.newHostReason))
        }
    }
}
