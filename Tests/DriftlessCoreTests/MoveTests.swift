@testable import DriftlessCore
import DriftlessTesting
import Foundation
import Testing

/// Moves over three in-memory hosts, from the plan to the hosts: a pin, a drain and a label that no
/// longer matches each move an instance with its disks' bytes; the guard asks for `--allow-move`; a move
/// that fails at any point is finished (or started again) by the next run, never leaving two copies or an
/// empty volume.
@Suite("Moves")
struct MoveTests {
    /// Three hosts, tb1..tb3 (`SchedulingPlannerTests.threeHosts`, all in rack a unless `labels` says);
    /// `web` with the volume `data`; `extra` spec lines for `web`, `hostExtra` lines per Host.
    static func cloud(web extra: [String] = [], hostExtra: [String: String] = [:], labels: [String: String] = [:]) throws -> DesiredState {
        let text = SchedulingPlannerTests.threeHosts(hostExtra: hostExtra, labels: labels) + """

            ---
            apiVersion: driftless.dev/v1
            kind: Volume
            metadata: {name: data, project: shop}
            spec: {size: 1GiB}
            ---
            apiVersion: driftless.dev/v1
            kind: Instance
            metadata: {name: web, project: shop}
            spec:
              image: tiny
              vcpus: 1
              memory: 512MiB
              rootDisk: 1GiB
              networks: [{network: net}]
              volumes: [data]
            """ + extra.map { "\n  " + $0 }.joined()
        let result = TestManifests.load(["cloud.yaml": text], includeBase: false)
        try #require(result.isValid, "\(result.diagnostics.map(\.description))")
        return result.state
    }

    /// One in-memory host per Host, each with its own pools at the same paths (as on the test bed).
    final class World: @unchecked Sendable {
        var hosts: [String: InMemoryHost] = [:]
        var drivers: [String: HostDrivers] = [:]

        init(_ state: DesiredState) {
            for target in state.hosts.map(HostTarget.init) {
                let host = InMemoryHost()
                host.capacity = HostCapacity(vcpus: 2, memory: .gibibytes(2), freeMemory: .gibibytes(20))
                hosts[target.name] = host
                drivers[target.name] = host.drivers(for: target)
            }
        }

        func observe() async -> [HostObservation] {
            var observed: [HostObservation] = []
            for name in drivers.keys.sorted() { observed.append(await drivers[name]!.observe()) }
            return observed
        }

        func plan(_ state: DesiredState) async -> Planner.Outcome {
            Planner.plan(desired: state, commit: "c1", hosts: await observe(),
                         allocations: IPAllocator.allocate(for: state, existing: []).allocations)
        }

        /// Plans, guards (with `allowMove`) and applies; returns the plan and the result.
        @discardableResult
        func apply(_ state: DesiredState, allowMove: Bool = true) async throws -> (Planner.Outcome, ApplyResult) {
            let outcome = await plan(state)
            let refusals = ApplyGuard(allowMove: allowMove).refusals(plan: outcome.plan, desired: state, hosts: await observe())
            try #require(refusals.isEmpty, "\(refusals)")
            let result = await Applier(drivers: drivers, options: .init(parallelism: 2, attempts: 1, backoff: .zero),
                                       journal: { _ in }).apply(outcome.steps.map(\.step))
            return (outcome, result)
        }

        /// The hosts holding a domain of `web`.
        func whereIs(_ name: String = "web") async -> [String] {
            var found: [String] = []
            for (host, memory) in hosts.sorted(by: { $0.key < $1.key })
            where (try? await memory.observe() as ComputeObservation)?.instances.contains(where: { $0.id.name == name }) == true {
                found.append(host)
            }
            return found
        }

        func instance(on host: String) async throws -> ObservedInstance {
            let observation: ComputeObservation = try await hosts[host]!.observe()
            return try #require(observation.instances.first { $0.id.name == "web" })
        }

        func volume(on host: String) async throws -> ObservedVolume? {
            let observation: StorageObservation = try await hosts[host]!.observe()
            return observation.volumes.first { $0.id.name == "data" }
        }
    }

    static let proof = Data("written by the guest before the move".utf8)
    static let rootBytes = Data((0..<200_000).map { UInt8($0 % 251) })

    /// `web` applied where the scheduler puts it (tb1: the hosts are alike, ties go by name), with bytes
    /// written into its volume and root disk.
    static func running(_ state: DesiredState) async throws -> World {
        let world = World(state)
        let (_, result) = try await world.apply(state)
        #expect(result.isSuccess, "\(result.steps)")
        #expect(await world.whereIs() == ["tb1"])
        let volume = try #require(try await world.volume(on: "tb1"))
        world.hosts["tb1"]!.write(proof, toVolumeAt: volume.path)
        let root = try #require(try await world.instance(on: "tb1").rootDiskPath)
        world.hosts["tb1"]!.write(rootBytes, toVolumeAt: root)
        return world
    }

