/// The rows of an OVN Northbound database that Driftless owns, as values: what a commit wants there and
/// what an observation found. The OVSDB adapter (`DriftlessOVSDB.OVNNorthbound`) reads and writes them;
/// rows it did not write (no `driftless-owner` of this installation) are never part of one.
///
/// Names follow Neutron's scheme with Driftless's prefix: a switch per network
/// (`OVNNaming.logicalSwitch`), a port per NIC named by its interface ID (what ovn-controller binds to
/// the OVS interface's `external_ids:iface-id`), a port group per security group.
public struct OVNNorthboundState: Sendable, Hashable {
    public var switches: [OVNLogicalSwitch]
    public var portGroups: [OVNPortGroup]

    public init(switches: [OVNLogicalSwitch] = [], portGroups: [OVNPortGroup] = []) {
        self.switches = switches
        self.portGroups = portGroups
    }

    /// The same state with switches, ports and groups in name order and ACLs in a stable order, so two
    /// states compare equal whatever order they were read or written in.
    public var normalized: OVNNorthboundState {
        OVNNorthboundState(
            switches: switches.map { s in
                var s = s
                s.ports = s.ports.map(\.normalized).sorted { $0.name < $1.name }
                return s
            }.sorted { $0.name < $1.name },
            portGroups: portGroups.map { g in
                var g = g
                g.ports.sort()
                g.acls.sort { $0.identity < $1.identity }
                return g
            }.sorted { $0.name < $1.name })
    }
}

/// A `Logical_Switch`: one network across every host, over Geneve.
public struct OVNLogicalSwitch: Sendable, Hashable {
    public var name: String
    /// `other_config` (`subnet`, `exclude_ips` for OVN's own address management, which Driftless leaves
    /// off: every port's address is the allocator's).
    public var otherConfig: [String: String]
    /// Besides the ownership keys, which the adapter adds.
    public var externalIDs: [String: String]
    public var ports: [OVNLogicalSwitchPort]

    public init(name: String, otherConfig: [String: String] = [:], externalIDs: [String: String] = [:],
                ports: [OVNLogicalSwitchPort] = []) {
        self.name = name
        self.otherConfig = otherConfig
        self.externalIDs = externalIDs
        self.ports = ports
    }
}

/// A `Logical_Switch_Port`: a NIC (type empty, bound by its name to the OVS interface whose `iface-id`
/// it is), or a provider network's `localnet` port.
public struct OVNLogicalSwitchPort: Sendable, Hashable {
    public var name: String
    /// Empty for a VIF; `localnet` for the port onto a physical network.
    public var type: String
    /// `MAC IP` (or `unknown` for a localnet port).
    public var addresses: [String]
    /// `MAC IP`: the only source addresses the port may send from.
    public var portSecurity: [String]
    /// `network_name` for a localnet port.
    public var options: [String: String]
    /// The VLAN of a localnet port on a tagged provider network.
    public var tag: Int?
    public var externalIDs: [String: String]

    /// The port with its address lists in a stable order (OVSDB keeps them as sets).
    public var normalized: OVNLogicalSwitchPort {
        var port = self
        port.addresses.sort()
        port.portSecurity.sort()
        return port
    }

    public init(name: String, type: String = "", addresses: [String] = [], portSecurity: [String] = [],
                options: [String: String] = [:], tag: Int? = nil, externalIDs: [String: String] = [:]) {
        self.name = name
        self.type = type
        self.addresses = addresses
        self.portSecurity = portSecurity
        self.options = options
        self.tag = tag
        self.externalIDs = externalIDs
    }
}

/// A `Port_Group` with its `ACL`s: a security group, as Neutron's OVN driver makes one.
public struct OVNPortGroup: Sendable, Hashable {
    /// OVN allows letters, digits and underscores (the name is an address-set prefix in matches).
    public var name: String
    /// The names of its logical switch ports.
    public var ports: [String]
    public var acls: [OVNACL]
    public var externalIDs: [String: String]

    public init(name: String, ports: [String] = [], acls: [OVNACL] = [], externalIDs: [String: String] = [:]) {
        self.name = name
        self.ports = ports
        self.acls = acls
        self.externalIDs = externalIDs
    }
}

