/// How to reach one host and where its things live: what the drivers of that host are opened with.
public struct HostTarget: Sendable, Hashable, Codable {
    public var name: String
    public var libvirtURI: String
    public var ovsdbEndpoint: String
    public var bridge: String
    public var datapath: Datapath
    public var storagePool: PoolSpec
    public var imagePool: PoolSpec
    /// Whether image URLs may point at loopback, link-local or metadata addresses.
    public var allowPrivateImageSources: Bool
    /// How guests run (`auto`: what the host's libvirt offers).
    public var virtualization: Virtualization
    /// Physical network name → host interface, plugged into the bridge as a trunk.
    public var physicalNetworks: [PhysicalNetworkMapping]

    public init(
        name: String, libvirtURI: String, ovsdbEndpoint: String, bridge: String, datapath: Datapath,
        storagePool: PoolSpec, imagePool: PoolSpec, allowPrivateImageSources: Bool = false,
        virtualization: Virtualization = .auto, physicalNetworks: [PhysicalNetworkMapping] = []
    ) {
        self.virtualization = virtualization
        self.physicalNetworks = physicalNetworks
        self.allowPrivateImageSources = allowPrivateImageSources
        self.name = name
        self.libvirtURI = libvirtURI
        self.ovsdbEndpoint = ovsdbEndpoint
        self.bridge = bridge
        self.datapath = datapath
        self.storagePool = storagePool
        self.imagePool = imagePool
    }

    public init(_ host: Host) {
        self.init(
            name: host.name, libvirtURI: host.spec.libvirt, ovsdbEndpoint: host.spec.ovsdb, bridge: host.spec.bridge,
            datapath: host.spec.datapath, storagePool: host.spec.storagePool, imagePool: host.spec.imagePool,
            allowPrivateImageSources: host.spec.allowPrivateImageSources, virtualization: host.spec.virtualization,
            physicalNetworks: host.spec.physicalNetworks)
    }
}

/// What a driver saw on a host: the state, or that the host could not be read (then nothing about it is
/// known, and in particular nothing is known to be absent).
public enum Observed<Value: Sendable>: Sendable {
    case known(Value)
    case unknown(reason: String)

    public var value: Value? {
        if case let .known(value) = self { return value }
        return nil
    }

    public var unknownReason: String? {
        if case let .unknown(reason) = self { return reason }
        return nil
    }
}

/// Whether a failure is worth retrying (a host restarting, a lock held) or needs a person.
public enum FailureKind: String, Sendable, Codable {
    /// Wait and retry: connection lost, timeout, resource busy.
    case transient
    /// Retrying will not help: bad input, refused by the host, a name collision.
    case terminal
}

/// An error a driver reports, classified so the applier knows whether to retry.
public protocol DriverError: Error, CustomStringConvertible {
    var failureKind: FailureKind { get }
}
