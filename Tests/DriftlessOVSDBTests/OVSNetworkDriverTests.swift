import DriftlessCore
import DriftlessTesting
import Foundation
import XCTest

@testable import DriftlessOVSDB

/// The OVS network driver against a real ovsdb-server and ovs-vswitchd, checked from outside with ovs-vsctl.
///
/// Needs `scripts/start-ovs.sh` to have run (fails, naming the fix, when the socket is
/// absent); `DRIFTLESS_SKIP_OVS_TESTS=1` skips explicitly. Every test drives its own bridge
/// `dlt-drv-<random>` with NICs of project `p-<random>`, and deletes the bridge afterwards.
final class OVSNetworkDriverTests: XCTestCase {
    private var tag = ""
    private var bridgeName = ""
    private var extraBridges: [String] = []
    private var drivers: [OVSNetworkDriver] = []
    private var clients: [OVSDBClient] = []

    override func setUp() async throws {
        if OVS.skipRequested {
            throw XCTSkip("DRIFTLESS_SKIP_OVS_TESTS=1: Open vSwitch integration tests skipped on request")
        }
        guard FileManager.default.fileExists(atPath: OVS.socketPath) else {
            throw OVS.MissingOpenVSwitch()
        }
        tag = OVS.randomTag()
        bridgeName = "dlt-drv-\(tag)"
    }

    override func tearDown() async throws {
        for driver in drivers { await driver.close() }
        for client in clients { await client.close() }
        guard !OVS.skipRequested, !bridgeName.isEmpty else { return }
        if !FileManager.default.fileExists(atPath: OVS.socketPath) {
            try? OVS.script("start-ovs.sh")
        }
        for bridge in [bridgeName] + extraBridges {
            _ = try? OVS.vsctl("--no-wait", "--if-exists", "del-br", bridge)
        }
    }

    // MARK: Fixtures

    private func host(datapath: Datapath = .netdev, bridge: String? = nil, endpoint: String? = nil) -> HostTarget {
        HostTarget(
            name: "node-\(tag)", libvirtURI: "test:///default", ovsdbEndpoint: endpoint ?? "unix:\(OVS.socketPath)",
            bridge: bridge ?? bridgeName, datapath: datapath,
            storagePool: PoolSpec(name: "unused", path: "/nonexistent"),
            imagePool: PoolSpec(name: "unused", path: "/nonexistent"))
    }

    private func driver(
        _ host: HostTarget? = nil,
        configuration: OVSDBClient.Configuration = OVSDBClient.Configuration(),
        connect: Bool = true
    ) async throws -> OVSNetworkDriver {
        let driver = try OVSNetworkDriver(host: host ?? self.host(), configuration: configuration)
        drivers.append(driver)
        if connect { try await driver.connect() }
        return driver
    }

    private func nic(_ index: Int) -> NICIdentity {
        NICIdentity(owner: NICOwner(project: "p-\(tag)", instance: "vm-\(index)", network: "net", ordinal: 0))
    }

    private func desired(_ indices: Range<Int>, mtu: Int? = nil) -> [DesiredPort] {
        indices.map { DesiredPort(identity: nic($0), vlan: 100 + $0 % 50, mtu: mtu) }
    }

    private func listPorts(_ bridge: String? = nil) throws -> [String] {
        try OVS.vsctl("list-ports", bridge ?? bridgeName).split(separator: "\n").map(String.init)
    }

    /// One row of `ovs-vsctl find TABLE name=NAME`, as column → value.
    private func row(_ table: String, _ name: String, columns: String) throws -> [String: OVSDBValue]? {
        let rows = try OVS.rows(["--columns=\(columns)", "find", table, "name=\(name)"])
        XCTAssertLessThanOrEqual(rows.count, 1, "\(table) \(name) is unique")
        return rows.first
    }

    private func interfaceIDs(_ name: String) throws -> [String: String] {
        try row("Interface", name, columns: "external_ids")?["external_ids"]?.stringMap ?? [:]
    }

    private func portMarks(_ name: String) throws -> [String: String] {
        try row("Port", name, columns: "external_ids")?["external_ids"]?.stringMap ?? [:]
    }

    // MARK: Bridge

