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

    public init(name: String, interfaceID: String?, mac: String?, vlan: Int?, mtu: Int?, marks: [String: String]) {
        self.name = name
        self.interfaceID = interfaceID
        self.mac = mac
        self.vlan = vlan
        self.mtu = mtu
        self.marks = marks
    }

    /// Driftless owns a port it marked, or whose iface-id is one of its NICs' (libvirt plugged it for us).
    public var isMarked: Bool { marks[OVSMarks.managed] == "true" }
}

/// Changes to one host's ports, applied in as few OVSDB transactions as possible.
public struct PortChangeSet: Sendable, Hashable {
    /// Ports to create (for running instances whose port is missing) or to adopt and correct (tag, marks).
    public var ensure: [DesiredPort]
    /// Names of owned ports to delete.
    public var delete: [String]

    public init(ensure: [DesiredPort] = [], delete: [String] = []) {
        self.ensure = ensure
        self.delete = delete
    }

    public var isEmpty: Bool { ensure.isEmpty && delete.isEmpty }
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
}