    static func expectMoved(_ world: World, to host: String) async throws {
        #expect(await world.whereIs() == [host], "one domain, on \(host)")
        let moved = try await world.instance(on: host)
        #expect(moved.power == .running)
        #expect(moved.movedFrom == nil && moved.movingTo == nil, "the move's marks are gone")
        let volume = try #require(try await world.volume(on: host), "the volume is on \(host)")
        #expect(world.hosts[host]!.contents(ofVolumeAt: volume.path) == proof, "the volume's bytes came along")
        #expect(moved.volumePaths == [volume.path], "the domain uses the copy")
        #expect(world.hosts[host]!.contents(ofVolumeAt: try #require(moved.rootDiskPath)) == rootBytes, "and the root disk's")
        #expect(try await world.volume(on: "tb1") == nil, "no copy is left behind")
    }

    @Test func aPinMovesTheInstanceWithItsDisksOnceAllowed() async throws {
        let world = try await Self.running(try Self.cloud())
        let pinned = try Self.cloud(web: ["host: tb3"])
        let outcome = await world.plan(pinned)
        #expect(!outcome.plan.hasErrors, "\(outcome.plan.diagnostics)")
        let move = try #require(outcome.plan.actions.first { $0.action == .move })
        #expect(move.startsMove)
        #expect(move.host == "tb3")
        #expect(move.changes.map(\.summary).prefix(2) == ["host: tb1 → tb3 (restarts)", "volumes: data (1GiB, copied)"])
        let text = PlanRenderer.text(outcome.plan)
        #expect(text.contains("-> instance web moves to tb3 (restarts)"), "\(text)")
        #expect(outcome.plan.header.hasSuffix("; 1 to move"))
        #expect(!outcome.steps.contains { if case .createVolume = $0.step { true } else { false } }, "never an empty volume in its place")
        #expect(!outcome.steps.contains { if case .createInstance = $0.step { true } else { false } })

        let refused = ApplyGuard().refusals(plan: outcome.plan, desired: pinned, hosts: await world.observe())
        #expect(refused == ["the plan moves instances to other hosts, where they restart (shop/web to tb3); use --allow-move to apply it"])

        let (_, result) = try await world.apply(pinned)
        #expect(result.isSuccess, "\(result.steps)")
        try await Self.expectMoved(world, to: "tb3")
        let calls = world.hosts["tb1"]!.calls
        let order = ["prepare-move web", "delete-volume data", "delete web"].map { calls.firstIndex(of: $0) ?? -1 }
        #expect(order.allSatisfy { $0 >= 0 } && order == order.sorted(), "stopped first, removed last: \(calls)")
        #expect(world.hosts["tb3"]!.calls.firstIndex(of: "arrive web")! < calls.count, "defined on tb3")
        #expect(await world.plan(pinned).plan.isEmpty, "converged")
    }

    @Test func drainingAHostMovesItsInstancesAndALabelThatStopsMatchingToo() async throws {
        let world = try await Self.running(try Self.cloud())
        let drained = try Self.cloud(hostExtra: ["tb1": "schedulable: false"])
        let outcome = await world.plan(drained)
        let move = try #require(outcome.plan.actions.first { $0.action == .move })
        #expect(move.note?.hasPrefix("tb1 is drained; spread: ") == true, "\(move.note ?? "")")
        try await world.apply(drained)
        let host = try #require(await world.whereIs().first)
        #expect(host == "tb2", "the scheduler's choice: most free memory, ties by name")
        try await Self.expectMoved(world, to: host)

        // On tb2, a hostSelector tb2 stops matching moves it again, to the only host that matches.
        let selective = try Self.cloud(web: ["placement: {hostSelector: {rack: b}}"], hostExtra: ["tb1": "schedulable: false"],
                                       labels: ["tb3": "b"])
        let second = await world.plan(selective)
        #expect(second.plan.actions.first { $0.action == .move }?.note?.hasPrefix("tb2 no longer has label rack=b") == true)
        try await world.apply(selective)
        #expect(await world.whereIs() == ["tb3"])
        #expect(await world.plan(selective).plan.isEmpty)
    }