    func testEnsureBridgeCreatesMarkedNetdevBridgeOnceAndObservesNoPorts() async throws {
        let driver = try await driver()
        try await driver.ensureBridge()
        try await driver.ensureBridge()

        XCTAssertEqual(try OVS.vsctl("get", "Bridge", bridgeName, "datapath_type"), "netdev")
        XCTAssertEqual(try OVS.vsctl("get", "Bridge", bridgeName, "external_ids:driftless-managed"), "\"true\"")
        XCTAssertEqual(try OVS.vsctl("list-br").split(separator: "\n").filter { $0 == bridgeName }.count, 1)
        // ovs-vswitchd built it on the userspace datapath: the local port got OpenFlow port 65534.
        try OVS.vsctl("wait-until", "Interface", bridgeName, "ofport=65534")
        let transactions = await driver.transactionCount
        XCTAssertEqual(transactions, 1, "the second ensure found the bridge in the cache and sent nothing")

        guard case .known(let ports) = try await driver.observePorts() else {
            return XCTFail("connected: the ports are known")
        }
        XCTAssertEqual(ports, [], "the bridge's own internal port is not an instance port")
    }

    func testUnmanagedBridgeOnAnotherDatapathIsRefusedNotChanged() async throws {
        try OVS.vsctl("--no-wait", "add-br", bridgeName, "--", "set", "Bridge", bridgeName, "datapath_type=netdev")
        let driver = try await driver(host(datapath: .system))
        do {
            try await driver.ensureBridge()
            XCTFail("an unmanaged bridge on another datapath must be refused")
        } catch let error as OVSNetworkDriverError {
            XCTAssertEqual(error.code, .datapathMismatch)
            XCTAssertEqual(error.failureKind, .terminal)
            XCTAssertTrue(error.description.contains(bridgeName), error.description)
        }
        XCTAssertEqual(try OVS.vsctl("get", "Bridge", bridgeName, "datapath_type"), "netdev")
        XCTAssertEqual(try OVS.vsctl("get", "Bridge", bridgeName, "external_ids"), "{}")
    }

    // MARK: Ports

    func testHundredPortsAreCreatedTaggedAndMarkedInOneTransaction() async throws {
        let driver = try await driver()
        try await driver.ensureBridge()
        let counter = try await PortUpdateCounter.start(names: Set(desired(0..<100).map(\.identity.deviceName)))
        clients.append(counter.client)
        let before = await driver.transactionCount

        var ports = desired(0..<100)
        ports[7].mtu = 1400
        let outcome = try await driver.applyChanges(PortChangeSet(ensure: ports))

        XCTAssertEqual(outcome.created.count, 100)
        XCTAssertEqual(outcome.transactions, 1)
        let after = await driver.transactionCount
        XCTAssertEqual(after - before, 1, "one apply, one transaction")
        // Seen from another client: every insert arrived in one monitor update, i.e. one commit.
        let updates = try await counter.updatesUntilAllSeen(timeout: .seconds(5))
        XCTAssertEqual(updates, 1, "the 100 Port inserts came in \(updates) monitor updates")

        // From outside, through ovs-vsctl.
        XCTAssertEqual(Set(try listPorts()), Set(ports.map(\.identity.deviceName)))
        for port in [ports[0], ports[7], ports[99]] {
            let name = port.identity.deviceName
            XCTAssertEqual(try OVS.vsctl("get", "Port", name, "tag"), "\(port.vlan)")
            let ids = try interfaceIDs(name)
            XCTAssertEqual(ids["iface-id"], port.identity.interfaceID)
            XCTAssertEqual(ids["attached-mac"], port.identity.mac)
            XCTAssertEqual(try portMarks(name), port.portMarks)
        }
        XCTAssertEqual(try OVS.vsctl("get", "Interface", ports[7].identity.deviceName, "mtu_request"), "1400")
        XCTAssertEqual(try OVS.vsctl("get", "Interface", ports[8].identity.deviceName, "mtu_request"), "[]")
        let marked = try OVS.rows(["--columns=name,tag", "find", "Port", "external_ids:driftless-project=p-\(tag)"])
        XCTAssertEqual(marked.count, 100)

        // Observed from the cache, field by field.
        let observed = try await driver.observePorts()
        let byName = Dictionary(uniqueKeysWithValues: (observed.value ?? []).map { ($0.name, $0) })
        XCTAssertEqual(byName.count, 100)
        let seven = try XCTUnwrap(byName[ports[7].identity.deviceName])
        XCTAssertEqual(
            seven,
            ObservedPort(
                name: ports[7].identity.deviceName, interfaceID: ports[7].identity.interfaceID,
                mac: ports[7].identity.mac, vlan: ports[7].vlan, mtu: 1400, marks: ports[7].portMarks))
        XCTAssertTrue(seven.isMarked)

        // Idempotent: the same apply again changes nothing and sends nothing.
        let again = try await driver.applyChanges(PortChangeSet(ensure: ports))
        XCTAssertEqual(again.transactions, 0)
        XCTAssertEqual(again.unchanged.count, 100)
        XCTAssertFalse(again.changedAnything)

        // A changed VLAN and MTU are corrected in place, in one transaction.
        ports[3].vlan = 999
        ports[7].mtu = 1450
        let corrected = try await driver.applyChanges(PortChangeSet(ensure: ports))
        XCTAssertEqual(Set(corrected.updated), [ports[3].identity.deviceName, ports[7].identity.deviceName])
        XCTAssertEqual(corrected.transactions, 1)
        XCTAssertEqual(try OVS.vsctl("get", "Port", ports[3].identity.deviceName, "tag"), "999")
        XCTAssertEqual(try OVS.vsctl("get", "Interface", ports[7].identity.deviceName, "mtu_request"), "1450")
        XCTAssertEqual(try listPorts().count, 100)
    }

