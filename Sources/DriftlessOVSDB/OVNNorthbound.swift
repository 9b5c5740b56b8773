import DriftlessCore
import Foundation

/// The OVN Northbound database, over a generic `OVSDBClient`: reads the rows one Driftless installation
/// owns and converges them to an `OVNNorthboundState` in one transaction.
///
/// Ownership is Neutron's way, with Driftless's keys: every row written carries
/// `external_ids:driftless-managed=true` and `driftless-owner=<owner>`. A switch or port group without
/// this installation's owner is not read, changed or deleted; neither is a port or ACL without it inside
/// an owned switch or group (removing an owned switch does take everything in it, as OVN does).
///
/// Reads come from the monitor cache (`startMonitoring()` once after connecting); `converge` returns only
/// once the cache shows the state it wrote (read-your-writes).
public struct OVNNorthbound: Sendable {
    public static let database = "OVN_Northbound"

    public static let monitorRequests: [String: OVSDBMonitorRequest] = [
        "Logical_Switch": OVSDBMonitorRequest(columns: ["name", "ports", "other_config", "external_ids"]),
        "Logical_Switch_Port": OVSDBMonitorRequest(columns: [
            "name", "type", "addresses", "port_security", "options", "tag", "external_ids", "up",
        ]),
        "Port_Group": OVSDBMonitorRequest(columns: ["name", "ports", "acls", "external_ids"]),
        "ACL": OVSDBMonitorRequest(columns: ["direction", "priority", "match", "action", "external_ids"]),
    ]

    /// The ownership keys of `external_ids`.
    public static let managedKey = "driftless-managed"
    public static let ownerKey = "driftless-owner"

    public let client: OVSDBClient
    /// The installation whose rows these are.
    public let owner: String
    public var cacheTimeout: Duration

    public init(client: OVSDBClient, owner: String, cacheTimeout: Duration = .seconds(10)) {
        self.client = client
        self.owner = owner
        self.cacheTimeout = cacheTimeout
    }

    /// Monitors the tables `observe` and `converge` read.
    public func startMonitoring() async throws {
        try await client.monitorMissing(database: Self.database, tables: Self.monitorRequests)
    }

    /// The rows this installation owns, as the cache has them.
    public func observe() async throws -> OVNNorthboundObservation {
        Self.observation(in: try await client.cacheSnapshot(), owner: owner)
    }

    /// Makes the owned rows `desired` in one transaction (none when nothing differs), then waits for the
    /// cache to show it. Returns what it changed.
    @discardableResult
    public func converge(to desired: OVNNorthboundState) async throws -> OVNNorthboundChanges {
        let cache = try await client.cacheSnapshot()
        let plan = try OVNNorthboundPlan(desired: desired, observed: Self.observation(in: cache, owner: owner), owner: owner)
        guard !plan.transaction.isEmpty else { return plan.changes }
        _ = try await client.transact(plan.transaction)
        let want = desired.normalized, owner = owner
        _ = try await client.waitForCache(timeout: cacheTimeout) { cache in
            Self.observation(in: cache, owner: owner).state.normalized == want
        }
        return plan.changes
    }

    // MARK: - Reading the cache