    /// A move that fails after the copies and the new definition: the next plan sees both ends marked and
    /// finishes it, without asking for --allow-move again.
    @Test func aMoveInterruptedAfterItsCopyIsFinishedByTheNextRun() async throws {
        let world = try await Self.running(try Self.cloud())
        let pinned = try Self.cloud(web: ["host: tb2"])
        world.hosts["tb1"]!.fail("delete-volume data", .terminal, times: 1)
        let (_, failed) = try await world.apply(pinned)
        #expect(!failed.isSuccess)
        #expect(await world.whereIs() == ["tb1", "tb2"], "both ends are defined…")
        #expect(try await world.instance(on: "tb1").movingTo == "tb2")
        #expect(try await world.instance(on: "tb2").movedFrom == "tb1")
        let (old, new) = (try await world.instance(on: "tb1"), try await world.instance(on: "tb2"))
        #expect(old.power == .stopped && new.power == .stopped, "…and neither runs")

        let next = await world.plan(pinned)
        let finish = try #require(next.plan.actions.first { $0.action == .move })
        #expect(!finish.startsMove, "finishing asks for no --allow-move")
        #expect(finish.note == "finishes the move from tb1")
        #expect(ApplyGuard().refusals(plan: next.plan, desired: pinned, hosts: await world.observe()).isEmpty)
        let (_, result) = try await world.apply(pinned, allowMove: false)
        #expect(result.isSuccess, "\(result.steps)")
        try await Self.expectMoved(world, to: "tb2")
    }

    /// A move that fails during the copy leaves the old domain stopped and marked: the next run starts the
    /// move again, replacing the partial copy; reverting the pin instead starts it where it is.
    @Test func aMoveInterruptedDuringItsCopyStartsAgainOrStaysWhenReverted() async throws {
        let world = try await Self.running(try Self.cloud())
        let pinned = try Self.cloud(web: ["host: tb2"])
        world.hosts["tb2"]!.fail("receive vol-shop.data.qcow2", .terminal, times: 1)
        let (_, failed) = try await world.apply(pinned)
        #expect(!failed.isSuccess)
        #expect(await world.whereIs() == ["tb1"])
        #expect(try await world.instance(on: "tb1").movingTo == "tb2")
        #expect(try await world.instance(on: "tb1").power == .stopped)
        let again = await world.plan(pinned)
        #expect(again.plan.actions.first { $0.action == .move }?.startsMove == true, "the move starts again, and asks again")
        let (_, result) = try await world.apply(pinned)
        #expect(result.isSuccess, "\(result.steps)")
        try await Self.expectMoved(world, to: "tb2")

        // Killed during the copy back, then the pin is reverted: web stays on tb2 and starts there.
        let back = try Self.cloud(web: ["host: tb3"])
        world.hosts["tb3"]!.fail("receive vol-shop.data.qcow2", .terminal, times: 1)
        _ = try await world.apply(back)
        #expect(try await world.instance(on: "tb2").power == .stopped)
        let (_, reverted) = try await world.apply(pinned)
        #expect(reverted.isSuccess)
        #expect(await world.whereIs() == ["tb2"])
        #expect(try await world.instance(on: "tb2").power == .running)
    }

    @Test func aDuplicateNotLeftByAMoveIsAnErrorAndNeitherCopyIsTouched() async throws {
        let state = try Self.cloud()
        let world = try await Self.running(state)
        // Someone defined web on tb3 too (a copied domain), without a move's marks.
        let request = try #require(await world.plan(try Self.cloud(web: ["host: tb3"])).steps.compactMap { pair -> InstanceMove? in
            if case let .moveInstance(move) = pair.step { move } else { nil }
        }.first).request
        _ = try await world.hosts["tb3"]!.create(request)
        let outcome = await world.plan(state)
        #expect(outcome.plan.diagnostics.contains {
            $0.severity == .error && $0.message == "instance shop/web is defined on tb1 and tb3; Driftless changes neither until only one is left"
        }, "\(outcome.plan.diagnostics)")
        #expect(!outcome.steps.contains { $0.step.key.contains("shop/web@") }, "no step on either copy")
    }

    @Test func aMoveBetweenImagePoolsAtDifferentPathsIsRefused() async throws {
        let elsewhere = ["tb2": "imagePool: {name: driftless-images, path: /srv/images}"]
        let world = try await Self.running(try Self.cloud(hostExtra: elsewhere))
        let other = try Self.cloud(web: ["host: tb2"], hostExtra: elsewhere)
        let outcome = await world.plan(other)
        #expect(outcome.plan.diagnostics.contains {
            $0.severity == .error && $0.message.hasPrefix("instance shop/web runs on tb1 and cannot move to tb2: the image pools are at different paths")
        }, "\(outcome.plan.diagnostics)")
        #expect(!outcome.steps.contains { if case .moveInstance = $0.step { true } else { false } })
    }
}
