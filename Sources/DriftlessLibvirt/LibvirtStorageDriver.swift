import DriftlessCore
import DriftlessFetch
import Foundation

/// The storage driver: a host's dir pools, its images and its volumes, through libvirt's storage API (the
/// same calls serve LVM or Ceph RBD pools).
///
/// Dir pools carry no metadata, so which volumes Driftless made is recorded in `ownership`; a volume that
/// is not recorded is never changed or deleted, and a desired volume with its name is a collision.
public final class LibvirtStorageDriver: StorageDriver, @unchecked Sendable {
    public let target: HostTarget
    let connection: LibvirtConnection
    let ownership: any VolumeOwnership
    let inspector: ImageInspector
    /// Reads image sources: `path:` files only under the operator's image directories, `url:` downloads
    /// only from addresses the host allows (loopback and the like only with `allowPrivateImageSources`).
    let stager: ImageStager

    /// `imagePaths` are the operator's image directories (`--image-dir`); `downloads` overrides the
    /// download limits and address policy (tests), which otherwise follow the host's
    /// `allowPrivateImageSources`.
    public init(target: HostTarget, connection: LibvirtConnection, ownership: any VolumeOwnership,
                inspector: ImageInspector = ImageInspector(), imagePaths: ImagePathPolicy = .default,
                downloads: HTTPImageDownloader.Configuration? = nil) {
        self.target = target
        self.connection = connection
        self.ownership = ownership
        self.inspector = inspector
        let addresses = AddressPolicy.forHost(allowPrivateImageSources: target.allowPrivateImageSources)
        self.stager = ImageStager(paths: imagePaths, download: downloads ?? HTTPImageDownloader.Configuration(addresses: addresses))
    }

    // MARK: - Pools

    public func ensurePools() async throws {
        try await blocking { [self] in
            for spec in [target.storagePool, target.imagePool] {
                let pool = try connection.storagePoolIfPresent(name: spec.name)
                    ?? connection.defineStoragePool(StoragePoolXML(name: spec.name, path: spec.path))
                if try !pool.isActive() {
                    do {
                        try pool.build()
                    } catch let error as LibvirtError where error.code == .storagePoolBuilt || error.code == .operationInvalid {
                        // Already built (the directory exists).
                    }
                    try pool.create()
                }
                try pool.setAutostart(true)
                try pool.refresh()
            }
        }
    }

    // MARK: - Observe

    public func observe() async throws -> StorageObservation {
        try await blocking { [self] in
            var volumes: [ObservedVolume] = []
            var images: [ObservedImage] = []
            var unmanaged: Set<String> = []
            var pools: [String: StoragePoolObservation] = [:]
            for spec in [target.storagePool, target.imagePool] {
                guard let pool = try connection.storagePoolIfPresent(name: spec.name) else { continue }
                if try pool.isActive() { try pool.refresh() }
                // Where its volumes are, as the pool itself says (it may predate the Host's spec).
                let definition = try pool.xmlDescription()
                if let path = (try? StoragePoolXML(parsing: definition))?.path {
                    pools[spec.name] = StoragePoolObservation(name: spec.name, path: path)
                }
                let owners = try ownership.volumes(host: target.name, pool: spec.name)
                let pending = try ownership.pendingVolumes(host: target.name, pool: spec.name)
                for volume in try pool.listAllVolumes() {
                    let name = try volume.name()
                    // Left half-made by a killed run: not there yet, and not someone else's either.
                    if pending[name] != nil { continue }
                    guard let owner = owners[name] else {
                        unmanaged.insert(name)
                        continue
                    }
                    let xml = try StorageVolumeXML(parsing: volume.xmlDescription())
                    let format = DiskFormat(xml.format)
                    switch owner.kind {
                    case .image:
                        images.append(ObservedImage(
                            id: owner, volumeName: name, path: try volume.path(),
                            sha256: Self.digest(fromImageVolumeName: name), format: format,
                            size: ByteSize(bytes: xml.capacity)))
                    case .volume:
                        volumes.append(ObservedVolume(
                            id: owner, volumeName: name, path: try volume.path(),
                            capacity: ByteSize(bytes: xml.capacity), format: format))
                    default:
                        continue  // Root disks and seeds belong to instances; the compute driver manages them.
                    }
                }
            }
            return StorageObservation(volumes: volumes, images: images, unmanagedVolumeNames: unmanaged,
                                      storagePool: pools[target.storagePool.name], imagePool: pools[target.imagePool.name])
        }
    }