    func testPortPluggedByLibvirtIsAdoptedNotDuplicated() async throws {
        let driver = try await driver()
        try await driver.ensureBridge()
        let nic = self.nic(0)
        let tap = "dlv\(tag)"
        // What libvirt does for <virtualport type='openvswitch'>: its own tap name, iface-id and attached-mac.
        try OVS.vsctl(
            "--no-wait", "add-port", bridgeName, tap, "--", "set", "Interface", tap,
            "external_ids:iface-id=\(nic.interfaceID)", "external_ids:attached-mac=\(nic.mac)",
            "external_ids:vm-id=\(UUID().uuidString.lowercased())")
        try await waitUntilObserved(driver) { $0.contains { $0.name == tap } }

        let port = DesiredPort(identity: nic, vlan: 42, mtu: nil)
        let outcome = try await driver.applyChanges(PortChangeSet(ensure: [port, desired(1..<2)[0]]))
        XCTAssertEqual(outcome.adopted, [tap])
        XCTAssertEqual(outcome.created, [self.nic(1).deviceName])
        XCTAssertEqual(outcome.transactions, 1)

        XCTAssertEqual(Set(try listPorts()), [tap, self.nic(1).deviceName], "no second port for the libvirt NIC")
        XCTAssertNil(try row("Port", nic.deviceName, columns: "name"))
        XCTAssertEqual(try OVS.vsctl("get", "Port", tap, "tag"), "42")
        XCTAssertEqual(try portMarks(tap), port.portMarks)
        let ids = try interfaceIDs(tap)
        XCTAssertEqual(ids["iface-id"], nic.interfaceID)
        XCTAssertNotNil(ids["vm-id"], "libvirt's own interface ids are kept")

        let observed = try await driver.observePorts().value ?? []
        let adopted = try XCTUnwrap(observed.first { $0.interfaceID == nic.interfaceID })
        XCTAssertEqual(adopted.name, tap)
        XCTAssertEqual(adopted.vlan, 42)
        XCTAssertTrue(adopted.isMarked)

        let again = try await driver.applyChanges(PortChangeSet(ensure: [port]))
        XCTAssertEqual(again.unchanged, [tap])
        XCTAssertEqual(again.transactions, 0)
        XCTAssertEqual(Set(try listPorts()), [tap, self.nic(1).deviceName])
    }

    func testUnmanagedPortWithANICsNameIsACollisionAndLeftAlone() async throws {
        let driver = try await driver()
        try await driver.ensureBridge()
        let nic = self.nic(0)
        try OVS.vsctl("--no-wait", "add-port", bridgeName, nic.deviceName, "tag=7")
        try await waitUntilObserved(driver) { $0.contains { $0.name == nic.deviceName } }
        do {
            try await driver.apply(PortChangeSet(ensure: [DesiredPort(identity: nic, vlan: 42, mtu: nil)]))
            XCTFail("a name taken by an unmanaged port must be refused")
        } catch let error as OVSNetworkDriverError {
            XCTAssertEqual(error.code, .nameCollision)
            XCTAssertEqual(error.failureKind, .terminal)
        }
        XCTAssertEqual(try OVS.vsctl("get", "Port", nic.deviceName, "tag"), "7")
        XCTAssertEqual(try portMarks(nic.deviceName), [:])
        let transactions = await driver.transactionCount
        XCTAssertEqual(transactions, 1, "only the bridge was created")
    }

