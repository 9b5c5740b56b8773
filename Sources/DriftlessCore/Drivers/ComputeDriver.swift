/// A disk attached to an instance.
public struct DiskAttachment: Sendable, Hashable, Codable {
    public var path: String
    public var format: DiskFormat
    /// The volume's identity, for attached Volumes (nil for the root disk).
    public var volume: ObjectID?

    public init(path: String, format: DiskFormat, volume: ObjectID? = nil) {
        self.path = path
        self.format = format
        self.volume = volume
    }
}

/// A NIC of an instance: where it plugs in and what address the guest configures.
public struct NICAttachment: Sendable, Hashable, Codable {
    public var identity: NICIdentity
    public var bridge: String
    public var vlan: Int
    public var mtu: Int?
    public var address: IPv4Address?
    public var prefixLength: Int
    public var gateway: IPv4Address?

    public init(identity: NICIdentity, bridge: String, vlan: Int, mtu: Int?, address: IPv4Address?, prefixLength: Int,
                gateway: IPv4Address?) {
        self.identity = identity
        self.bridge = bridge
        self.vlan = vlan
        self.mtu = mtu
        self.address = address
        self.prefixLength = prefixLength
        self.gateway = gateway
    }
}

/// What cloud-init (NoCloud) gives the guest.
public struct CloudInitSeed: Sendable, Hashable, Codable {
    public var hostname: String
    public var sshKeys: [String]
    /// Sensitive: never printed.
    public var userData: String?

    public init(hostname: String, sshKeys: [String], userData: String?) {
        self.hostname = hostname
        self.sshKeys = sshKeys
        self.userData = userData
    }
}

/// An instance's root disk: a qcow2 overlay on the image (a full copy for raw images), in the host's
/// storage pool.
public struct RootDiskRequest: Sendable, Hashable, Codable {
    public var volumeName: String
    public var size: ByteSize
    public var image: ObservedImage

    public init(volumeName: String, size: ByteSize, image: ObservedImage) {
        self.volumeName = volumeName
        self.size = size
        self.image = image
    }
}

/// An instance as it should be on its host, with every reference resolved.
public struct InstanceRequest: Sendable, Hashable, Codable {
    public var id: ObjectID
    public var vcpus: Int
    public var memory: ByteSize
    public var power: PowerState
    public var rootDisk: RootDiskRequest
    public var volumes: [DiskAttachment]
    public var nics: [NICAttachment]
    public var seed: CloudInitSeed
    /// A hash of the instance's applied spec, recorded in the domain's metadata.
    public var specHash: String
    /// The commit the spec came from, recorded in the domain's metadata.
    public var commit: String
    /// The installation (state directory) making the domain, recorded in its metadata.
    public var owner: String?

    public init(id: ObjectID, vcpus: Int, memory: ByteSize, power: PowerState, rootDisk: RootDiskRequest,
                volumes: [DiskAttachment], nics: [NICAttachment], seed: CloudInitSeed, specHash: String, commit: String,
                owner: String? = nil) {
        self.owner = owner
        self.id = id
        self.vcpus = vcpus
        self.memory = memory
        self.power = power
        self.rootDisk = rootDisk
        self.volumes = volumes
        self.nics = nics
        self.seed = seed
        self.specHash = specHash
        self.commit = commit
    }

    /// The libvirt domain name: `<project>.<name>`, readable in `virsh list` and unambiguous because names
    /// have no dots.
    public var domainName: String { ComputeNaming.domainName(id) }

    /// Whether bringing `observed` to this request needs a new root disk (another image, or a smaller root
    /// disk): a replacement that loses the data on the root disk, never an in-place update.
    public func requiresReplacement(of observed: ObservedInstance) -> Bool {
        if let image = observed.imageVolume, image != rootDisk.image.volumeName { return true }
        if let size = observed.rootDiskSize, rootDisk.size < size { return true }
        return false
    }

    /// A hash of what the guest is given through cloud-init (hostname, keys, user data, addresses): the seed
    /// is not observable from the domain, so its hash is recorded in the domain's metadata.
    public var seedHash: String {
        var parts = [seed.hostname, seed.sshKeys.joined(separator: "\n"), seed.userData ?? "\u{0}"]
        parts += nics.map { "\($0.identity.mac) \($0.address?.description ?? "dhcp")/\($0.prefixLength) \($0.gateway?.description ?? "") \($0.mtu ?? 0)" }
        return StableHash.sha256Hex(parts.joined(separator: "\u{1}"))
    }
}

