import DriftlessCore
import DriftlessProcess
import DriftlessTesting
import DriftlessOVSDB
import Foundation
import XCTest

/// OVN across two test bed hosts: Driftless makes each a chassis (its Open_vSwitch row, over the host's
/// OVSDB), writes a logical switch with a port per host to the central Northbound database, and a port
/// bound on each host reaches the other over Geneve on the tunnel network, through addresses no
/// physical network carries; port security drops what a port sends from another MAC. Checked from
/// outside with ovs-vsctl, ovn-sbctl and ping inside the hosts.
final class OVNTestBedTests: XCTestCase {
    var clients: [OVSDBClient] = []
    var cleanups: [() -> Void] = []

    override func tearDown() async throws {
        for cleanup in cleanups.reversed() { cleanup() }
        for client in clients { await client.close() }
    }

    func client(_ endpoint: String) async throws -> OVSDBClient {
        let client = try OVSDBClient(endpoint: OVSDBEndpoint(parsing: endpoint))
        clients.append(client)
        try await client.connect()
        return client
    }

    static func sh(_ executable: String, _ arguments: String...) throws -> ChildProcess.Output {
        try ChildProcess.runBlocking(executable, arguments)
    }

    /// Polls `condition` every 0.2 s until it holds or `seconds` pass.
    func eventually(_ what: String, within seconds: Double = 30, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while try !condition() {
            guard Date() < deadline else { throw Timeout(description: "\(what) within \(seconds) s") }
            Thread.sleep(forTimeInterval: 0.2)
        }
    }

    struct Timeout: Error, CustomStringConvertible {
        var description: String
    }

