import DriftlessCore
import Foundation

/// The compute driver: instances as libvirt domains, tagged with Driftless metadata the way Nova tags its
/// domains, with a qcow2 root overlay on the image and a cloud-init NoCloud seed.
///
/// Blocking libvirt calls run on each connection's own threads (`LibvirtWorkers`), so that many actions
/// proceed in parallel without holding Swift's cooperative threads; waits (a guest shutting down) are
/// async sleeps between calls, never a sleeping thread.
public final class LibvirtComputeDriver: ComputeDriver, @unchecked Sendable {
    public let target: HostTarget
    /// One or more connections to the host's libvirtd, used in turn: libvirtd serves a few requests of
    /// each client at a time (see `ConnectionState.requestsInFlight`), so parallel applies spread over
    /// several connections.
    let connections: [LibvirtConnection]
    private let turn = LockedCounter()
    var connection: LibvirtConnection { connections[turn.increment() % connections.count] }
    /// The domain type new domains get: given, or resolved once from the host's `virtualization`.
    private let fixedVirtType: DomainXML.VirtType?
    private let resolvedVirtType = LockedValue<DomainXML.VirtType?>(nil)
    let seedBuilder: SeedImageBuilder
    /// How long a graceful shutdown may take before the domain is destroyed, when powering off.
    let shutdownTimeout: Duration

    /// Wraps an open connection to the host's libvirtd.
    /// `virtType` nil: the Host's `virtualization` decides, `auto` asking the host's libvirt whether it
    /// offers KVM.
    public convenience init(target: HostTarget, connection: LibvirtConnection, virtType: DomainXML.VirtType? = nil,
                            seedBuilder: SeedImageBuilder = SeedImageBuilder(), shutdownTimeout: Duration = .seconds(30)) {
        self.init(target: target, connections: [connection], virtType: virtType, seedBuilder: seedBuilder,
                  shutdownTimeout: shutdownTimeout)
    }

    /// Wraps several open connections to the same host, used in turn.
    public init(target: HostTarget, connections: [LibvirtConnection], virtType: DomainXML.VirtType? = nil,
                seedBuilder: SeedImageBuilder = SeedImageBuilder(), shutdownTimeout: Duration = .seconds(30)) {
        precondition(!connections.isEmpty, "a compute driver needs a connection")
        self.target = target
        self.connections = connections
        self.fixedVirtType = virtType
        self.seedBuilder = seedBuilder
        self.shutdownTimeout = shutdownTimeout
    }

    /// Opens the host's libvirt URI and wraps it.
    public convenience init(target: HostTarget) throws {
        let connection: LibvirtConnection
        do {
            connection = try LibvirtConnection(uri: target.libvirtURI)
        } catch {
            throw LibvirtDriverError(error, host: target.name)
        }
        self.init(target: target, connection: connection)
    }

    /// The domain type for a host's `virtualization`: `auto` is `kvm` when the host's libvirt offers it.
    public static func domainType(for virtualization: Virtualization, offersKVM: Bool) -> DomainXML.VirtType {
        switch virtualization {
        case .kvm: .kvm
        case .qemu: .qemu
        case .auto: offersKVM ? .kvm : .qemu
        }
    }

    /// The domain type new domains get on this host (asked of its libvirt once, for `auto`).
    func virtType() throws -> DomainXML.VirtType {
        if let fixedVirtType { return fixedVirtType }
        if let known = resolvedVirtType.value { return known }
        let offersKVM = target.virtualization == .auto ? try connection.offersKVM() : false
        let type = Self.domainType(for: target.virtualization, offersKVM: offersKVM)
        resolvedVirtType.value = type
        return type
    }

    // MARK: - Observe

