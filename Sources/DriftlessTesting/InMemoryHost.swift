import DriftlessCore
import Foundation

/// One host in memory, implementing the three driver protocols (like swift-nio's `NIOEmbedded`): what is
/// created is observed afterwards, deleting what is gone succeeds, and chosen calls fail on demand.
///
/// What it models: managed instances (spec, power, attached volumes and NICs), images, volumes (grown,
/// never shrunk), marked ports; unmanaged domain and volume names (collisions); every call recorded in
/// order with the most calls in flight at once; failures per call name, transient or terminal, a given
/// number of times; a delay per call.
///
/// What it does not model (controller-runtime's fake client documents the same kind of list): no
/// libvirt or OVSDB semantics beyond the protocols (no domain XML; pools only as a name and a directory;
/// no bridges: `ensurePools` and `ensureBridge` only record the call); no live/next-boot split (an update
/// takes effect at once and reports no effects); ports made through `apply` stay until deleted; no events; observation is
/// never `unknown` unless `unreachable` is set; running instances' NICs appear as the unmarked ports libvirt
/// would plug (`tap-MAC`) and go when it stops; no capacity limits; volumes are not detached from
/// instances that are deleted.
public final class InMemoryHost: ComputeDriver, StorageDriver, NetworkDriver, @unchecked Sendable {
    /// A failure `InMemoryHost` throws for a call it was told to fail.
    public struct Failure: DriverError {
        public var failureKind: FailureKind
        public var description: String

        public init(failureKind: FailureKind, description: String) {
            self.failureKind = failureKind
            self.description = description
        }
    }

    private let lock = NSLock()
    private var _calls: [String] = []
    private var inFlight = 0
    private var _maxInFlight = 0
    private var failures: [String: (kind: FailureKind, remaining: Int)] = [:]

    private var instances: [ObjectID: ObservedInstance] = [:]
    private var images: [String: ObservedImage] = [:]
    private var volumes: [String: ObservedVolume] = [:]
    private var ports: [String: ObservedPort] = [:]
    private var unplugged: Set<String> = []
    /// What volumes and root disks hold, by path, for the moves that copy them (absent: empty).
    private var contents: [String: Data] = [:]

    /// Domains and volumes without Driftless's marker.
    public var unmanagedDomainNames: Set<String> = []
    public var unmanagedVolumeNames: Set<String> = []
    /// How long each recorded call takes.
    public var delay: Duration
    /// When set, every observation fails with this reason (a host that cannot be read).
    public var unreachable: String?

    /// Where volumes and images "are": the pools' directories, as libvirt dir pools put them, and the
    /// pools' names; observation reports them as the pools. Set from the target by `drivers(for:)`.
    public var volumeDirectory = "/var/lib/driftless/volumes"
    public var imageDirectory = "/var/lib/driftless/images"
    public var volumePoolName = "driftless-volumes"
    public var imagePoolName = "driftless-images"
    /// What the host reports it has, for the scheduler (nil: it cannot tell, as a driver without node calls).
    public var capacity: HostCapacity?

    public init(delay: Duration = .zero) {
        self.delay = delay
    }

    // MARK: - What tests read and arrange

    /// Every call, in order: `create NAME`, `update NAME`, `delete NAME`, `import NAME`, `volume NAME`,
    /// `resize-volume NAME`, `delete-volume NAME`, `retain-volume NAME`, `delete-image NAME`, `ports`,
    /// `ensure-pools`, `ensure-bridge`.
    public var calls: [String] { lock.withLock { _calls } }
    /// The most calls that were in flight at once.
    public var maxInFlight: Int { lock.withLock { _maxInFlight } }

    /// Makes the call `name` fail `times` times (Int.max: always) with an error of `kind`.
    public func fail(_ name: String, _ kind: FailureKind, times: Int = Int.max) {
        lock.withLock { failures[name] = (kind, times) }
    }

