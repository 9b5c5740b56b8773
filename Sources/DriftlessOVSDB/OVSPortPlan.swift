import DriftlessCore
import Foundation

/// One apply turned into one guarded transaction, from a snapshot of the monitor cache.
///
/// Pure: it reads the snapshot and writes nothing. Every row it changes or removes is
/// guarded by a `wait` that the row still has the columns it had in the snapshot, and the
/// bridge's `ports` column by a `wait` that no port came or went meanwhile; so the
/// transaction aborts, rather than acting on a stale picture, when anyone else (libvirt
/// plugging a tap, a person with `ovs-vsctl`) changed the bridge in between.
struct OVSPortPlan {
    /// A column value the cache must show once the transaction has landed.
    struct Expectation {
        var table: String
        var uuid: UUID
        var column: String
        var value: OVSDBValue
    }

    var transaction: OVSDBTransaction
    var outcome = PortApplyOutcome()
    /// The named-uuid atoms of the Port rows inserted.
    var insertedPorts: [(name: String, atom: OVSDBAtom)] = []
    /// Port rows removed from the bridge.
    var removedPorts: Set<UUID> = []
    var expectations: [Expectation] = []
    /// Whether the transaction changes anything (otherwise it is not sent).
    var hasChanges = false

    /// The Port columns a `wait` compares: none of them is written by ovs-vswitchd.
    static let guardedPortColumns = ["name", "tag", "external_ids", "interfaces"]
    /// The Interface columns a `wait` compares (those present in the cache).
    static let guardedInterfaceColumns = ["name", "external_ids", "mtu_request"]

