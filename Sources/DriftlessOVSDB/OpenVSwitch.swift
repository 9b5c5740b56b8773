import DriftlessCore
import Foundation

/// Open_vSwitch database conveniences (bridges, ports, interfaces) over a generic `OVSDBClient`.
///
/// Writes are single transactions however many rows they touch, guarded by
/// `wait` operations so they abort instead of acting on a state that changed
/// meanwhile. Reads come from the client's monitor cache: call
/// `startMonitoring()` once after connecting. Every write returns only after
/// its effect is visible in the cache (read-your-writes).
public struct OpenVSwitch: Sendable {
    /// The database name.
    public static let database = "Open_vSwitch"

    /// The columns the helpers read; few enough that ovs-vswitchd's
    /// statistics updates do not churn the cache.
    public static let monitorRequests: [String: OVSDBMonitorRequest] = [
        "Open_vSwitch": OVSDBMonitorRequest(columns: ["bridges", "external_ids"]),
        "Bridge": OVSDBMonitorRequest(columns: ["name", "ports", "datapath_type", "external_ids"]),
        "Port": OVSDBMonitorRequest(columns: ["name", "interfaces", "tag", "external_ids"]),
        "Interface": OVSDBMonitorRequest(columns: ["name", "type", "external_ids"]),
    ]

    /// The client used for every request.
    public let client: OVSDBClient
    /// How long a write waits for its effect to show up in the cache.
    public var cacheTimeout: Duration

    /// Wraps a client (connected or not).
    public init(client: OVSDBClient, cacheTimeout: Duration = .seconds(10)) {
        self.client = client
        self.cacheTimeout = cacheTimeout
    }

    /// Monitors the Open_vSwitch, Bridge, Port and Interface tables (the helpers' reads need it).
    public func startMonitoring() async throws {
        try await client.monitorMissing(database: Self.database, tables: Self.monitorRequests)
    }

    // MARK: - Reading the cache

    /// A bridge as the cache sees it.
    public struct Bridge: Sendable, Hashable {
        public var uuid: UUID
        public var name: String
        public var datapathType: String
        public var externalIDs: [String: String]
        public var portUUIDs: Set<UUID>
    }

    /// A port as the cache sees it, with its interfaces.
    public struct Port: Sendable, Hashable {
        public var uuid: UUID
        public var name: String
        /// The VLAN tag (access port), if set.
        public var tag: Int?
        public var externalIDs: [String: String]
        public var interfaces: [Interface]
    }

    /// An interface as the cache sees it.
    public struct Interface: Sendable, Hashable {
        public var uuid: UUID
        public var name: String
        public var type: String
        public var externalIDs: [String: String]
    }

    /// The bridge named `name`, or `nil` when there is none.
    public func bridge(named name: String) async throws -> Bridge? {
        let cache = try await client.cacheSnapshot()
        return Self.bridge(named: name, in: cache)
    }

    /// Every bridge.
    public func bridges() async throws -> [Bridge] {
        let cache = try await client.cacheSnapshot()
        return cache.rows(in: "Bridge").map { Self.bridge(uuid: $0.key, row: $0.value) }.sorted { $0.name < $1.name }
    }

    /// The ports of bridge `name`, sorted by name; throws when the bridge does not exist.
    public func ports(of bridgeName: String) async throws -> [Port] {
        let cache = try await client.cacheSnapshot()
        guard let bridge = Self.bridge(named: bridgeName, in: cache) else {
            throw failure("no bridge named \(bridgeName)")
        }
        return bridge.portUUIDs.compactMap { Self.port($0, in: cache) }.sorted { $0.name < $1.name }
    }

    // MARK: - The OVN chassis

    /// The root row's `external_ids` (where ovn-controller reads its chassis settings).
    public func systemExternalIDs() async throws -> [String: String] {
        let cache = try await client.cacheSnapshot()
        return cache.rows(in: "Open_vSwitch").first?.value["external_ids"]?.stringMap ?? [:]
    }

