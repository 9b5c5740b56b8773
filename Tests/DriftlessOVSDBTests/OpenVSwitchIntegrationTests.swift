import DriftlessOVSDB
import DriftlessTesting
import Foundation
import XCTest

/// The client and the Open_vSwitch helpers against a real ovsdb-server and ovs-vswitchd.
///
/// Needs `scripts/start-ovs.sh` to have run (fails, naming the fix, when the
/// socket is absent); `DRIFTLESS_SKIP_OVS_TESTS=1` skips explicitly. Every
/// test works on its own bridge `dlt-test-<random>` and deletes it afterwards.
final class OpenVSwitchIntegrationTests: XCTestCase {
    private static let ownerKey = "driftless-owner"

    private var tag = ""
    private var bridgeName = ""
    private var client: OVSDBClient?
    private var ovs: OpenVSwitch?

    override func setUp() async throws {
        if OVS.skipRequested {
            throw XCTSkip("DRIFTLESS_SKIP_OVS_TESTS=1: Open vSwitch integration tests skipped on request")
        }
        guard FileManager.default.fileExists(atPath: OVS.socketPath) else {
            throw OVS.MissingOpenVSwitch()
        }
        tag = OVS.randomTag()
        bridgeName = "dlt-test-\(tag)"
    }

    override func tearDown() async throws {
        await client?.close()
        guard !OVS.skipRequested, !bridgeName.isEmpty else { return }
        if !FileManager.default.fileExists(atPath: OVS.socketPath) {
            try? OVS.script("start-ovs.sh")
        }
        _ = try? OVS.vsctl("--no-wait", "--if-exists", "del-br", bridgeName)
    }

    private func connect(
        _ configuration: OVSDBClient.Configuration = OVSDBClient.Configuration(), endpoint: String = "unix:\(OVS.socketPath)"
    ) async throws -> (OVSDBClient, OpenVSwitch) {
        let client = try OVSDBClient(endpoint: endpoint, configuration: configuration)
        self.client = client
        try await client.connect(timeout: .seconds(10))
        let ovs = OpenVSwitch(client: client)
        try await ovs.startMonitoring()
        self.ovs = ovs
        return (client, ovs)
    }

    private var owner: String { "test-\(tag)" }

    private func specs(_ count: Int, start: Int = 0) -> [OpenVSwitch.PortSpec] {
        (start..<(start + count)).map { index in
            OpenVSwitch.PortSpec(
                name: "dlt\(tag)-\(index)", tag: 100 + index,
                externalIDs: [Self.ownerKey: owner, "driftless-id": "port-\(index)"],
                interfaceExternalIDs: ["iface-id": "iface-\(index)", "attached-mac": "52:54:00:00:00:\(index % 100)"])
        }
    }

    // MARK: Methods

    func testListDatabasesAndSchema() async throws {
        let (client, _) = try await connect()
        let databases = try await client.listDatabases()
        XCTAssertTrue(databases.contains("Open_vSwitch"), "\(databases)")

        let schema = try await client.schema(for: "Open_vSwitch")
        XCTAssertEqual(schema.name, "Open_vSwitch")
        XCTAssertFalse(schema.version.isEmpty)
        let tag = try schema.table("Port").column("tag").type
        XCTAssertEqual(tag.key.type, .integer)
        XCTAssertTrue(tag.isOptional)
        XCTAssertEqual(tag.key.minInteger, 0)
        XCTAssertEqual(tag.key.maxInteger, 4095)
        let ports = try schema.table("Bridge").column("ports").type
        XCTAssertTrue(ports.isSet)
        XCTAssertNil(ports.max)
        XCTAssertEqual(ports.key.referencedTable, "Port")
        XCTAssertTrue(try schema.table("Bridge").column("external_ids").type.isMap)
        XCTAssertTrue(try schema.table("Open_vSwitch").isRoot)
        XCTAssertFalse(try schema.table("Port").isRoot)

        try await client.echo()
    }

