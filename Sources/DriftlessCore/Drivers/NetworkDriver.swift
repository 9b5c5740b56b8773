/// Driftless's marks on OVS rows (`external_ids`), the way Neutron marks its ports.
public enum OVSMarks {
    public static let managed = "driftless-managed"
    public static let project = "driftless-project"
    public static let instance = "driftless-instance"
    public static let network = "driftless-network"
    /// The installation (state directory) that made the port.
    public static let owner = "driftless-owner"
    /// Set by libvirt (and by us) on the Interface: ties the port to the domain's `interfaceid`.
    public static let ifaceID = "iface-id"
    /// On a trunk port: the physical network it carries.
    public static let physicalNetwork = "driftless-physnet"
    public static let attachedMAC = "attached-mac"
}

/// An instance NIC's port as it should be on a host's integration bridge.
public struct DesiredPort: Sendable, Hashable, Codable {
    public var identity: NICIdentity
    public var vlan: Int
    public var mtu: Int?
    public var owner: String?

    public init(identity: NICIdentity, vlan: Int, mtu: Int?, owner: String? = nil) {
        self.identity = identity
        self.vlan = vlan
        self.mtu = mtu
        self.owner = owner
    }

    /// The external_ids Driftless keeps on the Port row.
    public var portMarks: [String: String] {
        var marks = [
            OVSMarks.managed: "true",
            OVSMarks.project: identity.owner.project,
            OVSMarks.instance: identity.owner.instance,
            OVSMarks.network: identity.owner.network,
        ]
        if let owner { marks[OVSMarks.owner] = owner }
        return marks
    }
}

/// A host interface plugged into the integration bridge as a trunk of a physical network's VLANs.
public struct DesiredTrunk: Sendable, Hashable, Codable {
    /// The host interface, which is also the OVS port's name.
    public var interface: String
    public var physicalNetwork: String
    /// The VLANs it carries, ascending; never empty (an empty `trunks` would carry every VLAN).
    public var vlans: [Int]
    public var owner: String?

    public init(interface: String, physicalNetwork: String, vlans: [Int], owner: String? = nil) {
        self.interface = interface
        self.physicalNetwork = physicalNetwork
        self.vlans = vlans
        self.owner = owner
    }

    public var portMarks: [String: String] {
        var marks = [OVSMarks.managed: "true", OVSMarks.physicalNetwork: physicalNetwork]
        if let owner { marks[OVSMarks.owner] = owner }
        return marks
    }
}

/// A port found on a host's integration bridge.
public struct ObservedPort: Sendable, Hashable, Codable {
    public var name: String
    /// The Interface's `iface-id`, when set (by libvirt or by us).
    public var interfaceID: String?
    public var mac: String?
    public var vlan: Int?
    public var mtu: Int?
    /// The Port's external_ids.
    public var marks: [String: String]
    /// The VLANs a trunk port carries (`trunks`), ascending.
    public var trunks: [Int]

    public init(name: String, interfaceID: String?, mac: String?, vlan: Int?, mtu: Int?, marks: [String: String],
                trunks: [Int] = []) {
        self.trunks = trunks
        self.name = name
        self.interfaceID = interfaceID
        self.mac = mac
        self.vlan = vlan
        self.mtu = mtu
        self.marks = marks
    }

    /// Driftless owns a port it marked, or whose iface-id is one of its NICs' (libvirt plugged it for us).
    public var isMarked: Bool { marks[OVSMarks.managed] == "true" }

    /// A trunk Driftless plugged for a physical network.
    public var physicalNetwork: String? { isMarked ? marks[OVSMarks.physicalNetwork] : nil }
}

/// Changes to one host's ports, applied in as few OVSDB transactions as possible.
public struct PortChangeSet: Sendable, Hashable {
    /// Ports to create (for running instances whose port is missing) or to adopt and correct (tag, marks).
    public var ensure: [DesiredPort]
    /// Trunk ports of physical networks to create or correct.
    public var trunks: [DesiredTrunk]
    /// Names of owned ports to delete.
    public var delete: [String]

    public init(ensure: [DesiredPort] = [], trunks: [DesiredTrunk] = [], delete: [String] = []) {
        self.ensure = ensure
        self.trunks = trunks
        self.delete = delete
    }

    public var isEmpty: Bool { ensure.isEmpty && trunks.isEmpty && delete.isEmpty }
}

/// Drives one host's Open vSwitch: the integration bridge and the ports of instance NICs.
///
/// Implementations guarantee: rows without Driftless marks are never changed or deleted, except that a
/// port whose `iface-id` names a Driftless NIC is adopted; no second port is made for a NIC; calls are
/// idempotent; while the OVSDB connection is down, observation is `.unknown`.
public protocol NetworkDriver: Sendable {
    /// Ensures the integration bridge exists with the host's datapath type.
    func ensureBridge() async throws
    /// The ports on the integration bridge, from the monitor cache.
    func observePorts() async throws -> Observed<[ObservedPort]>
    func apply(_ changes: PortChangeSet) async throws
    /// Ports on the host's other bridges, by name, with the bridge holding each (an interface there
    /// cannot become a trunk of the integration bridge).
    func portsOnOtherBridges() async -> [String: String]
}

extension NetworkDriver {
    public func portsOnOtherBridges() async -> [String: String] { [:] }
}
