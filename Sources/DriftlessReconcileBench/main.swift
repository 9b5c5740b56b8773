// The no-op plan benchmark of issue 5:
//
//   swift run -c release DriftlessReconcileBench noop-plan 1000
//
// Lays out N managed instances (one NIC and one volume each, four networks) as Driftless would have
// made them: domains with Driftless metadata on libvirt's test:///default driver (in process: a real
// libvirt API, no QEMU, so 1,000 guests fit on a laptop), their ports on a real ovsdb-server/ovs-vswitchd
// bridge, and volumes in the store. Then times the full plan of the commit that declares exactly that
// state: read the commit from git and validate it, observe every driver, allocate addresses, diff. The
// plan must be empty, and no write call may reach libvirt or OVSDB: every driver is wrapped in a counter
// of its write methods, and the OVSDB client's own transaction counter must not move.
import DriftlessCore
import DriftlessEngine
import DriftlessLibvirt
import DriftlessOVSDB
import DriftlessStore
import DriftlessTesting
import DriftlessProcess
import Foundation

func seconds(_ duration: Duration) -> Double {
    duration.inSeconds
}

@discardableResult
func shell(_ arguments: String...) throws -> Int32 {
    try ChildProcess.runBlocking(arguments[0], Array(arguments.dropFirst())).status
}

func manifests(count: Int, id: String, root: String) -> String {
    var docs = ["""
        apiVersion: driftless.dev/v1
        kind: Host
        metadata: {name: bench}
        spec:
          libvirt: test:///default
          ovsdb: unix:/var/run/openvswitch/db.sock
          bridge: br-n\(id)
          datapath: netdev
          storagePool: {name: noop-\(id)-vols, path: \(root)/vols}
          imagePool: {name: noop-\(id)-imgs, path: \(root)/imgs}
        """, """
        apiVersion: driftless.dev/v1
        kind: Project
        metadata: {name: bench}
        """, """
        apiVersion: driftless.dev/v1
        kind: Image
        metadata: {name: tiny}
        spec:
          source: {path: \(root)/tiny.qcow2}
          sha256: 1b7af784841125887e688254229e282829e17245d0e47fe7280da9b68a30d9e1
          format: qcow2
        """]
    for n in 0..<4 {
        docs.append("""
            apiVersion: driftless.dev/v1
            kind: Network
            metadata: {name: net\(n), project: bench}
            spec: {cidr: 10.\(100 + n).0.0/22, vlan: \(101 + n)}
            """)
    }
    for i in 0..<count {
        docs.append("""
            apiVersion: driftless.dev/v1
            kind: Volume
            metadata: {name: data-\(i), project: bench}
            spec: {size: 64MiB}
            ---
            apiVersion: driftless.dev/v1
            kind: Instance
            metadata: {name: vm-\(i), project: bench}
            spec:
              image: tiny
              vcpus: 1
              memory: 64MiB
              rootDisk: 1GiB
              networks: [{network: net\(i % 4)}]
              volumes: [data-\(i)]
            """)
    }
    return docs.joined(separator: "\n---\n") + "\n"
}

/// Lays out `count` managed instances as Driftless would have made them; returns what the measurements need.
struct LaidOut {
    var root: String
    var repo: String
    var reconciler: Reconciler
    var source: ManifestSource
    var target: HostTarget
    var compute: LibvirtComputeDriver
    var storage: LibvirtStorageDriver
    var network: OVSNetworkDriver
    var owner: String
}

extension LaidOut {
    /// Removes the bridge (through OVSDB, as the drivers do) and the files, and closes the OVSDB client.
    /// The libvirt test driver's state goes with the process.
    func remove() async {
        try? await network.openVSwitch.deleteBridge(named: target.bridge)
        await network.close()
        try? FileManager.default.removeItem(atPath: root)
    }
}

/// Lays out `count` instances, runs `body` over them, and removes them whatever happens.
func withLaidOut<T>(count: Int, _ body: (LaidOut) async throws -> T) async throws -> T {
    let laid = try await layOut(count: count)
    do {
        let result = try await body(laid)
        await laid.remove()
        return result
    } catch {
        await laid.remove()
        throw error
    }
}