    func testBridgeAndTaggedPortsInOneTransactionAreVisibleToOVSVsctl() async throws {
        let (client, ovs) = try await connect()
        let bridgeUUID = try await ovs.ensureBridge(named: bridgeName, datapathType: "netdev")
        XCTAssertEqual(try OVS.vsctl("get", "Bridge", bridgeName, "datapath_type"), "netdev")
        XCTAssertEqual(try OVS.vsctl("get", "Bridge", bridgeName, "_uuid"), bridgeUUID.ovsdbString)
        // ovs-vswitchd really built it on the userspace datapath: the local port got OpenFlow port 65534.
        try OVS.vsctl("wait-until", "Interface", bridgeName, "ofport=65534")

        // Idempotent: a second ensure returns the same row and creates nothing.
        let again = try await ovs.ensureBridge(named: bridgeName, datapathType: "netdev")
        XCTAssertEqual(again, bridgeUUID)
        XCTAssertEqual(try OVS.vsctl("list-br").split(separator: "\n").filter { $0 == bridgeName }.count, 1)

        let created = try await ovs.addPorts(specs(20), to: bridgeName)
        XCTAssertEqual(created.count, 20)

        // From outside, through ovs-vsctl.
        let listed = try OVS.vsctl("list-ports", bridgeName).split(separator: "\n").map(String.init)
        XCTAssertEqual(Set(listed), Set(specs(20).map(\.name)))
        XCTAssertEqual(try OVS.vsctl("get", "Port", "dlt\(tag)-7", "tag"), "107")
        XCTAssertEqual(try OVS.vsctl("get", "Port", "dlt\(tag)-7", "_uuid"), created["dlt\(tag)-7"]?.ovsdbString)
        let interfaceIDs = try OVS.vsctl("get", "Interface", "dlt\(tag)-7", "external_ids")
        XCTAssertTrue(interfaceIDs.contains(#"iface-id=iface-7"#), interfaceIDs)
        let rows = try OVS.rows(
            ["--columns=name,tag,external_ids", "find", "Port", "external_ids:\(Self.ownerKey)=\(owner)"])
        XCTAssertEqual(rows.count, 20)
        for row in rows {
            let name = try XCTUnwrap(row["name"]?.string)
            let index = try XCTUnwrap(Int(name.split(separator: "-").last ?? ""))
            XCTAssertEqual(row["tag"]?.integer, Int64(100 + index), name)
            XCTAssertEqual(row["external_ids"]?.stringMap["driftless-id"], "port-\(index)", name)
        }

        // And from the cache, which already reflects the write.
        let cached = try await ovs.ports(of: bridgeName)
        let managed = cached.filter { $0.externalIDs[Self.ownerKey] == owner }
        XCTAssertEqual(managed.count, 20)
        XCTAssertEqual(cached.count, 21, "20 ports plus the bridge's internal port")
        let seven = try XCTUnwrap(managed.first { $0.name == "dlt\(tag)-7" })
        XCTAssertEqual(seven.tag, 107)
        XCTAssertEqual(seven.interfaces.map(\.name), ["dlt\(tag)-7"])
        XCTAssertEqual(seven.interfaces.first?.externalIDs["iface-id"], "iface-7")
        let bridge = try await ovs.bridge(named: bridgeName)
        XCTAssertEqual(bridge?.datapathType, "netdev")
        _ = client
    }

    func testMonitorDeliversOutOfBandAddAndDeletePort() async throws {
        let (client, ovs) = try await connect()
        try await ovs.ensureBridge(named: bridgeName)
        let events = await client.events()
        let name = "dlt\(tag)-oob"

        try OVS.vsctl("--no-wait", "add-port", bridgeName, name, "tag=42")
        let inserted = try await firstChange(in: events, within: .seconds(2)) {
            $0.table == "Port" && $0.kind == .inserted && $0.new?["name"]?.string == name
        }
        XCTAssertEqual(inserted.new?["tag"]?.integer, 42)
        let cachedPorts = try await ovs.ports(of: bridgeName)
        XCTAssertTrue(cachedPorts.contains { $0.name == name })

        try OVS.vsctl("--no-wait", "del-port", bridgeName, name)
        let deleted = try await firstChange(in: events, within: .seconds(2)) {
            $0.table == "Port" && $0.kind == .deleted && $0.old?["name"]?.string == name
        }
        XCTAssertEqual(deleted.uuid, inserted.uuid)
        let after = try await ovs.ports(of: bridgeName)
        XCTAssertFalse(after.contains { $0.name == name })
    }

    func testDeleteHelperNeverTouchesUnmanagedPorts() async throws {
        let (_, ovs) = try await connect()
        try await ovs.ensureBridge(named: bridgeName)
        try await ovs.addPorts(specs(3), to: bridgeName)
        let unmanaged = "dlt\(tag)-hand"
        let foreign = "dlt\(tag)-other"
        try OVS.vsctl("--no-wait", "add-port", bridgeName, unmanaged)
        try OVS.vsctl(
            "--no-wait", "add-port", bridgeName, foreign, "--", "set", "Port", foreign,
            "external_ids:\(Self.ownerKey)=someone-else")
        _ = try await client?.waitForCache { cache in
            cache.rows(in: "Port").values.contains { $0["name"]?.string == foreign }
        }

        let outcome = try await ovs.deletePorts(
            named: ["dlt\(tag)-0", unmanaged, foreign, "dlt\(tag)-missing"], from: bridgeName,
            ownerKey: Self.ownerKey, ownerValue: owner)
        XCTAssertEqual(outcome.deleted, ["dlt\(tag)-0"])
        XCTAssertEqual(Set(outcome.skippedUnmanaged), [unmanaged, foreign])
        XCTAssertEqual(outcome.missing, ["dlt\(tag)-missing"])

        let removed = try await ovs.deleteOwnedPorts(from: bridgeName, ownerKey: Self.ownerKey, ownerValue: owner)
        XCTAssertEqual(Set(removed), ["dlt\(tag)-1", "dlt\(tag)-2"])

        let remaining = Set(try OVS.vsctl("list-ports", bridgeName).split(separator: "\n").map(String.init))
        XCTAssertEqual(remaining, [unmanaged, foreign])
        XCTAssertEqual(try OVS.vsctl("get", "Port", foreign, "external_ids:\(Self.ownerKey)"), "someone-else")
        // Garbage collection removed the Port and Interface rows, not just the references.
        XCTAssertTrue(try OVS.rows(["--columns=name", "find", "Interface", "name=dlt\(tag)-0"]).isEmpty)
        XCTAssertTrue(try OVS.rows(["--columns=name", "find", "Port", "name=dlt\(tag)-0"]).isEmpty)
    }

    func testFailedTransactionReportsOperationIndexAndServerError() async throws {
        let (client, ovs) = try await connect()
        try await ovs.ensureBridge(named: bridgeName)

        // A wait that cannot hold fails at its own index with the server's words.
        do {
            _ = try await client.transact(
                database: OpenVSwitch.database,
                operations: [
                    .comment("first"),
                    .waitAbsent("Bridge", where: [.equals("name", .atom(.string(bridgeName)))]),
                    .select("Bridge"),
                ])
            XCTFail("the wait should have failed")
        } catch let error as OVSDBError {
            XCTAssertEqual(error.code, .operationFailed)
            XCTAssertEqual(error.operationIndex, 1)
            XCTAssertEqual(error.operationName, "wait")
            XCTAssertEqual(error.method, "transact")
            XCTAssertEqual(error.endpoint, "unix:\(OVS.socketPath)")
            XCTAssertEqual(error.serverError, "timed out")
            XCTAssertNotNil(error.details)
            XCTAssertFalse(error.isTransient)
        }

        // A duplicate port name breaks the unique index at commit: index = operation count.
        try await ovs.addPorts(specs(1), to: bridgeName)
        do {
            try await ovs.addPorts(specs(1), to: bridgeName)
            XCTFail("a duplicate port name must be refused")
        } catch let error as OVSDBError {
            XCTAssertEqual(error.code, .operationFailed)
            XCTAssertEqual(error.serverError, "constraint violation")
            XCTAssertEqual(error.operationName, "commit")
            XCTAssertEqual(error.operationIndex, 4, "wait + interface + port + mutate, then the commit")
            XCTAssertTrue(error.details?.contains("dlt\(tag)-0") ?? false, "\(error)")
        }

        // A value that breaks the schema is caught before sending, naming the operation.
        do {
            _ = try await client.transact(
                database: OpenVSwitch.database,
                operations: [.comment("ok"), .insert("Port", row: ["name": "x", "tag": "not a number"])])
            XCTFail("a string tag must be refused")
        } catch let error as OVSDBError {
            XCTAssertEqual(error.code, .invalidData)
            XCTAssertEqual(error.operationIndex, 1)
            XCTAssertTrue(error.message.contains("Port.tag"), error.message)
        }
        // Nothing of the failed transactions was committed.
        XCTAssertEqual(try OVS.vsctl("list-ports", bridgeName), "dlt\(tag)-0")
    }

    func testReconnectsAfterOVSDBServerRestartAndResyncsWithoutDuplicates() async throws {
        // On a test bed host, whose ovsdb-server only this test restarts.
        let host = try TestBedHost.require("tb1")
        defer { _ = try? OVS.vsctl("--db=\(host.ovsdbEndpoint)", "--no-wait", "--if-exists", "del-br", bridgeName) }
        // A long first backoff leaves time to change the database while the client is away.
        let (client, ovs) = try await connect(
            OVSDBClient.Configuration(
                requestTimeout: .seconds(10), echoInterval: .seconds(1),
                reconnectInitialDelay: .seconds(3), reconnectMaximumDelay: .seconds(3)),
            endpoint: host.ovsdbEndpoint)
        try await ovs.ensureBridge(named: bridgeName)
        try await ovs.addPorts(specs(5), to: bridgeName)
        let events = await client.events()
        let recorder = EventRecorder(events)

        try host.stop("ovsdb-server")
        _ = try await eventually(timeout: .seconds(5)) {
            if case .disconnected = await client.state { return true }
            return nil
        }
        // While away the host's network state is unknown, not empty.
        do {
            _ = try await ovs.ports(of: bridgeName)
            XCTFail("the cache must not be served while disconnected")
        } catch let error as OVSDBError {
            XCTAssertEqual(error.code, .notSynchronized)
            XCTAssertTrue(error.isTransient)
        }

        try host.start("ovsdb-server")
        let outOfBand = "dlt\(tag)-away"
        try OVS.vsctl("--db=\(host.ovsdbEndpoint)", "--no-wait", "add-port", bridgeName, outOfBand)

        _ = try await client.waitForCache(timeout: .seconds(15)) { cache in
            cache.rows(in: "Port").values.contains { $0["name"]?.string == outOfBand }
        }
        let ports = try await ovs.ports(of: bridgeName)
        let names = ports.map(\.name)
        XCTAssertEqual(names.count, Set(names).count, "no duplicated rows: \(names)")
        XCTAssertEqual(Set(names), Set(specs(5).map(\.name) + [outOfBand, bridgeName]))
        let cache = try await client.cacheSnapshot()
        XCTAssertEqual(
            cache.rows(in: "Port").values.filter { $0["external_ids"]?.stringMap[Self.ownerKey] == owner }.count, 5)

        let seen = await recorder.snapshot()
        let states = seen.compactMap { event -> String? in
            if case .stateChanged(let state) = event {
                switch state {
                case .disconnected: return "disconnected"
                case .connecting: return "connecting"
                case .synchronizing: return "synchronizing"
                case .connected: return "connected"
                default: return "other"
                }
            }
            return nil
        }
        XCTAssertEqual(Array(states.drop { $0 != "disconnected" }.prefix(2)), ["disconnected", "connecting"])
        XCTAssertEqual(Array(states.suffix(2)), ["synchronizing", "connected"], "\(states)")
        let resynced = seen.flatMap { event -> [OVSDBRowChange] in
            if case .rowsChanged(let changes) = event { return changes }
            return []
        }
        XCTAssertTrue(
            resynced.contains { $0.kind == .inserted && $0.table == "Port" && $0.new?["name"]?.string == outOfBand },
            "the resync reports the port added while away")
        XCTAssertFalse(
            resynced.contains { $0.kind == .inserted && $0.new?["name"]?.string == "dlt\(tag)-0" },
            "rows that were there before are not reported again")

        // The reconnected client writes normally.
        try await ovs.addPorts(specs(1, start: 5), to: bridgeName)
        let removed = try await ovs.deleteOwnedPorts(from: bridgeName, ownerKey: Self.ownerKey, ownerValue: owner)
        XCTAssertEqual(removed.count, 6)
        XCTAssertEqual(try OVS.vsctl("--db=\(host.ovsdbEndpoint)", "list-ports", bridgeName), outOfBand)
    }

    func testThousandTaggedPortsInBatches() async throws {
        let (_, ovs) = try await connect()
        try await ovs.ensureBridge(named: bridgeName)
        let all = specs(1000)
        let clock = ContinuousClock()
        let createTime = try await clock.measure {
            for start in stride(from: 0, to: all.count, by: 250) {
                try await ovs.addPorts(Array(all[start..<(start + 250)]), to: bridgeName)
            }
        }
        XCTAssertEqual(try OVS.vsctl("list-ports", bridgeName).split(separator: "\n").count, 1000)
        var deleted: [String] = []
        let deleteTime = try await clock.measure {
            for start in stride(from: 0, to: all.count, by: 250) {
                let names = all[start..<(start + 250)].map(\.name)
                let outcome = try await ovs.deletePorts(
                    named: names, from: bridgeName, ownerKey: Self.ownerKey, ownerValue: owner)
                deleted += outcome.deleted
            }
        }
        XCTAssertEqual(deleted.count, 1000)
        XCTAssertEqual(try OVS.vsctl("list-ports", bridgeName), "")
        print("1000 tagged ports in batches of 250: create \(createTime), delete \(deleteTime)")
        XCTAssertLessThan(createTime + deleteTime, .seconds(30))
    }

    // MARK: Helpers

    private func firstChange(
        in events: AsyncStream<OVSDBClientEvent>, within timeout: Duration,
        where predicate: @escaping @Sendable (OVSDBRowChange) -> Bool
    ) async throws -> OVSDBRowChange {
        try await withThrowingTaskGroup(of: OVSDBRowChange?.self) { group in
            group.addTask {
                for await event in events {
                    if case .rowsChanged(let changes) = event, let match = changes.first(where: predicate) {
                        return match
                    }
                }
                return nil
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            let first = try await group.next() ?? nil
            group.cancelAll()
            guard let change = first ?? nil else {
                XCTFail("no matching monitor update within \(timeout)")
                throw CancellationError()
            }
            return change
        }
    }
}

/// Collects a client's events in the background.
actor EventRecorder {
    private var events: [OVSDBClientEvent] = []

    init(_ stream: AsyncStream<OVSDBClientEvent>) {
        Task { await self.consume(stream) }
    }

    private func consume(_ stream: AsyncStream<OVSDBClientEvent>) async {
        for await event in stream {
            events.append(event)
        }
    }

    func snapshot() -> [OVSDBClientEvent] { events }
}