    init(_ changes: PortChangeSet, bridge: OVSBridgeView, cache: OVSDBCache, host: String) throws {
        transaction = OVSDBTransaction(database: OpenVSwitch.database)
        let desired = try Self.deduplicated(changes.ensure, host: host)

        var byName: [String: OVSBridgeView.PortView] = [:]
        var byInterfaceID: [String: [OVSBridgeView.PortView]] = [:]
        for port in bridge.ports where port.name != bridge.name {
            byName[port.name] = port
            if let interfaceID = port.interfaceID { byInterfaceID[interfaceID, default: []].append(port) }
        }

        var waits: [OVSDBOperation] = []
        var updates: [OVSDBOperation] = []
        var creations: [DesiredPort] = []
        var doomed: [OVSBridgeView.PortView] = []
        var claimed: Set<UUID> = []

        for port in desired {
            let identity = port.identity
            var candidates = byInterfaceID[identity.interfaceID] ?? []
            if let named = byName[identity.deviceName], !candidates.contains(where: { $0.uuid == named.uuid }) {
                candidates.append(named)
            }
            // The live tap (iface-id matches) wins over a port that only has the name; then the device name.
            candidates.sort { a, b in
                let aID = a.interfaceID == identity.interfaceID
                let bID = b.interfaceID == identity.interfaceID
                if aID != bID { return aID }
                let aName = a.name == identity.deviceName
                let bName = b.name == identity.deviceName
                if aName != bName { return aName }
                return a.name < b.name
            }
            let usable = candidates.filter { $0.isMarked || $0.interfaceID == identity.interfaceID }
            guard let primary = usable.first else {
                if let taken = candidates.first {
                    throw OVSNetworkDriverError(
                        code: .nameCollision, host: host,
                        message: "port \(taken.name) on bridge \(bridge.name) is not managed by Driftless and does "
                            + "not carry iface-id \(identity.interfaceID) of \(identity.owner); it is left alone, "
                            + "so the NIC cannot get its port",
                        failureKind: .terminal)
                }
                creations.append(port)
                continue
            }
            claimed.insert(primary.uuid)
            // Owned ports that duplicate the NIC's port go; unmarked ones are never touched.
            for extra in usable.dropFirst() where extra.isMarked && !claimed.contains(extra.uuid) {
                claimed.insert(extra.uuid)
                doomed.append(extra)
                outcome.removedDuplicates.append(extra.name)
            }

            let adopting = !primary.isMarked
            var portChanges: OVSDBRow = [:]
            if primary.tag != port.vlan { portChanges["tag"] = .optional(.integer(Int64(port.vlan))) }
            let marks = primary.marks.merging(port.portMarks) { $1 }
            if marks != primary.marks { portChanges["external_ids"] = .stringMap(marks) }

            var interfaceChanges: OVSDBRow = [:]
            let interface = primary.primaryInterface
            if let interface {
                let current = interface.row["external_ids"]?.stringMap ?? [:]
                var wanted = current
                wanted[OVSMarks.ifaceID] = identity.interfaceID
                wanted[OVSMarks.attachedMAC] = identity.mac
                if wanted != current { interfaceChanges["external_ids"] = .stringMap(wanted) }
                if let mtu = port.mtu, interface.row["mtu_request"]?.integer != Int64(mtu) {
                    interfaceChanges["mtu_request"] = .optional(.integer(Int64(mtu)))
                }
            }

            if portChanges.isEmpty && interfaceChanges.isEmpty {
                outcome.unchanged.append(primary.name)
                continue
            }
            if adopting {
                outcome.adopted.append(primary.name)
            } else {
                outcome.updated.append(primary.name)
            }
            waits.append(Self.unchanged("Port", primary.uuid, primary.row, columns: Self.guardedPortColumns))
            if !portChanges.isEmpty {
                updates.append(.update(table: "Port", where: [.uuid(primary.uuid)], row: portChanges))
                for (column, value) in portChanges {
                    expectations.append(Expectation(table: "Port", uuid: primary.uuid, column: column, value: value))
                }
            }
            if let interface, !interfaceChanges.isEmpty {
                waits.append(
                    Self.unchanged("Interface", interface.uuid, interface.row, columns: Self.guardedInterfaceColumns))
                updates.append(.update(table: "Interface", where: [.uuid(interface.uuid)], row: interfaceChanges))
                for (column, value) in interfaceChanges {
                    expectations.append(
                        Expectation(table: "Interface", uuid: interface.uuid, column: column, value: value))
                }
            }
        }

        var trunkCreations: [DesiredTrunk] = []
        for trunk in try Self.deduplicated(changes.trunks, host: host) {
            let wantedTrunks = Self.trunksValue(trunk)
            guard let port = byName[trunk.interface] else {
                trunkCreations.append(trunk)
                continue
            }
            guard port.isMarked else {
                throw OVSNetworkDriverError(
                    code: .nameCollision, host: host,
                    message: "port \(port.name) on bridge \(bridge.name) is not managed by Driftless; it is left alone, "
                        + "so physical network \(trunk.physicalNetwork) gets no trunk",
                    failureKind: .terminal)
            }
            claimed.insert(port.uuid)
            var portChanges: OVSDBRow = [:]
            if port.trunks != trunk.vlans { portChanges["trunks"] = wantedTrunks }
            if port.tag != nil { portChanges["tag"] = .emptySet }
            let marks = port.marks.merging(trunk.portMarks) { $1 }
            if marks != port.marks { portChanges["external_ids"] = .stringMap(marks) }
            guard !portChanges.isEmpty else {
                outcome.unchanged.append(port.name)
                continue
            }
            outcome.updated.append(port.name)
            waits.append(Self.unchanged("Port", port.uuid, port.row, columns: Self.guardedPortColumns))
            updates.append(.update(table: "Port", where: [.uuid(port.uuid)], row: portChanges))
            for (column, value) in portChanges {
                expectations.append(Expectation(table: "Port", uuid: port.uuid, column: column, value: value))
            }
        }

        let ensured = Set(desired.map(\.identity.deviceName) + changes.trunks.map(\.interface))
        for name in Self.unique(changes.delete) where !ensured.contains(name) {
            guard let port = byName[name] else {
                outcome.alreadyAbsent.append(name)
                continue
            }
            guard port.isMarked else {
                outcome.skippedUnmanaged.append(name)
                continue
            }
            if claimed.contains(port.uuid) { continue }
            claimed.insert(port.uuid)
            doomed.append(port)
            outcome.deleted.append(name)
        }
        for port in doomed {
            waits.append(Self.unchanged("Port", port.uuid, port.row, columns: Self.guardedPortColumns))
            removedPorts.insert(port.uuid)
        }

        try Self.checkNames(
            creations.map { ($0.identity.deviceName, "\($0.identity.owner)") }
                + trunkCreations.map { ($0.interface, "physical network \($0.physicalNetwork)") },
            bridge: bridge, cache: cache, host: host)
        hasChanges = !creations.isEmpty || !trunkCreations.isEmpty || !updates.isEmpty || !doomed.isEmpty
        guard hasChanges else { return }

        // Nobody may add or remove a port of the bridge between the snapshot and the commit.
        transaction.append(
            .wait(
                table: "Bridge", where: [.uuid(bridge.uuid)], columns: ["ports"], until: .equal,
                rows: [["ports": bridge.row["ports"] ?? .emptySet]], timeout: 0))
        transaction.append(contentsOf: waits)
        for port in creations {
            let identity = port.identity
            var interfaceRow: OVSDBRow = [
                "name": .atom(.string(identity.deviceName)),
                "external_ids": .stringMap([
                    OVSMarks.ifaceID: identity.interfaceID, OVSMarks.attachedMAC: identity.mac,
                ]),
            ]
            if let mtu = port.mtu { interfaceRow["mtu_request"] = .optional(.integer(Int64(mtu))) }
            let interface = transaction.insert("Interface", row: interfaceRow)
            let portAtom = transaction.insert(
                "Port",
                row: [
                    "name": .atom(.string(identity.deviceName)), "interfaces": .atom(interface),
                    "tag": .optional(.integer(Int64(port.vlan))), "external_ids": .stringMap(port.portMarks),
                ])
            insertedPorts.append((identity.deviceName, portAtom))
            outcome.created.append(identity.deviceName)
        }
        for trunk in trunkCreations {
            // An interface of type "" (system): the host's own device, opened by ovs-vswitchd.
            let interface = transaction.insert("Interface", row: ["name": .atom(.string(trunk.interface))])
            let portAtom = transaction.insert(
                "Port",
                row: [
                    "name": .atom(.string(trunk.interface)), "interfaces": .atom(interface),
                    "trunks": Self.trunksValue(trunk),
                    "external_ids": .stringMap(trunk.portMarks),
                ])
            insertedPorts.append((trunk.interface, portAtom))
            outcome.created.append(trunk.interface)
        }
        transaction.append(contentsOf: updates)
        var mutations: [OVSDBMutation] = []
        if !insertedPorts.isEmpty { mutations.append(.insert("ports", .set(Set(insertedPorts.map(\.atom))))) }
        if !removedPorts.isEmpty { mutations.append(.delete("ports", .uuidSet(removedPorts))) }
        if !mutations.isEmpty {
            transaction.append(.mutate(table: "Bridge", where: [.uuid(bridge.uuid)], mutations: mutations))
        }
        transaction.append(
            .comment(
                "driftless: \(host) \(bridge.name): +\(outcome.created.count) "
                    + "~\(outcome.adopted.count + outcome.updated.count) "
                    + "-\(outcome.deleted.count + outcome.removedDuplicates.count)"))
    }

