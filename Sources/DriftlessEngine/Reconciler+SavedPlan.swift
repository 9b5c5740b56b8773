import DriftlessCore
import Foundation

/// A plan saved by `driftless plan --out FILE`, applied as reviewed by `driftless apply FILE` (Terraform's
/// saved plans): it carries the commit, the last applied commit it was planned after, a fingerprint of
/// each host's observed state and the plan itself. One place, `Reconciler.staleness`, decides whether it
/// may still be applied.
public struct SavedPlan: Codable, Sendable, Equatable {
    public var format = 1
    /// Names the plan (a pull request's comment can carry it): a hash of everything below.
    public var id: String
    public var repository: String
    /// Where to read the repository again: a local repository's absolute path or the remote's URL without
    /// credentials (`apply FILE` without `--repo`). Absent in plans saved before it was recorded.
    public var location: String?
    public var path: String
    public var commit: String
    /// `--base`, when the plan was made against it instead of the last applied commit.
    public var baseCommit: String?
    /// The last applied commit when the plan was made (what was pruned against).
    public var lastApplied: String?
    /// Host name → fingerprint of its observed state (`Reconciler.fingerprint`).
    public var hosts: [String: String]
    /// The plan as `plan --format json` prints it.
    public var plan: String
}

extension Reconciler {
    /// A stable digest of what was observed on a host: every managed instance, volume, image and port as
    /// the drivers report them, and the names of unmanaged ones; `unknown: reason` when it was not read.
    public static func fingerprint(_ host: HostObservation) -> String {
        struct Canonical: Encodable {
            var instances: [ObservedInstance]
            var unmanagedDomains: [String]
            var volumes: [ObservedVolume]
            var images: [ObservedImage]
            var unmanagedVolumes: [String]
            var ports: [ObservedPort]
        }
        guard host.isKnown, let compute = host.compute.value, let storage = host.storage.value, let ports = host.ports.value else {
            return "unknown: " + (host.unknownReason ?? "not observed")
        }
        let canonical = Canonical(
            instances: compute.instances.sorted { $0.domainName < $1.domainName }, unmanagedDomains: compute.unmanagedDomainNames.sorted(),
            volumes: storage.volumes.sorted { $0.volumeName < $1.volumeName }, images: storage.images.sorted { $0.volumeName < $1.volumeName },
            unmanagedVolumes: storage.unmanagedVolumeNames.sorted(), ports: ports.sorted { $0.name < $1.name })
        return StableHash.sha256Hex(bytes: Array((try? DocumentJSON.compact(canonical)) ?? Data()))
    }

    /// The saved form of a plan.
    public func save(_ planned: PlannedRun, location: String? = nil) throws -> SavedPlan {
        var saved = SavedPlan(
            id: "", repository: planned.commit.repository, location: location, path: planned.commit.path, commit: planned.commit.commit,
            baseCommit: planned.plan.baseCommit, lastApplied: try store.lastAppliedCommit(),
            hosts: Dictionary(uniqueKeysWithValues: planned.hosts.map { ($0.target.name, Self.fingerprint($0)) }),
            plan: try PlanRenderer.json(planned.plan))
        saved.id = String(StableHash.sha256Hex(bytes: Array(try DocumentJSON.compact(saved))).prefix(16))
        return saved
    }

    /// Why `saved` may no longer be applied, given `fresh`: the same commit planned again now. Empty when
    /// the commit, the last applied commit, every host's observed state and the plan are as reviewed.
    public func staleness(of saved: SavedPlan, against fresh: PlannedRun) throws -> [String] {
        var reasons: [String] = []
        if fresh.commit.commit != saved.commit { reasons.append("the commit is \(fresh.commit.commit.prefix(12)), not \(saved.commit.prefix(12))") }
        let last = try store.lastAppliedCommit()
        if saved.baseCommit == nil, last != saved.lastApplied {
            reasons.append("the last applied commit is \(last.map { String($0.prefix(12)) } ?? "none") now, "
                + "not \(saved.lastApplied.map { String($0.prefix(12)) } ?? "none")")
        }
        let now = Dictionary(uniqueKeysWithValues: fresh.hosts.map { ($0.target.name, Self.fingerprint($0)) })
        for host in Set(now.keys).union(saved.hosts.keys).sorted() where now[host] != saved.hosts[host] {
            switch (saved.hosts[host], now[host]) {
            case (nil, _): reasons.append("host \(host) was not in the plan")
            case (_, nil): reasons.append("host \(host) is no longer declared")
            case let (_, current?) where current.hasPrefix("unknown: "):
                reasons.append("host \(host) cannot be observed (\(current.dropFirst("unknown: ".count)))")
            default: reasons.append("host \(host) changed since the plan was made")
            }
        }
        if reasons.isEmpty, try PlanRenderer.json(fresh.plan) != saved.plan {
            reasons.append("the plan computed now differs from the saved one")
        }
        return reasons
    }
}
