import DriftlessCore
import DriftlessDashboard
import Foundation

/// A fixed cloud for render tests: two projects (shop, ops) on one host, an admin (alice), a member of
/// shop (bob), a reader of ops (carol); web-1 running in sync, web-2 stopped though declared running
/// (drift), monitor missing, and a managed domain shop/old-1 the commit no longer declares. Hostile
/// text sits wherever text from outside can: a project description, the commit's subject and author,
/// a drift value read from a host.
enum DashboardFixture {
    static let now = Date(timeIntervalSince1970: 1_796_137_200)  // 2026-12-01 15:00:00 UTC
    static let hostile = "<script>alert(1)</script>\"'&\u{202E}"

    static let manifests = """
        apiVersion: driftless.dev/v1
        kind: Host
        metadata: {name: local}
        spec:
          libvirt: qemu:///system
          bridge: br-lab
          datapath: netdev
          physicalNetworks: [{name: physnet1, interface: eth1}]
          capacity: {vcpus: 4, memory: 4GiB}
        ---
        apiVersion: driftless.dev/v1
        kind: Project
        metadata: {name: shop}
        spec: {description: "The shop \(hostile.replacingOccurrences(of: "\"", with: "\\\""))"}
        ---
        apiVersion: driftless.dev/v1
        kind: Project
        metadata: {name: ops}
        spec: {description: Monitoring.}
        ---
        apiVersion: driftless.dev/v1
        kind: User
        metadata: {name: alice}
        spec: {admin: true}
        ---
        apiVersion: driftless.dev/v1
        kind: User
        metadata: {name: bob}
        spec: {roles: [{project: shop, role: member}]}
        ---
        apiVersion: driftless.dev/v1
        kind: User
        metadata: {name: carol}
        spec: {roles: [{project: ops, role: reader}]}
        ---
        apiVersion: driftless.dev/v1
        kind: Image
        metadata: {name: tiny}
        spec:
          source: {path: /var/lib/driftless/images/tiny.qcow2}
          sha256: 1b7af784841125887e688254229e282829e17245d0e47fe7280da9b68a30d9e1
          format: qcow2
        ---
        apiVersion: driftless.dev/v1
        kind: Network
        metadata: {name: frontend, project: shop}
        spec: {cidr: 10.10.0.0/24, vlan: 100, physicalNetwork: physnet1}
        ---
        apiVersion: driftless.dev/v1
        kind: Network
        metadata: {name: backend, project: shop}
        spec: {cidr: 10.11.0.0/24, vlan: 101}
        ---
        apiVersion: driftless.dev/v1
        kind: Network
        metadata: {name: mgmt, project: ops}
        spec: {cidr: 10.20.0.0/24, vlan: 200}
        ---
        apiVersion: driftless.dev/v1
        kind: Volume
        metadata: {name: web-data, project: shop}
        spec: {size: 1GiB}
        ---
        apiVersion: driftless.dev/v1
        kind: Instance
        metadata: {name: web-1, project: shop}
        spec:
          image: tiny
          vcpus: 1
          memory: 128MiB
          rootDisk: 1GiB
          networks: [{network: frontend, ip: 10.10.0.11}, {network: backend}]
          volumes: [web-data]
        ---
        apiVersion: driftless.dev/v1
        kind: Instance
        metadata: {name: web-2, project: shop}
        spec: {image: tiny, vcpus: 2, memory: 256MiB, rootDisk: 1GiB, networks: [{network: frontend}]}
        ---
        apiVersion: driftless.dev/v1
        kind: Instance
        metadata: {name: monitor, project: ops}
        spec: {image: tiny, vcpus: 1, memory: 128MiB, rootDisk: 1GiB, networks: [{network: mgmt, ip: 10.20.0.10}], host: local}
        """

    static func state(_ text: String = manifests) -> DesiredState {
        let result = ManifestLoader.load([ManifestFile(path: "cloud.yaml", text: text)])
        precondition(result.isValid, "\(result.diagnostics.map(\.description))")
        return result.state
    }