    public func observe() async throws -> ComputeObservation {
        try await blocking { [self] connection in
            var instances: [ObservedInstance] = []
            var unmanaged: Set<String> = []
            for domain in try connection.listAllDomains() {
                do {
                    let name = try domain.name()
                    guard let marker = try? domain.driftlessMetadata(), marker.kind == Kind.instance.rawValue else {
                        unmanaged.insert(name)
                        continue
                    }
                    instances.append(try observe(domain, name: name, marker: marker))
                } catch let error as LibvirtError where error.code == .noDomain {
                    // Undefined between the listing and this read (by someone else, or a delete running
                    // beside): it is gone, which is what the next observation will say too.
                    continue
                }
            }
            // The interface driver may be missing on a host: then the planner cannot check interfaces.
            let interfaces = try? connection.hostInterfaces()
            // What the host has, for the scheduler; a driver without these calls leaves placement to the
            // Host's declared capacity.
            let capacity = (try? connection.nodeInfo()).map { info in
                HostCapacity(vcpus: info.cpus, memory: .kibibytes(info.memoryKiB),
                             freeMemory: (try? connection.freeMemory()).map { ByteSize(bytes: $0) })
            }
            return ComputeObservation(instances: instances, unmanagedDomainNames: unmanaged, hostInterfaces: interfaces,
                                      capacity: capacity)
        }
    }

    func observe(_ domain: LibvirtDomain, name: String, marker: DriftlessMetadata) throws -> ObservedInstance {
        let persistent = try DomainXML(parsing: domain.xmlDescription(.inactive))
        let state = try domain.state().state
        let info = state.isActive ? try domain.info() : nil
        let power: ObservedInstance.Power
        switch state {
        case .running, .blocked: power = .running
        case .shutoff: power = .stopped
        default: power = .other(String(describing: state))
        }
        let rootName = StorageNaming.rootDiskName(project: marker.project, instance: marker.name)
        let seedName = StorageNaming.seedName(project: marker.project, instance: marker.name)
        // The seed is a disk too (virtio, read-only); it is neither the root disk nor a volume.
        let disks = persistent.disks.filter { $0.device == .disk && ($0.path as NSString).lastPathComponent != seedName }
        let root = disks.first { ($0.path as NSString).lastPathComponent == rootName }
        return ObservedInstance(
            id: ObjectID(.instance, project: marker.project, marker.name), domainName: name,
            uuid: try domain.uuidString(), specHash: marker.specHash, commit: marker.commit,
            imageVolume: marker.image, seedHash: marker.seedHash, owner: marker.owner,
            rootDiskSize: marker.rootDisk.flatMap(UInt64.init).map { ByteSize(bytes: $0) },
            // What the next boot gets: <currentMemory> when someone lowered it below <memory>.
            vcpus: persistent.vcpus, memory: .kibibytes(persistent.currentMemoryKiB ?? persistent.memoryKiB),
            liveVCPUs: info?.vcpus, liveMemory: info.map { .kibibytes($0.memoryKiB) },
            power: power, rootDiskPath: root?.path,
            volumePaths: disks.filter { $0.path != root?.path }.map(\.path),
            nics: persistent.interfaces.map {
                ObservedNIC(mac: $0.mac ?? "", interfaceID: $0.interfaceID, bridge: $0.bridge, vlan: $0.vlanTag,
                            offloadsOff: $0.offloadsOff)
            }, seedUsers: marker.users, movingTo: marker.movingTo, movedFrom: marker.movedFrom)
    }

    // MARK: - Create

