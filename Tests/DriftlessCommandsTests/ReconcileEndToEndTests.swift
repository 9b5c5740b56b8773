import DriftlessTesting
import Foundation
import XCTest

/// `driftless plan`, `apply` and `drift` end to end, as an operator runs them, against the real libvirtd
/// (QEMU guests) and Open vSwitch of this machine; every outcome is checked from outside with `virsh` and
/// `ovs-vsctl`.
///
/// XCTest, so these run one at a time; the one that stops a libvirtd does it on a host of the test bed.
final class ReconcileEndToEndTests: XCTestCase {
    var world: EndToEndWorld!

    override func setUpWithError() throws {
        if ProcessInfo.processInfo.environment["DRIFTLESS_SKIP_LIBVIRT_TESTS"] == "1"
            || ProcessInfo.processInfo.environment["DRIFTLESS_SKIP_OVS_TESTS"] == "1"
        {
            throw XCTSkip("DRIFTLESS_SKIP_LIBVIRT_TESTS or DRIFTLESS_SKIP_OVS_TESTS is set")
        }
        for socket in ["/var/run/libvirt/libvirt-sock", "/var/run/openvswitch/db.sock"] where !FileManager.default.fileExists(atPath: socket) {
            XCTFail("\(socket) is absent: start the daemons with scripts/start-libvirt.sh and scripts/start-ovs.sh")
            throw XCTSkip("daemons missing")
        }
        world = try EndToEndWorld()
    }

    override func tearDown() {
        world?.destroy()
    }

    func assertSuccess(_ output: CommandOutput, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(output.status, 0, "\(what)\n--- stdout\n\(output.stdout)\n--- stderr\n\(output.stderr)", file: file, line: line)
    }

