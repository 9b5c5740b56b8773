import DriftlessCore
import DriftlessProcess
@testable import DriftlessOVSDB
import Foundation
import XCTest

/// A Northbound database of its own: Debian's OVN schema in a real ovsdb-server on a socket in a
/// temporary directory (nothing of the machine's), read from outside with ovn-nbctl.
final class PrivateNorthbound: @unchecked Sendable {
    let directory: URL
    let server: ChildProcess.Background
    var socket: String { directory.appendingPathComponent("nb.sock").path }
    var endpoint: String { "unix:\(socket)" }

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("dlt-nb-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let database = directory.appendingPathComponent("nb.db").path
        _ = try ChildProcess.runBlockingChecked("ovsdb-tool", ["create", database, "/usr/share/ovn/ovn-nb.ovsschema"])
        server = try ChildProcess.startBlocking("ovsdb-server", [
            database, "--remote=punix:\(directory.appendingPathComponent("nb.sock").path)",
            "--unixctl=\(directory.appendingPathComponent("nb.ctl").path)", "--no-chdir",
            "--log-file=\(directory.appendingPathComponent("nb.log").path)",
        ])
        let deadline = Date().addingTimeInterval(10)
        while !FileManager.default.fileExists(atPath: socket) {
            guard Date() < deadline, server.exited == nil else {
                let log = (try? String(contentsOf: directory.appendingPathComponent("nb.log"), encoding: .utf8)) ?? ""
                throw NotStarted(description: "ovsdb-server with the Northbound schema did not open \(socket): \(log)")
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
    }

    struct NotStarted: Error, CustomStringConvertible {
        var description: String
    }

    /// `ovn-nbctl` against this database; its standard output.
    @discardableResult
    func nbctl(_ arguments: String...) throws -> String {
        let output = try ChildProcess.runBlockingChecked("ovn-nbctl", ["--db=\(endpoint)"] + arguments)
        return output.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func stop() {
        server.kill()
        try? FileManager.default.removeItem(at: directory)
    }
}

final class OVNNorthboundTests: XCTestCase {
    var northbound: PrivateNorthbound!
    var clients: [OVSDBClient] = []

    override func setUpWithError() throws {
        northbound = try PrivateNorthbound()
    }

    override func tearDown() async throws {
        for client in clients { await client.close() }
        northbound?.stop()
    }

    func connect(owner: String) async throws -> OVNNorthbound {
        let client = try OVSDBClient(endpoint: OVSDBEndpoint(parsing: northbound.endpoint))
        clients.append(client)
        try await client.connect()
        let nb = OVNNorthbound(client: client, owner: owner)
        try await nb.startMonitoring()
        return nb
    }

    static func port(_ name: String, mac: String, ip: String) -> OVNLogicalSwitchPort {
        OVNLogicalSwitchPort(name: name, addresses: ["\(mac) \(ip)"], portSecurity: ["\(mac) \(ip)"],
                             externalIDs: ["driftless-instance": name])
    }

    static let webACLs = [
        OVNACL(direction: .toPort, priority: 1002, match: "outport == @driftless_shop_web && ip4 && tcp.dst == 22", action: .allowRelated),
        OVNACL(direction: .fromPort, priority: 1002, match: "inport == @driftless_shop_web && ip4", action: .allowRelated),
    ]

    static func shop() -> OVNNorthboundState {
        OVNNorthboundState(
            switches: [OVNLogicalSwitch(
                name: OVNNaming.logicalSwitch(project: "shop", network: "lan"), externalIDs: ["driftless-network": "shop/lan"],
                ports: [
                    port("shop-web-lan-0", mac: "52:54:00:00:00:01", ip: "10.30.0.11"),
                    port("shop-db-lan-0", mac: "52:54:00:00:00:02", ip: "10.30.0.12"),
                    OVNLogicalSwitchPort(name: "driftless-shop-lan-physnet", type: "localnet", addresses: ["unknown"],
                                         options: ["network_name": "physnet1"], tag: 100),
                ])],
            portGroups: [OVNPortGroup(name: OVNNaming.portGroup(project: "shop", group: "web"),
                                      ports: ["shop-web-lan-0", "shop-db-lan-0"], acls: webACLs)])
    }

    func testConvergesAnEmptyDatabaseInOneTransactionAndThenChangesNothing() async throws {
        let nb = try await connect(owner: "install-a")
        let changes = try await nb.converge(to: Self.shop())
        XCTAssertEqual(changes.switches.created, 1)
        XCTAssertEqual(changes.ports.created, 3)
        XCTAssertEqual(changes.portGroups.created, 1)
        XCTAssertEqual(changes.acls.created, 2)

        // From outside.
        XCTAssertEqual(try northbound.nbctl("--bare", "--columns=name", "list", "Logical_Switch"), "driftless-shop-lan")
        XCTAssertEqual(try northbound.nbctl("lsp-list", "driftless-shop-lan").split(separator: "\n").map { $0.split(separator: " ").last.map(String.init) ?? "" }.sorted(),
                       ["(driftless-shop-lan-physnet)", "(shop-db-lan-0)", "(shop-web-lan-0)"])
        XCTAssertEqual(try northbound.nbctl("lsp-get-addresses", "shop-web-lan-0"), "52:54:00:00:00:01 10.30.0.11")
        XCTAssertEqual(try northbound.nbctl("lsp-get-port-security", "shop-web-lan-0"), "52:54:00:00:00:01 10.30.0.11")
        XCTAssertEqual(try northbound.nbctl("lsp-get-type", "driftless-shop-lan-physnet"), "localnet")
        XCTAssertEqual(try northbound.nbctl("lsp-get-tag", "driftless-shop-lan-physnet"), "100")
        XCTAssertEqual(try northbound.nbctl("get", "Logical_Switch_Port", "shop-web-lan-0", "external_ids:driftless-owner"), "install-a")
        let acls = try northbound.nbctl("acl-list", "driftless_shop_web")
        XCTAssertTrue(acls.contains("to-lport  1002 (outport == @driftless_shop_web && ip4 && tcp.dst == 22) allow-related"), acls)
        XCTAssertTrue(acls.contains("from-lport  1002 (inport == @driftless_shop_web && ip4) allow-related"), acls)
        XCTAssertEqual(try northbound.nbctl("--bare", "--columns=ports", "list", "Port_Group").split(separator: " ").count, 2)

        // What it reads back is what it wrote, and a second convergence sends nothing.
        let observed = try await nb.observe()
        XCTAssertEqual(observed.state, Self.shop().normalized)
        let again = try await nb.converge(to: Self.shop())
        XCTAssertTrue(again.isEmpty, "\(again)")
    }

    func testChangesArePortsUpdatedAddedAndRemovedInPlace() async throws {
        let nb = try await connect(owner: "install-a")
        try await nb.converge(to: Self.shop())
        let webUUID = try northbound.nbctl("--bare", "--columns=_uuid", "find", "Logical_Switch_Port", "name=shop-web-lan-0")
        let switchUUID = try northbound.nbctl("--bare", "--columns=_uuid", "list", "Logical_Switch")

        var changed = Self.shop()
        changed.switches[0].ports[0].addresses = ["52:54:00:00:00:01 10.30.0.21"]
        changed.switches[0].ports[0].portSecurity = ["52:54:00:00:00:01 10.30.0.21"]
        changed.switches[0].ports.remove(at: 1)
        changed.switches[0].ports.append(Self.port("shop-cache-lan-0", mac: "52:54:00:00:00:03", ip: "10.30.0.13"))
        changed.portGroups[0].ports = ["shop-web-lan-0", "shop-cache-lan-0"]
        changed.portGroups[0].acls.remove(at: 1)
        changed.portGroups[0].acls.append(OVNACL(direction: .toPort, priority: 1002,
                                                 match: "outport == @driftless_shop_web && ip4 && icmp4", action: .allowRelated))
        let changes = try await nb.converge(to: changed)
        XCTAssertEqual(changes.ports, .init(created: 1, updated: 1, deleted: 1))
        XCTAssertEqual(changes.acls, .init(created: 1, updated: 0, deleted: 1))
        XCTAssertEqual(changes.switches, .init())
        XCTAssertEqual(changes.portGroups, .init(created: 0, updated: 1, deleted: 0))

        // The same rows, changed where they are; the removed port is gone from the database.
        XCTAssertEqual(try northbound.nbctl("--bare", "--columns=_uuid", "find", "Logical_Switch_Port", "name=shop-web-lan-0"), webUUID)
        XCTAssertEqual(try northbound.nbctl("--bare", "--columns=_uuid", "list", "Logical_Switch"), switchUUID)
        XCTAssertEqual(try northbound.nbctl("lsp-get-addresses", "shop-web-lan-0"), "52:54:00:00:00:01 10.30.0.21")
        XCTAssertEqual(try northbound.nbctl("--bare", "--columns=name", "find", "Logical_Switch_Port", "name=shop-db-lan-0"), "")
        let acls = try northbound.nbctl("acl-list", "driftless_shop_web")
        XCTAssertTrue(acls.contains("icmp4"), acls)
        XCTAssertFalse(acls.contains("from-lport"), acls)
        let observed = try await nb.observe()
        XCTAssertEqual(observed.state, changed.normalized)
    }

    func testRowsItDoesNotOwnAreNeverTouched() async throws {
        // A person's switch and port group, a port of theirs inside Driftless's switch, and another
        // installation's switch.
        try northbound.nbctl("ls-add", "hand-made")
        try northbound.nbctl("lsp-add", "hand-made", "hand-port")
        try northbound.nbctl("pg-add", "pg_hand", "hand-port")
        let other = try await connect(owner: "install-b")
        try await other.converge(to: OVNNorthboundState(switches: [OVNLogicalSwitch(name: "driftless-ops-mgmt")]))
        let nb = try await connect(owner: "install-a")
        try await nb.converge(to: Self.shop())
        try northbound.nbctl("lsp-add", "driftless-shop-lan", "hand-port-2")

        // What install-a reads is its own rows only.
        let observed = try await nb.observe()
        XCTAssertEqual(observed.state.switches.map(\.name), ["driftless-shop-lan"])
        XCTAssertFalse(observed.state.switches[0].ports.contains { $0.name == "hand-port-2" })

        // Converging to less keeps the person's port inside its switch; converging to nothing deletes
        // its switch (and what is in it) and its group, and nothing else.
        var fewer = Self.shop()
        fewer.switches[0].ports.removeAll { $0.name == "shop-db-lan-0" }
        fewer.portGroups[0].ports = ["shop-web-lan-0"]
        try await nb.converge(to: fewer)
        XCTAssertTrue(try northbound.nbctl("lsp-list", "driftless-shop-lan").contains("hand-port-2"))
        try await nb.converge(to: OVNNorthboundState())
        XCTAssertEqual(Set(try northbound.nbctl("--bare", "--columns=name", "list", "Logical_Switch").split(separator: "\n").filter { !$0.isEmpty }),
                       ["hand-made", "driftless-ops-mgmt"])
        XCTAssertEqual(try northbound.nbctl("--bare", "--columns=name", "list", "Port_Group"), "pg_hand")
        XCTAssertEqual(try northbound.nbctl("lsp-list", "hand-made").contains("hand-port"), true)
    }

    func testAnOutOfBandChangeToAnOwnedRowIsSeenAndPutBack() async throws {
        let nb = try await connect(owner: "install-a")
        try await nb.converge(to: Self.shop())
        try northbound.nbctl("lsp-set-port-security", "shop-web-lan-0")
        try northbound.nbctl("acl-del", "driftless_shop_web", "from-lport")

        let drifted = try await nb.client.waitForCache { cache in
            OVNNorthbound.observation(in: cache, owner: "install-a").state.portGroups.first?.acls.count == 1
                && OVNNorthbound.observation(in: cache, owner: "install-a").state.switches.first?.ports
                    .first { $0.name == "shop-web-lan-0" }?.portSecurity.isEmpty == true
        }
        XCTAssertNotEqual(OVNNorthbound.observation(in: drifted, owner: "install-a").state, Self.shop().normalized)
        let healed = try await nb.converge(to: Self.shop())
        XCTAssertEqual(healed.ports.updated, 1)
        XCTAssertEqual(healed.acls.created, 1)
        XCTAssertEqual(try northbound.nbctl("lsp-get-port-security", "shop-web-lan-0"), "52:54:00:00:00:01 10.30.0.11")
    }

    func testAPortGroupListingAPortNoSwitchHasIsRefusedBeforeAnythingIsSent() async throws {
        let nb = try await connect(owner: "install-a")
        var wrong = Self.shop()
        wrong.portGroups[0].ports.append("nobody")
        do {
            try await nb.converge(to: wrong)
            XCTFail("converged to a port group with a port no switch has")
        } catch let error as OVNNorthboundError {
            XCTAssertTrue(error.description.contains("nobody"), error.description)
        }
        XCTAssertEqual(try northbound.nbctl("--bare", "--columns=name", "list", "Logical_Switch"), "")
    }
}
