import Foundation

/// An image as it should be in a host's image pool.
public struct ImageRequest: Sendable, Hashable, Codable {
    public var id: ObjectID
    public var source: ImageSpec.Source
    public var sha256: String
    public var format: DiskFormat
    /// The libvirt volume name in the image pool.
    public var volumeName: String

    public init(id: ObjectID, source: ImageSpec.Source, sha256: String, format: DiskFormat) {
        self.id = id
        self.source = source
        self.sha256 = sha256
        self.format = format
        self.volumeName = StorageNaming.imageVolumeName(id: id, sha256: sha256, format: format)
    }
}

/// An image found in a host's image pool.
public struct ObservedImage: Sendable, Hashable, Codable {
    public var id: ObjectID
    public var volumeName: String
    public var path: String
    public var sha256: String
    public var format: DiskFormat
    public var size: ByteSize

    public init(id: ObjectID, volumeName: String, path: String, sha256: String, format: DiskFormat, size: ByteSize) {
        self.id = id
        self.volumeName = volumeName
        self.path = path
        self.sha256 = sha256
        self.format = format
        self.size = size
    }
}

/// A volume (or an instance's root disk) as it should be in a host's storage pool.
public struct VolumeRequest: Sendable, Hashable, Codable {
    public var id: ObjectID
    public var volumeName: String
    public var size: ByteSize
    public var format: DiskFormat
    /// An image volume to start from: a qcow2 overlay on it (qcow2 volumes on qcow2 images) or a full copy.
    public var baseImage: ObservedImage?
    public var deletionPolicy: DeletionPolicy

    public init(id: ObjectID, volumeName: String, size: ByteSize, format: DiskFormat, baseImage: ObservedImage?,
                deletionPolicy: DeletionPolicy) {
        self.id = id
        self.volumeName = volumeName
        self.size = size
        self.format = format
        self.baseImage = baseImage
        self.deletionPolicy = deletionPolicy
    }
}

/// A managed volume found in a host's storage pool.
public struct ObservedVolume: Sendable, Hashable, Codable {
    public var id: ObjectID
    public var volumeName: String
    public var path: String
    public var capacity: ByteSize
    public var format: DiskFormat

    public init(id: ObjectID, volumeName: String, path: String, capacity: ByteSize, format: DiskFormat) {
        self.id = id
        self.volumeName = volumeName
        self.path = path
        self.capacity = capacity
        self.format = format
    }
}

/// A storage pool as the storage driver found it on the host: where the volumes made in it are.
public struct StoragePoolObservation: Sendable, Hashable {
    public var name: String
    /// The pool's target path as the pool reports it (a dir pool's directory), which may differ from the
    /// Host's spec when the pool existed before.
    public var path: String

    public init(name: String, path: String) {
        self.name = name
        self.path = path
    }

    /// The pool as `ensurePools` defines it from the Host's spec.
    init(_ spec: PoolSpec) {
        self.init(name: spec.name, path: spec.path)
    }

    /// The path a volume named `name` has in this pool: `<target path>/<name>`, as libvirt names the
    /// volumes of pools with a target directory.
    public func path(forVolume name: String) -> String {
        path + "/" + name
    }
}

/// What a storage driver sees in a host's pools: managed volumes, and the names of volumes it does not own
/// (a desired volume with such a name is a collision, never an overwrite).
public struct StorageObservation: Sendable {
    public var volumes: [ObservedVolume]
    public var images: [ObservedImage]
    public var unmanagedVolumeNames: Set<String>
    /// The host's storage pool and image pool; nil when the pool is not defined on the host yet.
    public var storagePool: StoragePoolObservation?
    public var imagePool: StoragePoolObservation?

    public init(volumes: [ObservedVolume], images: [ObservedImage], unmanagedVolumeNames: Set<String>,
                storagePool: StoragePoolObservation? = nil, imagePool: StoragePoolObservation? = nil) {
        self.volumes = volumes
        self.images = images
        self.unmanagedVolumeNames = unmanagedVolumeNames
        self.storagePool = storagePool
        self.imagePool = imagePool
    }
}