    /// Changes an instance out of band (drift), as `virsh setmem` or `virsh destroy` would.
    public func alter(_ id: ObjectID, _ change: (inout ObservedInstance) -> Void) {
        lock.withLock {
            guard var instance = instances[id] else { return }
            change(&instance)
            instances[id] = instance
        }
    }

    /// Writes into a volume or root disk at `path`, as a guest would.
    public func write(_ data: Data, toVolumeAt path: String) {
        lock.withLock { contents[path] = data }
    }

    /// What the volume or root disk at `path` holds (nil: it was never written).
    public func contents(ofVolumeAt path: String) -> Data? {
        lock.withLock { contents[path] }
    }

    /// Removes a port out of band, as `ovs-vsctl del-port` would (also one libvirt plugged).
    public func removePort(_ name: String) {
        lock.withLock {
            if let port = ports.removeValue(forKey: name) ?? pluggedPorts().first(where: { $0.name == name }), let id = port.interfaceID {
                unplugged.insert(id)
            }
        }
    }

    /// The ports libvirt plugs for running instances (`tap-MAC`, the NIC's VLAN tag, no marks), unless
    /// removed out of band or already present by interface id. Called under the lock.
    private func pluggedPorts() -> [ObservedPort] {
        let present = Set(ports.values.compactMap(\.interfaceID))
        return instances.values.filter { $0.power == .running }.flatMap { instance in
            instance.nics.compactMap { nic -> ObservedPort? in
                guard let id = nic.interfaceID, !present.contains(id), !unplugged.contains(id) else { return nil }
                return ObservedPort(name: "tap-\(nic.mac)", interfaceID: id, mac: nic.mac, vlan: nic.vlan, mtu: nil, marks: [:])
            }
        }
    }

    func call(_ name: String) async throws {
        lock.withLock {
            _calls.append(name)
            inFlight += 1
            _maxInFlight = max(_maxInFlight, inFlight)
        }
        if delay > .zero { try? await Task.sleep(for: delay) }
        let failure: FailureKind? = lock.withLock {
            inFlight -= 1
            guard let (kind, remaining) = failures[name], remaining > 0 else { return nil }
            failures[name] = (kind, remaining == Int.max ? remaining : remaining - 1)
            return kind
        }
        if let failure { throw Failure(failureKind: failure, description: "\(name) failed (\(failure.rawValue))") }
    }

    func readable() throws {
        if let unreachable { throw Failure(failureKind: .transient, description: unreachable) }
    }

    // MARK: - ComputeDriver

    public func observe() async throws -> ComputeObservation {
        try readable()
        return lock.withLock {
            ComputeObservation(instances: instances.values.sorted { $0.domainName < $1.domainName }, unmanagedDomainNames: unmanagedDomainNames,
                               capacity: capacity)
        }
    }

    public func create(_ request: InstanceRequest) async throws -> ObservedInstance {
        try await call("create \(request.id.name)")
        let observed = Self.observed(request, uuid: UUID().uuidString.lowercased(), in: volumeDirectory)
        lock.withLock { instances[request.id] = observed }
        return observed
    }

    public func update(_ request: InstanceRequest, from observed: ObservedInstance) async throws -> InstanceUpdate {
        try await call("update \(request.id.name)")
        lock.withLock { instances[request.id] = Self.observed(request, uuid: observed.uuid, in: volumeDirectory) }
        return InstanceUpdate()
    }

    public func delete(_ observed: ObservedInstance, shutdownTimeout: Duration) async throws {
        try await call("delete \(observed.id.name)")
        lock.withLock {
            _ = instances.removeValue(forKey: observed.id)
            if let root = observed.rootDiskPath { contents[root] = nil }
        }
    }