    func testPortsOnTwoChassisReachEachOtherOverGeneveAndPortSecurityHolds() async throws {
        let hosts = try ["tb1", "tb2"].map { try TestBedHost.require($0) }
        let tag = String(UUID().uuidString.lowercased().prefix(6))

        // Each host a chassis, written by Driftless; every other key of its row stays.
        for host in hosts {
            let ovs = OpenVSwitch(client: try await client(host.ovsdbEndpoint))
            try await ovs.startMonitoring()
            let before = try await ovs.systemExternalIDs()
            try await ovs.configureChassis(OVNChassis(
                systemID: host.name, southbound: TestBedHost.ovnSouthbound, encapIP: host.tunnelAddress,
                integrationBridge: "br-ovn", datapathType: "netdev"))
            let after = try await ovs.systemExternalIDs()
            XCTAssertEqual(after["hostname"], before["hostname"])
            let encap = try Self.sh("ovs-vsctl", "--db=\(host.ovsdbEndpoint)", "get", "Open_vSwitch", ".", "external_ids:ovn-encap-ip")
            XCTAssertEqual(encap.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "\"\(host.tunnelAddress)\"")
            let again = try await ovs.configureChassis(OVNChassis(
                systemID: host.name, southbound: TestBedHost.ovnSouthbound, encapIP: host.tunnelAddress,
                integrationBridge: "br-ovn", datapathType: "netdev"))
            XCTAssertFalse(again, "a chassis already configured is not written again")
        }
        try eventually("both chassis in the Southbound database") {
            let chassis = try Self.sh("ovn-sbctl", "--db=\(TestBedHost.ovnSouthbound)", "--bare", "--columns=name", "list", "Chassis").stdout
            return hosts.allSatisfy { chassis.split(separator: "\n").contains(Substring($0.name)) }
        }

        // One logical switch, a port for each host.
        let northbound = OVNNorthbound(client: try await client(TestBedHost.ovnNorthbound), owner: "test-\(tag)")
        try await northbound.startMonitoring()
        let ends = hosts.enumerated().map { index, host in
            (host: host, port: "ovntest-\(tag)-\(index)", device: "ovt\(tag.prefix(4))\(index)",
             mac: "52:54:00:7e:00:\(String(format: "%02x", index + 1))", ip: "10.251.0.\(11 + index)")
        }
        let state = OVNNorthboundState(switches: [OVNLogicalSwitch(
            name: OVNNaming.logicalSwitch(project: "ovntest", network: tag),
            ports: ends.map { OVNLogicalSwitchPort(name: $0.port, addresses: ["\($0.mac) \($0.ip)"], portSecurity: ["\($0.mac) \($0.ip)"]) })])
        try await northbound.converge(to: state)
        cleanups.append { [northbound] in
            let done = DispatchSemaphore(value: 0)
            Task { _ = try? await northbound.converge(to: OVNNorthboundState()); done.signal() }
            done.wait()
        }

        // On each host, the port's interface: an internal port of the integration bridge with its iface-id.
        for end in ends {
            try end.host.run("ovs-vsctl", "--timeout=10", "--may-exist", "add-port", "br-ovn", end.device, "--", "set", "Interface",
                             end.device, "type=internal", "external_ids:iface-id=\(end.port)")
            cleanups.append { _ = try? end.host.run("ovs-vsctl", "--timeout=10", "--if-exists", "del-port", "br-ovn", end.device) }
            try eventually("\(end.device) on \(end.host.name)", within: 10) { (try? end.host.run("ip", "link", "show", end.device)) != nil }
            try end.host.run("ip", "link", "set", end.device, "address", end.mac)
            try end.host.run("ip", "address", "replace", "\(end.ip)/24", "dev", end.device)
            try end.host.run("ip", "link", "set", end.device, "up")
        }

        // OVN's own view: both ports bound (Logical_Switch_Port.up), each on its chassis.
        _ = try await northbound.client.waitForCache(timeout: .seconds(60)) { cache in
            let up = OVNNorthbound.observation(in: cache, owner: "test-\(tag)").portsUp
            return ends.allSatisfy { up[$0.port] == true }
        }
        for end in ends {
            let chassis = try Self.sh("ovn-sbctl", "--db=\(TestBedHost.ovnSouthbound)", "--bare", "--columns=chassis", "find",
                                      "Port_Binding", "logical_port=\(end.port)").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let name = try Self.sh("ovn-sbctl", "--db=\(TestBedHost.ovnSouthbound)", "--bare", "--columns=name", "list", "Chassis", chassis)
            XCTAssertEqual(name.stdout.trimmingCharacters(in: .whitespacesAndNewlines), end.host.name)
        }

        // tb1 reaches tb2's port, over a Geneve tunnel to tb2's tunnel address.
        let ping = try ChildProcess.runBlocking("/bin/bash", [Self.testbed, "exec", "tb1", "ping", "-c", "3", "-W", "2", ends[1].ip])
        XCTAssertEqual(ping.status, 0, "ping \(ends[1].ip) from tb1: \(ping.stdout)\(ping.stderr)")
        let tunnels = try Self.sh("ovs-vsctl", "--db=\(hosts[0].ovsdbEndpoint)", "--bare", "--columns=options", "find", "Interface", "type=geneve").stdout
        XCTAssertTrue(tunnels.contains("remote_ip=\(hosts[1].tunnelAddress)"), tunnels)

        // Port security: tb2's port sending from another MAC is dropped at its logical port.
        try ends[1].host.run("ip", "link", "set", ends[1].device, "address", "52:54:00:7e:00:99")
        try ends[0].host.run("ip", "neigh", "flush", "dev", ends[0].device)
        let spoofed = try ChildProcess.runBlocking("/bin/bash", [Self.testbed, "exec", "tb1", "ping", "-c", "2", "-W", "1", ends[1].ip])
        XCTAssertNotEqual(spoofed.status, 0, "a port sending from a MAC its port security does not allow still answered")
        // Its own MAC again, and it answers again: what dropped it was the MAC.
        try ends[1].host.run("ip", "link", "set", ends[1].device, "address", ends[1].mac)
        try ends[0].host.run("ip", "neigh", "flush", "dev", ends[0].device)
        let restored = try ChildProcess.runBlocking("/bin/bash", [Self.testbed, "exec", "tb1", "ping", "-c", "3", "-W", "2", ends[1].ip])
        XCTAssertEqual(restored.status, 0, "ping \(ends[1].ip) from tb1 with its own MAC back: \(restored.stdout)")
    }

    static var testbed: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/testbed.sh").path
    }
}