    /// Makes the host the OVN chassis `chassis` says: sets its keys of the root row's `external_ids` (and
    /// removes those it leaves unset), keeping every other key, in one transaction guarded by a `wait`
    /// that the map did not change meanwhile. Returns whether anything changed.
    @discardableResult
    public func configureChassis(_ chassis: OVNChassis) async throws -> Bool {
        try await requireMonitoring()
        let cache = try await client.cacheSnapshot()
        guard let (uuid, row) = cache.rows(in: "Open_vSwitch").first else { throw failure("no Open_vSwitch row") }
        let current = row["external_ids"]?.stringMap ?? [:]
        var wanted = current
        for key in OVNChassis.keys { wanted[key] = nil }
        wanted.merge(chassis.externalIDs) { $1 }
        guard wanted != current else { return false }
        _ = try await client.transact(database: Self.database, operations: [
            .wait(table: "Open_vSwitch", where: [.uuid(uuid)], columns: ["external_ids"], until: .equal,
                  rows: [["external_ids": .stringMap(current)]], timeout: 0),
            .update(table: "Open_vSwitch", where: [.uuid(uuid)], row: ["external_ids": .stringMap(wanted)]),
            .comment("driftless: OVN chassis \(chassis.systemID)"),
        ])
        let written = wanted
        _ = try await client.waitForCache(timeout: cacheTimeout) { cache in
            cache.row(uuid, in: "Open_vSwitch")?["external_ids"]?.stringMap == written
        }
        return true
    }

    // MARK: - Bridges

    /// Makes sure bridge `name` exists with `datapathType` (e.g. `netdev` for the userspace datapath).
    ///
    /// Creates the bridge with its internal port and interface and links it
    /// from the root row in one transaction, guarded by a `wait` that no
    /// bridge of that name appeared meanwhile; an existing bridge with another
    /// datapath type is updated. Returns the bridge's UUID.
    @discardableResult
    public func ensureBridge(
        named name: String, datapathType: String = "netdev", externalIDs: [String: String] = [:]
    ) async throws -> UUID {
        try await requireMonitoring()
        if let existing = try await bridge(named: name) {
            var changes: OVSDBRow = [:]
            if existing.datapathType != datapathType { changes["datapath_type"] = .atom(.string(datapathType)) }
            for (key, value) in externalIDs where existing.externalIDs[key] != value {
                changes["external_ids"] = .stringMap(existing.externalIDs.merging(externalIDs) { $1 })
            }
            if !changes.isEmpty {
                _ = try await client.transact(
                    database: Self.database,
                    operations: [.update(table: "Bridge", where: [.uuid(existing.uuid)], row: changes)])
                _ = try await client.waitForCache(timeout: cacheTimeout) { cache in
                    cache.row(existing.uuid, in: "Bridge")?["datapath_type"]?.string == datapathType
                }
            }
            return existing.uuid
        }
        var txn = OVSDBTransaction(database: Self.database)
        txn.append(.waitAbsent("Bridge", where: [.equals("name", .atom(.string(name)))]))
        let interface = txn.insert("Interface", row: ["name": .atom(.string(name)), "type": "internal"])
        let port = txn.insert("Port", row: ["name": .atom(.string(name)), "interfaces": .atom(interface)])
        let bridge = txn.insert(
            "Bridge",
            row: [
                "name": .atom(.string(name)), "ports": .atom(port),
                "datapath_type": .atom(.string(datapathType)), "external_ids": .stringMap(externalIDs),
            ])
        txn.append(.mutate(table: "Open_vSwitch", where: [], mutations: [.insert("bridges", .atom(bridge))]))
        txn.append(.comment("driftless: ensure bridge \(name)"))
        let result = try await client.transact(txn)
        guard let uuid = result.uuid(for: bridge) else {
            throw failure("the server did not report the new bridge's uuid")
        }
        _ = try await client.waitForCache(timeout: cacheTimeout) { $0.row(uuid, in: "Bridge") != nil }
        return uuid
    }

    /// Deletes bridge `name` and (by garbage collection) its ports and interfaces; absent is not an error.
    public func deleteBridge(named name: String) async throws {
        try await requireMonitoring()
        guard let existing = try await bridge(named: name) else { return }
        _ = try await client.transact(
            database: Self.database,
            operations: [
                .mutate(
                    table: "Open_vSwitch", where: [],
                    mutations: [.delete("bridges", .atom(.uuid(existing.uuid)))]),
                .comment("driftless: delete bridge \(name)"),
            ])
        _ = try await client.waitForCache(timeout: cacheTimeout) { $0.row(existing.uuid, in: "Bridge") == nil }
    }