    /// The owned rows of `cache`, with each one's UUID.
    public static func observation(in cache: OVSDBCache, owner: String) -> OVNNorthboundObservation {
        let ports = cache.rows(in: "Logical_Switch_Port"), acls = cache.rows(in: "ACL")
        var observation = OVNNorthboundObservation()
        for (uuid, row) in cache.rows(in: "Logical_Switch") {
            guard let ids = owned(row, by: owner), let name = row["name"]?.string else { continue }
            var logicalSwitch = OVNLogicalSwitch(name: name, otherConfig: row["other_config"]?.stringMap ?? [:], externalIDs: ids)
            for portUUID in row["ports"]?.uuids ?? [] {
                guard let portRow = ports[portUUID], let portIDs = owned(portRow, by: owner) else { continue }
                let port = self.port(portRow, externalIDs: portIDs)
                logicalSwitch.ports.append(port)
                observation.portUUIDs[port.name] = portUUID
                observation.portsUp[port.name] = portRow["up"]?.boolean ?? false
            }
            observation.state.switches.append(logicalSwitch)
            observation.switchUUIDs[name] = uuid
        }
        let portNames = Dictionary(observation.portUUIDs.map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        for (uuid, row) in cache.rows(in: "Port_Group") {
            guard let ids = owned(row, by: owner), let name = row["name"]?.string else { continue }
            var group = OVNPortGroup(name: name, externalIDs: ids)
            group.ports = (row["ports"]?.uuids ?? []).compactMap { portNames[$0] }
            for aclUUID in row["acls"]?.uuids ?? [] {
                guard let aclRow = acls[aclUUID], let aclIDs = owned(aclRow, by: owner), let acl = self.acl(aclRow, externalIDs: aclIDs)
                else { continue }
                group.acls.append(acl)
                observation.aclUUIDs[name, default: [:]][acl.identity] = aclUUID
            }
            observation.state.portGroups.append(group)
            observation.portGroupUUIDs[name] = uuid
        }
        observation.state = observation.state.normalized
        return observation
    }

    /// `external_ids` without the ownership keys, when the row is `owner`'s.
    static func owned(_ row: OVSDBRow, by owner: String) -> [String: String]? {
        var ids = row["external_ids"]?.stringMap ?? [:]
        guard ids[ownerKey] == owner else { return nil }
        ids[ownerKey] = nil
        ids[managedKey] = nil
        return ids
    }

    static func port(_ row: OVSDBRow, externalIDs: [String: String]) -> OVNLogicalSwitchPort {
        OVNLogicalSwitchPort(
            name: row["name"]?.string ?? "", type: row["type"]?.string ?? "",
            addresses: (row["addresses"]?.strings ?? []).sorted(), portSecurity: (row["port_security"]?.strings ?? []).sorted(),
            options: row["options"]?.stringMap ?? [:], tag: row["tag"]?.integer.map { Int($0) }, externalIDs: externalIDs)
    }

    static func acl(_ row: OVSDBRow, externalIDs: [String: String]) -> OVNACL? {
        guard let direction = row["direction"]?.string.flatMap(OVNACL.Direction.init(rawValue:)),
              let action = row["action"]?.string.flatMap(OVNACL.Action.init(rawValue:)),
              let priority = row["priority"]?.integer, let match = row["match"]?.string
        else { return nil }
        return OVNACL(direction: direction, priority: Int(priority), match: match, action: action, externalIDs: externalIDs)
    }
}

/// The owned rows of a Northbound database, and where each one is.
public struct OVNNorthboundObservation: Sendable {
    public var state = OVNNorthboundState()
    /// Whether ovn-controller has bound each owned port on some chassis (`Logical_Switch_Port.up`).
    public var portsUp: [String: Bool] = [:]
    var switchUUIDs: [String: UUID] = [:]
    var portUUIDs: [String: UUID] = [:]
    var portGroupUUIDs: [String: UUID] = [:]
    /// Per port group, its ACLs by identity.
    var aclUUIDs: [String: [String: UUID]] = [:]
}

/// What one convergence changed, by table.
public struct OVNNorthboundChanges: Sendable, Hashable, CustomStringConvertible {
    public struct Counts: Sendable, Hashable {
        public var created = 0, updated = 0, deleted = 0

        public init(created: Int = 0, updated: Int = 0, deleted: Int = 0) {
            self.created = created
            self.updated = updated
            self.deleted = deleted
        }

        public var isEmpty: Bool { created + updated + deleted == 0 }
    }

    public var switches = Counts(), ports = Counts(), portGroups = Counts(), acls = Counts()

    public init() {}

    public var isEmpty: Bool { switches.isEmpty && ports.isEmpty && portGroups.isEmpty && acls.isEmpty }