/// An `ACL` of a port group. ACLs have no name to key them by: one is the same ACL as another when
/// direction, priority, match and action are the same.
public struct OVNACL: Sendable, Hashable {
    public enum Direction: String, Sendable, Hashable, CaseIterable {
        /// Traffic sent by the port (egress from the guest).
        case fromPort = "from-lport"
        /// Traffic to the port (ingress to the guest).
        case toPort = "to-lport"
    }

    public enum Action: String, Sendable, Hashable, CaseIterable {
        case allow, allowRelated = "allow-related", drop, reject
    }

    public var direction: Direction
    public var priority: Int
    public var match: String
    public var action: Action
    public var externalIDs: [String: String]

    public init(direction: Direction, priority: Int, match: String, action: Action, externalIDs: [String: String] = [:]) {
        self.direction = direction
        self.priority = priority
        self.match = match
        self.action = action
        self.externalIDs = externalIDs
    }

    /// What makes two ACLs the same one.
    public var identity: String { "\(direction.rawValue) \(priority) \(action.rawValue) \(match)" }
}

/// Driftless's names in the Northbound database.
public enum OVNNaming {
    /// The switch of a project's network: `driftless-<project>-<network>`.
    public static func logicalSwitch(project: String, network: String) -> String {
        "driftless-\(project)-\(network)"
    }

    /// The port group of a project's security group: `driftless_<project>_<group>` with every character
    /// OVN does not allow in a port group's name (letters, digits, `_`) as `_`.
    public static func portGroup(project: String, group: String) -> String {
        let raw = "driftless_\(project)_\(group)"
        return String(raw.map { $0.isASCII && ($0.isLetter || $0.isNumber) ? $0 : "_" })
    }
}

/// What makes a host an OVN chassis: the keys ovn-controller reads from its Open_vSwitch row's
/// `external_ids` (ovn-controller(8)). Driftless writes exactly these and leaves every other key alone.
public struct OVNChassis: Sendable, Hashable {
    /// `system-id`: the chassis's name in the Southbound database (the Host's name).
    public var systemID: String
    /// `ovn-remote`: the Southbound database ovn-controller connects to.
    public var southbound: String
    /// `ovn-encap-type` (`geneve`).
    public var encapType: String
    /// `ovn-encap-ip`: this chassis's tunnel endpoint.
    public var encapIP: String
    /// `ovn-bridge`: the integration bridge ovn-controller creates and programs. Not the bridge of
    /// Driftless's VLAN networks, which stays a plain learning switch.
    public var integrationBridge: String
    /// `ovn-bridge-datapath-type` (`netdev` for the userspace datapath), when set.
    public var datapathType: String?
    /// `ovn-bridge-mappings`: physical network name to the OVS bridge that reaches it.
    public var bridgeMappings: [String: String]

    public init(systemID: String, southbound: String, encapType: String = "geneve", encapIP: String,
                integrationBridge: String = "br-ovn", datapathType: String? = nil, bridgeMappings: [String: String] = [:]) {
        self.systemID = systemID
        self.southbound = southbound
        self.encapType = encapType
        self.encapIP = encapIP
        self.integrationBridge = integrationBridge
        self.datapathType = datapathType
        self.bridgeMappings = bridgeMappings
    }

    /// The `external_ids` keys and values, as ovn-controller reads them; an unset one is absent.
    public var externalIDs: [String: String] {
        var ids = [
            "system-id": systemID, "ovn-remote": southbound, "ovn-encap-type": encapType, "ovn-encap-ip": encapIP,
            "ovn-bridge": integrationBridge,
        ]
        if let datapathType { ids["ovn-bridge-datapath-type"] = datapathType }
        if !bridgeMappings.isEmpty {
            ids["ovn-bridge-mappings"] = bridgeMappings.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" }.joined(separator: ",")
        }
        return ids
    }

    /// Every key Driftless writes for a chassis (those `externalIDs` leaves out are removed).
    public static let keys = ["system-id", "ovn-remote", "ovn-encap-type", "ovn-encap-ip", "ovn-bridge",
                              "ovn-bridge-datapath-type", "ovn-bridge-mappings"]
}
