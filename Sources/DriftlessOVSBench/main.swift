// Creates then deletes N tagged, marked ports through OVSNetworkDriver and prints the timings as JSON.
//
// The Driftless leg of benchmarks/ovs_ports.py (which builds this in release mode and compares it
// with an ovs-vsctl loop and ovsdbapp). Connecting and creating the bridge are not timed; each
// timed phase ends only when the driver's monitor cache shows the result (read-your-writes).
//
//   DriftlessOVSBench [--endpoint unix:/var/run/openvswitch/db.sock] [--bridge dlt-bench-s]
//                     [--ports 1000] [--batch 1000] [--project bench-<random>]
//
// With `ovn` first, the Driftless leg of benchmarks/ovn_ports.py: N logical switch ports with port
// security on one switch and a port group of them with R ACLs, created in one convergence of
// `OVNNorthbound` and deleted in another, each ending when the monitor cache shows the result.
//
//   DriftlessOVSBench ovn --endpoint unix:PATH/nb.sock [--ports 1000] [--rules 10]
import DriftlessCore
import DriftlessOVSDB
import Foundation

struct BenchOptions {
    var endpoint = "unix:/var/run/openvswitch/db.sock"
    var bridge = "dlt-bench-s"
    var ports = 1000
    var batch = 1000
    var project = "bench-" + String(UUID().uuidString.lowercased().prefix(8))

    init(_ arguments: [String]) throws {
        var rest = arguments[...]
        while let flag = rest.popFirst() {
            guard let value = rest.popFirst() else { throw BenchFailure("\(flag) needs a value") }
            switch flag {
            case "--endpoint": endpoint = value
            case "--bridge": bridge = value
            case "--ports": ports = try Self.positive(value, flag)
            case "--batch": batch = try Self.positive(value, flag)
            case "--project": project = value
            default: throw BenchFailure("unknown option \(flag)")
            }
        }
    }

    private static func positive(_ text: String, _ flag: String) throws -> Int {
        guard let number = Int(text), number > 0 else { throw BenchFailure("\(flag) needs a positive number") }
        return number
    }
}

struct BenchFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

func runBench(_ options: BenchOptions) async throws -> [String: Double] {
    let host = HostTarget(
        name: "bench", libvirtURI: "test:///default", ovsdbEndpoint: options.endpoint, bridge: options.bridge,
        datapath: .netdev, storagePool: PoolSpec(name: "unused", path: "/nonexistent"),
        imagePool: PoolSpec(name: "unused", path: "/nonexistent"))
    let driver = try OVSNetworkDriver(host: host)
    try await driver.connect()
    try await driver.ensureBridge()

    let ports = (0..<options.ports).map { index in
        DesiredPort(
            identity: NICIdentity(
                owner: NICOwner(project: options.project, instance: "vm-\(index)", network: "bench", ordinal: 0)),
            vlan: 1 + index % 4094, mtu: nil)
    }
    let batches = stride(from: 0, to: ports.count, by: options.batch).map {
        Array(ports[$0..<min($0 + options.batch, ports.count)])
    }
    let before = await driver.transactionCount
    let clock = ContinuousClock()

    let createTime = try await clock.measure {
        for batch in batches {
            let outcome = try await driver.applyChanges(PortChangeSet(ensure: batch))
            guard outcome.created.count == batch.count else {
                throw BenchFailure("created \(outcome.created.count) of \(batch.count) ports")
            }
        }
    }
    let created = try await driver.observePorts().value ?? []
    let ours = Set(ports.map(\.identity.deviceName))
    guard created.filter({ ours.contains($0.name) }).count == ports.count else {
        throw BenchFailure("the cache shows \(created.count) ports, expected \(ports.count)")
    }

    let deleteTime = try await clock.measure {
        for batch in batches {
            let outcome = try await driver.applyChanges(PortChangeSet(delete: batch.map(\.identity.deviceName)))
            guard outcome.deleted.count == batch.count else {
                throw BenchFailure("deleted \(outcome.deleted.count) of \(batch.count) ports")
            }
        }
    }
    let transactions = await driver.transactionCount - before
    await driver.close()

    func seconds(_ duration: Duration) -> Double { duration.inSeconds }
    return [
        "create_s": seconds(createTime), "delete_s": seconds(deleteTime), "transactions": Double(transactions),
        "ports": Double(ports.count),
    ]
}

/// The OVN leg: one switch of `ports` ports with addresses and port security, and a port group of them
/// with `rules` ACLs (a security group), created then deleted.
func runOVNBench(_ arguments: [String]) async throws -> [String: Double] {
    var endpoint = "", ports = 1000, rules = 10
    var rest = arguments[...]
    while let flag = rest.popFirst() {
        guard let value = rest.popFirst() else { throw BenchFailure("\(flag) needs a value") }
        switch flag {
        case "--endpoint": endpoint = value
        case "--ports": ports = Int(value) ?? 0
        case "--rules": rules = Int(value) ?? 0
        default: throw BenchFailure("unknown option \(flag)")
        }
    }
    guard !endpoint.isEmpty, ports > 0, rules > 0 else { throw BenchFailure("ovn needs --endpoint, and positive --ports and --rules") }
    let client = try OVSDBClient(endpoint: OVSDBEndpoint(parsing: endpoint))
    try await client.connect()
    let northbound = OVNNorthbound(client: client, owner: "bench", cacheTimeout: .seconds(120))
    try await northbound.startMonitoring()

    let group = OVNNaming.portGroup(project: "bench", group: "web")
    let lports = (0..<ports).map { index in
        let mac = String(format: "52:54:00:%02x:%02x:%02x", index >> 16 & 255, index >> 8 & 255, index & 255)
        let address = "\(mac) 10.\(64 + index >> 16 & 63).\(index >> 8 & 255).\(index & 255)"
        return OVNLogicalSwitchPort(name: "bench-vm\(index)-lan-0", addresses: [address], portSecurity: [address],
                                    externalIDs: ["driftless-instance": "bench/vm\(index)"])
    }
    let acls = (0..<rules).map { rule in
        OVNACL(direction: .toPort, priority: 1002, match: "outport == @\(group) && ip4 && tcp.dst == \(8000 + rule)",
               action: .allowRelated)
    }
    let state = OVNNorthboundState(
        switches: [OVNLogicalSwitch(name: OVNNaming.logicalSwitch(project: "bench", network: "lan"), ports: lports)],
        portGroups: [OVNPortGroup(name: group, ports: lports.map(\.name), acls: acls)])

    let clock = ContinuousClock()
    var created = OVNNorthboundChanges(), deleted = OVNNorthboundChanges()
    let createTime = try await clock.measure { created = try await northbound.converge(to: state) }
    guard created.ports.created == ports, created.acls.created == rules else { throw BenchFailure("created \(created)") }
    let deleteTime = try await clock.measure { deleted = try await northbound.converge(to: OVNNorthboundState()) }
    guard deleted.ports.deleted == ports, deleted.acls.deleted == rules else { throw BenchFailure("deleted \(deleted)") }
    await client.close()
    return ["create_s": createTime.inSeconds, "delete_s": deleteTime.inSeconds, "transactions": 2, "ports": Double(ports)]
}

do {
    let arguments = Array(CommandLine.arguments.dropFirst())
    let result = arguments.first == "ovn"
        ? try await runOVNBench(Array(arguments.dropFirst()))
        : try await runBench(try BenchOptions(arguments))
    let data = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
} catch {
    FileHandle.standardError.write(Data("DriftlessOVSBench: \(error)\n".utf8))
    exit(1)
}