    /// A physical network's interface (a veth here) becomes a trunk port of exactly the mapped VLANs,
    /// marked as Driftless's; a changed VLAN set is corrected in place; an unmanaged port of that name is
    /// refused; and a trunk is deleted like any other owned port. Checked with ovs-vsctl.
    func testPhysicalNetworkInterfaceBecomesAMarkedTrunkOfItsVLANs() async throws {
        let driver = try await driver()
        try await driver.ensureBridge()
        let veth = "dlv\(tag.prefix(8))"
        try OVS.run("/usr/sbin/ip", ["link", "add", veth, "type", "veth", "peer", "name", veth + "p"])
        defer { _ = try? OVS.run("/usr/sbin/ip", ["link", "del", veth]) }
        let trunk = DesiredTrunk(interface: veth, physicalNetwork: "physnet1", vlans: [100, 200], owner: "install-1")
        let created = try await driver.applyChanges(PortChangeSet(trunks: [trunk]))
        XCTAssertEqual(created.created, [veth])
        XCTAssertEqual(try OVS.vsctl("get", "Port", veth, "trunks"), "[100, 200]")
        XCTAssertEqual(try OVS.vsctl("get", "Port", veth, "tag"), "[]")
        XCTAssertEqual(try portMarks(veth)[OVSMarks.physicalNetwork], "physnet1")
        XCTAssertEqual(try portMarks(veth)[OVSMarks.managed], "true")
        let ports = try await driver.observePorts().value ?? []
        let observed = try XCTUnwrap(ports.first { $0.name == veth })
        XCTAssertEqual(observed.trunks, [100, 200])
        XCTAssertEqual(observed.physicalNetwork, "physnet1")

        // Again: nothing to do. Then someone retags it: corrected in place, same row.
        let again = try await driver.applyChanges(PortChangeSet(trunks: [trunk]))
        XCTAssertEqual(again.unchanged, [veth])
        XCTAssertEqual(again.transactions, 0)
        let uuid = try OVS.vsctl("get", "Port", veth, "_uuid")
        try OVS.vsctl("set", "Port", veth, "trunks=300", "tag=5")
        try await waitUntilObserved(driver) { $0.contains { $0.name == veth && $0.vlan == 5 } }
        let fixed = try await driver.applyChanges(PortChangeSet(trunks: [trunk]))
        XCTAssertEqual(fixed.updated, [veth])
        XCTAssertEqual(try OVS.vsctl("get", "Port", veth, "trunks"), "[100, 200]")
        XCTAssertEqual(try OVS.vsctl("get", "Port", veth, "tag"), "[]")
        XCTAssertEqual(try OVS.vsctl("get", "Port", veth, "_uuid"), uuid)

        // An empty VLAN list would trunk everything: refused before anything is sent.
        do {
            try await driver.apply(PortChangeSet(trunks: [DesiredTrunk(interface: veth, physicalNetwork: "physnet1", vlans: [])]))
            XCTFail("an empty trunk must be refused")
        } catch let error as OVSNetworkDriverError {
            XCTAssertEqual(error.code, .invalidRequest)
        }

        // The trunk goes like any port Driftless owns.
        let deleted = try await driver.applyChanges(PortChangeSet(delete: [veth]))
        XCTAssertEqual(deleted.deleted, [veth])
        XCTAssertFalse(try listPorts().contains(veth))

        // Someone else's port with that name is never taken over.
        try OVS.vsctl("--no-wait", "add-port", bridgeName, veth)
        try await waitUntilObserved(driver) { $0.contains { $0.name == veth } }
        do {
            try await driver.apply(PortChangeSet(trunks: [trunk]))
            XCTFail("an unmanaged port with the interface's name must be refused")
        } catch let error as OVSNetworkDriverError {
            XCTAssertEqual(error.code, .nameCollision)
            XCTAssertTrue(error.message.contains("physical network physnet1"), error.message)
        }
        XCTAssertEqual(try portMarks(veth), [:])
        XCTAssertEqual(try OVS.vsctl("get", "Port", veth, "trunks"), "[]")
        let elsewhere = await driver.portsOnOtherBridges()
        XCTAssertNil(elsewhere[veth], "the integration bridge's own ports are not 'elsewhere'")
    }