/// A managed instance as found on its host.
public struct ObservedInstance: Sendable, Hashable, Codable {
    public enum Power: Sendable, Hashable, Codable {
        case running
        case stopped
        /// Paused, crashed, shutting down…: libvirt's state name.
        case other(String)
    }

    public var id: ObjectID
    public var domainName: String
    public var uuid: String
    public var specHash: String
    public var commit: String
    /// The image volume the root disk was built on, as recorded in the domain's metadata.
    public var imageVolume: String?
    /// The hash of the cloud-init seed the domain was given, as recorded in its metadata.
    public var seedHash: String?
    /// The installation that made the domain, as recorded in its metadata (nil: made before owners were
    /// recorded, or by hand).
    public var owner: String?
    /// The root disk's size as last applied, from the domain's metadata.
    public var rootDiskSize: ByteSize?
    /// vCPUs in the persistent configuration (what the next boot gets).
    public var vcpus: Int
    /// Memory in the persistent configuration.
    public var memory: ByteSize
    /// vCPUs and memory of the running guest, when it runs.
    public var liveVCPUs: Int?
    public var liveMemory: ByteSize?
    public var power: Power
    public var rootDiskPath: String?
    public var volumePaths: [String]
    public var nics: [ObservedNIC]

    public init(id: ObjectID, domainName: String, uuid: String, specHash: String, commit: String,
                imageVolume: String?, seedHash: String?, owner: String? = nil, rootDiskSize: ByteSize? = nil, vcpus: Int,
                memory: ByteSize, liveVCPUs: Int?, liveMemory: ByteSize?, power: Power, rootDiskPath: String?,
                volumePaths: [String], nics: [ObservedNIC]) {
        self.owner = owner
        self.rootDiskSize = rootDiskSize
        self.id = id
        self.domainName = domainName
        self.uuid = uuid
        self.specHash = specHash
        self.commit = commit
        self.imageVolume = imageVolume
        self.seedHash = seedHash
        self.vcpus = vcpus
        self.memory = memory
        self.liveVCPUs = liveVCPUs
        self.liveMemory = liveMemory
        self.power = power
        self.rootDiskPath = rootDiskPath
        self.volumePaths = volumePaths
        self.nics = nics
    }
}

/// A NIC in a domain's definition.
public struct ObservedNIC: Sendable, Hashable, Codable {
    public var mac: String
    public var interfaceID: String?
    public var bridge: String?
    public var vlan: Int?

    public init(mac: String, interfaceID: String?, bridge: String?, vlan: Int?) {
        self.mac = mac
        self.interfaceID = interfaceID
        self.bridge = bridge
        self.vlan = vlan
    }
}

/// What a compute driver sees on a host.
public struct ComputeObservation: Sendable {
    public var instances: [ObservedInstance]
    /// Domains without the Driftless marker: never touched; a desired instance with one of these names
    /// is a collision.
    public var unmanagedDomainNames: Set<String>

    public init(instances: [ObservedInstance], unmanagedDomainNames: Set<String>) {
        self.instances = instances
        self.unmanagedDomainNames = unmanagedDomainNames
    }
}

/// How a change to a running instance took effect.
public enum ChangeEffect: String, Sendable, Codable, Hashable {
    /// Applied to the running guest (and its configuration).
    case live
    /// Written to the configuration; takes effect at next boot.
    case reboot
    /// Needs a new root disk: the data on it is lost.
    case replace
    /// Deletes data (a volume under `deletionPolicy: Delete`).
    case destroysData = "destroys-data"
}

/// Drives one host's libvirt domains.
///
/// Implementations guarantee: every call is idempotent; a domain without the Driftless metadata marker is
/// never changed; a lost connection is a `.transient` `DriverError`; observation never reports a managed
/// instance absent because the host could not be read.
public protocol ComputeDriver: Sendable {
    func observe() async throws -> ComputeObservation
    /// Defines the domain (with its cloud-init seed) and starts it when `power` is running.
    func create(_ request: InstanceRequest) async throws -> ObservedInstance
    /// Brings an existing domain to `request` in place: memory and vCPUs (live where possible), volumes and
    /// NICs attached or detached, power. Returns the effect of each changed field.
    func update(_ request: InstanceRequest, from observed: ObservedInstance) async throws -> [String: ChangeEffect]
    /// Stops (gracefully, then by force after `timeout`), undefines, and removes the root disk and seed;
    /// attached volumes are detached, never deleted.
    func delete(_ observed: ObservedInstance, shutdownTimeout: Duration) async throws
}

/// How Driftless names libvirt domains.
public enum ComputeNaming {
    public static func domainName(_ id: ObjectID) -> String { "\(id.project ?? "_").\(id.name)" }
}