    /// Whether `cache` shows every effect of the committed transaction.
    func isVisible(in cache: OVSDBCache, bridge: UUID, inserted: Set<UUID>) -> Bool {
        guard let bridgeRow = cache.row(bridge, in: "Bridge") else { return false }
        let ports = Set(bridgeRow["ports"]?.uuids ?? [])
        guard inserted.isSubset(of: ports), removedPorts.isDisjoint(with: ports) else { return false }
        return expectations.allSatisfy { expectation in
            guard let value = cache.row(expectation.uuid, in: expectation.table)?[expectation.column] else { return false }
            if value == expectation.value { return true }
            // A set of one may come back as an atom, an empty optional as an empty set.
            if case .map = expectation.value { return false }
            return value.atoms == expectation.value.atoms
        }
    }

    // MARK: - Helpers

    /// A `wait` that row `uuid` still has, in `columns`, the values of `row` (the snapshot's).
    static func unchanged(_ table: String, _ uuid: UUID, _ row: OVSDBRow, columns: [String]) -> OVSDBOperation {
        var projected: OVSDBRow = [:]
        for column in columns {
            if let value = row[column] { projected[column] = value }
        }
        return .wait(
            table: table, where: [.uuid(uuid)], columns: projected.keys.sorted(), until: .equal, rows: [projected],
            timeout: 0)
    }

    private static func unique(_ names: [String]) -> [String] {
        var seen: Set<String> = []
        return names.filter { seen.insert($0).inserted }
    }