    public var description: String {
        [("switches", switches), ("ports", ports), ("port groups", portGroups), ("ACLs", acls)]
            .filter { !$0.1.isEmpty }
            .map { "\($0.0): +\($0.1.created) ~\($0.1.updated) -\($0.1.deleted)" }
            .joined(separator: ", ")
    }
}

/// Why a desired Northbound state cannot be written.
public struct OVNNorthboundError: Error, Sendable, CustomStringConvertible {
    public var description: String
}

/// One convergence as one transaction, from the observed owned rows. Pure: it writes nothing.
///
/// Switches and port groups are root tables (inserted and deleted); ports and ACLs are not (inserted with
/// a named UUID and added to their switch's `ports` or group's `acls`, removed by taking them out, after
/// which the server collects them). Ports are matched by name, ACLs by identity (direction, priority,
/// match, action); a port whose columns differ is updated in place.
struct OVNNorthboundPlan {
    var transaction = OVSDBTransaction(database: OVNNorthbound.database)
    var changes = OVNNorthboundChanges()

    init(desired: OVNNorthboundState, observed: OVNNorthboundObservation, owner: String) throws {
        let marks = [OVNNorthbound.managedKey: "true", OVNNorthbound.ownerKey: owner]
        func ids(_ own: [String: String]) -> OVSDBValue { .stringMap(own.merging(marks) { _, mark in mark }) }

        let observedSwitches = Dictionary(observed.state.switches.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let observedGroups = Dictionary(observed.state.portGroups.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        // Each desired port's row: the observed one's UUID, or the named UUID of its insert.
        var portAtoms: [String: OVSDBAtom] = [:]
        var seenPorts = Set<String>()

        func portRow(_ port: OVNLogicalSwitchPort) -> OVSDBRow {
            [
                "name": .atom(.string(port.name)), "type": .atom(.string(port.type)),
                "addresses": .set(Set(port.addresses.map(OVSDBAtom.string))),
                "port_security": .set(Set(port.portSecurity.map(OVSDBAtom.string))),
                "options": .stringMap(port.options), "tag": .optional(port.tag.map { .integer(Int64($0)) }),
                "external_ids": ids(port.externalIDs),
            ]
        }

        for wanted in desired.switches {
            var inserted: [OVSDBAtom] = []
            var removed: [UUID] = []
            let existing = observedSwitches[wanted.name]
            let existingPorts = Dictionary((existing?.ports ?? []).map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            for port in wanted.ports {
                guard seenPorts.insert(port.name).inserted else {
                    throw OVNNorthboundError(description: "logical switch port \(port.name) is wanted twice")
                }
                if let current = existingPorts[port.name], let uuid = observed.portUUIDs[port.name] {
                    portAtoms[port.name] = .uuid(uuid)
                    if current.normalized != port.normalized {
                        transaction.append(.update(table: "Logical_Switch_Port", where: [.uuid(uuid)], row: portRow(port)))
                        changes.ports.updated += 1
                    }
                } else {
                    let atom = transaction.insert("Logical_Switch_Port", row: portRow(port))
                    portAtoms[port.name] = atom
                    inserted.append(atom)
                    changes.ports.created += 1
                }
            }
            let wantedNames = Set(wanted.ports.map(\.name))
            for port in existing?.ports ?? [] where !wantedNames.contains(port.name) {
                if let uuid = observed.portUUIDs[port.name] { removed.append(uuid) }
                changes.ports.deleted += 1
            }

            if let existing, let uuid = observed.switchUUIDs[wanted.name] {
                var row: OVSDBRow = [:]
                if existing.otherConfig != wanted.otherConfig { row["other_config"] = .stringMap(wanted.otherConfig) }
                if existing.externalIDs != wanted.externalIDs { row["external_ids"] = ids(wanted.externalIDs) }
                if alter("Logical_Switch", uuid, columns: row, children: "ports", removed: removed, inserted: inserted) {
                    changes.switches.updated += 1
                }
            } else {
                transaction.append(.insert(table: "Logical_Switch", row: [
                    "name": .atom(.string(wanted.name)), "other_config": .stringMap(wanted.otherConfig),
                    "external_ids": ids(wanted.externalIDs), "ports": .set(Set(inserted)),
                ], uuidName: nil))
                changes.switches.created += 1
            }
        }
        let wantedSwitches = Set(desired.switches.map(\.name))
        for existing in observed.state.switches where !wantedSwitches.contains(existing.name) {
            guard let uuid = observed.switchUUIDs[existing.name] else { continue }
            transaction.append(.delete(table: "Logical_Switch", where: [.uuid(uuid)]))
            changes.switches.deleted += 1
            changes.ports.deleted += existing.ports.count
        }

        for wanted in desired.portGroups {
            let members = try wanted.ports.map { name -> OVSDBAtom in
                guard let atom = portAtoms[name] else {
                    throw OVNNorthboundError(description: "port group \(wanted.name) lists port \(name), which no wanted switch has")
                }
                return atom
            }
            func aclRow(_ acl: OVNACL) -> OVSDBRow {
                [
                    "direction": .atom(.string(acl.direction.rawValue)), "priority": .atom(.integer(Int64(acl.priority))),
                    "match": .atom(.string(acl.match)), "action": .atom(.string(acl.action.rawValue)),
                    "external_ids": ids(acl.externalIDs),
                ]
            }
            let existing = observedGroups[wanted.name]
            let existingACLs = observed.aclUUIDs[wanted.name] ?? [:]
            let currentACLs = Dictionary((existing?.acls ?? []).map { ($0.identity, $0) }, uniquingKeysWith: { a, _ in a })
            var insertedACLs: [OVSDBAtom] = [], removedACLs: [UUID] = []
            var wantedIdentities = Set<String>()
            for acl in wanted.acls {
                guard wantedIdentities.insert(acl.identity).inserted else {
                    throw OVNNorthboundError(description: "port group \(wanted.name) wants the ACL \(acl.identity) twice")
                }
                if let current = currentACLs[acl.identity], let uuid = existingACLs[acl.identity] {
                    if current.externalIDs != acl.externalIDs {
                        transaction.append(.update(table: "ACL", where: [.uuid(uuid)], row: ["external_ids": ids(acl.externalIDs)]))
                        changes.acls.updated += 1
                    }
                } else {
                    insertedACLs.append(transaction.insert("ACL", row: aclRow(acl)))
                    changes.acls.created += 1
                }
            }
            for (identity, uuid) in existingACLs where !wantedIdentities.contains(identity) {
                removedACLs.append(uuid)
                changes.acls.deleted += 1
            }

            if let existing, let uuid = observed.portGroupUUIDs[wanted.name] {
                var row: OVSDBRow = [:]
                if Set(existing.ports) != Set(wanted.ports) { row["ports"] = .set(Set(members)) }
                if existing.externalIDs != wanted.externalIDs { row["external_ids"] = ids(wanted.externalIDs) }
                if alter("Port_Group", uuid, columns: row, children: "acls", removed: removedACLs, inserted: insertedACLs) {
                    changes.portGroups.updated += 1
                }
            } else {
                transaction.append(.insert(table: "Port_Group", row: [
                    "name": .atom(.string(wanted.name)), "ports": .set(Set(members)), "acls": .set(Set(insertedACLs)),
                    "external_ids": ids(wanted.externalIDs),
                ], uuidName: nil))
                changes.portGroups.created += 1
            }
        }
        let wantedGroups = Set(desired.portGroups.map(\.name))
        for existing in observed.state.portGroups where !wantedGroups.contains(existing.name) {
            guard let uuid = observed.portGroupUUIDs[existing.name] else { continue }
            transaction.append(.delete(table: "Port_Group", where: [.uuid(uuid)]))
            changes.portGroups.deleted += 1
            changes.acls.deleted += existing.acls.count
        }
        if !transaction.isEmpty { transaction.append(.comment("driftless: \(changes)")) }
    }

    /// Brings an existing switch or port group along: updates the columns in `row` (those that changed),
    /// and takes `removed` out of and adds `inserted` to its `children` (`ports`, `acls`) in one mutate.
    /// Returns whether a column was updated.
    private mutating func alter(_ table: String, _ uuid: UUID, columns row: OVSDBRow, children column: String,
                                removed: [UUID], inserted: [OVSDBAtom]) -> Bool {
        if !row.isEmpty { transaction.append(.update(table: table, where: [.uuid(uuid)], row: row)) }
        var mutations: [OVSDBMutation] = []
        if !removed.isEmpty { mutations.append(.delete(column, .uuidSet(removed))) }
        if !inserted.isEmpty { mutations.append(.insert(column, .set(Set(inserted)))) }
        if !mutations.isEmpty { transaction.append(.mutate(table: table, where: [.uuid(uuid)], mutations: mutations)) }
        return !row.isEmpty
    }
}