    public func create(_ request: InstanceRequest) async throws -> ObservedInstance {
        // The seed ISO is built first, by a child process the task awaits.
        let seed = try await seedImage(for: request)
        return try await blocking { [self] connection in
            if let existing = try connection.domainIfPresent(name: request.domainName) {
                let marker = try self.marker(of: existing, for: request)
                // Created by an earlier, interrupted run: finish what is missing.
                if request.power == .running, try !existing.isActive() { try existing.create() }
                return try observe(existing, name: request.domainName, marker: marker)
            }
            let pool = try connection.lookupStoragePool(name: target.storagePool.name)
            // No domain yet: a root disk or seed with these names was left by a create that was killed
            // before it defined the domain (or a delete killed after undefining it); it holds nothing the
            // instance has used, and may be half-written. Make both afresh.
            if let leftover = try pool.volumeIfPresent(name: request.rootDisk.volumeName) { try leftover.delete() }
            let rootPath = try ensureRootDisk(request.rootDisk, in: pool)
            let seedPath = try ensureSeed(seed, for: request, in: pool, replace: true)
            let xml = domainXML(for: request, rootPath: rootPath, seedPath: seedPath, type: try virtType())
            let domain = try connection.defineDomain(xml)
            try domain.setAutostart(request.power == .running)
            if request.power == .running { try domain.create() }
            return try observe(domain, name: request.domainName, marker: xml.metadata ?? metadata(for: request))
        }
    }

    func metadata(for request: InstanceRequest) -> DriftlessMetadata {
        DriftlessMetadata(
            kind: Kind.instance.rawValue, project: request.id.project ?? "", name: request.id.name,
            specHash: request.specHash, commit: request.commit, image: request.rootDisk.image.volumeName,
            seedHash: request.seedHash, owner: request.owner, rootDisk: String(request.rootDisk.size.bytes),
            users: GuestAccount.describe(request.seed.accounts))
    }

    /// The domain definition Driftless makes for `request` (also used by benchmarks to lay out many domains).
    ///
    /// The seed is a read-only virtio disk, last: Debian's cloud kernel has no SATA (AHCI) driver, and
    /// every kernel has virtio-blk. Volumes carry their name as the disk serial, so the guest finds each
    /// one at `/dev/disk/by-id/virtio-NAME`, whatever order the kernel probes them in.
    public func domainXML(for request: InstanceRequest, rootPath: String, seedPath: String, type: DomainXML.VirtType) -> DomainXML {
        var disks = [DomainXML.Disk(path: rootPath, format: .qcow2, target: "vda")]
        for (index, volume) in request.volumes.enumerated() {
            disks.append(Self.volumeDisk(volume, target: Self.diskTarget(index + 1)))
        }
        disks.append(DomainXML.Disk(path: seedPath, format: .raw, target: Self.seedTarget, bus: .virtio, device: .disk,
                                    readOnly: true, serial: "cidata"))
        return DomainXML(
            type: type, name: request.domainName, memoryKiB: request.memory.kibibytes, vcpus: request.vcpus,
            disks: disks, interfaces: request.nics.map(Self.interface), serialConsole: true,
            metadata: metadata(for: request))
    }

    static func interface(_ nic: NICAttachment) -> DomainXML.Interface {
        DomainXML.Interface(
            bridge: nic.bridge, mac: nic.identity.mac, interfaceID: nic.identity.interfaceID, openvswitch: true,
            model: "virtio", vlanTag: nic.vlan, targetDevice: nic.identity.deviceName, mtu: nic.mtu,
            offloadsOff: nic.disableOffloads)
    }

    /// The seed's target: out of the way of the volumes' `vdb`, `vdc`, …
    static let seedTarget = "vdzz"

    /// A volume's disk, its serial the volume's name (virtio-blk keeps 20 bytes).
    static func volumeDisk(_ volume: DiskAttachment, target: String) -> DomainXML.Disk {
        let serial = volume.volume.map { String($0.name.prefix(20)) }
        return DomainXML.Disk(path: volume.path, format: DomainXML.Disk.Format(volume.format), target: target, serial: serial)
    }

    /// `vda`, `vdb`, … `vdz`, `vdaa`…
    static func diskTarget(_ index: Int) -> String {
        let letters = Array("abcdefghijklmnopqrstuvwxyz")
        return index < 26 ? "vd\(letters[index])" : "vd\(letters[index / 26 - 1])\(letters[index % 26])"
    }

