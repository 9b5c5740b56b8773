// The many-hosts plan benchmark of issue 13:
//
//   swift run -c release DriftlessReconcileBench many-hosts 100 100 1000
//
// H hosts (in-memory drivers, `DriftlessTesting.InMemoryHost`) each running N managed instances with a
// volume and a NIC, as a from-scratch apply of the same manifests left them; then a commit adding NEW
// unpinned instances. Times, over several runs, the plan of that commit: observing every host, allocating
// addresses, and the diff with the scheduler placing the new instances; the load and validation of the
// manifests is reported beside it. The plan must create exactly the new instances and change nothing else.
import DriftlessCore
import DriftlessTesting
import Foundation

/// The manifests, 500 documents per file.
func manyHostsManifests(hosts: Int, perHost: Int, new: Int) -> [ManifestFile] {
    var docs = ["""
        apiVersion: driftless.dev/v1
        kind: Project
        metadata: {name: bench}
        """, """
        apiVersion: driftless.dev/v1
        kind: Image
        metadata: {name: tiny}
        spec: {source: {path: /var/lib/driftless/images/tiny.qcow2}, sha256: \(TestManifests.digest), format: qcow2}
        """]
    for n in 0..<8 {
        docs.append("""
            apiVersion: driftless.dev/v1
            kind: Network
            metadata: {name: net\(n), project: bench}
            spec: {cidr: 10.\(100 + n).0.0/16, vlan: \(101 + n)}
            """)
    }
    for h in 0..<hosts {
        docs.append("""
            apiVersion: driftless.dev/v1
            kind: Host
            metadata: {name: h\(h), labels: {rack: r\(h % 10)}}
            spec:
              libvirt: qemu+tls://h\(h)/system
              ovsdb: ssl:h\(h):6640
              capacity: {vcpus: 64, memory: 512GiB}
            """)
    }
    for i in 0..<(hosts * perHost) {
        docs.append("""
            apiVersion: driftless.dev/v1
            kind: Volume
            metadata: {name: data-\(i), project: bench}
            spec: {size: 1GiB}
            ---
            apiVersion: driftless.dev/v1
            kind: Instance
            metadata: {name: vm-\(i), project: bench}
            spec: {image: tiny, vcpus: 1, memory: 1GiB, rootDisk: 1GiB, networks: [{network: net\(i % 8)}], volumes: [data-\(i)]}
            """)
    }
    for i in 0..<new {
        docs.append("""
            apiVersion: driftless.dev/v1
            kind: Instance
            metadata: {name: new-\(i), project: bench}
            spec: {image: tiny, vcpus: 1, memory: 1GiB, rootDisk: 1GiB, networks: [{network: net\(i % 8)}]}
            """)
    }
    return stride(from: 0, to: docs.count, by: 500).map { start in
        ManifestFile(path: "cloud-\(start / 500).yaml",
                     text: docs[start..<min(start + 500, docs.count)].joined(separator: "\n---\n") + "\n")
    }
}

/// The from-scratch apply of `state` onto the in-memory hosts (its plan and results are dropped after).
func setUp(_ state: DesiredState, allocations: [IPAllocation], drivers: [String: HostDrivers],
           observe: () async -> [HostObservation]) async throws {
    let fromScratch = Planner.plan(desired: state, commit: "c0", hosts: await observe(), allocations: allocations)
    guard !fromScratch.plan.hasErrors else { throw BenchFailure(description: "\(fromScratch.plan.diagnostics.prefix(3))") }
    let applied = await Applier(drivers: drivers, options: Applier.Options(parallelism: 64)) { _ in }.apply(fromScratch.steps.map(\.step))
    guard applied.isSuccess else { throw BenchFailure(description: "the setup apply failed") }
}