func layOut(count: Int) async throws -> LaidOut {
    let id = String(UUID().uuidString.prefix(6)).lowercased()
    let root = "/var/tmp/driftless-noop-\(id)"
    let repo = root + "/repo"
    try FileManager.default.createDirectory(atPath: repo, withIntermediateDirectories: true)
    try manifests(count: count, id: id, root: root).write(toFile: repo + "/cloud.yaml", atomically: true, encoding: .utf8)
    try shell("git", "-C", repo, "init", "-q", "-b", "main")
    try shell("git", "-C", repo, "add", "-A")
    try shell("git", "-C", repo, "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "-m", "bench")

    let reconciler = try Reconciler(stateDirectory: root + "/state")
    reconciler.imageDirectories = [root]  // the benchmark's image is root/tiny.qcow2
    let source = try reconciler.source(repo, path: "")
    let commit = try source.load(nil)
    let target = Reconciler.targets(of: commit.state)[0]

    // Lay out the state Driftless would have made, as its drivers make it.
    let connection = try LibvirtConnection(uri: "test:///default")
    let compute = LibvirtComputeDriver(target: target, connection: connection, virtType: .qemu)
    let storage = LibvirtStorageDriver(target: target, connection: connection, ownership: reconciler.store,
                                       imagePaths: reconciler.imagePaths)
    let network = try OVSNetworkDriver(host: target)
    try await network.connect()
    try await storage.ensurePools()
    try await network.ensureBridge()
    let empty = HostObservation(target: target, compute: .known(ComputeObservation(instances: [], unmanagedDomainNames: [])),
                                storage: .known(StorageObservation(volumes: [], images: [], unmanagedVolumeNames: [])), ports: .known([]))
    let allocation = IPAllocator.allocate(for: commit.state, existing: [])
    try reconciler.store.saveAllocations(allocation.allocations)
    let owner = try reconciler.store.installationID()
    let fromScratch = Planner.plan(desired: commit.state, commit: commit.commit, hosts: [empty], allocations: allocation.allocations,
                                   owner: owner)
    var ports: [DesiredPort] = []
    let setupStart = ContinuousClock.now
    for step in fromScratch.steps.map(\.step) {
        switch step {
        case let .importImage(_, request):
            let pool = try connection.lookupStoragePool(name: target.imagePool.name)
            _ = try pool.createVolume(StorageVolumeXML(name: request.volumeName, capacity: 64 << 20, format: .qcow2))
            try reconciler.store.record(host: target.name, pool: target.imagePool.name, volume: request.volumeName, owner: request.id)
        case let .createVolume(_, request):
            _ = try await storage.createVolume(request)
        case let .createInstance(_, request):
            let xml = compute.domainXML(for: request, rootPath: "\(root)/vols/\(request.rootDisk.volumeName)", seedPath: "\(root)/vols/seed", type: .qemu)
            try connection.defineDomain(xml).create()
            ports += request.nics.map { DesiredPort(identity: $0.identity, vlan: $0.vlan, mtu: $0.mtu, owner: owner) }
        default:
            throw CocoaError(.featureUnsupported, userInfo: [NSLocalizedDescriptionKey: "unexpected setup step \(step.key)"])
        }
    }
    for chunk in stride(from: 0, to: ports.count, by: 250) {
        try await network.apply(PortChangeSet(ensure: Array(ports[chunk..<min(chunk + 250, ports.count)])))
    }
    print(String(format: "setup: %d instances, %d volumes, %d ports laid out in %.1f s", count, count, ports.count,
                 seconds(ContinuousClock.now - setupStart)))
    return LaidOut(root: root, repo: repo, reconciler: reconciler, source: source, target: target, compute: compute,
                   storage: storage, network: network, owner: owner)
}


/// Times no-op plans; returns whether the plan stayed empty and nothing was written.
func noopPlan(_ laid: LaidOut, count: Int) async throws -> Bool {
    let (reconciler, source, target, compute, storage, network, owner) =
        (laid.reconciler, laid.source, laid.target, laid.compute, laid.storage, laid.network, laid.owner)

    // The measured no-op plans.
    let counter = WriteCounter(compute: compute, storage: storage, network: network)
    let drivers = HostDrivers(target: target, compute: counter, storage: counter, network: counter)
    let transactionsBefore = await network.transactionCount
    print(String(format: "  resident memory before the plans: %.1f MiB", residentMemory().current))
    var times: [Double] = []
    var phases: [[Double]] = []
    var actions = 0
    for _ in 0..<7 {
        let start = ContinuousClock.now
        let loaded = try source.load(nil)
        let read = ContinuousClock.now
        let hosts = [await drivers.observe()]
        let observed = ContinuousClock.now
        let allocations = IPAllocator.allocate(for: loaded.state, existing: try reconciler.store.loadAllocations())
        let allocated = ContinuousClock.now
        let outcome = Planner.plan(desired: loaded.state, commit: loaded.commit, hosts: hosts,
                                   allocations: allocations.allocations, previous: loaded.state, owner: owner)
        let end = ContinuousClock.now
        times.append(seconds(end - start))
        phases.append([seconds(read - start), seconds(observed - read), seconds(allocated - observed), seconds(end - allocated)])
        actions = outcome.plan.actions.count
        if !outcome.plan.isEmpty {
            print(PlanRenderer.text(outcome.plan).split(separator: "\n").prefix(20).joined(separator: "\n"))
        }
    }
    let transactions = await network.transactionCount - transactionsBefore
    print(String(format: "  resident memory after the plans: %.1f MiB", residentMemory().current))
    times.sort()
    print(String(format: "no-op plan over %d managed instances (git read + validate + observe + diff): median %.3f s, best %.3f s",
                 count, times[times.count / 2], times[0]))
    let median = { (i: Int) in phases.map { $0[i] }.sorted()[phases.count / 2] }
    print(String(format: "  phases (median): read+validate %.3f s, observe %.3f s, allocate %.3f s, diff %.3f s",
                 median(0), median(1), median(2), median(3)))
    print("plan actions: \(actions); driver write calls: \(counter.writes.count); OVSDB transactions: \(transactions)")
    return actions == 0 && counter.writes.isEmpty && transactions == 0
}

/// Resident memory of this process, from /proc/self/status (VmRSS and its peak VmHWM), in MiB.
func residentMemory() -> (current: Double, peak: Double) {
    let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    func value(_ key: String) -> Double {
        let line = status.split(separator: "\n").first { $0.hasPrefix(key + ":") } ?? ""
        return (Double(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) / 1024
    }
    return (value("VmRSS"), value("VmHWM"))
}

/// Where resident memory goes: five rounds of each part of a plan, with the resident size after each.
func memoryByPhase(_ laid: LaidOut) async throws {
    func report(_ phase: String) { print(String(format: "%-28@ %.1f MiB", phase as NSString, residentMemory().current)) }
    report("after setup")
    for _ in 0..<5 { _ = try laid.source.load(nil) }
    report("5 x read + validate")
    for _ in 0..<5 { _ = try await laid.compute.observe() }
    report("5 x compute observe")
    for _ in 0..<5 { _ = try await laid.storage.observe() }
    report("5 x storage observe")
    for _ in 0..<5 { _ = try await laid.network.observePorts() }
    report("5 x ports observe")
}

// The allocator's policy of `driftless` itself, so the figures are the product's.
MemoryPolicy.returnLargeBlocks()
let arguments = CommandLine.arguments.dropFirst()
let mode = arguments.first ?? "noop-plan"
let count = arguments.dropFirst().first.flatMap { Int($0) } ?? 1000
do {
    switch mode {
    case "noop-plan":
        if try await !withLaidOut(count: count, { try await noopPlan($0, count: count) }) { exit(1) }
    case "memory-by-phase": try await withLaidOut(count: count) { try await memoryByPhase($0) }
    case "many-hosts":
        let numbers = arguments.dropFirst().compactMap { Int($0) }
        let (hosts, perHost, new) = (numbers.first ?? 100, numbers.dropFirst().first ?? 100, numbers.dropFirst(2).first ?? 1000)
        if try await !manyHostsPlan(hosts: hosts, perHost: perHost, new: new) { exit(1) }
    default:
        FileHandle.standardError.write(Data("usage: DriftlessReconcileBench noop-plan|memory-by-phase [N] | many-hosts [HOSTS PER-HOST NEW] (the daemon's memory: benchmarks/serve_memory.sh)\n".utf8))
        exit(2)
    }
} catch {
    FileHandle.standardError.write(Data("benchmark failed: \(error)\n".utf8))
    exit(1)
}