    func testDeletesRemoveOnlyMarkedPortsAndNeverTouchUnmanagedOnes() async throws {
        let driver = try await driver()
        try await driver.ensureBridge()
        let ports = desired(0..<3)
        try await driver.apply(PortChangeSet(ensure: ports))
        let unmanaged = "dlu\(tag)"
        try OVS.vsctl(
            "--no-wait", "add-port", bridgeName, unmanaged, "tag=7", "--", "set", "Port", unmanaged,
            "external_ids:owner=someone-else")
        try await waitUntilObserved(driver) { $0.contains { $0.name == unmanaged } }
        let unmanagedBefore = try row("Port", unmanaged, columns: "_uuid,tag,external_ids,interfaces")

        let names = ports.map(\.identity.deviceName)
        let outcome = try await driver.applyChanges(
            PortChangeSet(ensure: [ports[2]], delete: [names[0], unmanaged, "dlmissing\(tag)"]))
        XCTAssertEqual(outcome.deleted, [names[0]])
        XCTAssertEqual(outcome.skippedUnmanaged, [unmanaged])
        XCTAssertEqual(outcome.alreadyAbsent, ["dlmissing\(tag)"])
        XCTAssertEqual(outcome.unchanged, [names[2]])
        XCTAssertEqual(outcome.transactions, 1)

        XCTAssertEqual(Set(try listPorts()), [names[1], names[2], unmanaged])
        XCTAssertEqual(try row("Port", unmanaged, columns: "_uuid,tag,external_ids,interfaces"), unmanagedBefore)
        // Garbage collection removed the Port and Interface rows, not just the bridge's reference.
        XCTAssertNil(try row("Port", names[0], columns: "name"))
        XCTAssertNil(try row("Interface", names[0], columns: "name"))

        // Deleting the rest leaves the unmanaged port, however it is asked.
        let rest = try await driver.applyChanges(PortChangeSet(delete: [names[1], names[2], unmanaged]))
        XCTAssertEqual(Set(rest.deleted), [names[1], names[2]])
        XCTAssertEqual(try listPorts(), [unmanaged])
        XCTAssertEqual(try row("Port", unmanaged, columns: "_uuid,tag,external_ids,interfaces"), unmanagedBefore)
    }

    func testTransactionBuiltOnAStaleCacheIsAbortedByItsWaits() async throws {
        let driver = try await driver()
        try await driver.ensureBridge()
        let nic = self.nic(0)
        let cache = try await driver.client.cacheSnapshot()
        let bridge = try XCTUnwrap(OVSBridgeView(named: bridgeName, in: cache))
        let stale = try OVSPortPlan(
            PortChangeSet(ensure: [DesiredPort(identity: nic, vlan: 5, mtu: nil)]), bridge: bridge, cache: cache,
            host: "test")
        XCTAssertEqual(stale.outcome.created, [nic.deviceName])

        // Meanwhile libvirt plugs the NIC's tap under its own name.
        let tap = "dlv\(tag)"
        try OVS.vsctl(
            "--no-wait", "add-port", bridgeName, tap, "--", "set", "Interface", tap,
            "external_ids:iface-id=\(nic.interfaceID)")
        do {
            _ = try await driver.client.transact(stale.transaction)
            XCTFail("the bridge's ports changed: the wait must abort the transaction")
        } catch let error as OVSDBError {
            XCTAssertEqual(error.code, .operationFailed)
            XCTAssertEqual(error.operationName, "wait")
            XCTAssertEqual(error.operationIndex, 0)
        }
        XCTAssertEqual(try listPorts(), [tap], "nothing of the stale transaction was committed")

        // The driver itself rebuilds from the fresh cache: it adopts the tap.
        let outcome = try await driver.applyChanges(
            PortChangeSet(ensure: [DesiredPort(identity: nic, vlan: 5, mtu: nil)]))
        XCTAssertEqual(outcome.adopted, [tap])
        XCTAssertEqual(try listPorts(), [tap])
        XCTAssertEqual(try OVS.vsctl("get", "Port", tap, "tag"), "5")
    }

