import DriftlessCore
import DriftlessDashboard
import DriftlessStore
import Foundation

// The dashboard's render benchmark: server time of the overview and a project page over N instances
// (default 1,000; goal under 50 ms), and the topology SVG's size and render time at 500 instances.
//
//     swift run -c release DriftlessDashboardBench [instances] [svg-instances]
//
// Times are of what a request does: the store reads a page makes (the latest drift report, the IP
// allocations, the latest runs, from a real SQLite store), joining them with the commit and the
// observation for the grant (`DashboardView`), and rendering. Each figure is the median of 15 runs.

let arguments = CommandLine.arguments.dropFirst().compactMap { Int($0) }
let count = arguments.first ?? 1000
let svgCount = arguments.dropFirst().first ?? 500
let now = Date()

func observed(_ project: String, _ name: String, power: ObservedInstance.Power) -> ObservedInstance {
    ObservedInstance(id: ObjectID(.instance, project: project, name), domainName: "\(project).\(name)", uuid: name, specHash: "h",
                     commit: "c", imageVolume: nil, seedHash: nil, vcpus: 1, memory: .mebibytes(128), liveVCPUs: nil,
                     liveMemory: nil, power: power, rootDiskPath: nil, volumePaths: [], nics: [])
}

/// `count` instances in `projects` projects over 8 hosts and 12 networks, one in ten drifted (stopped).
func cloud(instances count: Int, projects: Int = 10) -> DashboardInput {
    let hosts = 8, networks = 12
    var docs = (0..<hosts).map { "apiVersion: driftless.dev/v1\nkind: Host\nmetadata: {name: node-\($0)}\nspec: {libvirt: 'qemu+ssh://node-\($0)/system', capacity: {vcpus: 512, memory: 1024GiB}}" }
    docs += (0..<projects).map { "apiVersion: driftless.dev/v1\nkind: Project\nmetadata: {name: p\($0)}" }
    docs += (0..<networks).map { "apiVersion: driftless.dev/v1\nkind: Network\nmetadata: {name: net-\($0), project: p\($0 % projects)}\nspec: {cidr: 10.\($0).0.0/16, vlan: \(100 + $0)}" }
    docs.append("apiVersion: driftless.dev/v1\nkind: Image\nmetadata: {name: tiny}\nspec: {source: {path: /var/lib/driftless/images/tiny.qcow2}, sha256: 1b7af784841125887e688254229e282829e17245d0e47fe7280da9b68a30d9e1, format: qcow2}")
    var byHost: [String: [ObservedInstance]] = [:]
    var items: [[String: Any]] = []
    for i in 0..<count {
        let project = "p\(i % projects)"
        let own = (0..<networks).filter { $0 % projects == i % projects }
        let nets = i % 3 == 0 && own.count > 1 ? [own[0], own[1]] : [own[i % own.count]]
        let nics = nets.map { "{network: net-\($0), ip: 10.\($0).\(i / 250).\(i % 250 + 2)}" }.joined(separator: ", ")
        let host = "node-\(i % hosts)"
        docs.append("apiVersion: driftless.dev/v1\nkind: Instance\nmetadata: {name: vm-\(i), project: \(project)}\nspec: {image: tiny, vcpus: 1, memory: 128MiB, rootDisk: 1GiB, host: \(host), networks: [\(nics)]}")
        byHost[host, default: []].append(observed(project, "vm-\(i)", power: i % 10 == 7 ? .stopped : .running))
        if i % 10 == 7 {
            items.append(["type": "drifted", "kind": "Instance", "project": project, "name": "vm-\(i)", "host": host,
                          "fields": [["field": "power", "expected": "running", "actual": "stopped", "sensitive": false]]])
        }
    }
    let result = ManifestLoader.load([ManifestFile(path: "cloud.yaml", text: docs.joined(separator: "\n---\n"))],
                                     limits: ManifestLimits(maxFileBytes: 64 << 20, parseTimeBudget: .seconds(120)))
    guard result.isValid else { fatalError("\(result.diagnostics.map(\.description).prefix(3))") }
    let decoder = JSONDecoder()
    decoder.dateDecodingStrategy = .iso8601
    let report = try! decoder.decode(DriftReport.self, from: JSONSerialization.data(withJSONObject: [
        "commit": String(repeating: "a", count: 40), "checkedAt": "2026-12-01T14:59:30Z", "items": items]))
    let observations = byHost.keys.sorted().map { name in
        HostObservation(target: HostTarget(name: name, libvirtURI: "qemu+ssh://\(name)/system", ovsdbEndpoint: "tcp:\(name):6640", bridge: "br-int",
                                           datapath: .system, storagePool: PoolSpec(name: "v", path: "/v"), imagePool: PoolSpec(name: "i", path: "/i")),
                        compute: .known(ComputeObservation(instances: byHost[name] ?? [], unmanagedDomainNames: [])),
                        storage: .known(StorageObservation(volumes: [], images: [], unmanagedVolumeNames: [])), ports: .known([]))
    }
    return DashboardInput(repository: "bench", commit: .init(id: String(repeating: "a", count: 40), summary: "bench", author: "bench", date: now),
                          state: result.state, hosts: observations, observedAt: now, drift: report, now: now)
}

