import DriftlessCore
import DriftlessStore
import Foundation
import Testing

/// IP allocation: fixed addresses honoured, stable across runs and restarts, released when NICs go.
@Suite("IP allocation")
struct IPAllocationTests {
    static let networks = """
        apiVersion: driftless.dev/v1
        kind: Project
        metadata: {name: shop}
        ---
        apiVersion: driftless.dev/v1
        kind: Image
        metadata: {name: tiny}
        spec: {source: {path: /var/lib/driftless/images/tiny.qcow2}, sha256: 1b7af784841125887e688254229e282829e17245d0e47fe7280da9b68a30d9e1, format: qcow2}
        ---
        apiVersion: driftless.dev/v1
        kind: Network
        metadata: {name: front, project: shop}
        spec: {cidr: 10.0.0.0/28, vlan: 10, dhcp: {start: 10.0.0.2, end: 10.0.0.5}}

        """

    static func instance(_ name: String, ips: [String?]) -> String {
        let nics = ips.map { ip in ip.map { "{network: front, ip: \($0)}" } ?? "{network: front}" }.joined(separator: ", ")
        return """
            ---
            apiVersion: driftless.dev/v1
            kind: Instance
            metadata: {name: \(name), project: shop}
            spec: {image: tiny, vcpus: 1, memory: 64MiB, rootDisk: 1GiB, networks: [\(nics)]}

            """
    }

    static func state(_ instances: String...) throws -> DesiredState {
        let result = ManifestLoader.load([ManifestFile(path: "m.yaml", text: networks + instances.joined())])
        guard result.isValid else { throw CocoaError(.coderInvalidValue, userInfo: ["d": result.diagnostics.map(\.description)]) }
        return result.state
    }

    func addresses(_ outcome: IPAllocator.Outcome) -> [String: String] {
        Dictionary(uniqueKeysWithValues: outcome.allocations.map { ($0.owner.description, $0.address.description) })
    }

    @Test func skipsNetworkGatewayDHCPAndFixedAddresses() throws {
        // 10.0.0.1 gateway, .2-.5 DHCP, .6 fixed by a; b and c get .7 and .8.
        let outcome = IPAllocator.allocate(
            for: try Self.state(Self.instance("a", ips: ["10.0.0.6"]), Self.instance("b", ips: [nil]), Self.instance("c", ips: [nil, nil])),
            existing: [])
        #expect(outcome.diagnostics.isEmpty)
        #expect(addresses(outcome) == [
            "shop/a on front": "10.0.0.6", "shop/b on front": "10.0.0.7",
            "shop/c on front": "10.0.0.8", "shop/c on front #2": "10.0.0.9",
        ])
    }

    @Test func allocationsAreStableAndReleased() throws {
        let first = IPAllocator.allocate(
            for: try Self.state(Self.instance("a", ips: [nil]), Self.instance("b", ips: [nil])), existing: [])
        #expect(addresses(first) == ["shop/a on front": "10.0.0.6", "shop/b on front": "10.0.0.7"])
        // a goes; b keeps .7; a new c takes the freed .6, not b's.
        let second = IPAllocator.allocate(
            for: try Self.state(Self.instance("b", ips: [nil]), Self.instance("c", ips: [nil])), existing: first.allocations)
        #expect(addresses(second) == ["shop/b on front": "10.0.0.7", "shop/c on front": "10.0.0.6"])
        #expect(second.released.map(\.owner.instance) == ["a"])
    }

    @Test func aFixedAddressClaimingAnAllocatedOneIsAConflictNamingBoth() throws {
        let first = IPAllocator.allocate(for: try Self.state(Self.instance("a", ips: [nil])), existing: [])
        #expect(addresses(first) == ["shop/a on front": "10.0.0.6"])
        let second = IPAllocator.allocate(
            for: try Self.state(Self.instance("a", ips: [nil]), Self.instance("b", ips: ["10.0.0.6"])), existing: first.allocations)
        let error = second.diagnostics.items.first
        #expect(error?.message.contains("10.0.0.6 is claimed by shop/b on front") == true, "\(second.diagnostics.map(\.description))")
        #expect(error?.message.contains("allocated to shop/a on front") == true)
        #expect(error?.location?.file == "m.yaml")
    }

    @Test func exhaustionIsAnError() throws {
        // /28: hosts .1-.14; gateway .1, DHCP .2-.5 → 9 addresses (.6-.14).
        let names = (0..<10).map { Self.instance("vm\($0)", ips: [nil]) }
        let result = ManifestLoader.load([ManifestFile(path: "m.yaml", text: Self.networks + names.joined())])
        let outcome = IPAllocator.allocate(for: result.state, existing: [])
        #expect(outcome.allocations.count == 9)
        #expect(outcome.diagnostics.items.count == 1)
        #expect(outcome.diagnostics.items.first?.message.contains("has no free address left") == true)
    }

    @Test func theStoreKeepsAllocationsAcrossRestarts() throws {
        let directory = NSTemporaryDirectory() + "driftless-store-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let outcome = IPAllocator.allocate(
            for: try Self.state(Self.instance("a", ips: ["10.0.0.9"]), Self.instance("b", ips: [nil])), existing: [])
        do {
            let store = try Store(stateDirectory: directory)
            try store.saveAllocations(outcome.allocations)
        }
        let reopened = try Store(stateDirectory: directory)
        let loaded = try reopened.loadAllocations()
        #expect(Set(loaded) == Set(outcome.allocations))
        #expect(loaded.first { $0.owner.instance == "a" }?.isFixed == true)
        // Saving replaces the whole set.
        try reopened.saveAllocations(Array(loaded.prefix(1)))
        #expect(try reopened.loadAllocations().count == 1)
    }
}