    /// The root disk: a qcow2 overlay backed by the image (qcow2 or raw), sized to the request.
    func ensureRootDisk(_ root: RootDiskRequest, in pool: LibvirtStoragePool) throws -> String {
        if let existing = try pool.volumeIfPresent(name: root.volumeName) { return try existing.path() }
        let capacity = max(root.size.bytes, root.image.size.bytes)
        let volume = try pool.createVolume(StorageVolumeXML(
            name: root.volumeName, capacity: capacity, format: .qcow2,
            backingStore: .init(path: root.image.path, format: DomainXML.Disk.Format(root.image.format))))
        return try volume.path()
    }

    /// The cloud-init seed ISO of `request`, built by `genisoimage`.
    func seedImage(for request: InstanceRequest) async throws -> Data {
        do {
            return try await seedBuilder.build(seedDocuments(for: request))
        } catch {
            throw driverError(error, host: target.name)
        }
    }

    func seedDocuments(for request: InstanceRequest) throws -> CloudInitDocuments {
        try CloudInitDocuments.render(
            instanceID: "\(request.domainName)-\(request.seedHash.prefix(12))", seed: request.seed, nics: request.nics)
    }

    /// Uploads the seed ISO `image` into the storage pool through a libvirt stream.
    func ensureSeed(_ image: Data, for request: InstanceRequest, in pool: LibvirtStoragePool, replace: Bool) throws -> String {
        let name = StorageNaming.seedName(project: request.id.project ?? "", instance: request.id.name)
        if let existing = try pool.volumeIfPresent(name: name) {
            guard replace else { return try existing.path() }
            try existing.delete()
        }
        let volume = try pool.createVolume(StorageVolumeXML(name: name, capacity: UInt64(image.count), format: .raw))
        try volume.upload(image)
        return try volume.path()
    }

    // MARK: - Update