func median(_ runs: Int = 15, _ body: () -> Int) -> (ms: Double, bytes: Int) {
    var times: [Double] = []
    var bytes = 0
    for _ in 0..<runs {
        let start = ContinuousClock.now
        bytes = body()
        let elapsed = ContinuousClock.now - start
        times.append(Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000)
    }
    return (times.sorted()[runs / 2], bytes)
}

let admin = AccessPolicy.Grant(user: "alice", cloudAdmin: true, roles: [:])
let member = AccessPolicy.Grant(user: "bob", cloudAdmin: false, roles: ["p0": .member])
func chrome(_ grant: AccessPolicy.Grant) -> Pages.Chrome {
    Pages.Chrome(user: grant.user, cloudAdmin: grant.cloudAdmin, canPlan: false, csrf: "x", theme: .auto, path: "/")
}

let large = cloud(instances: count)
let overview = median { Pages.overview(DashboardView(grant: admin, input: large), chrome: chrome(admin)).markup.utf8.count }
let project = median { Pages.project(DashboardView(grant: admin, input: large), name: "p0", chrome: chrome(admin))?.markup.utf8.count ?? 0 }
let single = cloud(instances: count, projects: 1)
let wholeProject = median { Pages.project(DashboardView(grant: admin, input: single), name: "p0", chrome: chrome(admin))?.markup.utf8.count ?? 0 }
let memberProject = median { Pages.project(DashboardView(grant: member, input: large), name: "p0", chrome: chrome(member))?.markup.utf8.count ?? 0 }
let small = cloud(instances: svgCount)
let svg = median { Topology.svg(DashboardView(grant: admin, input: small), standalone: true).markup.utf8.count }
let page = median { Pages.topology(DashboardView(grant: admin, input: small), project: nil, chrome: chrome(admin)).markup.utf8.count }

func row(_ name: String, _ figure: (ms: Double, bytes: Int)) {
    print(name.padding(toLength: 60, withPad: " ", startingAt: 0), String(format: "%8.1f ms %10d bytes", figure.ms, figure.bytes))
}
print("dashboard render, median of 15 (\(count) instances; SVG at \(svgCount))")
row("overview, cloud admin, \(count) instances", overview)
row("project page p0 (\(count / 10) instances), cloud admin", project)
row("project page p0, a member of p0 only (no store reads)", memberProject)
row("project page, one project of \(count) instances", wholeProject)
row("topology SVG, \(svgCount) instances, standalone", svg)
row("topology page (SVG inline), \(svgCount) instances", page)

// DRIFTLESS_BENCH_SVG=PATH keeps the topology of `svg-instances` instances, to look at.
if let path = ProcessInfo.processInfo.environment["DRIFTLESS_BENCH_SVG"] {
    try Topology.svg(DashboardView(grant: admin, input: small), standalone: true).markup.write(toFile: path, atomically: true, encoding: .utf8)
    print("wrote \(path)")
}
