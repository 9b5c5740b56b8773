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
    /// Turn the virtio NIC's checksum and segmentation offloads off: on OVS's userspace (netdev) datapath
    /// TCP does not pass with them on (ping does), so Driftless sets this on netdev hosts.
    public var disableOffloads: Bool

    public init(identity: NICIdentity, bridge: String, vlan: Int, mtu: Int?, address: IPv4Address?, prefixLength: Int,
                gateway: IPv4Address?, disableOffloads: Bool = false) {
        self.disableOffloads = disableOffloads
        self.identity = identity
        self.bridge = bridge
        self.vlan = vlan
        self.mtu = mtu
        self.address = address
        self.prefixLength = prefixLength
        self.gateway = gateway
    }
}

/// A guest account: one enabled User listed in an instance's `users`.
public struct GuestAccount: Sendable, Hashable, Codable {
    public var name: String
    public var sshKeys: [String]
    /// Passwordless sudo: the user is an admin of the instance's project, or a cloud admin.
    public var sudo: Bool

    public init(name: String, sshKeys: [String], sudo: Bool) {
        self.name = name
        self.sshKeys = sshKeys
        self.sudo = sudo
    }

    /// `alice (sudo, 1 key), bob (2 keys)`, or `(none)`: what plans show and domain metadata records.
    public static func describe(_ accounts: [GuestAccount]) -> String {
        guard !accounts.isEmpty else { return "(none)" }
        return accounts.map { account in
            let keys = account.sshKeys.count == 1 ? "1 key" : "\(account.sshKeys.count) keys"
            return "\(account.name) (\(account.sudo ? "sudo, " : "")\(keys))"
        }.joined(separator: ", ")
    }
}

/// What cloud-init (NoCloud) gives the guest.
public struct CloudInitSeed: Sendable, Hashable, Codable {
    public var hostname: String
    /// The accounts, in the order the instance lists its users.
    public var accounts: [GuestAccount]
    /// Sensitive: never printed.
    public var userData: String?

    public init(hostname: String, accounts: [GuestAccount], userData: String?) {
        self.hostname = hostname
        self.accounts = accounts
        self.userData = userData
    }

