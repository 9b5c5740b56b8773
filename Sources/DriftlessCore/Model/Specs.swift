/// A disk image or volume format.
public enum DiskFormat: String, Sendable, Codable, Hashable {
    case qcow2
    case raw
}

/// How a host's bridge forwards packets: the kernel module or userspace.
public enum Datapath: String, Sendable, Codable, Hashable {
    case system
    case netdev
}

/// How a host's guests run, as Nova's `virt_type`: `auto` asks the host's libvirt what it offers.
public enum Virtualization: String, Sendable, Codable, Hashable {
    case auto
    /// Hardware acceleration (libvirt domain type `kvm`).
    case kvm
    /// Software emulation, QEMU's TCG (libvirt domain type `qemu`).
    case qemu
}

/// A physical network of a host, as Neutron's `bridge_mappings`: the host interface that carries its
/// VLANs off the host, plugged into the integration bridge as a trunk.
public struct PhysicalNetworkMapping: Sendable, Codable, Hashable {
    public var name: String
    public var interface: String

    public init(name: String, interface: String) {
        self.name = name
        self.interface = interface
    }
}

/// A libvirt dir storage pool the engine ensures on a host.
public struct PoolSpec: Sendable, Codable, Hashable {
    public var name: String
    public var path: String

    public init(name: String, path: String) {
        self.name = name
        self.path = path
    }
}

/// `Host.spec`: how to reach a node and what it offers.
public struct HostSpec: Sendable, Codable, Hashable {
    public static let defaultLibvirtURI = "qemu:///system"
    public static let defaultOVSDB = "unix:/var/run/openvswitch/db.sock"
    public static let defaultStoragePool = PoolSpec(name: "driftless-volumes", path: "/var/lib/driftless/volumes")
    public static let defaultImagePool = PoolSpec(name: "driftless-images", path: "/var/lib/driftless/images")

    public struct Capacity: Sendable, Codable, Hashable {
        public var vcpus: Int
        public var memory: ByteSize
    }

    public struct Overcommit: Sendable, Codable, Hashable {
        public var cpu: Double = 4.0
        public var memory: Double = 1.0
    }

    public var libvirt: String = defaultLibvirtURI
    public var ovsdb: String = defaultOVSDB
    public var bridge: String = "br-int"
    public var datapath: Datapath = .system
    public var virtualization: Virtualization = .auto
    public var physicalNetworks: [PhysicalNetworkMapping] = []
    public var storagePool: PoolSpec = defaultStoragePool
    public var imagePool: PoolSpec = defaultImagePool
    public var capacity: Capacity?
    public var overcommit = Overcommit()
    /// Whether image URLs may point at loopback, link-local or metadata addresses (labs and tests).
    public var allowPrivateImageSources = false
    /// False drains the host: nothing new is placed on it, and unpinned instances there move elsewhere.
    public var schedulable = true

    public init() {}
}

/// `Project.spec`: a tenant and its quotas.
public struct ProjectSpec: Sendable, Codable, Hashable {
    public struct Quota: Sendable, Codable, Hashable {
        public var instances: Int?
        public var vcpus: Int?
        public var memory: ByteSize?
        public var volumeStorage: ByteSize?
    }

    public var description: String?
    public var quota = Quota()
}

/// A role a user holds in a project.
public enum Role: String, Sendable, Codable, Hashable, Comparable {
    case reader
    case member
    case admin

    public static func < (lhs: Role, rhs: Role) -> Bool {
        let order: [Role] = [.reader, .member, .admin]
        return order.firstIndex(of: lhs) ?? 0 < order.firstIndex(of: rhs) ?? 0
    }
}

/// `User.spec`: an identity with keys and roles.
public struct UserSpec: Sendable, Codable, Hashable {
    public struct RoleBinding: Sendable, Codable, Hashable {
        public var project: String
        public var role: Role
    }

    public var email: String?
    public var enabled = true
    public var admin = false
    public var sshKeys: [String] = []
    public var roles: [RoleBinding] = []
}