/// Drives one host's storage pools: images, volumes and root disks.
///
/// Implementations guarantee: every call is idempotent (creating what exists with the same identity
/// succeeds, deleting what is absent succeeds); an object without Driftless ownership is never changed
/// or deleted; a lost connection is a `.transient` `DriverError`, never "absent".
public protocol StorageDriver: Sendable {
    /// Ensures the host's storage and image pools exist, are active and autostart.
    func ensurePools() async throws
    func observe() async throws -> StorageObservation
    /// Imports an image once: streams it, verifies its sha256 while reading, inspects it with qemu-img,
    /// and refuses a mismatch, a backing file, an external data file or another format.
    func importImage(_ request: ImageRequest) async throws -> ObservedImage
    func deleteImage(_ image: ObservedImage) async throws
    func createVolume(_ request: VolumeRequest) async throws -> ObservedVolume
    /// Grows a volume; shrinking is an error.
    func resizeVolume(_ volume: ObservedVolume, to size: ByteSize) async throws -> ObservedVolume
    func deleteVolume(_ volume: ObservedVolume) async throws
    /// Stops managing a volume without touching its data (`deletionPolicy: Retain`).
    func releaseVolume(_ volume: ObservedVolume) async throws
    /// Opens the volume (or root disk) at `path` in this host's pools, to read its bytes in order: the
    /// sending side of a move.
    func read(volumeAt path: String) async throws -> any VolumeReader
    /// Makes `volume` in this host's storage pool from `source`'s bytes, replacing a copy an interrupted
    /// move left (Driftless's, or recorded as pending); returns its path. A volume of that name that
    /// Driftless does not own is a collision, never overwritten.
    func receive(_ volume: IncomingVolume, from source: any VolumeReader) async throws -> String
}

/// How Driftless names what it keeps in pools, so that ownership is visible in `virsh vol-list`.
public enum StorageNaming {
    /// `img-<name>-<first 12 of sha256>.<format>`, or `img-<project>.<name>-…` for a project image: a new
    /// digest is a new volume, never an overwrite of one an instance is built on.
    public static func imageVolumeName(id: ObjectID, sha256: String, format: DiskFormat) -> String {
        let name = id.project.map { "\($0).\(id.name)" } ?? id.name
        return "img-\(name)-\(sha256.prefix(12)).\(format.rawValue)"
    }

    /// `vol-<project>.<name>.<format>` for a Volume.
    public static func volumeName(project: String, name: String, format: DiskFormat) -> String {
        "vol-\(project).\(name).\(format.rawValue)"
    }

    /// `root-<project>.<instance>.qcow2`: an instance's root disk.
    public static func rootDiskName(project: String, instance: String) -> String {
        "root-\(project).\(instance).qcow2"
    }

    /// `seed-<project>.<instance>.iso`: an instance's cloud-init NoCloud seed.
    public static func seedName(project: String, instance: String) -> String {
        "seed-\(project).\(instance).iso"
    }
}

/// The recorded mapping of which pool volumes Driftless made: dir pools carry no metadata of their own,
/// so ownership of volumes and images lives in the store (the SPEC's "recorded mapping for volumes").
///
/// Implementations are durable: a recorded volume stays recorded across restarts until forgotten.
public protocol VolumeOwnership: Sendable {
    /// The object a volume belongs to, or `nil` when Driftless did not make it.
    func owner(host: String, pool: String, volume: String) throws -> ObjectID?
    /// Every recorded volume of a pool, by volume name.
    func volumes(host: String, pool: String) throws -> [String: ObjectID]
    /// Records that a volume is complete and Driftless's.
    func record(host: String, pool: String, volume: String, owner: ObjectID) throws
    /// Records the intent to make a volume, before it is created: a volume left behind by a run killed
    /// mid-create (a half-uploaded image) is then known as Driftless's leftover, neither used nor taken
    /// for someone else's, and is removed and made again by the next run.
    func recordPending(host: String, pool: String, volume: String, owner: ObjectID) throws
    /// Volumes recorded as pending (started, never completed), by volume name.
    func pendingVolumes(host: String, pool: String) throws -> [String: ObjectID]
    func forget(host: String, pool: String, volume: String) throws
}

/// A volume's bytes as a move reads them from the old host, in order, a chunk at a time: the controller
/// holds one chunk, never the volume.
public protocol VolumeReader: Sendable {
    /// How many bytes the file holds (for a qcow2 file, what it holds, not its virtual size).
    var length: UInt64 { get }
    /// The next chunk, nil at the end.
    func next() async throws -> Data?
}

/// A volume a move makes on the new host from the old host's bytes.
public struct IncomingVolume: Sendable, Hashable, Codable {
    /// The Volume; for a root disk, its instance.
    public var id: ObjectID
    public var volumeName: String
    public var format: DiskFormat
    /// The size the guest sees, as on the old host.
    public var capacity: ByteSize
    /// Recorded as Driftless's once complete (Volumes); a root disk belongs to its instance's domain and
    /// is not.
    public var recorded: Bool

    public init(id: ObjectID, volumeName: String, format: DiskFormat, capacity: ByteSize, recorded: Bool) {
        self.id = id
        self.volumeName = volumeName
        self.format = format
        self.capacity = capacity
        self.recorded = recorded
    }
}