    /// Every SSH key the guest receives.
    public var sshKeys: [String] { accounts.flatMap(\.sshKeys) }
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
        InstanceChangeSet.between(self, observed).requiresReplacement
    }

    /// A hash of what the guest is given through cloud-init (hostname, keys, user data, addresses): the seed
    /// is not observable from the domain, so its hash is recorded in the domain's metadata.
    public var seedHash: String {
        var parts = [seed.hostname, seed.userData ?? "\u{0}"]
        parts += seed.accounts.map { "\($0.name) sudo=\($0.sudo) \($0.sshKeys.joined(separator: "\n"))" }
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
    /// The guest accounts of the seed last applied, as `GuestAccount.describe` shows them (metadata).
    public var seedUsers: String?
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
    /// The host a move is taking this domain to, as marked in its metadata when the move began (the
    /// domain is stopped, and its disks are being copied there).
    public var movingTo: String?
    /// The host this domain was moved from, as marked in its metadata when it was defined here (its disks
    /// were copied in full); cleared once the move is finished.
    public var movedFrom: String?

    public init(id: ObjectID, domainName: String, uuid: String, specHash: String, commit: String,
                imageVolume: String?, seedHash: String?, owner: String? = nil, rootDiskSize: ByteSize? = nil, vcpus: Int,
                memory: ByteSize, liveVCPUs: Int?, liveMemory: ByteSize?, power: Power, rootDiskPath: String?,
                volumePaths: [String], nics: [ObservedNIC], seedUsers: String? = nil, movingTo: String? = nil,
                movedFrom: String? = nil) {
        self.movingTo = movingTo
        self.movedFrom = movedFrom
        self.seedUsers = seedUsers
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
    /// Whether the NIC's virtio offloads are off in the definition.
    public var offloadsOff: Bool

    public init(mac: String, interfaceID: String?, bridge: String?, vlan: Int?, offloadsOff: Bool = false) {
        self.offloadsOff = offloadsOff
        self.mac = mac
        self.interfaceID = interfaceID
        self.bridge = bridge
        self.vlan = vlan
    }
}

/// A network interface of a host, and the Linux bridge holding it, if any.
public struct HostInterface: Sendable, Hashable, Codable {
    public var name: String
    /// The Linux bridge the interface is a port of.
    public var bridge: String?

    public init(name: String, bridge: String?) {
        self.name = name
        self.bridge = bridge
    }
}

/// What a compute driver sees on a host.
public struct ComputeObservation: Sendable {
    public var instances: [ObservedInstance]
    /// Domains without the Driftless marker: never touched; a desired instance with one of these names
    /// is a collision.
    public var unmanagedDomainNames: Set<String>
    /// The host's network interfaces (for physical network mappings); nil when the driver cannot list them.
    public var hostInterfaces: [HostInterface]?
    /// What the host reports it has, for placement; nil when the driver cannot tell.
    public var capacity: HostCapacity?

    public init(instances: [ObservedInstance], unmanagedDomainNames: Set<String>, hostInterfaces: [HostInterface]? = nil,
                capacity: HostCapacity? = nil) {
        self.instances = instances
        self.unmanagedDomainNames = unmanagedDomainNames
        self.hostInterfaces = hostInterfaces
        self.capacity = capacity
    }
}

/// A host's CPUs and memory as it reports them (`virNodeGetInfo`, `virNodeGetFreeMemory`).
public struct HostCapacity: Sendable, Hashable, Codable {
    public var vcpus: Int
    public var memory: ByteSize
    /// Memory free now.
    public var freeMemory: ByteSize?

    public init(vcpus: Int, memory: ByteSize, freeMemory: ByteSize? = nil) {
        self.vcpus = vcpus
        self.memory = memory
        self.freeMemory = freeMemory
    }
}

/// What one instance update did: each changed field's effect, and notes for the report (how the guest
/// was powered off, say).
public struct InstanceUpdate: Sendable, Hashable {
    public var effects: [String: ChangeEffect]
    public var notes: [String]

    public init(effects: [String: ChangeEffect] = [:], notes: [String] = []) {
        self.effects = effects
        self.notes = notes
    }

    /// `memory reboot, power live; ACPI shutdown in 4.2 s`.
    public var summary: String {
        let fields = effects.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value.rawValue)" }.joined(separator: ", ")
        return ([fields] + notes).filter { !$0.isEmpty }.joined(separator: "; ")
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
    /// The instance stops and starts again elsewhere (a move).
    case restarts
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
    /// NICs attached or detached, power (`stopped`: an ACPI shutdown, forced off after the shutdown
    /// timeout). Returns the effect of each changed field and how the guest was powered off.
    func update(_ request: InstanceRequest, from observed: ObservedInstance) async throws -> InstanceUpdate
    /// Stops (gracefully, then by force after `timeout`), undefines, and removes the root disk and seed;
    /// attached volumes are detached, never deleted.
    func delete(_ observed: ObservedInstance, shutdownTimeout: Duration) async throws

    // A move (`InstanceMove`): the old host's domain is marked and stopped, its disks are copied by the
    // storage drivers, the new host defines the domain on the copies, the old one is deleted, and the new
    // one started.

    /// Marks the domain as moving to `host` (`ObservedInstance.movingTo`), turns its autostart off, and
    /// powers it off: ACPI, forced after `shutdownTimeout`. Idempotent.
    func prepareMove(_ observed: ObservedInstance, to host: String, shutdownTimeout: Duration) async throws
    /// Defines the domain of `request` on the root disk a move has copied here (with a fresh seed), marked
    /// as moved from `host`, and does not start it. An existing domain of this instance is kept as it is.
    func arrive(_ request: InstanceRequest, from host: String) async throws -> ObservedInstance
    /// Ends a move here: the move mark cleared, autostart and power as `request` says.
    func settle(_ request: InstanceRequest) async throws -> ObservedInstance
}

/// How Driftless names libvirt domains.
public enum ComputeNaming {
    public static func domainName(_ id: ObjectID) -> String { "\(id.project ?? "_").\(id.name)" }
}