    // MARK: - Ports

    /// What a port to be created looks like.
    public struct PortSpec: Sendable, Hashable {
        /// The port (and interface) name.
        public var name: String
        /// The VLAN tag (0...4095) for an access port; `nil` for none.
        public var tag: Int?
        /// Port `external_ids`, where ownership is recorded.
        public var externalIDs: [String: String]
        /// The interface type (`""` system, `internal`, `patch`, ...).
        public var interfaceType: String
        /// Interface `external_ids` (e.g. `iface-id`, `attached-mac`).
        public var interfaceExternalIDs: [String: String]

        /// Describes a port with one interface of the same name.
        public init(
            name: String, tag: Int? = nil, externalIDs: [String: String] = [:], interfaceType: String = "",
            interfaceExternalIDs: [String: String] = [:]
        ) {
            self.name = name
            self.tag = tag
            self.externalIDs = externalIDs
            self.interfaceType = interfaceType
            self.interfaceExternalIDs = interfaceExternalIDs
        }
    }

    /// Adds many ports to bridge `bridgeName` in one transaction; returns port UUIDs by name.
    ///
    /// Each port gets one interface of the same name. The transaction is
    /// guarded by a `wait` for the bridge, so a missing bridge aborts it; a
    /// name already in use fails it (Port and Interface names are unique).
    @discardableResult
    public func addPorts(_ specs: [PortSpec], to bridgeName: String) async throws -> [String: UUID] {
        guard !specs.isEmpty else { return [:] }
        try await requireMonitoring()
        var txn = OVSDBTransaction(database: Self.database)
        txn.append(.waitPresent("Bridge", where: [.equals("name", .atom(.string(bridgeName)))]))
        var portAtoms: [(name: String, atom: OVSDBAtom)] = []
        portAtoms.reserveCapacity(specs.count)
        for spec in specs {
            var interfaceRow: OVSDBRow = ["name": .atom(.string(spec.name))]
            if !spec.interfaceType.isEmpty { interfaceRow["type"] = .atom(.string(spec.interfaceType)) }
            if !spec.interfaceExternalIDs.isEmpty {
                interfaceRow["external_ids"] = .stringMap(spec.interfaceExternalIDs)
            }
            let interface = txn.insert("Interface", row: interfaceRow)
            var portRow: OVSDBRow = ["name": .atom(.string(spec.name)), "interfaces": .atom(interface)]
            if let tag = spec.tag { portRow["tag"] = .optional(.integer(Int64(tag))) }
            if !spec.externalIDs.isEmpty { portRow["external_ids"] = .stringMap(spec.externalIDs) }
            portAtoms.append((spec.name, txn.insert("Port", row: portRow)))
        }
        txn.append(
            .mutate(
                table: "Bridge", where: [.equals("name", .atom(.string(bridgeName)))],
                mutations: [.insert("ports", .set(Set(portAtoms.map(\.atom))))]))
        let result = try await client.transact(txn)
        var uuids: [String: UUID] = [:]
        for (name, atom) in portAtoms {
            guard let uuid = result.uuid(for: atom) else {
                throw failure("the server did not report the uuid of port \(name)")
            }
            uuids[name] = uuid
        }
        let expected = Set(uuids.values)
        _ = try await client.waitForCache(timeout: cacheTimeout) { cache in
            let ports = cache.rows(in: "Port")
            return expected.allSatisfy { ports[$0] != nil }
        }
        return uuids
    }

    /// The outcome of a port deletion.
    public struct PortDeletion: Sendable, Hashable {
        /// Ports removed.
        public var deleted: [String] = []
        /// Ports left alone because they lack the ownership mark.
        public var skippedUnmanaged: [String] = []
        /// Ports asked for that the bridge does not have (already gone is fine).
        public var missing: [String] = []
    }