    static func observed(_ project: String, _ name: String, power: ObservedInstance.Power, vcpus: Int = 1,
                         memory: ByteSize = .mebibytes(128)) -> ObservedInstance {
        ObservedInstance(id: ObjectID(.instance, project: project, name), domainName: "\(project).\(name)", uuid: "u-\(name)",
                         specHash: "h", commit: "c", imageVolume: nil, seedHash: nil, vcpus: vcpus, memory: memory,
                         liveVCPUs: nil, liveMemory: nil, power: power, rootDiskPath: nil, volumePaths: [], nics: [])
    }

    static func host(_ instances: [ObservedInstance], name: String = "local") -> HostObservation {
        let target = HostTarget(name: name, libvirtURI: "qemu:///system", ovsdbEndpoint: "unix:/run/db.sock", bridge: "br-lab",
                                datapath: .netdev, storagePool: PoolSpec(name: "v", path: "/v"), imagePool: PoolSpec(name: "i", path: "/i"))
        return HostObservation(target: target, compute: .known(ComputeObservation(instances: instances, unmanagedDomainNames: [])),
                               storage: .known(StorageObservation(volumes: [], images: [], unmanagedVolumeNames: [])), ports: .known([]))
    }

    static func drift(_ items: [[String: Any]], commit: String = "8f0c2d41aa0e5b1c9e7d3f6a2b4c8d0e1f2a3b4c") -> DriftReport {
        let document: [String: Any] = ["commit": commit, "checkedAt": "2026-12-01T14:59:30Z", "items": items]
        let data = try! JSONSerialization.data(withJSONObject: document)
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try! decoder.decode(DriftReport.self, from: data)
    }

    static var input: DashboardInput {
        let report = drift([
            ["type": "drifted", "kind": "Instance", "project": "shop", "name": "web-2", "host": "local",
             "source": ["file": "cloud.yaml", "line": 79, "column": 1], "firstSeen": "2026-12-01T14:52:00Z",
             "fields": [["field": "power", "expected": "running", "actual": "stopped", "sensitive": false],
                        ["field": "description", "expected": "x", "actual": hostile, "sensitive": false]]],
            ["type": "missing", "kind": "Instance", "project": "ops", "name": "monitor", "host": "local", "fields": [],
             "firstSeen": "2026-12-01T14:40:00Z"],
            ["type": "unexpected", "kind": "Instance", "project": "shop", "name": "old-1", "host": "local", "fields": [],
             "firstSeen": "2026-12-01T14:30:00Z", "detail": "managed by Driftless, no longer declared"],
        ])
        let hosts = [host([observed("shop", "web-1", power: .running), observed("shop", "web-2", power: .stopped, vcpus: 2, memory: .mebibytes(256)),
                           observed("shop", "old-1", power: .running)])]
        let allocations = [IPAllocation(owner: NICOwner(project: "shop", instance: "web-1", network: "backend", ordinal: 0),
                                        address: IPv4Address("10.11.0.2")!, isFixed: false),
                           IPAllocation(owner: NICOwner(project: "shop", instance: "web-2", network: "frontend", ordinal: 0),
                                        address: IPv4Address("10.10.0.2")!, isFixed: false)]
        let runs = [
            DashboardInput.Run(id: 2, kind: "apply", commit: "8f0c2d41aa0e5b1c9e7d3f6a2b4c8d0e1f2a3b4c", startedAt: now.addingTimeInterval(-600),
                               finishedAt: now.addingTimeInterval(-596.5), result: "succeeded", summary: "3 to create", detail: nil),
            DashboardInput.Run(id: 1, kind: "apply", commit: "0123456789abcdef0123456789abcdef01234567", startedAt: now.addingTimeInterval(-3600),
                               finishedAt: now.addingTimeInterval(-3599), result: "refused", summary: nil, detail: "history rewrite: \(hostile)"),
        ]
        return DashboardInput(
            repository: "https://git.example.com/infra/cloud.git",
            commit: .init(id: "8f0c2d41aa0e5b1c9e7d3f6a2b4c8d0e1f2a3b4c", summary: "web: two instances \(hostile)", author: "Ann \(hostile)",
                          date: now.addingTimeInterval(-900)),
            state: state(), hosts: hosts, observedAt: now.addingTimeInterval(-30), allocations: allocations, drift: report, runs: runs, now: now)
    }