    // MARK: Drift

    func testOutOfBandDeleteIsSeenWithinASecondAndHealedByApply() async throws {
        let driver = try await driver()
        try await driver.ensureBridge()
        let ports = desired(0..<3)
        try await driver.apply(PortChangeSet(ensure: ports))
        let recorder = PortEventRecorder(await driver.portChanges())
        let first = try await recorder.first(within: .seconds(5)) {
            if case .synchronized(let all) = $0 { return all.count == 3 }
            return false
        }
        XCTAssertNotNil(first)

        let victim = ports[1].identity.deviceName
        let clock = ContinuousClock()
        let start = clock.now
        try OVS.vsctl("--no-wait", "del-port", bridgeName, victim)
        let removed = try await recorder.first(within: .seconds(1)) {
            if case .removed(let port) = $0 { return port.name == victim }
            return false
        }
        let elapsed = clock.now - start
        guard case .removed(let port) = removed else { return XCTFail("no removal reported within a second") }
        XCTAssertLessThan(elapsed, .seconds(1))
        XCTAssertEqual(port.interfaceID, ports[1].identity.interfaceID)
        XCTAssertTrue(port.isMarked)

        let observed = try await driver.observePorts().value ?? []
        XCTAssertEqual(Set(observed.map(\.name)), [ports[0].identity.deviceName, ports[2].identity.deviceName])

        let healed = try await driver.applyChanges(PortChangeSet(ensure: ports))
        XCTAssertEqual(healed.created, [victim])
        XCTAssertEqual(healed.unchanged.count, 2)
        XCTAssertEqual(Set(try listPorts()), Set(ports.map(\.identity.deviceName)))
        XCTAssertEqual(try OVS.vsctl("get", "Port", victim, "tag"), "\(ports[1].vlan)")
        let added = try await recorder.first(within: .seconds(1)) {
            if case .added(let port) = $0 { return port.name == victim }
            return false
        }
        XCTAssertNotNil(added, "the stream reports the re-created port too")
    }

    func testOVSDBServerRestartMidRunReconnectsResyncsAndDuplicatesNothing() async throws {
        // On a test bed host, whose ovsdb-server only this test restarts.
        let testBed = try TestBedHost.require("tb1")
        defer { _ = try? OVS.vsctl("--db=\(testBed.ovsdbEndpoint)", "--no-wait", "--if-exists", "del-br", bridgeName) }
        // A long first backoff leaves time to change the database while the driver is away.
        let driver = try await driver(
            host(endpoint: testBed.ovsdbEndpoint),
            configuration: OVSDBClient.Configuration(
                requestTimeout: .seconds(10), echoInterval: .seconds(1),
                reconnectInitialDelay: .seconds(3), reconnectMaximumDelay: .seconds(3)))
        try await driver.ensureBridge()
        let ports = desired(0..<5)
        try await driver.apply(PortChangeSet(ensure: ports))
        let recorder = PortEventRecorder(await driver.portChanges())

        try testBed.stop("ovsdb-server")
        var restarted = false
        defer { if !restarted { try? testBed.start("ovsdb-server") } }
        // While away the host's ports are unknown, never an empty list.
        let reason = try await eventually(timeout: .seconds(5)) { () -> String? in
            if case .unknown(let reason) = try await driver.observePorts() { return reason }
            return nil
        }
        XCTAssertTrue(reason.contains(testBed.ovsdbSocket), reason)
        _ = try await recorder.first(within: .seconds(2)) {
            if case .unknown = $0 { return true }
            return false
        }
        do {
            try await driver.apply(PortChangeSet(ensure: ports))
            XCTFail("apply cannot work while disconnected")
        } catch let error as OVSNetworkDriverError {
            XCTAssertEqual(error.failureKind, .transient)
            XCTAssertEqual(error.code, .notConnected)
        }

        try testBed.start("ovsdb-server")
        restarted = true
        let victim = ports[4].identity.deviceName
        try OVS.vsctl("--db=\(testBed.ovsdbEndpoint)", "--no-wait", "del-port", bridgeName, victim)

        let synchronized = try await recorder.first(within: .seconds(15)) {
            if case .synchronized = $0 { return true }
            return false
        }
        guard case .synchronized(let resynced) = synchronized else { return XCTFail("never resynchronized") }
        XCTAssertEqual(Set(resynced.map(\.name)), Set(ports.prefix(4).map(\.identity.deviceName)))
        let removed = try await recorder.first(within: .seconds(1)) {
            if case .removed(let port) = $0 { return port.name == victim }
            return false
        }
        XCTAssertNotNil(removed, "the port deleted while away is reported after the resync")

        let observed = try await driver.observePorts().value ?? []
        XCTAssertEqual(observed.count, 4)
        let healed = try await driver.applyChanges(PortChangeSet(ensure: ports))
        XCTAssertEqual(healed.created, [victim])
        XCTAssertEqual(healed.unchanged.count, 4)
        XCTAssertEqual(healed.transactions, 1)
        let names = try OVS.vsctl("--db=\(testBed.ovsdbEndpoint)", "list-ports", bridgeName).split(separator: "\n").map(String.init)
        XCTAssertEqual(names.count, Set(names).count, "no duplicated ports: \(names)")
        XCTAssertEqual(Set(names), Set(ports.map(\.identity.deviceName)))
        let marked = try OVS.rows(["--db=\(testBed.ovsdbEndpoint)", "--columns=name", "find", "Port", "external_ids:driftless-project=p-\(tag)"])
        XCTAssertEqual(marked.count, 5)
    }