    public func prepareMove(_ observed: ObservedInstance, to host: String, shutdownTimeout: Duration) async throws {
        try await call("prepare-move \(observed.id.name)")
        try lock.withLock {
            guard var instance = instances[observed.id] else { throw Failure(failureKind: .terminal, description: "no domain \(observed.domainName)") }
            instance.movingTo = host
            instances[observed.id] = Self.stopped(instance)
        }
    }

    public func arrive(_ request: InstanceRequest, from host: String) async throws -> ObservedInstance {
        try await call("arrive \(request.id.name)")
        return try lock.withLock {
            if let existing = instances[request.id] { return existing }
            var observed = Self.stopped(Self.observed(request, uuid: UUID().uuidString.lowercased(), in: volumeDirectory))
            guard let root = observed.rootDiskPath, contents[root] != nil else {
                throw Failure(failureKind: .terminal, description: "no root disk copied for \(request.domainName)")
            }
            observed.movedFrom = host
            instances[request.id] = observed
            return observed
        }
    }

    public func settle(_ request: InstanceRequest) async throws -> ObservedInstance {
        try await call("settle \(request.id.name)")
        return try lock.withLock {
            guard let existing = instances[request.id] else { throw Failure(failureKind: .terminal, description: "no domain \(request.domainName)") }
            let settled = Self.observed(request, uuid: existing.uuid, in: volumeDirectory)
            instances[request.id] = settled
            return settled
        }
    }

    /// `instance` powered off: no live vCPUs or memory.
    static func stopped(_ instance: ObservedInstance) -> ObservedInstance {
        var stopped = instance
        stopped.power = .stopped
        stopped.liveVCPUs = nil
        stopped.liveMemory = nil
        return stopped
    }

    static func observed(_ request: InstanceRequest, uuid: String, in directory: String) -> ObservedInstance {
        ObservedInstance(
            id: request.id, domainName: request.domainName, uuid: uuid, specHash: request.specHash, commit: request.commit,
            imageVolume: request.rootDisk.image.volumeName, seedHash: request.seedHash, owner: request.owner,
            rootDiskSize: request.rootDisk.size, vcpus: request.vcpus, memory: request.memory,
            liveVCPUs: request.power == .running ? request.vcpus : nil, liveMemory: request.power == .running ? request.memory : nil,
            power: request.power == .running ? .running : .stopped, rootDiskPath: "\(directory)/\(request.rootDisk.volumeName)",
            volumePaths: request.volumes.map(\.path),
            nics: request.nics.map {
                ObservedNIC(mac: $0.identity.mac, interfaceID: $0.identity.interfaceID, bridge: $0.bridge, vlan: $0.vlan,
                            offloadsOff: $0.disableOffloads)
            }, seedUsers: GuestAccount.describe(request.seed.accounts))
    }

    // MARK: - StorageDriver

    public func ensurePools() async throws { try await call("ensure-pools") }

    public func observe() async throws -> StorageObservation {
        try readable()
        return lock.withLock {
            StorageObservation(volumes: volumes.values.sorted { $0.volumeName < $1.volumeName },
                               images: images.values.sorted { $0.volumeName < $1.volumeName }, unmanagedVolumeNames: unmanagedVolumeNames,
                               storagePool: StoragePoolObservation(name: volumePoolName, path: volumeDirectory),
                               imagePool: StoragePoolObservation(name: imagePoolName, path: imageDirectory))
        }
    }

    public func importImage(_ request: ImageRequest) async throws -> ObservedImage {
        try await call("import \(request.id.name)")
        let image = ObservedImage(id: request.id, volumeName: request.volumeName, path: "\(imageDirectory)/\(request.volumeName)",
                                  sha256: request.sha256, format: request.format, size: .mebibytes(1))
        lock.withLock { images[request.volumeName] = image }
        return image
    }

    public func deleteImage(_ image: ObservedImage) async throws {
        try await call("delete-image \(image.id.name)")
        lock.withLock { _ = images.removeValue(forKey: image.volumeName) }
    }