/// Runs the benchmark; returns whether every plan was exactly the new instances' creates.
func manyHostsPlan(hosts hostCount: Int, perHost: Int, new: Int) async throws -> Bool {
    let clock = ContinuousClock()
    func load(_ new: Int) throws -> DesiredState {
        let result = ManifestLoader.load(manyHostsManifests(hosts: hostCount, perHost: perHost, new: new))
        guard result.isValid else {
            throw BenchFailure(description: "invalid manifests: \(result.diagnostics.prefix(3))")
        }
        return result.state
    }

    // The cloud as a from-scratch apply left it; the setup's state goes once applied.
    let setupStart = clock.now
    let (targets, allocations): ([HostTarget], [IPAllocation]) = try {
        let before = try load(0)
        return (before.hosts.map(HostTarget.init), IPAllocator.allocate(for: before, existing: []).allocations)
    }()
    let memoryHosts = targets.map { _ in InMemoryHost() }
    let drivers = Dictionary(uniqueKeysWithValues: zip(targets, memoryHosts).map { target, host in
        (target.name, HostDrivers(target: target, compute: host, storage: host, network: host))
    })
    func observe() async -> [HostObservation] {
        await withTaskGroup(of: (Int, HostObservation).self) { group in
            for (index, target) in targets.enumerated() {
                group.addTask { (index, await drivers[target.name]!.observe()) }
            }
            var all = [HostObservation?](repeating: nil, count: targets.count)
            for await (index, observation) in group { all[index] = observation }
            return all.map { $0! }
        }
    }
    try await setUp(try load(0), allocations: allocations, drivers: drivers, observe: observe)
    // What the setup made and dropped goes back to the system, and the peak starts again here
    // (`clear_refs` 5), so the figures below are the plan's: the process now holds the simulated hosts.
    _ = malloc_trim(0)
    resetPeakMemory()
    let baseline = residentMemory().current
    print(String(format: "setup: %d hosts, %d instances with a volume and a NIC each, applied in %.1f s; %.1f MiB resident with the simulated hosts",
                 hostCount, hostCount * perHost, (clock.now - setupStart).inSeconds, residentMemory().current))

    // The measured plans of the commit that adds `new` instances.
    let loadStart = clock.now
    let desired = try load(new)
    let loadTime = (clock.now - loadStart).inSeconds
    print(String(format: "  after loading the new commit: %.1f MiB resident", residentMemory().current))
    var times: [Double] = []
    var ok = true
    // BENCH_PHASES=1: memory after each part of the first plan, and the most it reached within that part.
    // The peak is started again for each part, so the overall one is kept here.
    let phases = ProcessInfo.processInfo.environment["BENCH_PHASES"] != nil
    var highest = 0.0
    func phase(_ name: String, first: Bool) {
        guard phases, first else { return }
        let memory = residentMemory()
        highest = max(highest, memory.peak)
        if !name.isEmpty { print(String(format: "    %@: %.1f MiB (peak within %.1f)", name, memory.current, memory.peak)) }
        resetPeakMemory()
    }
    for _ in 0..<5 {
        let start = clock.now
        let first = times.isEmpty
        phase("", first: first)
        let observed = await observe()
        phase("observed", first: first)
        let allocation = IPAllocator.allocate(for: desired, existing: allocations)
        phase("allocated", first: first)
        let outcome = Planner.plan(desired: desired, commit: "c1", hosts: observed, allocations: allocation.allocations)
        phase("planned", first: first)
        times.append((clock.now - start).inSeconds)
        let creates = outcome.steps.filter { if case .createInstance = $0.step { true } else { false } }.count
        if outcome.plan.hasErrors || creates != new || outcome.steps.count != new {
            print("  unexpected plan: \(outcome.steps.count) steps, \(creates) creates, errors: \(outcome.plan.diagnostics.prefix(2))")
            ok = false
        }
        let perHostNew = Dictionary(grouping: outcome.steps.map(\.step.host), by: { $0 }).mapValues(\.count)
        if perHostNew.count != min(new, hostCount) { print("  new instances on \(perHostNew.count) hosts"); ok = false }
    }
    times.sort()
    var memory = residentMemory()
    memory.peak = max(memory.peak, highest)
    print(String(format: "plan (observe %d hosts, allocate, diff, place %d new): median %.3f s, best %.3f s, worst %.3f s",
                 hostCount, new, times[times.count / 2], times[0], times[times.count - 1]))
    print(String(format: "load and validate the %d-object commit: %.2f s", hostCount * perHost * 2 + new + hostCount + 10, loadTime))
    print(String(format: "resident memory: %.1f MiB now, %.1f MiB peak since the setup; the simulated hosts hold %.1f MiB of it, loading and planning %.1f MiB (%.0f MB)",
                 memory.current, memory.peak, baseline, memory.peak - baseline, (memory.peak - baseline) * 1.048576))
    return ok
}

/// Starts the peak resident size (VmHWM) again from the current one (Linux's `clear_refs`, value 5).
func resetPeakMemory() {
    try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
}

struct BenchFailure: Error, CustomStringConvertible {
    var description: String
}

/// glibc's `malloc_trim`: gives freed heap memory back to the system (not exported by the Glibc module).
@_silgen_name("malloc_trim")
func malloc_trim(_ pad: Int) -> Int32