    // MARK: Errors

    func testUnreachableHostIsUnknownAndTransient() async throws {
        let driver = try await driver(
            host(endpoint: "unix:/nonexistent/dlt-\(tag).sock"),
            configuration: OVSDBClient.Configuration(connectTimeout: .milliseconds(200)), connect: false)
        guard case .unknown(let reason) = try await driver.observePorts() else {
            return XCTFail("an unreachable host's ports are unknown, not empty")
        }
        XCTAssertTrue(reason.contains("/nonexistent/dlt-\(tag).sock"), reason)
        let attempts: [@Sendable () async throws -> Void] = [
            { try await driver.ensureBridge() }, { try await driver.apply(PortChangeSet(delete: ["x"])) },
        ]
        for attempt in attempts {
            do {
                try await attempt()
                XCTFail("nothing can be done without a connection")
            } catch let error as any DriverError {
                XCTAssertEqual(error.failureKind, .transient, "\(error)")
            }
        }
        do {
            _ = try OVSNetworkDriver(host: host(endpoint: "ptcp:6640"))
            XCTFail("an unsupported endpoint must be refused")
        } catch let error as OVSNetworkDriverError {
            XCTAssertEqual(error.failureKind, .terminal)
        }
    }

    func testInvalidRequestsAreTerminalAndSendNothing() async throws {
        let driver = try await driver()
        try await driver.ensureBridge()
        let cases: [(String, PortChangeSet)] = [
            ("VLAN out of range", PortChangeSet(ensure: [DesiredPort(identity: nic(0), vlan: 5000, mtu: nil)])),
            ("MTU not positive", PortChangeSet(ensure: [DesiredPort(identity: nic(0), vlan: 5, mtu: 0)])),
            (
                "same NIC twice, different VLANs",
                PortChangeSet(ensure: [
                    DesiredPort(identity: nic(0), vlan: 5, mtu: nil), DesiredPort(identity: nic(0), vlan: 6, mtu: nil),
                ])
            ),
        ]
        for (name, changes) in cases {
            do {
                try await driver.apply(changes)
                XCTFail("\(name): must be refused")
            } catch let error as OVSNetworkDriverError {
                XCTAssertEqual(error.code, .invalidRequest, name)
                XCTAssertEqual(error.failureKind, .terminal, name)
            }
        }
        XCTAssertEqual(try listPorts(), [])
        let transactions = await driver.transactionCount
        XCTAssertEqual(transactions, 1, "only the bridge")
    }

    // MARK: Helpers

    private func waitUntilObserved(
        _ driver: OVSNetworkDriver, _ predicate: @escaping ([ObservedPort]) -> Bool
    ) async throws {
        _ = try await eventually(timeout: .seconds(5)) { () -> Bool? in
            guard let ports = try await driver.observePorts().value, predicate(ports) else { return nil }
            return true
        }
    }
}