    func planJSON(_ extra: String...) throws -> [String: Any] {
        let output = try world.start("plan", ["--format", "json"] + extra).wait()
        XCTAssertEqual(output.status, 0, output.stderr)
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any], output.stdout)
    }

    func assertPlanIsEmpty(file: StaticString = #filePath, line: UInt = #line) throws {
        let output = try world.driftless("plan", "--detailed-exitcode")
        XCTAssertEqual(output.status, 0, "a plan right after an apply must be empty:\n\(output.stdout)\(output.stderr)", file: file, line: line)
        XCTAssertTrue(output.stdout.hasPrefix("No changes."), output.stdout, file: file, line: line)
    }

    // MARK: - Saved plans

    /// `plan --out` then `apply FILE` applies what was reviewed; a host changed since (a domain stopped
    /// out of band) makes the saved plan stale, and it is refused naming the host, changing nothing.
    func testASavedPlanIsAppliedAsReviewedAndRefusedOnceAHostChanged() throws {
        try world.writeManifests(instances: [.init(name: "a")])
        try world.commit("one instance")
        let file = world.root + "/plan.json"
        let plan = try world.driftless("plan", "--out", file, "--format", "markdown")
        assertSuccess(plan, "plan --out")
        let saved = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: file))) as? [String: Any])
        let id = try XCTUnwrap(saved["id"] as? String)
        XCTAssertTrue(plan.stdout.contains("Driftless plan `\(id)`"), plan.stdout)
        XCTAssertEqual(saved["location"] as? String, world.repo, "the plan records where its repository is")
        // `apply FILE` alone (no --repo) reads the repository the plan names.
        let bare = try spawn([DriftlessBinary.url.path, "apply", "--yes", "--image-dir", world.root, "--state", world.state, file]).wait()
        assertSuccess(bare, "apply FILE without --repo")
        XCTAssertEqual(world.domainState("a"), "running")
        XCTAssertEqual(try world.driftless("plan", "--detailed-exitcode").status, 0, "applied as planned: nothing left to do")

        try world.writeManifests(instances: [.init(name: "a", memory: "96MiB")])
        try world.commit("more memory")
        assertSuccess(try world.driftless("plan", "--out", file), "plan --out")
        XCTAssertEqual(try sh("virsh", "-c", EndToEndWorld.libvirtURI, "destroy", "\(world.project).a").status, 0)
        let stale = try world.driftless("apply", "--yes", file)
        XCTAssertEqual(stale.status, 1, stale.stdout + stale.stderr)
        XCTAssertTrue(stale.stderr.contains("is stale: host local changed since the plan was made"), stale.stderr)
        XCTAssertEqual(world.domainState("a"), "shut off", "a stale plan changes nothing")
        XCTAssertEqual(try world.driftless("apply", "--yes", "--rev", "HEAD", file).status, 64, "--rev and a plan file exclude each other")
        let noRepo = try spawn([DriftlessBinary.url.path, "plan", "--state", world.state]).wait()
        XCTAssertEqual(noRepo.status, 64, "only `apply FILE` may leave out --repo")
        XCTAssertTrue(noRepo.stderr.contains("missing --repo"), noRepo.stderr)
    }

    // MARK: - Apply from scratch, no false drift, one in-place update

    func testApplyFromScratchThenPlanIsEmptyThenOneFieldIsOneInPlaceUpdate() throws {
        try world.writeManifests(instances: [.init(name: "a", volumes: ["data"]), .init(name: "b")], volumes: [.init(name: "data")])
        try world.commit("two instances")

        let plan = try world.driftless("plan", "--detailed-exitcode")
        XCTAssertEqual(plan.status, 2, plan.stdout + plan.stderr)
        XCTAssertTrue(plan.stdout.contains("Plan: 4 to create, 0 to update, 0 to replace, 0 to delete; 0 volumes destroyed"), plan.stdout)
        XCTAssertEqual(world.domains(), [], "plan changes nothing")

        let apply = try world.driftless("apply", "--yes")
        assertSuccess(apply, "apply")
        XCTAssertTrue(apply.stderr.contains("done      create-instance \(world.project)/a@local"), apply.stderr)
        XCTAssertEqual(world.domains(), ["\(world.project).a", "\(world.project).b"])
        XCTAssertEqual(world.domainState("a"), "running")
        XCTAssertEqual(world.domainState("b"), "running")
        let ports = world.ports()
        XCTAssertEqual(ports.count, 2, "one port per NIC: \(ports)")
        XCTAssertEqual(Set(ports.map(\.tag)), ["77"])
        XCTAssertEqual(Set(ports.map(\.ifaceID)).count, 2)
        XCTAssertTrue(world.volumes(in: world.volumesPool).contains("vol-\(world.project).data.qcow2"))

        try assertPlanIsEmpty()

        // One field: memory up. One update, one change, at next boot; the domain keeps its UUID.
        let uuid = world.domainUUID("a")
        try world.writeManifests(instances: [.init(name: "a", memory: "96MiB", volumes: ["data"]), .init(name: "b")],
                                 volumes: [.init(name: "data")])
        try world.commit("a: 96MiB")
        let json = try planJSON()
        let actions = try XCTUnwrap(json["actions"] as? [[String: Any]])
        XCTAssertEqual(actions.count, 1, "\(actions)")
        XCTAssertEqual(actions.first?["action"] as? String, "update")
        XCTAssertEqual(actions.first?["name"] as? String, "a")
        XCTAssertEqual((actions.first?["source"] as? [String: Any])?["file"] as? String, "cloud.yaml")
        let changes = try XCTUnwrap(actions.first?["changes"] as? [[String: Any]])
        XCTAssertEqual(changes.map { $0["field"] as? String }, ["memory"])
        XCTAssertEqual(changes.first?["before"] as? String, "64MiB")
        XCTAssertEqual(changes.first?["after"] as? String, "96MiB")
        XCTAssertEqual(changes.first?["effect"] as? String, "reboot")
        XCTAssertEqual((json["summary"] as? [String: Any])?["update"] as? Int, 1)

        assertSuccess(try world.driftless("apply", "--yes"), "apply the update")
        XCTAssertEqual(world.domainUUID("a"), uuid, "updated in place, not replaced")
        XCTAssertEqual(world.maxMemoryKiB("a"), 96 * 1024)
        try assertPlanIsEmpty()

        // The root disk grows in place, on the running guest.
        try world.writeManifests(instances: [.init(name: "a", memory: "96MiB", rootDisk: "256MiB", volumes: ["data"]), .init(name: "b")],
                                 volumes: [.init(name: "data")])
        try world.commit("a: 256MiB root disk")
        let grow = try XCTUnwrap(try planJSON()["actions"] as? [[String: Any]])
        XCTAssertEqual(grow.count, 1, "\(grow)")
        let growChanges = try XCTUnwrap(grow.first?["changes"] as? [[String: Any]])
        XCTAssertEqual(growChanges.map { $0["field"] as? String }, ["rootDisk"])
        XCTAssertEqual(growChanges.first?["effect"] as? String, "live")
        assertSuccess(try world.driftless("apply", "--yes"), "apply the root disk growth")
        let blockInfo = try sh("virsh", "-c", EndToEndWorld.libvirtURI, "domblkinfo", "\(world.project).a", "vda").stdout
        XCTAssertTrue(blockInfo.contains("268435456"), blockInfo)
        XCTAssertEqual(world.domainUUID("a"), uuid)
        try assertPlanIsEmpty()

        let history = try world.driftless("history")
        assertSuccess(history, "history")
        XCTAssertEqual(history.stdout.split(separator: "\n").filter { $0.contains("apply") && $0.contains("succeeded") }.count, 3, history.stdout)
    }

    // MARK: - Drift

    func testDriftAfterVirshDestroyAndDelPortIsReportedThenHealed() throws {
        try world.writeManifests(instances: [.init(name: "a"), .init(name: "b")])
        try world.commit("two instances")
        assertSuccess(try world.driftless("apply", "--yes"), "apply")
        let clean = try world.driftless("drift", "--detailed-exitcode")
        XCTAssertEqual(clean.status, 0, clean.stdout + clean.stderr)

        XCTAssertEqual(try sh("virsh", "-c", EndToEndWorld.libvirtURI, "destroy", "\(world.project).a").status, 0)
        XCTAssertEqual(try sh("virsh", "-c", EndToEndWorld.libvirtURI, "setmem", "\(world.project).b", "48M", "--config").status, 0)
        let portOfB = try XCTUnwrap(world.ports().first { _ in true })
        XCTAssertEqual(try sh("ovs-vsctl", "del-port", world.bridge, portOfB.name).status, 0)

        let drift = try world.driftless("drift", "--detailed-exitcode", "--format", "json")
        XCTAssertEqual(drift.status, 2, drift.stdout + drift.stderr)
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(drift.stdout.utf8)) as? [String: Any])
        let items = try XCTUnwrap(report["items"] as? [[String: Any]])
        let fields = items.flatMap { ($0["fields"] as? [[String: Any]] ?? []).map { $0["field"] as? String ?? "" } }
        XCTAssertTrue(fields.contains("power"), "\(items)")
        XCTAssertTrue(items.contains { item in
            (item["fields"] as? [[String: Any]] ?? []).contains { $0["field"] as? String == "memory" && $0["actual"] as? String == "48MiB" }
        }, "virsh setmem --config is drift: \(items)")
        XCTAssertTrue(fields.contains { $0.hasPrefix("networks.net[0].port") }, "\(items)")
        XCTAssertTrue(items.allSatisfy { $0["type"] as? String == "drifted" }, "\(items)")

        let heal = try world.driftless("drift", "--heal")
        assertSuccess(heal, "drift --heal")
        XCTAssertEqual(world.domainState("a"), "running")
        let inactive = try sh("virsh", "-c", EndToEndWorld.libvirtURI, "dumpxml", "--inactive", "\(world.project).b").stdout
        XCTAssertTrue(inactive.contains("<currentMemory unit='KiB'>65536</currentMemory>"), inactive)
        XCTAssertTrue(world.ports().contains { $0.ifaceID == portOfB.ifaceID && $0.tag == "77" }, "\(world.ports())")
        XCTAssertEqual(world.ports().count, 2, "no duplicate port: \(world.ports())")
        XCTAssertEqual(try world.driftless("drift", "--detailed-exitcode").status, 0)
    }

    // MARK: - Removal, retention, unmanaged objects

    func testRemovingOneInstanceDeletesOnlyItAndVolumesFollowTheirPolicy() throws {
        try world.writeManifests(instances: [.init(name: "a", volumes: ["keep"]), .init(name: "b", volumes: ["scratch"])],
                                 volumes: [.init(name: "keep", policy: "Retain"), .init(name: "scratch", policy: "Delete", format: "raw")])
        try world.commit("a and b")
        assertSuccess(try world.driftless("apply", "--yes"), "apply")
        // An unmanaged domain named like a Driftless one, and an unmanaged file in the pool: never touched.
        let stray = "\(world.project).stray"
        let xml = world.root + "/stray.xml"
        try "<domain type='qemu'><name>\(stray)</name><memory unit='MiB'>32</memory><os><type>hvm</type></os></domain>"
            .write(toFile: xml, atomically: true, encoding: .utf8)
        XCTAssertEqual(try sh("virsh", "-c", EndToEndWorld.libvirtURI, "define", xml).status, 0)
        let uuidA = world.domainUUID("a")
        let keepPath = world.root + "/pools/vols/vol-\(world.project).keep.qcow2"
        let scratchPath = world.root + "/pools/vols/vol-\(world.project).scratch.raw"
        XCTAssertTrue(FileManager.default.fileExists(atPath: scratchPath))

        try world.writeManifests(instances: [.init(name: "a")], volumes: [])
        try world.commit("b and both volumes go")
        let plan = try world.driftless("plan")
        XCTAssertTrue(plan.stdout.contains("- instance b"), plan.stdout)
        XCTAssertTrue(plan.stdout.contains("= volume keep"), plan.stdout)
        XCTAssertTrue(plan.stdout.contains("- volume scratch"), plan.stdout)
        XCTAssertTrue(plan.stdout.contains("1 volume destroyed"), plan.stdout)
        XCTAssertFalse(plan.stdout.contains("stray"), plan.stdout)

        let refused = try world.driftless("apply", "--yes")
        XCTAssertEqual(refused.status, 1)
        XCTAssertTrue(refused.stderr.contains("--allow-replace"), refused.stderr)
        XCTAssertEqual(world.domainState("b"), "running", "a refused plan changes nothing")

        assertSuccess(try world.driftless("apply", "--yes", "--allow-replace", "--shutdown-timeout", "1"), "apply with --allow-replace")
        XCTAssertEqual(world.domains(), ["\(world.project).a", stray])
        XCTAssertEqual(world.domainUUID("a"), uuidA, "a untouched")
        XCTAssertTrue(FileManager.default.fileExists(atPath: keepPath), "Retain keeps the data")
        XCTAssertFalse(FileManager.default.fileExists(atPath: scratchPath), "Delete removes it")
        try assertPlanIsEmpty()
    }

    func testAnEmptyCommitIsRefusedAndChangesNothing() throws {
        try world.writeManifests(instances: [.init(name: "a")])
        try world.commit("a")
        assertSuccess(try world.driftless("apply", "--yes"), "apply")
        try world.writeManifests(instances: [], network: false)
        try world.commit("oops: everything removed")
        let refused = try world.driftless("apply", "--yes")
        XCTAssertEqual(refused.status, 1)
        XCTAssertTrue(refused.stderr.contains("declares no images, networks, volumes or instances"), refused.stderr)
        XCTAssertTrue(refused.stderr.contains("--allow-mass-delete"), refused.stderr)
        XCTAssertEqual(world.domainState("a"), "running")
        let history = try world.driftless("history")
        XCTAssertTrue(history.stdout.contains("refused"), history.stdout)
    }

    func testInvalidManifestsNameFileLineAndFieldAndChangeNothing() throws {
        try world.writeManifests(instances: [.init(name: "a", memory: "64MB")])
        try world.commit("bad memory")
        let output = try world.driftless("apply", "--yes")
        XCTAssertEqual(output.status, 1)
        XCTAssertTrue(output.stderr.contains("cloud.yaml:"), output.stderr)
        XCTAssertTrue(output.stderr.contains("spec.memory"), output.stderr)
        XCTAssertEqual(world.domains(), [])
    }

    func testApplyWithoutYesRefusesOffATerminal() throws {
        try world.writeManifests(instances: [.init(name: "a")])
        try world.commit("a")
        let output = try world.driftless("apply")
        XCTAssertEqual(output.status, 1)
        XCTAssertTrue(output.stderr.contains("pass --yes"), output.stderr)
        XCTAssertEqual(world.domains(), [])
    }

    // MARK: - Crashes and concurrency

    /// SIGKILL at step boundaries of applies of 20 objects (an image, 2 instances with a volume each, 17
    /// volumes), each kill followed by a normal run that must converge with no duplicate domain, port or
    /// volume and no lost volume. The kill comes from inside the apply, right after its Kth journal line
    /// is durable (`DRIFTLESS_FAULT_KILL_AFTER_JOURNAL_WRITES`): odd K stops it just after a step was marked
    /// started, even K just after one finished. The applies alternate between two sets of 19 objects
    /// (A and B, the image shared), so kill points fall into deletes as well as creates.
    func testKillMatrixAtStepBoundariesThenConverge() throws {
        func manifests(_ set: String) throws {
            try world.writeManifests(
                instances: [.init(name: "\(set)1", volumes: ["\(set)v1"]), .init(name: "\(set)2", volumes: ["\(set)v2"])],
                volumes: (1...17).map { .init(name: "\(set)v\($0)", policy: "Delete") })
        }
        func expectConverged(_ set: String, after point: String) {
            XCTAssertEqual(world.domains(), ["\(set)1", "\(set)2"].map { "\(world.project).\($0)" }, point)
            XCTAssertEqual(world.domainState("\(set)1"), "running", point)
            XCTAssertEqual(world.domainState("\(set)2"), "running", point)
            let ports = world.ports()
            XCTAssertEqual(ports.count, 2, "one port per NIC \(point): \(ports)")
            XCTAssertEqual(Set(ports.map(\.ifaceID)).count, 2, point)
            let volumes = world.volumes(in: world.volumesPool).filter { $0.hasPrefix("vol-") }
            XCTAssertEqual(volumes, (1...17).map { "vol-\(world.project).\(set)v\($0).qcow2" }.sorted(), "no volume lost or doubled \(point)")
            XCTAssertEqual(world.volumes(in: world.imagesPool).count, 1, "one image volume \(point)")
        }
        let flags = ["--yes", "--allow-replace", "--allow-mass-delete", "--shutdown-timeout", "1", "--parallel", "1"]
        // Spread over the whole of an apply: empty → A is 20 steps (40 journal lines), A ↔ B is 38 (76 lines).
        let killPoints = [1, 2, 3, 4, 7, 10, 13, 16, 19, 22, 25, 28, 31, 34, 37, 40, 44, 49, 54, 60, 66, 71, 75]
        var current: String?
        var killed = 0
        for (index, point) in killPoints.enumerated() {
            let next = current == "a" ? "b" : "a"
            try manifests(next)
            try world.commit("set \(next), kill point \(index)")
            let apply = try world.start("apply", flags, environment: ["DRIFTLESS_FAULT_KILL_AFTER_JOURNAL_WRITES": "\(point)"])
            let output = apply.wait()
            let label = "after SIGKILL at journal line \(point) of \(current ?? "empty") → \(next)"
            if output.status == 128 + SIGKILL { killed += 1 } else {
                // The apply finished before line K (fewer steps than K): it must then have succeeded.
                assertSuccess(output, label)
            }
            let again = try world.driftless("apply", "--yes", "--allow-replace", "--allow-mass-delete", "--shutdown-timeout", "1")
            assertSuccess(again, "the run \(label)")
            if output.status == 128 + SIGKILL, point % 2 == 1 {
                XCTAssertTrue(again.stderr.contains("was interrupted with 1 step in flight"), "\(label): \(again.stderr)")
            }
            expectConverged(next, after: label)
            current = next
        }
        XCTAssertGreaterThanOrEqual(killed, 20, "at least 20 applies were killed at a step boundary")
        try assertPlanIsEmpty()
        let history = try world.driftless("history")
        XCTAssertTrue(history.stdout.contains("interrupted"), history.stdout)
    }

    func testTwoAppliesAtOnceTheSecondRefusesNamingTheHolder() throws {
        try world.writeManifests(instances: [.init(name: "a"), .init(name: "b")])
        try world.commit("a and b")
        let first = try world.start("apply", ["--yes"])
        XCTAssertTrue(waitUntilTrue(timeout: 60) { self.world.startedSteps() >= 1 })
        let second = try world.driftless("apply", "--yes")
        let firstOutput = first.wait()
        XCTAssertEqual(second.status, 1)
        XCTAssertTrue(second.stderr.contains("in use by another driftless"), second.stderr)
        XCTAssertTrue(second.stderr.contains("pid \(first.pid)"), second.stderr)
        assertSuccess(firstOutput, "the first apply")
        XCTAssertEqual(world.domains().count, 2)
        try assertPlanIsEmpty()
    }

    /// libvirtd stops while an apply runs: the apply fails (does not hang, records the failure), and the
    /// next run once libvirtd is back converges. On test bed host tb2, whose libvirtd only this test stops
    /// (the machine's serves other tests at the same time), reached over TLS and SSL as a remote host is.
    func testAHostGoingAwayMidApplyFailsThenTheNextRunConverges() throws {
        let host = try TestBedHost.require("tb2")
        world.destroy()
        world = try EndToEndWorld(on: host)
        // tearDown removes the world from tb2: its libvirtd must be back by then, and for whoever runs next.
        defer { XCTAssertNoThrow(try host.start("libvirtd")) }
        try world.writeManifests(instances: [.init(name: "a"), .init(name: "b"), .init(name: "c")])
        try world.commit("three")
        let apply = try world.start("apply", ["--yes", "--parallel", "1"])
        XCTAssertTrue(waitUntilTrue(timeout: 60) { self.world.startedSteps() >= 2 })
        try host.stop("libvirtd")
        let output = apply.wait()
        try host.start("libvirtd")
        XCTAssertEqual(output.status, 1, "the apply must fail when its host goes away:\n\(output.stdout)\(output.stderr)")
        let history = try world.driftless("history")
        XCTAssertTrue(history.stdout.contains("failed"), history.stdout)

        assertSuccess(try world.driftless("apply", "--yes"), "the run after libvirtd came back")
        XCTAssertEqual(world.domains().count, 3)
        XCTAssertEqual(world.ports().count, 3)
        try assertPlanIsEmpty()
    }

    // MARK: - Sensitive values

    func testUserDataNeverAppearsInPlansReportsOrHistory() throws {
        let canary = "CANARY-e2e-\(UUID().uuidString)"
        try world.writeManifests(instances: [.init(name: "a", userData: "#cloud-config\n# \(canary)\n")])
        try world.commit("a with user data")
        for format in ["text", "markdown", "json"] {
            let output = try world.driftless("plan", "--format", format)
            XCTAssertFalse((output.stdout + output.stderr).contains(canary), format)
        }
        let apply = try world.driftless("apply", "--yes", "--format", "json")
        assertSuccess(apply, "apply")
        XCTAssertFalse((apply.stdout + apply.stderr).contains(canary))
        try world.writeManifests(instances: [.init(name: "a", userData: "#cloud-config\n# \(canary)-2\n")])
        try world.commit("new user data")
        let plan = try world.driftless("plan")
        XCTAssertTrue(plan.stdout.contains("(sensitive value changed)"), plan.stdout)
        XCTAssertFalse(plan.stdout.contains(canary))
        let drift = try world.driftless("drift", "--format", "json")
        XCTAssertFalse((drift.stdout + drift.stderr).contains(canary))
        let history = try world.driftless("history", "1", "--format", "json")
        XCTAssertFalse(history.stdout.contains(canary))
        let database = try Data(contentsOf: URL(fileURLWithPath: world.state + "/driftless.sqlite"))
        XCTAssertNil(database.range(of: Data(canary.utf8)), "the store never holds user data")
    }
}

/// Polls `condition` every 20 ms until it holds or `timeout` seconds pass.
func waitUntilTrue(timeout: TimeInterval, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if condition() { return true }
        Thread.sleep(forTimeInterval: 0.02)
    }
    return condition()
}