    /// The desired ports without repeats; a NIC asked for twice with different settings is an error.
    private static func deduplicated(_ ports: [DesiredPort], host: String) throws -> [DesiredPort] {
        var byDevice: [String: DesiredPort] = [:]
        var byInterfaceID: [String: DesiredPort] = [:]
        var result: [DesiredPort] = []
        for port in ports {
            guard (0...4095).contains(port.vlan) else {
                throw OVSNetworkDriverError(
                    code: .invalidRequest, host: host,
                    message: "VLAN \(port.vlan) of \(port.identity.owner) is outside 0...4095", failureKind: .terminal)
            }
            if let mtu = port.mtu, mtu < 1 {
                throw OVSNetworkDriverError(
                    code: .invalidRequest, host: host, message: "MTU \(mtu) of \(port.identity.owner) is not positive",
                    failureKind: .terminal)
            }
            let existing = byDevice[port.identity.deviceName] ?? byInterfaceID[port.identity.interfaceID]
            if let existing {
                if existing == port { continue }
                throw OVSNetworkDriverError(
                    code: .invalidRequest, host: host,
                    message: "port \(port.identity.deviceName) is asked for twice with different settings "
                        + "(\(existing.identity.owner), VLAN \(existing.vlan) and "
                        + "\(port.identity.owner), VLAN \(port.vlan))",
                    failureKind: .terminal)
            }
            byDevice[port.identity.deviceName] = port
            byInterfaceID[port.identity.interfaceID] = port
            result.append(port)
        }
        return result
    }

    /// The Port's `trunks` column for `trunk`.
    private static func trunksValue(_ trunk: DesiredTrunk) -> OVSDBValue {
        .set(Set(trunk.vlans.map { OVSDBAtom.integer(Int64($0)) }))
    }

    /// Trunks without repeats: one per interface, each with a non-empty list of valid VLANs (an empty
    /// `trunks` column would carry every VLAN).
    private static func deduplicated(_ trunks: [DesiredTrunk], host: String) throws -> [DesiredTrunk] {
        var byInterface: [String: DesiredTrunk] = [:]
        var result: [DesiredTrunk] = []
        for trunk in trunks {
            guard !trunk.vlans.isEmpty, trunk.vlans.allSatisfy({ (1...4094).contains($0) }) else {
                throw OVSNetworkDriverError(
                    code: .invalidRequest, host: host,
                    message: "trunk \(trunk.interface) of physical network \(trunk.physicalNetwork) needs VLANs in 1...4094, got \(trunk.vlans)",
                    failureKind: .terminal)
            }
            if let existing = byInterface[trunk.interface] {
                if existing == trunk { continue }
                throw OVSNetworkDriverError(
                    code: .invalidRequest, host: host,
                    message: "interface \(trunk.interface) is asked for as the trunk of \(existing.physicalNetwork) and of \(trunk.physicalNetwork)",
                    failureKind: .terminal)
            }
            byInterface[trunk.interface] = trunk
            result.append(trunk)
        }
        return result
    }

    /// Port and Interface names are unique across the database: a NIC's device name (or a trunk's
    /// interface) taken on another bridge is a collision, reported before the server refuses the whole
    /// transaction.
    private static func checkNames(
        _ ports: [(name: String, owner: String)], bridge: OVSBridgeView, cache: OVSDBCache, host: String
    ) throws {
        let ours = Set(bridge.ports.map(\.uuid))
        let ourInterfaces = Set(bridge.ports.flatMap { $0.interfaces.map(\.uuid) })
        var elsewhere: [String: String] = [:]
        for (uuid, row) in cache.rows(in: "Port") where !ours.contains(uuid) {
            if let name = row["name"]?.string { elsewhere[name] = "port" }
        }
        for (uuid, row) in cache.rows(in: "Interface") where !ourInterfaces.contains(uuid) {
            if let name = row["name"]?.string, elsewhere[name] == nil { elsewhere[name] = "interface" }
        }
        guard !elsewhere.isEmpty else { return }
        for port in ports {
            if let kind = elsewhere[port.name] {
                let holder = Self.bridgeName(holding: port.name, in: cache)
                throw OVSNetworkDriverError(
                    code: .nameCollision, host: host,
                    message: "\(kind) \(port.name) of \(port.owner) already exists "
                        + (holder.map { "on bridge \($0)" } ?? "outside bridge \(bridge.name)")
                        + "; it is left alone",
                    failureKind: .terminal)
            }
        }
    }

    private static func bridgeName(holding portName: String, in cache: OVSDBCache) -> String? {
        let portUUIDs = Set(cache.rows(in: "Port").filter { $0.value["name"]?.string == portName }.keys)
        return cache.rows(in: "Bridge").values.first { row in
            !portUUIDs.isDisjoint(with: row["ports"]?.uuids ?? [])
        }?["name"]?.string
    }
}