    public func update(_ request: InstanceRequest, from observed: ObservedInstance) async throws -> InstanceUpdate {
        if request.requiresReplacement(of: observed) {
            throw LibvirtDriverError.needsReplacement(domain: observed.domainName, host: target.name)
        }
        // A new seed is built first, by a child process the task awaits, when what it carries changed (the
        // change set's seed does not depend on the power state).
        let seed = observed.seedHash != request.seedHash ? try await seedImage(for: request) : nil
        let (domain, wasRunning) = try await blocking { [self] connection in
            let domain = try connection.lookupDomain(name: observed.domainName)
            return (domain, try domain.isActive())
        }
        var notes: [String] = []
        // Power off first when asked, so later changes are config-only and cheap; the wait for the guest
        // is async sleeps between looks, holding no thread.
        if request.power == .stopped && wasRunning {
            notes.append(try await powerOff(domain, timeout: shutdownTimeout).description)
        }
        return try await blocking { [self, notes] connection in
            let running = try domain.isActive()
            // What changes, with which effect, judged with the guest as it is while the changes are made:
            // the same decision the plan showed.
            let changes = InstanceChangeSet.between(request, observed, running: running)
            let both: LibvirtDomain.Modification = running ? [.live, .config] : [.config]

            // A live memory change is a decrease on a running guest. An increase changes the definition
            // only: the running guest keeps its old size until it reboots, which is not a difference to fix
            // (and cannot be fixed live).
            if let memory = changes.memory {
                let kib = memory.after.kibibytes
                if running && memory.effect == .live {
                    try domain.setMemory(kibibytes: kib, [.live, .config])
                    try domain.setMaxMemory(kibibytes: kib, [.config])
                } else {
                    try domain.setMaxMemory(kibibytes: kib, [.config])
                    try domain.setMemory(kibibytes: kib, [.config])
                }
            }
            if let vcpus = changes.vcpus {
                if vcpus.after > vcpus.before {
                    try domain.setVcpus(vcpus.after, [.config, .maximum])
                    try domain.setVcpus(vcpus.after, [.config])
                } else {
                    try domain.setVcpus(vcpus.after, [.config])
                    try domain.setVcpus(vcpus.after, [.config, .maximum])
                }
            }

            // Volumes: detach what is no longer listed, attach what is new.
            let persistent = try DomainXML(parsing: domain.xmlDescription(.inactive))
            if let volumes = changes.volumes {
                for disk in persistent.disks where disk.device == .disk && volumes.detach.contains(disk.path) {
                    try domain.detachDevice(xml: DomainXML.diskXMLString(disk), both)
                }
                var used = Set(persistent.disks.map(\.target))
                for volume in volumes.attach {
                    var index = 1
                    while used.contains(Self.diskTarget(index)) { index += 1 }
                    used.insert(Self.diskTarget(index))
                    let disk = Self.volumeDisk(volume, target: Self.diskTarget(index))
                    try domain.attachDevice(xml: DomainXML.diskXMLString(disk), both)
                }
            }

            // NICs by MAC.
            if let nics = changes.nics {
                for interface in persistent.interfaces where nics.detach.contains(interface.mac ?? "") {
                    try domain.detachDevice(xml: DomainXML.interfaceXMLString(interface), both)
                }
                for nic in nics.attach {
                    try domain.attachDevice(xml: DomainXML.interfaceXMLString(Self.interface(nic)), both)
                }
            }
            let offloads = Set(changes.offloads.map(\.nic.identity.mac))
            let retagged = Set((changes.nics?.retag ?? []).map(\.identity.mac))
            for nic in request.nics {
                if offloads.contains(nic.identity.mac) {
                    // Offloads are fixed when QEMU starts the NIC: the definition changes, the guest sees it
                    // at next boot (a live VLAN change below is still live).
                    try domain.updateDevice(xml: DomainXML.interfaceXMLString(Self.interface(nic)), [.config])
                }
                if retagged.contains(nic.identity.mac) {
                    try domain.updateDevice(xml: DomainXML.interfaceXMLString(Self.interface(nic)), both)
                }
            }

            // The root disk grows (a shrink is a replacement, refused above); cloud-init's growpart
            // extends the guest's filesystem at next boot.
            if let rootDisk = changes.rootDisk {
                if running {
                    try domain.blockResize(disk: "vda", bytes: rootDisk.after.bytes)
                } else {
                    let pool = try connection.lookupStoragePool(name: target.storagePool.name)
                    try pool.lookupVolume(name: request.rootDisk.volumeName).resize(capacity: rootDisk.after.bytes)
                }
            }

            // The cloud-init seed: rebuilt when what it carries changed; cloud-init reads it at next boot.
            if changes.seed != nil, let seed {
                let pool = try connection.lookupStoragePool(name: target.storagePool.name)
                _ = try ensureSeed(seed, for: request, in: pool, replace: true)
            }

            try domain.setDriftlessMetadata(metadata(for: request), both)
            try domain.setAutostart(request.power == .running)
            if request.power == .running && !running {
                try domain.create()
            }
            return InstanceUpdate(effects: changes.effects, notes: notes)
        }
    }

    /// The marker of `domain`, which must be the domain Driftless made for `request` (its project, name and
    /// installation); anything else with its name is a collision, never changed.
    func marker(of domain: LibvirtDomain, for request: InstanceRequest) throws -> DriftlessMetadata {
        guard let marker = try? domain.driftlessMetadata(), marker.kind == Kind.instance.rawValue,
              marker.project == request.id.project, marker.name == request.id.name, marker.owner == request.owner
        else { throw LibvirtDriverError.collision(domain: request.domainName, host: target.name) }
        return marker
    }

    /// The domain named `name` and its marker: absent, or without Driftless's instance marker, it is not
    /// one a move may touch (a collision).
    func managedDomain(_ name: String, on connection: LibvirtConnection) throws -> (LibvirtDomain, DriftlessMetadata) {
        guard let domain = try connection.domainIfPresent(name: name),
              let marker = try? domain.driftlessMetadata(), marker.kind == Kind.instance.rawValue
        else { throw LibvirtDriverError.collision(domain: name, host: target.name) }
        return (domain, marker)
    }