    /// The digest prefix recorded in an image volume's name (`img-<name>-<12 hex>.<format>`).
    static func digest(fromImageVolumeName name: String) -> String {
        let stem = name.split(separator: ".").dropLast().joined(separator: ".")
        return stem.split(separator: "-").last.map(String.init) ?? ""
    }

    // MARK: - Images

    public func importImage(_ request: ImageRequest) async throws -> ObservedImage {
        let pool = try await blocking { [self] in try connection.lookupStoragePool(name: target.imagePool.name) }
        if let existing = try await blocking({ try pool.volumeIfPresent(name: request.volumeName) }) {
            if try ownership.owner(host: target.name, pool: target.imagePool.name, volume: request.volumeName) == request.id {
                return try await blocking { [self] in try observedImage(request, volume: existing) }
            }
            guard try ownership.pendingVolumes(host: target.name, pool: target.imagePool.name)[request.volumeName] == request.id
            else { throw LibvirtDriverError.collision(domain: request.volumeName, host: target.name) }
            // A run was killed while importing: what it left is incomplete. Start over.
            await removeAfterFailedUpload(existing, pool: pool)
        }
        // Copy or fetch into a private temporary file, hashing as the bytes arrive.
        let staged = try await stager.stage(request.source)
        defer { try? FileManager.default.removeItem(at: staged.file) }
        // Only the expected digest is ever named: the actual one would tell anyone who can read the
        // journal, the log or the API the digest of any file the source reached.
        guard staged.sha256 == request.sha256 else {
            throw ImageImportError.checksumMismatch(image: request.id.description, expected: request.sha256)
        }
        try await inspector.check(staged.file.path, declaredFormat: request.format, image: request.id.description)
        let uploaded: (LibvirtStorageVolume, any Error)? = try await blocking { [self] in
            let size = UInt64(staged.bytes)
            try ownership.recordPending(host: target.name, pool: target.imagePool.name, volume: request.volumeName, owner: request.id)
            let volume = try pool.createVolume(StorageVolumeXML(
                name: request.volumeName, capacity: size, format: DomainXML.Disk.Format(request.format)))
            do {
                try volume.upload(contentsOf: staged.file)
                return nil
            } catch {
                return (volume, error)
            }
        }
        if let (volume, error) = uploaded {
            await removeAfterFailedUpload(volume, pool: pool)
            throw driverError(error, host: target.name)
        }
        return try await blocking { [self] in
            try ownership.record(host: target.name, pool: target.imagePool.name, volume: request.volumeName, owner: request.id)
            try pool.refresh()
            return try observedImage(request, volume: try pool.lookupVolume(name: request.volumeName))
        }
    }

    /// Deletes a half-written volume. libvirt may still hold it for the aborted upload job for a moment,
    /// so the delete is retried briefly; a volume that survives is unrecorded, hence never used.
    func removeAfterFailedUpload(_ volume: LibvirtStorageVolume, pool: LibvirtStoragePool) async {
        for _ in 0..<50 {
            if (try? await blocking({ try volume.delete() })) != nil { break }
            try? await Task.sleep(for: .milliseconds(100))
        }
        _ = try? await blocking { try pool.refresh() }
    }

    func observedImage(_ request: ImageRequest, volume: LibvirtStorageVolume) throws -> ObservedImage {
        let xml = try StorageVolumeXML(parsing: volume.xmlDescription())
        return ObservedImage(id: request.id, volumeName: request.volumeName, path: try volume.path(),
                             sha256: request.sha256, format: request.format, size: ByteSize(bytes: xml.capacity))
    }

    public func deleteImage(_ image: ObservedImage) async throws {
        try await deleteOwned(pool: target.imagePool.name, volume: image.volumeName, owner: image.id)
    }

    // MARK: - Volumes