    public func createVolume(_ request: VolumeRequest) async throws -> ObservedVolume {
        try await call("volume \(request.id.name)")
        let volume = lock.withLock {
            let volume = volumes[request.volumeName]
                ?? ObservedVolume(id: request.id, volumeName: request.volumeName, path: "\(volumeDirectory)/\(request.volumeName)",
                                  capacity: request.size, format: request.format)
            volumes[request.volumeName] = volume
            return volume
        }
        return volume
    }

    public func resizeVolume(_ volume: ObservedVolume, to size: ByteSize) async throws -> ObservedVolume {
        try await call("resize-volume \(volume.id.name)")
        var grown = volume
        grown.capacity = max(volume.capacity, size)
        lock.withLock { volumes[volume.volumeName] = grown }
        return grown
    }

    public func deleteVolume(_ volume: ObservedVolume) async throws {
        try await call("delete-volume \(volume.id.name)")
        lock.withLock {
            _ = volumes.removeValue(forKey: volume.volumeName)
            contents[volume.path] = nil
        }
    }

    public func releaseVolume(_ volume: ObservedVolume) async throws {
        try await call("retain-volume \(volume.id.name)")
        lock.withLock { _ = volumes.removeValue(forKey: volume.volumeName) }
    }

    /// Reads what `write` put there, in chunks of 64 KiB.
    public func read(volumeAt path: String) async throws -> any VolumeReader {
        try await call("read \((path as NSString).lastPathComponent)")
        return ChunkReader(lock.withLock { contents[path] } ?? Data())
    }

    public func receive(_ volume: IncomingVolume, from source: any VolumeReader) async throws -> String {
        try await call("receive \(volume.volumeName)")
        let path = "\(volumeDirectory)/\(volume.volumeName)"
        var data = Data()
        while let chunk = try await source.next() { data.append(chunk) }
        lock.withLock {
            contents[path] = data
            if volume.recorded {
                volumes[volume.volumeName] = ObservedVolume(id: volume.id, volumeName: volume.volumeName, path: path,
                                                            capacity: volume.capacity, format: volume.format)
            }
        }
        return path
    }

    // MARK: - NetworkDriver

    public func ensureBridge() async throws { try await call("ensure-bridge") }

    public func observePorts() async throws -> Observed<[ObservedPort]> {
        if let unreachable { return .unknown(reason: unreachable) }
        return .known(lock.withLock { (Array(ports.values) + pluggedPorts()).sorted { $0.name < $1.name } })
    }

    public func apply(_ changes: PortChangeSet) async throws {
        try await call("ports")
        lock.withLock {
            for name in changes.delete { ports.removeValue(forKey: name) }
            for port in changes.ensure {
                unplugged.remove(port.identity.interfaceID)
                let name = port.identity.deviceName
                ports[name] = ObservedPort(name: name, interfaceID: port.identity.interfaceID, mac: port.identity.mac,
                                           vlan: port.vlan, mtu: port.mtu, marks: port.portMarks)
            }
        }
    }

    /// The drivers of this host for `target`.
    public func drivers(for target: HostTarget) -> HostDrivers {
        volumeDirectory = target.storagePool.path
        imageDirectory = target.imagePool.path
        volumePoolName = target.storagePool.name
        imagePoolName = target.imagePool.name
        return HostDrivers(target: target, compute: self, storage: self, network: self)
    }
}

/// Bytes handed out a chunk at a time, as a libvirt download stream would.
final class ChunkReader: VolumeReader, @unchecked Sendable {
    private let data: Data
    private let lock = NSLock()
    private var offset = 0
    let length: UInt64

    init(_ data: Data) {
        self.data = data
        self.length = UInt64(data.count)
    }

    func next() async throws -> Data? {
        lock.withLock {
            guard offset < data.count else { return nil }
            let end = min(data.count, offset + 65_536)
            defer { offset = end }
            return data.subdata(in: offset..<end)
        }
    }
}