    // MARK: - Move

    public func prepareMove(_ observed: ObservedInstance, to host: String, shutdownTimeout: Duration) async throws {
        let domain = try await blocking { [self] connection -> LibvirtDomain in
            let (domain, _) = try managedDomain(observed.domainName, on: connection)
            try domain.setAutostart(false)
            return domain
        }
        if try await blocking({ try domain.isActive() }) { try await powerOff(domain, timeout: shutdownTimeout) }
        try await blocking { [self] in
            guard var marker = try domain.driftlessMetadata(.config) else {
                throw LibvirtDriverError.collision(domain: observed.domainName, host: target.name)
            }
            marker.movingTo = host
            marker.movedFrom = nil
            try domain.setDriftlessMetadata(marker, .config)
        }
    }

    public func arrive(_ request: InstanceRequest, from host: String) async throws -> ObservedInstance {
        let seed = try await seedImage(for: request)
        return try await blocking { [self] connection in
            if let existing = try connection.domainIfPresent(name: request.domainName) {
                let marker = try self.marker(of: existing, for: request)
                return try observe(existing, name: request.domainName, marker: marker)
            }
            let pool = try connection.lookupStoragePool(name: target.storagePool.name)
            guard let root = try pool.volumeIfPresent(name: request.rootDisk.volumeName) else {
                throw LibvirtDriverError.other("the root disk \(request.rootDisk.volumeName) was not copied here", host: target.name)
            }
            let seedPath = try ensureSeed(seed, for: request, in: pool, replace: true)
            var xml = domainXML(for: request, rootPath: try root.path(), seedPath: seedPath, type: try virtType())
            xml.metadata?.movedFrom = host
            let domain = try connection.defineDomain(xml)
            try domain.setAutostart(false)
            return try observe(domain, name: request.domainName, marker: xml.metadata ?? metadata(for: request))
        }
    }

    public func settle(_ request: InstanceRequest) async throws -> ObservedInstance {
        try await blocking { [self] connection in
            let (domain, marker) = try managedDomain(request.domainName, on: connection)
            var settled = marker
            settled.movingTo = nil
            settled.movedFrom = nil
            try domain.setDriftlessMetadata(settled, try domain.isActive() ? [.live, .config] : .config)
            try domain.setAutostart(request.power == .running)
            if request.power == .running, try !domain.isActive() { try domain.create() }
            return try observe(domain, name: request.domainName, marker: settled)
        }
    }

    // MARK: - Delete

    public func delete(_ observed: ObservedInstance, shutdownTimeout: Duration) async throws {
        let found = try await blocking { [self] connection -> (domain: LibvirtDomain, active: Bool)? in
            guard let domain = try connection.domainIfPresent(name: observed.domainName) else { return nil }
            guard let marker = try? domain.driftlessMetadata(), marker.kind == Kind.instance.rawValue else {
                throw LibvirtDriverError.collision(domain: observed.domainName, host: target.name)
            }
            return (domain, try domain.isActive())
        }
        guard let (domain, active) = found else { return }
        if active { try await powerOff(domain, timeout: shutdownTimeout) }
        try await blocking { [self] connection in
            guard let marker = try? domain.driftlessMetadata(), marker.kind == Kind.instance.rawValue else {
                throw LibvirtDriverError.collision(domain: observed.domainName, host: target.name)
            }
            try domain.undefine(.all)
            let pool = try connection.lookupStoragePool(name: target.storagePool.name)
            for name in [StorageNaming.rootDiskName(project: marker.project, instance: marker.name),
                         StorageNaming.seedName(project: marker.project, instance: marker.name)] {
                try pool.volumeIfPresent(name: name)?.delete()
            }
        }
    }

    /// How a guest was powered off.
    enum PowerOff: CustomStringConvertible {
        /// The guest shut down when asked (ACPI power button), within the timeout.
        case acpi(Duration)
        /// The guest was still running at the timeout (or refused the request) and was destroyed.
        case forced(after: Duration, reason: String?)