@Suite("Volume ownership")
struct VolumeOwnershipTests {
    @Test func recordsSurviveReopeningAndCanBeForgotten() throws {
        let directory = NSTemporaryDirectory() + "driftless-store-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let id = ObjectID(.volume, project: "shop", "data")
        try Store(stateDirectory: directory).record(host: "local", pool: "vols", volume: "vol-shop.data.qcow2", owner: id)
        let store = try Store(stateDirectory: directory)
        #expect(try store.owner(host: "local", pool: "vols", volume: "vol-shop.data.qcow2") == id)
        #expect(try store.owner(host: "other", pool: "vols", volume: "vol-shop.data.qcow2") == nil)
        #expect(try store.volumes(host: "local", pool: "vols") == ["vol-shop.data.qcow2": id])
        try store.forget(host: "local", pool: "vols", volume: "vol-shop.data.qcow2")
        #expect(try store.owner(host: "local", pool: "vols", volume: "vol-shop.data.qcow2") == nil)
    }

    /// A volume being made is pending until it is complete: neither Driftless's (so never used) nor
    /// anyone else's (so the next run may remove what a killed run left).
    @Test func pendingUntilComplete() throws {
        let store = try Store()
        let id = ObjectID(.image, "tiny")
        try store.recordPending(host: "local", pool: "imgs", volume: "img-tiny.qcow2", owner: id)
        #expect(try store.owner(host: "local", pool: "imgs", volume: "img-tiny.qcow2") == nil)
        #expect(try store.volumes(host: "local", pool: "imgs").isEmpty)
        #expect(try store.pendingVolumes(host: "local", pool: "imgs") == ["img-tiny.qcow2": id])
        try store.record(host: "local", pool: "imgs", volume: "img-tiny.qcow2", owner: id)
        #expect(try store.owner(host: "local", pool: "imgs", volume: "img-tiny.qcow2") == id)
        #expect(try store.pendingVolumes(host: "local", pool: "imgs").isEmpty)
    }
}

@Suite("Tokens and drift records")
struct TokenAndDriftStoreTests {
    @Test func tokensAreShownOnceAndKeptOnlyAsHashes() throws {
        let directory = NSTemporaryDirectory() + "driftless-store-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try Store(stateDirectory: directory)
        let (token, record) = try store.createToken(user: "alice")
        #expect(token.hasPrefix("dl_") && token.count > 40)
        #expect(try store.tokenUser(token) == "alice")
        #expect(try store.tokenUser(token + "x") == nil)
        let database = try Data(contentsOf: URL(fileURLWithPath: directory + "/driftless.sqlite"))
            + ((try? Data(contentsOf: URL(fileURLWithPath: directory + "/driftless.sqlite-wal"))) ?? Data())
        #expect(database.range(of: Data(token.utf8)) == nil, "the token itself is never stored")
        #expect(try store.revokeToken(id: record.id))
        #expect(try store.tokenUser(token) == nil)
    }

    @Test func driftItemsKeepWhenTheyWereFirstSeen() throws {
        let store = try Store()
        func report(_ names: [String], at seconds: TimeInterval) -> DriftReport {
            var plan = Plan(commit: "c", actions: names.map {
                PlannedAction(action: .update, id: ObjectID(.instance, project: "shop", $0), host: "local", source: nil,
                              changes: [FieldChange(field: "power", before: "stopped", after: "running", effect: .live)])
            })
            plan.diagnostics = []
            return DriftReport(plan: plan, hosts: [], checkedAt: Date(timeIntervalSince1970: seconds))
        }
        let first = try store.recordDrift(report(["a"], at: 100))
        #expect(first.new.map(\.name) == ["a"])
        let second = try store.recordDrift(report(["a", "b"], at: 200))
        #expect(second.new.map(\.name) == ["b"], "only b is new")
        #expect(second.report.items.first { $0.name == "a" }?.firstSeen == Date(timeIntervalSince1970: 100))
        let third = try store.recordDrift(report([], at: 300))
        #expect(third.report.items.isEmpty)
        let fourth = try store.recordDrift(report(["a"], at: 400))
        #expect(fourth.new.map(\.name) == ["a"], "drift that went away and came back is new again")
        #expect(try store.latestDrift()?.items.first?.firstSeen == Date(timeIntervalSince1970: 400))
    }
}