/// Collects a driver's port events in the background.
actor PortEventRecorder {
    private var events: [OVSPortEvent] = []
    private var consumed = 0

    init(_ stream: AsyncStream<OVSPortEvent>) {
        Task { await self.consume(stream) }
    }

    private func consume(_ stream: AsyncStream<OVSPortEvent>) async {
        for await event in stream {
            events.append(event)
        }
    }

    /// The first event not returned before that matches `predicate`, waiting up to `timeout`.
    func first(within timeout: Duration, where predicate: (OVSPortEvent) -> Bool) async throws -> OVSPortEvent? {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let index = events[consumed...].firstIndex(where: predicate) {
                consumed = index + 1
                return events[index]
            }
            if ContinuousClock.now >= deadline { return nil }
            try await Task.sleep(for: .milliseconds(5))
        }
    }
}

/// A second, independent client that counts the monitor updates carrying inserts of given Port names.
///
/// ovsdb-server sends one update per committed transaction, so the count of updates that
/// carried the inserts is the count of transactions that made them.
actor PortUpdateCounter {
    nonisolated let client: OVSDBClient
    private let names: Set<String>
    private var seen: Set<String> = []
    private var updates = 0

    private init(client: OVSDBClient, names: Set<String>) {
        self.client = client
        self.names = names
    }

    static func start(names: Set<String>) async throws -> PortUpdateCounter {
        let client = try OVSDBClient(endpoint: "unix:\(OVS.socketPath)")
        try await client.connect()
        try await client.monitor(
            database: OpenVSwitch.database, tables: ["Port": OVSDBMonitorRequest(columns: ["name"])])
        let counter = PortUpdateCounter(client: client, names: names)
        let events = await client.events()
        Task { await counter.consume(events) }
        return counter
    }

    private func consume(_ events: AsyncStream<OVSDBClientEvent>) async {
        for await event in events {
            guard case .rowsChanged(let changes) = event else { continue }
            let inserted = changes.compactMap { change -> String? in
                guard change.kind == .inserted, let name = change.new?["name"]?.string, names.contains(name) else {
                    return nil
                }
                return name
            }
            if !inserted.isEmpty {
                updates += 1
                seen.formUnion(inserted)
            }
        }
    }

    /// How many updates carried the inserts, once all of them were seen.
    func updatesUntilAllSeen(timeout: Duration) async throws -> Int {
        let deadline = ContinuousClock.now + timeout
        while seen.count < names.count, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        XCTAssertEqual(seen.count, names.count, "every insert was seen by the second client")
        return updates
    }
}

/// The difference a `portChanges()` stream reports between two pictures of a bridge (no OVS needed).
final class PortTrackerTests: XCTestCase {
    private func port(_ name: String, vlan: Int = 10) -> ObservedPort {
        ObservedPort(name: name, interfaceID: "id-\(name)", mac: nil, vlan: vlan, mtu: nil, marks: [:])
    }

    func testDifferencesBetweenPictures() {
        let a = port("a")
        let b = port("b")
        let retagged = port("b", vlan: 20)
        let cases: [(String, [ObservedPort], [ObservedPort], [OVSPortEvent])] = [
            ("nothing changed", [a, b], [a, b], []),
            ("one removed", [a, b], [a], [.removed(b)]),
            ("one added", [a], [a, b], [.added(b)]),
            ("one retagged", [a, b], [a, retagged], [.changed(before: b, after: retagged)]),
            ("all gone", [a, b], [], [.removed(a), .removed(b)]),
        ]
        for (name, before, after, expected) in cases {
            var tracker = PortTracker()
            let first = tracker.synchronize(Dictionary(uniqueKeysWithValues: before.map { ($0.name, $0) }))
            XCTAssertEqual(first, [.synchronized(before)], name)
            XCTAssertEqual(tracker.update(Dictionary(uniqueKeysWithValues: after.map { ($0.name, $0) })), expected, name)
        }
    }

    func testOutageIsReportedOnceAndResyncReportsWhatChangedMeanwhile() {
        let a = port("a")
        let b = port("b")
        var tracker = PortTracker()
        _ = tracker.synchronize(["a": a, "b": b])
        XCTAssertTrue(tracker.markUnknown())
        XCTAssertFalse(tracker.markUnknown(), "one outage, one report")
        XCTAssertFalse(tracker.isKnown)
        XCTAssertEqual(tracker.synchronize(["a": a]), [.synchronized([a]), .removed(b)])
        XCTAssertTrue(tracker.isKnown)
        XCTAssertTrue(tracker.markUnknown(), "a new outage is news again")
    }
}