    public func createVolume(_ request: VolumeRequest) async throws -> ObservedVolume {
        try await blocking { [self] in
            let pool = try connection.lookupStoragePool(name: target.storagePool.name)
            if let existing = try pool.volumeIfPresent(name: request.volumeName) {
                if try ownership.owner(host: target.name, pool: target.storagePool.name, volume: request.volumeName) == request.id {
                    return try observedVolume(request.id, existing)
                }
                guard try ownership.pendingVolumes(host: target.name, pool: target.storagePool.name)[request.volumeName] == request.id
                else { throw LibvirtDriverError.collision(domain: request.volumeName, host: target.name) }
                // Left half-made by a killed run (it was new, so it holds no data yet): make it again.
                try existing.delete()
            }
            try ownership.recordPending(host: target.name, pool: target.storagePool.name, volume: request.volumeName, owner: request.id)
            let xml = StorageVolumeXML(name: request.volumeName, capacity: request.size.bytes,
                                       format: DomainXML.Disk.Format(request.format))
            let volume: LibvirtStorageVolume
            if let base = request.baseImage {
                let source = try connection.lookupStorageVolume(path: base.path)
                volume = try pool.createVolume(xml, cloning: source)
                let capacity = try StorageVolumeXML(parsing: volume.xmlDescription()).capacity
                if capacity < request.size.bytes { try volume.resize(capacity: request.size.bytes) }
            } else {
                volume = try pool.createVolume(xml)
            }
            try ownership.record(host: target.name, pool: target.storagePool.name, volume: request.volumeName, owner: request.id)
            return try observedVolume(request.id, volume)
        }
    }

    func observedVolume(_ id: ObjectID, _ volume: LibvirtStorageVolume) throws -> ObservedVolume {
        let xml = try StorageVolumeXML(parsing: volume.xmlDescription())
        return ObservedVolume(id: id, volumeName: try volume.name(), path: try volume.path(),
                              capacity: ByteSize(bytes: xml.capacity), format: DiskFormat(xml.format))
    }

    public func resizeVolume(_ volume: ObservedVolume, to size: ByteSize) async throws -> ObservedVolume {
        guard size >= volume.capacity else {
            throw ImageImportError.shrinkRefused(volume: volume.volumeName, from: volume.capacity, to: size)
        }
        return try await blocking { [self] in
            let pool = try connection.lookupStoragePool(name: target.storagePool.name)
            guard try ownership.owner(host: target.name, pool: target.storagePool.name, volume: volume.volumeName) == volume.id
            else { throw LibvirtDriverError.collision(domain: volume.volumeName, host: target.name) }
            let handle = try pool.lookupVolume(name: volume.volumeName)
            if size > volume.capacity { try handle.resize(capacity: size.bytes) }
            return try observedVolume(volume.id, handle)
        }
    }

    public func deleteVolume(_ volume: ObservedVolume) async throws {
        try await deleteOwned(pool: target.storagePool.name, volume: volume.volumeName, owner: volume.id)
    }

    /// Stops managing a volume without touching its data (`deletionPolicy: Retain`).
    public func releaseVolume(_ volume: ObservedVolume) async throws {
        try ownership.forget(host: target.name, pool: target.storagePool.name, volume: volume.volumeName)
    }

    // MARK: - Moves

    public func read(volumeAt path: String) async throws -> any VolumeReader {
        let connection = self.connection
        return try await blocking { [self] in
            let volume = try connection.lookupStorageVolume(path: path)
            return LibvirtVolumeReader(stream: try volume.startDownload(), length: try volume.physicalSize(),
                                       connection: connection, host: target.name)
        }
    }

