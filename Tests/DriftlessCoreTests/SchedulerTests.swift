import DriftlessCore
import Testing

/// The filter scheduler on its own: filters (drain, observation, labels, vCPUs and memory after
/// overcommit, reported free memory, anti-affinity), the spread and pack weighers, and stability.
@Suite("Scheduler")
struct SchedulerTests {
    static func host(_ name: String, vcpus: Int = 4, memory: ByteSize = .gibibytes(4), labels: [String: String] = [:],
                     freeMemory: ByteSize? = nil) -> Scheduler.Host {
        Scheduler.Host(name: name, labels: labels, vcpus: vcpus, memory: memory, cpuRatio: 1.0, memoryRatio: 1.0, freeMemory: freeMemory)
    }

    static func request(_ name: String, vcpus: Int = 1, memory: ByteSize = .gibibytes(1), selector: [String: String] = [:],
                        group: String? = nil, antiAffinity: String? = nil, strategy: Scheduler.Strategy = .spread) -> Scheduler.Request {
        Scheduler.Request(instance: ObjectID(.instance, project: "shop", name), vcpus: vcpus, memory: memory, hostSelector: selector,
                          group: group, antiAffinity: antiAffinity, strategy: strategy)
    }

    @Test func newInstancesSpreadAcrossHosts() throws {
        var scheduler = Scheduler(hosts: [Self.host("tb1"), Self.host("tb2"), Self.host("tb3")])
        let placed = try (1...6).map { try scheduler.place(Self.request("web-\($0)")).get().host }
        #expect(placed == ["tb1", "tb2", "tb3", "tb1", "tb2", "tb3"])
    }

    @Test func packFillsOneHostFirst() throws {
        var scheduler = Scheduler(hosts: [Self.host("tb1"), Self.host("tb2")])
        let placed = try (1...5).map { try scheduler.place(Self.request("job-\($0)", strategy: .pack)).get().host }
        #expect(placed == ["tb1", "tb1", "tb1", "tb1", "tb2"], "tb1 takes four 1 GiB instances, then it is full")
    }

    @Test func runningInstancesCountWhereTheyRun() throws {
        var scheduler = Scheduler(hosts: [Self.host("tb1"), Self.host("tb2")])
        scheduler.claim(Self.request("old-1", memory: .gibibytes(3)), on: "tb1")
        let decision = try scheduler.place(Self.request("new-1")).get()
        #expect(decision.host == "tb2")
        #expect(decision.reason == "spread: most free memory of 2 hosts that fit")
    }

    @Test func aFullCloudNamesTheConstraintOnEachHost() {
        var scheduler = Scheduler(hosts: [Self.host("tb1", vcpus: 1), Self.host("tb2", memory: .gibibytes(1)),
                                          { var h = Self.host("tb3"); h.schedulable = false; return h }(),
                                          Self.host("tb4", labels: ["role": "storage"]),
                                          { var h = Self.host("tb5"); h.unknownReason = "libvirtd is down"; return h }()])
        scheduler.claim(Self.request("a", vcpus: 1, memory: .mebibytes(512)), on: "tb1")
        scheduler.claim(Self.request("b", vcpus: 1, memory: .mebibytes(512)), on: "tb2")
        guard case let .failure(noRoom) = scheduler.place(Self.request("big", vcpus: 1, memory: .gibibytes(1), selector: ["role": "compute"]))
        else { Issue.record("placed although nothing fits"); return }
        #expect(noRoom.reasons["tb1"] == "label role=compute does not match (no role label)")
        #expect(noRoom.reasons["tb3"] == "drained (schedulable: false)")
        #expect(noRoom.reasons["tb4"] == "label role=compute does not match (role=storage)")
        #expect(noRoom.reasons["tb5"] == "not observed (libvirtd is down)")
        var unlabelled = Scheduler(hosts: [Self.host("tb1", vcpus: 1), Self.host("tb2", memory: .gibibytes(1))])
        unlabelled.claim(Self.request("a", vcpus: 1, memory: .mebibytes(512)), on: "tb1")
        unlabelled.claim(Self.request("b", vcpus: 1, memory: .mebibytes(512)), on: "tb2")
        guard case let .failure(full) = unlabelled.place(Self.request("big", memory: .gibibytes(1))) else {
            Issue.record("placed although nothing fits"); return
        }
        #expect(full.reasons["tb1"] == "vcpus: needs 1, 0 of 1 free (1 × 1.0)")
        #expect(full.reasons["tb2"] == "memory: needs 1GiB, 512MiB of 1GiB free")
        #expect(full.description.hasPrefix("no host can take instance shop/big: tb1: vcpus"))
    }

    @Test func overcommitRaisesTheLimits() throws {
        var host = Self.host("tb1", vcpus: 2)
        host.cpuRatio = 4.0
        var scheduler = Scheduler(hosts: [host])
        for index in 1...8 { _ = try scheduler.place(Self.request("v\(index)", memory: .mebibytes(64))).get() }
        guard case let .failure(noRoom) = scheduler.place(Self.request("v9", memory: .mebibytes(64))) else {
            Issue.record("a ninth vCPU fitted on 2 × 4.0"); return
        }
        #expect(noRoom.reasons["tb1"] == "vcpus: needs 1, 0 of 8 free (2 × 4.0)")
    }

    @Test func newInstancesMustFitInTheMemoryTheHostReportsFree() throws {
        var scheduler = Scheduler(hosts: [Self.host("tb1", memory: .gibibytes(8), freeMemory: .gibibytes(1)), Self.host("tb2")])
        #expect(try scheduler.place(Self.request("a", memory: .gibibytes(2))).get().host == "tb2",
                "tb1 declares 8 GiB but has 1 GiB free")
    }

    @Test func antiAffinityKeepsAGroupApartByHostOrByLabel() throws {
        var byHost = Scheduler(hosts: [Self.host("tb1"), Self.host("tb2")])
        _ = try byHost.place(Self.request("db-1", group: "db", antiAffinity: "host", strategy: .pack)).get()
        #expect(try byHost.place(Self.request("db-2", group: "db", antiAffinity: "host", strategy: .pack)).get().host == "tb2")
        guard case let .failure(noRoom) = byHost.place(Self.request("db-3", group: "db", antiAffinity: "host")) else {
            Issue.record("three members on two hosts"); return
        }
        #expect(noRoom.reasons["tb1"] == "anti-affinity: group db already has an instance on tb1")

        var byRack = Scheduler(hosts: [Self.host("tb1", labels: ["rack": "a"]), Self.host("tb2", labels: ["rack": "a"]),
                                       Self.host("tb3", labels: ["rack": "b"])])
        let first = try byRack.place(Self.request("web-1", group: "web", antiAffinity: "rack")).get().host
        let second = try byRack.place(Self.request("web-2", group: "web", antiAffinity: "rack")).get().host
        #expect(first == "tb1" && second == "tb3", "\(first), \(second): one per rack")
        // Another group is not held back by this one.
        #expect(try byRack.place(Self.request("cache-1", group: "cache", antiAffinity: "rack")).get().host == "tb2")
    }

    @Test func placementIsDeterministic() throws {
        let hosts = (1...10).map { Self.host("h\($0)", vcpus: 8, memory: .gibibytes(16)) }
        func run() throws -> [String] {
            var scheduler = Scheduler(hosts: hosts.shuffled())
            return try (1...50).map { try scheduler.place(Self.request("i\($0)", memory: .mebibytes(256 * ($0 % 4 + 1)))).get().host }
        }
        #expect(try run() == run())
    }
}
