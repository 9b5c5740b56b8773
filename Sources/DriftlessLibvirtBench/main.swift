// Benchmarks of the libvirt drivers (issue 3), printed for the closing note:
//
//   swift run -c release DriftlessLibvirtBench start 20      define+start 20 instances in parallel on qemu:///system
//   swift run -c release DriftlessLibvirtBench observe 1000  observe 1,000 managed domains (test:///default)
import DriftlessCore
import DriftlessLibvirt
import DriftlessStore
import DriftlessProcess
import Foundation

func measure<T>(_ body: () async throws -> T) async rethrows -> (T, Double) {
    let start = ContinuousClock.now
    let value = try await body()
    let elapsed = ContinuousClock.now - start
    return (value, elapsed.inSeconds)
}

func run(_ arguments: [String]) throws {
    _ = try ChildProcess.runBlocking(arguments[0], Array(arguments.dropFirst()))
}

func observeBenchmark(count: Int) async throws {
    let target = HostTarget(
        name: "bench", libvirtURI: "test:///default", ovsdbEndpoint: "unix:/nonexistent", bridge: "br-int",
        datapath: .netdev, storagePool: PoolSpec(name: "v", path: "/tmp/v"), imagePool: PoolSpec(name: "i", path: "/tmp/i"))
    let connection = try LibvirtConnection(uri: "test:///default")
    for i in 0..<count {
        let metadata = DriftlessMetadata(kind: "Instance", project: "bench", name: "vm-\(i)", specHash: "h\(i)",
                                         commit: "c", image: "img-tiny.qcow2", seedHash: "s\(i)")
        let xml = DomainXML(type: .qemu, name: "bench.vm-\(i)", memoryKiB: 131072, vcpus: 1,
                            disks: [.init(path: "/tmp/root-\(i).qcow2", target: "vda")],
                            interfaces: [.init(bridge: "br-int", mac: String(format: "52:54:00:00:%02x:%02x", i / 256, i % 256),
                                               interfaceID: UUID().uuidString.lowercased(), vlanTag: 100)],
                            metadata: metadata)
        _ = try connection.defineDomain(xml)
    }
    let driver = LibvirtComputeDriver(target: target, connection: connection, virtType: .qemu)
    var times: [Double] = []
    var seen = 0
    for _ in 0..<5 {
        let (observation, seconds) = try await measure { try await driver.observe() }
        seen = observation.instances.count
        times.append(seconds)
    }
    times.sort()
    print(String(format: "observe %d managed domains (test:///default): median %.3f s, best %.3f s (%d seen)",
                 count, times[times.count / 2], times[0], seen))
}

func startBenchmark(count: Int) async throws {
    let directory = "/var/tmp/driftless-bench-\(UUID().uuidString.prefix(8))"
    let prefix = "bench\(UUID().uuidString.prefix(4).lowercased())"
    let target = HostTarget(
        name: "local", libvirtURI: "qemu:///system", ovsdbEndpoint: "unix:/var/run/openvswitch/db.sock", bridge: "br-int",
        datapath: .netdev, storagePool: PoolSpec(name: "\(prefix)-vols", path: "\(directory)/vols"),
        imagePool: PoolSpec(name: "\(prefix)-imgs", path: "\(directory)/imgs"))
    let connection = try LibvirtConnection(uri: "qemu:///system")
    let store = try Store()
    // The benchmark's own directory holds its image: the only one the driver may read from.
    let storage = LibvirtStorageDriver(target: target, connection: connection, ownership: store,
                                       imagePaths: ImagePathPolicy(directories: [directory], stateDirectory: nil))
    let compute = LibvirtComputeDriver(target: target, connection: connection, virtType: .qemu, shutdownTimeout: .seconds(1))
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer {
        for name in [target.storagePool.name, target.imagePool.name] {
            if let pool = try? connection.storagePoolIfPresent(name: name) {
                for volume in (try? pool.listAllVolumes()) ?? [] { try? volume.delete() }
                try? pool.destroy()
                try? pool.undefine()
            }
        }
        try? FileManager.default.removeItem(atPath: directory)
    }
    try await storage.ensurePools()
    let imagePath = "\(directory)/tiny.qcow2"
    try run(["qemu-img", "create", "-q", "-f", "qcow2", imagePath, "64M"])
    let bytes = try Data(contentsOf: URL(fileURLWithPath: imagePath))
    let image = try await storage.importImage(ImageRequest(
        id: ObjectID(.image, "tiny"), source: .path(imagePath), sha256: StableHash.sha256Hex(bytes: Array(bytes)), format: .qcow2))
    let requests = (0..<count).map { i in
        InstanceRequest(
            id: ObjectID(.instance, project: prefix, "vm-\(i)"), vcpus: 1, memory: .mebibytes(64), power: .running,
            rootDisk: RootDiskRequest(volumeName: StorageNaming.rootDiskName(project: prefix, instance: "vm-\(i)"),
                                      size: .gibibytes(1), image: image),
            volumes: [], nics: [], seed: CloudInitSeed(hostname: "vm-\(i)", accounts: [], userData: nil),
            specHash: "h", commit: "c")
    }
    let (created, seconds) = try await measure {
        try await withThrowingTaskGroup(of: ObservedInstance.self) { group in
            for request in requests { group.addTask { try await compute.create(request) } }
            var all: [ObservedInstance] = []
            for try await instance in group { all.append(instance) }
            return all
        }
    }
    let running = created.filter { $0.power == .running }.count
    print(String(format: "define+start %d instances in parallel (qemu:///system, software emulation): %.2f s, %d running",
                 count, seconds, running))
    let (_, deleteSeconds) = try await measure {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for instance in created { group.addTask { try await compute.delete(instance, shutdownTimeout: .milliseconds(100)) } }
            try await group.waitForAll()
        }
    }
    print(String(format: "delete them in parallel: %.2f s", deleteSeconds))
}

let arguments = CommandLine.arguments.dropFirst()
let mode = arguments.first ?? "all"
let count = arguments.dropFirst().first.flatMap { Int($0) }
do {
    if mode == "observe" || mode == "all" { try await observeBenchmark(count: count ?? 1000) }
    if mode == "start" || mode == "all" { try await startBenchmark(count: count ?? 20) }
} catch {
    FileHandle.standardError.write(Data("benchmark failed: \(error)\n".utf8))
    exit(1)
}