    /// Made as a raw file of exactly the bytes coming, then written through an upload stream: the bytes
    /// are the old host's file as it is (a qcow2 overlay keeps its header, so its backing image is named
    /// by the same path), and a pool refresh reads its format and size from them.
    public func receive(_ incoming: IncomingVolume, from source: any VolumeReader) async throws -> String {
        let (volume, stream): (LibvirtStorageVolume, LockedStream) = try await blocking { [self] in
            let pool = try connection.lookupStoragePool(name: target.storagePool.name)
            if let existing = try pool.volumeIfPresent(name: incoming.volumeName) {
                if incoming.recorded {
                    let owner = try ownership.owner(host: target.name, pool: target.storagePool.name, volume: incoming.volumeName)
                    let pending = try ownership.pendingVolumes(host: target.name, pool: target.storagePool.name)[incoming.volumeName]
                    guard owner == incoming.id || pending == incoming.id
                    else { throw LibvirtDriverError.collision(domain: incoming.volumeName, host: target.name) }
                }
                // What an interrupted move left: the old host's copy is still the one that counts.
                try existing.delete()
            }
            if incoming.recorded {
                try ownership.recordPending(host: target.name, pool: target.storagePool.name, volume: incoming.volumeName, owner: incoming.id)
            }
            let volume = try pool.createVolume(StorageVolumeXML(name: incoming.volumeName, capacity: source.length, format: .raw))
            return (volume, LockedStream(try volume.startUpload(length: source.length)))
        }
        do {
            while let chunk = try await source.next() {
                try await blocking { try stream.use { try $0.send(chunk) } }
            }
            try await blocking { try stream.use { try $0.finish() } }
        } catch {
            stream.use { $0.abort() }
            throw driverError(error, host: target.name)
        }
        return try await blocking { [self] in
            let pool = try connection.lookupStoragePool(name: target.storagePool.name)
            try pool.refresh()
            if incoming.recorded {
                try ownership.record(host: target.name, pool: target.storagePool.name, volume: incoming.volumeName, owner: incoming.id)
            }
            return try volume.path()
        }
    }

    func deleteOwned(pool poolName: String, volume name: String, owner: ObjectID) async throws {
        try await blocking { [self] in
            guard let pool = try connection.storagePoolIfPresent(name: poolName),
                  let volume = try pool.volumeIfPresent(name: name)
            else {
                try ownership.forget(host: target.name, pool: poolName, volume: name)
                return
            }
            guard try ownership.owner(host: target.name, pool: poolName, volume: name) == owner else {
                throw LibvirtDriverError.collision(domain: name, host: target.name)
            }
            try volume.delete()
            try ownership.forget(host: target.name, pool: poolName, volume: name)
        }
    }

    func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await connection.perform(host: target.name, body)
    }
}

/// Why an image was not imported or a volume not changed; every case is terminal (retrying won't help).
public enum ImageImportError: DriverError, Equatable {
    /// The source's digest is not the manifest's. Only the expected digest is kept: the actual one would be
    /// an oracle for the contents of whatever file the source named.
    case checksumMismatch(image: String, expected: String)
    case unsafeImage(image: String, reason: String)
    case shrinkRefused(volume: String, from: ByteSize, to: ByteSize)

    public var failureKind: FailureKind { .terminal }

    public var description: String {
        switch self {
        case let .checksumMismatch(image, expected):
            "\(image): the source does not have the sha256 the manifest gives (\(expected)); not imported"
        case let .unsafeImage(image, reason): "\(image): refused: \(reason)"
        case let .shrinkRefused(volume, from, to): "volume \(volume) cannot shrink from \(from) to \(to)"
        }
    }
}

/// A stream used by one owner, one call at a time, from whichever thread of the connection's pool runs
/// the call: the lock makes each call see the last one's effects.
final class LockedStream: @unchecked Sendable {
    private let stream: LibvirtStream
    private let lock = NSLock()

    init(_ stream: LibvirtStream) {
        self.stream = stream
    }

    func use<T>(_ body: (LibvirtStream) throws -> T) rethrows -> T {
        try lock.withLock { try body(stream) }
    }
}

/// The bytes of a volume on the old host of a move, downloaded a MiB at a time (`virStorageVolDownload`)
/// on that host's connection threads.
final class LibvirtVolumeReader: VolumeReader, @unchecked Sendable {
    static let chunkSize = 1 << 20
    let length: UInt64
    private let stream: LockedStream
    private let connection: LibvirtConnection
    private let host: String
    private let finished = LockedValue(false)

    init(stream: LibvirtStream, length: UInt64, connection: LibvirtConnection, host: String) {
        self.stream = LockedStream(stream)
        self.length = length
        self.connection = connection
        self.host = host
    }

    func next() async throws -> Data? {
        if finished.value { return nil }
        let stream = self.stream
        let chunk = try await connection.perform(host: host) {
            try stream.use { stream -> Data in
                let data = try stream.receive(upTo: Self.chunkSize)
                if data.isEmpty { try stream.finish() }
                return data
            }
        }
        if chunk.isEmpty {
            finished.value = true
            return nil
        }
        return chunk
    }
}