    static let alice = AccessPolicy.Grant(user: "alice", cloudAdmin: true, roles: [:])
    static let bob = AccessPolicy.Grant(user: "bob", cloudAdmin: false, roles: ["shop": .member])
    static let carol = AccessPolicy.Grant(user: "carol", cloudAdmin: false, roles: ["ops": .reader])

    static func chrome(_ grant: AccessPolicy.Grant, path: String = "/") -> Pages.Chrome {
        Pages.Chrome(user: grant.user, cloudAdmin: grant.cloudAdmin, canPlan: grant.managesAnything, csrf: "form-token", theme: .auto, path: path)
    }

    /// A generated cloud of `count` instances over `hosts` hosts and `networks` networks in `projects`
    /// projects, every instance observed running, every tenth one drifted (for scale tests and the benchmark).
    static func large(instances count: Int, hosts hostCount: Int = 8, projects projectCount: Int = 10, networks networkCount: Int = 12)
        -> DashboardInput
    {
        var docs: [String] = []
        for h in 0..<hostCount {
            docs.append("apiVersion: driftless.dev/v1\nkind: Host\nmetadata: {name: node-\(h)}\nspec: {libvirt: 'qemu+ssh://node-\(h)/system', capacity: {vcpus: 512, memory: 1024GiB}}")
        }
        for p in 0..<projectCount {
            docs.append("apiVersion: driftless.dev/v1\nkind: Project\nmetadata: {name: p\(p)}")
        }
        for n in 0..<networkCount {
            docs.append("apiVersion: driftless.dev/v1\nkind: Network\nmetadata: {name: net-\(n), project: p\(n % projectCount)}\nspec: {cidr: 10.\(n).0.0/16, vlan: \(100 + n)}")
        }
        docs.append("apiVersion: driftless.dev/v1\nkind: Image\nmetadata: {name: tiny}\nspec: {source: {path: /var/lib/driftless/images/tiny.qcow2}, sha256: 1b7af784841125887e688254229e282829e17245d0e47fe7280da9b68a30d9e1, format: qcow2}")
        docs.append("apiVersion: driftless.dev/v1\nkind: User\nmetadata: {name: alice}\nspec: {admin: true}")
        var observations: [String: [ObservedInstance]] = [:]
        var items: [[String: Any]] = []
        for i in 0..<count {
            let project = "p\(i % projectCount)"
            // Networks of this project: each instance on one or two of them.
            let own = (0..<networkCount).filter { $0 % projectCount == i % projectCount }
            let nets = own.isEmpty ? [] : (i % 3 == 0 && own.count > 1 ? [own[0], own[1]] : [own[i % own.count]])
            let nicYAML = nets.map { n in "{network: net-\(n), ip: 10.\(n).\(i / 250).\(i % 250 + 2)}" }.joined(separator: ", ")
            let host = "node-\(i % hostCount)"
            docs.append("apiVersion: driftless.dev/v1\nkind: Instance\nmetadata: {name: vm-\(i), project: \(project)}\nspec: {image: tiny, vcpus: 1, memory: 128MiB, rootDisk: 1GiB, host: \(host), networks: [\(nicYAML)]}")
            observations[host, default: []].append(observed(project, "vm-\(i)", power: i % 10 == 7 ? .stopped : .running))
            if i % 10 == 7 {
                items.append(["type": "drifted", "kind": "Instance", "project": project, "name": "vm-\(i)", "host": host, "firstSeen": "2026-12-01T14:00:00Z",
                              "fields": [["field": "power", "expected": "running", "actual": "stopped", "sensitive": false]]])
            }
        }
        let limits = ManifestLimits(maxFileBytes: 64 << 20, parseTimeBudget: .seconds(120))
        let result = ManifestLoader.load([ManifestFile(path: "cloud.yaml", text: docs.joined(separator: "\n---\n"))], limits: limits)
        precondition(result.isValid, "\(result.diagnostics.map(\.description).prefix(3))")
        return DashboardInput(repository: "bench", commit: .init(id: String(repeating: "a", count: 40), summary: "bench", author: "bench", date: now),
                              state: result.state, hosts: observations.keys.sorted().map { host(observations[$0] ?? [], name: $0) },
                              observedAt: now, allocations: [], drift: drift(items), runs: [], now: now)
    }
}