        var description: String {
            switch self {
            case let .acpi(took): "ACPI shutdown in \(Self.seconds(took))"
            case let .forced(after, reason?): "forced off after \(Self.seconds(after)) (ACPI shutdown refused: \(reason))"
            case let .forced(after, nil): "forced off: no ACPI shutdown within \(Self.seconds(after))"
            }
        }

        static func seconds(_ duration: Duration) -> String {
            let components = duration.components
            return String(format: "%.1f s", Double(components.seconds) + Double(components.attoseconds) / 1e18)
        }
    }

    /// Asks the guest to shut down (ACPI), waits up to `timeout` (async sleeps between looks, no thread
    /// held), then pulls the plug; says which happened.
    @discardableResult
    func powerOff(_ domain: LibvirtDomain, timeout: Duration) async throws -> PowerOff {
        let start = ContinuousClock.now
        let refusal: String? = try await blocking {
            do {
                try domain.shutdown()
                return nil
            } catch {
                return "\(error)"
            }
        }
        let deadline = start + timeout
        while refusal == nil, ContinuousClock.now < deadline {
            if try await blocking({ try !domain.isActive() }) { return .acpi(ContinuousClock.now - start) }
            try await Task.sleep(for: .milliseconds(200))
        }
        return try await blocking {
            if try !domain.isActive() { return .acpi(ContinuousClock.now - start) }
            try domain.destroy()
            return .forced(after: ContinuousClock.now - start, reason: refusal)
        }
    }

    // MARK: - Plumbing

    /// Opens a connection to `target`'s libvirt URI off the cooperative threads; a failure is a
    /// `LibvirtDriverError` naming the host ("host … is unreachable" when libvirtd is down).
    public static func connect(_ target: HostTarget, access: HostAccess = .none) async throws -> LibvirtConnection {
        try await LibvirtConnection.open(uri: target.libvirtURI, host: target.name, access: access)
    }

    /// Runs `body` on the threads of the next connection in turn, handing it that connection.
    func blocking<T: Sendable>(_ body: @escaping @Sendable (LibvirtConnection) throws -> T) async throws -> T {
        let connection = self.connection
        return try await connection.perform(host: target.name) { try body(connection) }
    }

    /// Runs `body` on the threads of the next connection in turn.
    func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await connection.perform(host: target.name, body)
    }
}

/// A compute or storage failure on a host, classified for the applier.
public enum LibvirtDriverError: DriverError, Equatable {
    /// A libvirt call failed.
    case libvirt(LibvirtError, host: String)
    /// A domain or volume with Driftless's name exists but is not Driftless's.
    case collision(domain: String, host: String)
    /// The change needs a new root disk (another image): delete and create, never an in-place update.
    case needsReplacement(domain: String, host: String)
    /// Anything else (building the seed, parsing XML).
    case other(String, host: String)

    init(_ error: any Error, host: String) {
        if let error = error as? LibvirtError {
            self = .libvirt(error, host: host)
        } else if let error = error as? LibvirtDriverError {
            self = error
        } else {
            self = .other(String(describing: error), host: host)
        }
    }

    public var failureKind: FailureKind {
        switch self {
        case let .libvirt(error, _): error.isConnectionLost || error.isTransient ? .transient : .terminal
        case .collision, .needsReplacement, .other: .terminal
        }
    }

    public var description: String {
        switch self {
        case let .libvirt(error, host) where error.isConnectionLost:
            "host \(host) is unreachable: \(error)"
        case let .libvirt(error, host): "on host \(host): \(error)"
        case let .collision(domain, host):
            "on host \(host), \"\(domain)\" exists but is not managed by Driftless; it is never changed or deleted"
        case let .needsReplacement(domain, host):
            "on host \(host), \(domain) needs a new root disk (another image): that is a replacement, which destroys the data on the root disk"
        case let .other(message, host): "on host \(host): \(message)"
        }
    }
}