/// `Image.spec`: a verified disk image.
public struct ImageSpec: Sendable, Codable, Hashable {
    public enum Source: Sendable, Codable, Hashable {
        case path(String)
        case url(String)
    }

    public var source: Source
    public var sha256: String
    public var format: DiskFormat
    public var minDisk: ByteSize?
}

/// `Network.spec`: an IPv4 network on a VLAN.
public struct NetworkSpec: Sendable, Codable, Hashable {
    public struct DHCPRange: Sendable, Codable, Hashable {
        public var start: IPv4Address
        public var end: IPv4Address

        public func contains(_ ip: IPv4Address) -> Bool { start <= ip && ip <= end }
    }

    public var cidr: IPv4Network
    /// The declared gateway; `effectiveGateway` applies the default.
    public var gateway: IPv4Address?
    public var vlan: Int
    public var mtu: Int?
    public var dhcp: DHCPRange?
    /// The physical network (a Host's `physicalNetworks` name) the VLAN runs on; nil: internal to the host.
    public var physicalNetwork: String?

    /// The gateway, defaulting to the first host address of the CIDR.
    public var effectiveGateway: IPv4Address { gateway ?? cidr.firstHost }
}

extension IPv4Network: Codable {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard case let .success(network) = IPv4Network.parse(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a CIDR: \(text)"))
        }
        self = network
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// What happens to a volume's data when its manifest is removed.
public enum DeletionPolicy: String, Sendable, Codable, Hashable {
    case retain = "Retain"
    case delete = "Delete"
}

/// `Volume.spec`: a block device in a storage pool.
public struct VolumeSpec: Sendable, Codable, Hashable {
    public var size: ByteSize
    public var format: DiskFormat = .qcow2
    public var image: String?
    public var deletionPolicy: DeletionPolicy = .retain
}

/// The power state an instance should be in.
public enum PowerState: String, Sendable, Codable, Hashable {
    case running
    case stopped
}

/// `Instance.spec`: a virtual machine.
public struct InstanceSpec: Sendable, Codable, Hashable {
    public struct NIC: Sendable, Codable, Hashable {
        public var network: String
        public var ip: IPv4Address?

        public init(network: String, ip: IPv4Address? = nil) {
            self.network = network
            self.ip = ip
        }
    }

    public var image: String
    public var vcpus: Int
    public var memory: ByteSize
    public var rootDisk: ByteSize
    public var networks: [NIC] = []
    public var volumes: [String] = []
    public var users: [String] = []
    public var power: PowerState = .running
    public var host: String?
    /// Sensitive: never printed.
    public var userData: String?
    /// How the scheduler chooses a host when `host` does not pin one.
    public var placement = PlacementSpec()
}

/// `Instance.spec.placement`: constraints and preferences of the scheduler (Nova's filters and weighers).
public struct PlacementSpec: Sendable, Codable, Hashable {
    /// Labels the host must carry (`metadata.labels` of the Host), all of them.
    public var hostSelector: [String: String] = [:]
    /// An instance group of the project; with `antiAffinity`, its members are kept apart.
    public var group: String?
    /// The Host label whose values members of `group` must not share, or `host` for distinct hosts.
    public var antiAffinity: String?
    /// spread (default): the host with the most free memory; pack: the fullest host that fits.
    public var strategy: Scheduler.Strategy = .spread

    public init(hostSelector: [String: String] = [:], group: String? = nil, antiAffinity: String? = nil,
                strategy: Scheduler.Strategy = .spread) {
        self.hostSelector = hostSelector
        self.group = group
        self.antiAffinity = antiAffinity
        self.strategy = strategy
    }
}

extension ByteSize {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let bytes = try? container.decode(UInt64.self) {
            self.init(bytes: bytes)
            return
        }
        let text = try container.decode(String.self)
        guard case let .success(size) = ByteSize.parse(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a size: \(text)"))
        }
        self = size
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