    /// Deletes the named ports of `bridgeName` that carry `external_ids[ownerKey] == ownerValue`.
    ///
    /// A port without that mark is never touched: it is reported in
    /// `skippedUnmanaged`. Removal is one `mutate` of `Bridge.ports` (OVSDB
    /// garbage-collects the Port and Interface rows), guarded per port by a
    /// `wait` that the port still carries the mark.
    @discardableResult
    public func deletePorts(
        named names: [String], from bridgeName: String, ownerKey: String, ownerValue: String
    ) async throws -> PortDeletion {
        try await requireMonitoring()
        let ports = try await ports(of: bridgeName)
        let byName = Dictionary(ports.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var outcome = PortDeletion()
        var doomed: [Port] = []
        for name in names {
            guard let port = byName[name] else {
                outcome.missing.append(name)
                continue
            }
            if port.externalIDs[ownerKey] == ownerValue {
                doomed.append(port)
            } else {
                outcome.skippedUnmanaged.append(name)
            }
        }
        try await remove(doomed, from: bridgeName, ownerKey: ownerKey, ownerValue: ownerValue)
        outcome.deleted = doomed.map(\.name)
        return outcome
    }

    /// Deletes every port of `bridgeName` marked `external_ids[ownerKey] == ownerValue`; returns their names.
    @discardableResult
    public func deleteOwnedPorts(from bridgeName: String, ownerKey: String, ownerValue: String) async throws
        -> [String]
    {
        try await requireMonitoring()
        let doomed = try await ports(of: bridgeName).filter { $0.externalIDs[ownerKey] == ownerValue }
        try await remove(doomed, from: bridgeName, ownerKey: ownerKey, ownerValue: ownerValue)
        return doomed.map(\.name)
    }

    private func remove(_ ports: [Port], from bridgeName: String, ownerKey: String, ownerValue: String)
        async throws
    {
        guard !ports.isEmpty else { return }
        var txn = OVSDBTransaction(database: Self.database)
        let mark = OVSDBValue.stringMap([ownerKey: ownerValue])
        for port in ports {
            txn.append(.waitPresent("Port", where: [.uuid(port.uuid), .includes("external_ids", mark)]))
        }
        txn.append(
            .mutate(
                table: "Bridge", where: [.equals("name", .atom(.string(bridgeName)))],
                mutations: [.delete("ports", .uuidSet(ports.map(\.uuid)))]))
        _ = try await client.transact(txn)
        let gone = Set(ports.map(\.uuid))
        _ = try await client.waitForCache(timeout: cacheTimeout) { cache in
            let rows = cache.rows(in: "Port")
            return gone.allSatisfy { rows[$0] == nil }
        }
    }

    // MARK: - Helpers

    private func requireMonitoring() async throws {
        let monitored = await client.monitoredTables
        guard monitored.isSuperset(of: ["Bridge", "Port", "Interface"]) else {
            throw failure("call startMonitoring() first: the helpers read the monitor cache")
        }
    }

    private func failure(_ message: String) -> OVSDBError {
        OVSDBError(code: .invalidData, endpoint: client.endpoint.description, message: message)
    }

    static func bridge(named name: String, in cache: OVSDBCache) -> Bridge? {
        cache.rows(in: "Bridge").first { $0.value["name"]?.string == name }.map { bridge(uuid: $0.key, row: $0.value) }
    }

    static func bridge(uuid: UUID, row: OVSDBRow) -> Bridge {
        Bridge(
            uuid: uuid, name: row["name"]?.string ?? "", datapathType: row["datapath_type"]?.string ?? "",
            externalIDs: row["external_ids"]?.stringMap ?? [:], portUUIDs: Set(row["ports"]?.uuids ?? []))
    }

    static func port(_ uuid: UUID, in cache: OVSDBCache) -> Port? {
        guard let row = cache.row(uuid, in: "Port") else { return nil }
        let interfaces = (row["interfaces"]?.uuids ?? []).compactMap { interfaceUUID -> Interface? in
            guard let interfaceRow = cache.row(interfaceUUID, in: "Interface") else { return nil }
            return Interface(
                uuid: interfaceUUID, name: interfaceRow["name"]?.string ?? "",
                type: interfaceRow["type"]?.string ?? "", externalIDs: interfaceRow["external_ids"]?.stringMap ?? [:])
        }
        return Port(
            uuid: uuid, name: row["name"]?.string ?? "", tag: row["tag"]?.integer.map { Int($0) },
            externalIDs: row["external_ids"]?.stringMap ?? [:], interfaces: interfaces)
    }
}
