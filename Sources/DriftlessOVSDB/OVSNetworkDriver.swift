import DriftlessCore
import Foundation

/// The `NetworkDriver` of one host on Open vSwitch, speaking OVSDB natively (Neutron's OVS agent).
///
/// Owns an `OVSDBClient` for the host's `ovsdbEndpoint`, monitors the Bridge, Port and
/// Interface tables and answers every read from the monitor cache; while the client is not
/// connected and in sync, observation is `.unknown`, never an empty list. `apply` turns a
/// whole `PortChangeSet` into one transaction guarded by `wait` operations (see
/// `OVSPortPlan`); it adopts a port that libvirt plugged for a Driftless NIC (found by its
/// Interface `iface-id`) instead of creating a second one, and never changes or deletes a
/// row without Driftless marks otherwise. `portChanges()` streams what changes on the
/// bridge, out of band or not, as the monitor reports it.
public actor OVSNetworkDriver: NetworkDriver {
    /// The driver's monitor: the `OpenVSwitch` helpers' tables, plus the Interface's `mtu_request`.
    public static let monitorRequests: [String: OVSDBMonitorRequest] = {
        var requests = OpenVSwitch.monitorRequests
        requests["Interface"] = OVSDBMonitorRequest(columns: ["name", "type", "external_ids", "mtu_request"])
        requests["Port"] = OVSDBMonitorRequest(columns: ["name", "interfaces", "tag", "trunks", "external_ids"])
        return requests
    }()

    /// How often `apply` rebuilds and resends a transaction that a concurrent change aborted.
    public static let attemptsOnConcurrentChange = 3

    /// The host driven.
    public nonisolated let host: HostTarget
    /// The OVSDB client the driver owns (started on first use, closed by `close()`).
    public nonisolated let client: OVSDBClient
    /// Open_vSwitch helpers over the same client (they share the driver's monitor cache).
    public nonisolated let openVSwitch: OpenVSwitch
    /// How long a write waits for its effect to come back through the monitor.
    public nonisolated let cacheTimeout: Duration

    /// Every transaction this driver has sent (committed or not), for tests and metrics.
    public private(set) var transactionCount = 0

    private var monitoring: Task<Void, any Error>?

    /// Creates the driver for `host`; parses the endpoint but does not connect yet.
    public init(
        host: HostTarget, configuration: OVSDBClient.Configuration = OVSDBClient.Configuration(),
        cacheTimeout: Duration = .seconds(10)
    ) throws {
        let client: OVSDBClient
        do {
            client = try OVSDBClient(endpoint: host.ovsdbEndpoint, configuration: configuration)
        } catch let error as OVSDBError {
            throw OVSNetworkDriverError(error, host: host.name, while: "opening \(host.ovsdbEndpoint)")
        }
        self.init(host: host, client: client, cacheTimeout: cacheTimeout)
    }

    /// Creates the driver over an existing client, which it then owns.
    public init(host: HostTarget, client: OVSDBClient, cacheTimeout: Duration = .seconds(10)) {
        self.host = host
        self.client = client
        self.cacheTimeout = cacheTimeout
        self.openVSwitch = OpenVSwitch(client: client, cacheTimeout: cacheTimeout)
    }

    // MARK: - Lifecycle

    /// Starts connecting in the background (idempotent); reads stay `.unknown` until connected.
    public func start() async {
        await client.start()
    }

    /// Starts the client and waits until it is connected and the monitor cache is filled.
    public func connect(timeout: Duration = .seconds(10)) async throws {
        do {
            try await client.connect(timeout: timeout)
        } catch let error as OVSDBError {
            throw OVSNetworkDriverError(error, host: host.name, while: "connecting to \(host.ovsdbEndpoint)")
        }
        try await prepare()
    }

    /// Closes the client and ends every `portChanges()` stream; the driver cannot be reused.
    public func close() async {
        monitoring?.cancel()
        await client.close()
    }

    // MARK: - NetworkDriver

    /// Ensures the integration bridge exists with the host's datapath type.
    ///
    /// Creates it (marked `driftless-managed=true`) in one transaction guarded by a `wait`
    /// that no bridge of that name appeared meanwhile. An existing bridge on another datapath
    /// is corrected when Driftless made it, and refused (terminal) when it did not.
    public func ensureBridge() async throws {
        try await prepare()
        let wanted = host.datapath.rawValue
        let cache = try await snapshot()
        if let bridge = OVSBridgeView(named: host.bridge, in: cache) {
            let current = bridge.datapathType.isEmpty ? Datapath.system.rawValue : bridge.datapathType
            guard current != wanted else { return }
            let marks = bridge.row["external_ids"]?.stringMap ?? [:]
            guard marks[OVSMarks.managed] == "true" else {
                throw OVSNetworkDriverError(
                    code: .datapathMismatch, host: host.name,
                    message: "bridge \(host.bridge) exists with datapath_type \(current), the Host declares "
                        + "\(wanted); Driftless did not create it and leaves it alone",
                    failureKind: .terminal)
            }
            let operations: [OVSDBOperation] = [
                OVSPortPlan.unchanged("Bridge", bridge.uuid, bridge.row, columns: ["name", "datapath_type"]),
                .update(table: "Bridge", where: [.uuid(bridge.uuid)], row: ["datapath_type": .atom(.string(wanted))]),
                .comment("driftless: \(host.name) bridge \(host.bridge) datapath \(wanted)"),
            ]
            try await send(OVSDBTransaction(database: OpenVSwitch.database, operations: operations), "updating bridge")
            try await waitForCache("the bridge's datapath") { cache in
                cache.row(bridge.uuid, in: "Bridge")?["datapath_type"]?.string == wanted
            }
            return
        }
        transactionCount += 1
        do {
            try await openVSwitch.ensureBridge(
                named: host.bridge, datapathType: wanted, externalIDs: [OVSMarks.managed: "true"])
        } catch let error as OVSDBError {
            throw classify(error, while: "creating bridge \(host.bridge)")
        }
    }

    /// The ports on the integration bridge (without the bridge's own internal port), from the monitor cache.
    ///
    /// `.unknown` while the client is not connected and in sync; `.known([])` when the bridge
    /// does not exist (nothing is there).
    public func observePorts() async throws -> Observed<[ObservedPort]> {
        do {
            try await prepare()
            let cache = try await snapshot()
            return .known(OVSBridgeView(named: host.bridge, in: cache)?.observedPorts ?? [])
        } catch let error as OVSNetworkDriverError where error.failureKind == .transient {
            return .unknown(reason: error.message)
        }
    }

    /// Ports of the host's other bridges by name, with the bridge holding each; empty while not connected.
    public func portsOnOtherBridges() async -> [String: String] {
        guard (try? await prepare()) != nil, let cache = try? await snapshot() else { return [:] }
        let portNames = cache.rows(in: "Port").compactMapValues { $0["name"]?.string }
        var result: [String: String] = [:]
        for bridge in cache.rows(in: "Bridge").values {
            guard let name = bridge["name"]?.string, name != host.bridge else { continue }
            for uuid in bridge["ports"]?.uuids ?? [] {
                if let port = portNames[uuid], port != name { result[port] = name }
            }
        }
        return result
    }

    /// Applies `changes` (see `applyChanges(_:)`).
    public func apply(_ changes: PortChangeSet) async throws {
        _ = try await applyChanges(changes)
    }

    /// Applies every change for the host in one guarded transaction and reports what it did.
    ///
    /// For each desired port: a port on the bridge with the NIC's device name, or whose
    /// Interface carries the NIC's `iface-id`, is adopted and corrected (tag, Port marks,
    /// interface ids, `mtu_request`); otherwise a Port and Interface named after the device
    /// are created. Deletes remove only ports marked `driftless-managed=true`; others are
    /// reported in `skippedUnmanaged`, absent ones in `alreadyAbsent`. Nothing to change sends
    /// nothing. A transaction aborted by a concurrent change is rebuilt from the fresh cache
    /// and resent (up to `attemptsOnConcurrentChange` times); it returns once the cache shows
    /// the result. Creates the bridge first when it is missing.
    @discardableResult
    public func applyChanges(_ changes: PortChangeSet) async throws -> PortApplyOutcome {
        try await prepare()
        if OVSBridgeView(named: host.bridge, in: try await snapshot()) == nil {
            guard !changes.ensure.isEmpty || !changes.trunks.isEmpty else {
                var outcome = PortApplyOutcome()
                outcome.alreadyAbsent = changes.delete
                return outcome
            }
            try await ensureBridge()
        }
        var attempt = 0
        var transactions = 0
        while true {
            attempt += 1
            let cache = try await snapshot()
            guard let bridge = OVSBridgeView(named: host.bridge, in: cache) else {
                throw OVSNetworkDriverError(
                    code: .concurrentChange, host: host.name,
                    message: "bridge \(host.bridge) disappeared while applying", failureKind: .transient)
            }
            var plan = try OVSPortPlan(changes, bridge: bridge, cache: cache, host: host.name)
            guard plan.hasChanges else {
                plan.outcome.transactions = transactions
                return plan.outcome
            }
            let result: OVSDBTransactionResult
            do {
                transactions += 1
                result = try await sendRaw(plan.transaction)
            } catch let error as OVSDBError
                where error.code == .operationFailed && error.operationName == "wait"
            {
                guard attempt < Self.attemptsOnConcurrentChange else {
                    throw OVSNetworkDriverError(
                        code: .concurrentChange, host: host.name,
                        message: "bridge \(host.bridge) kept changing under \(attempt) attempts; last: \(error)",
                        underlying: error, failureKind: .transient)
                }
                // Let the monitor deliver the change that aborted us, then rebuild from the fresh cache.
                try? await client.echo()
                try? await Task.sleep(for: .milliseconds(20 * attempt))
                continue
            } catch let error as OVSDBError {
                throw classify(error, while: "applying \(plan.outcome.created.count) new port(s)")
            }
            var inserted: Set<UUID> = []
            for (name, atom) in plan.insertedPorts {
                guard let uuid = result.uuid(for: atom) else {
                    throw OVSNetworkDriverError(
                        code: .ovsdb, host: host.name, message: "the server did not report the uuid of port \(name)",
                        failureKind: .terminal)
                }
                inserted.insert(uuid)
            }
            let landed = plan
            let bridgeUUID = bridge.uuid
            let newPorts = inserted
            try await waitForCache("the applied ports") { cache in
                landed.isVisible(in: cache, bridge: bridgeUUID, inserted: newPorts)
            }
            plan.outcome.transactions = transactions
            return plan.outcome
        }
    }

    // MARK: - Plumbing

    /// Starts the client; once connected, registers the monitor (once per client life).
    ///
    /// Throws a transient `notConnected` while the client is not connected and in sync.
    func prepare() async throws {
        await client.start()
        let state = await client.state
        guard state == .connected else {
            throw notConnected(state)
        }
        let monitored = await client.monitoredTables
        let missing = Self.monitorRequests.filter { !monitored.contains($0.key) }
        guard !missing.isEmpty else { return }
        if let monitoring {
            try await awaitMonitor(monitoring)
            return
        }
        let client = self.client
        let task = Task { try await client.monitor(database: OpenVSwitch.database, tables: missing) }
        monitoring = task
        do {
            try await awaitMonitor(task)
        } catch {
            monitoring = nil
            throw error
        }
    }

    private func awaitMonitor(_ task: Task<Void, any Error>) async throws {
        do {
            try await task.value
        } catch let error as OVSDBError {
            throw classify(error, while: "monitoring the Open_vSwitch tables")
        }
    }

    /// The monitor cache, or a transient `notConnected` when it is not in sync.
    func snapshot() async throws -> OVSDBCache {
        do {
            return try await client.cacheSnapshot()
        } catch let error as OVSDBError {
            throw classify(error, while: "reading the monitor cache")
        }
    }

    private func send(_ transaction: OVSDBTransaction, _ doing: String) async throws {
        do {
            _ = try await sendRaw(transaction)
        } catch let error as OVSDBError {
            throw classify(error, while: doing)
        }
    }

    private func sendRaw(_ transaction: OVSDBTransaction) async throws -> OVSDBTransactionResult {
        transactionCount += 1
        return try await client.transact(transaction)
    }

    private func waitForCache(_ what: String, _ predicate: @escaping @Sendable (OVSDBCache) -> Bool) async throws {
        do {
            _ = try await client.waitForCache(timeout: cacheTimeout, until: predicate)
        } catch let error as OVSDBError {
            throw classify(error, while: "waiting for \(what) to show in the monitor cache")
        }
    }

    private func classify(_ error: OVSDBError, while doing: String) -> OVSNetworkDriverError {
        switch error.code {
        case .notConnected, .notSynchronized, .connectionLost, .connectionFailed:
            return OVSNetworkDriverError(
                code: .notConnected, host: host.name, message: "\(doing): \(error)", underlying: error,
                failureKind: .transient)
        case .operationFailed where error.operationName == "wait":
            return OVSNetworkDriverError(
                code: .concurrentChange, host: host.name, message: "\(doing): \(error)", underlying: error,
                failureKind: .transient)
        default:
            return OVSNetworkDriverError(error, host: host.name, while: doing)
        }
    }

    private func notConnected(_ state: OVSDBConnectionState) -> OVSNetworkDriverError {
        OVSNetworkDriverError(
            code: .notConnected, host: host.name,
            message: "OVSDB at \(host.ovsdbEndpoint) is \(Self.describe(state)): the host's ports are unknown",
            failureKind: .transient)
    }

    static func describe(_ state: OVSDBConnectionState) -> String {
        switch state {
        case .idle: return "not started"
        case .connecting(let attempt): return attempt == 0 ? "connecting" : "reconnecting (attempt \(attempt + 1))"
        case .synchronizing: return "resynchronizing"
        case .connected: return "connected"
        case .disconnected(let reason): return "disconnected (\(reason))"
        case .closed: return "closed"
        }
    }
}
