import DriftlessTesting
import Foundation
import XCTest

/// A cloud of three test bed hosts (`scripts/testbed.sh up 3`), driven as remote hosts are: libvirt over
/// TLS and OVSDB over SSL with the operator's certificates (`--pki`), checked from outside with virsh on
/// each host's own libvirtd.
final class MultiHostEndToEndTests: XCTestCase {
    var world: EndToEndWorld!
    var hosts: [TestBedHost] = []

    override func setUpWithError() throws {
        hosts = try ["tb1", "tb2", "tb3"].map { try TestBedHost.require($0) }
        world = try EndToEndWorld()
    }

    override func tearDown() {
        for host in hosts {
            _ = try? host.start("libvirtd")
            host.removeTestObjects(domainPrefix: world.project + ".", pools: pools, directory: poolsDirectory,
                                   bridge: "br-\(world.id.prefix(6))")
        }
        world?.destroy()
    }

    var pools: String { "dlmh-\(world.id)" }
    var poolsDirectory: String { "/var/lib/driftless/pools/\(world.id)" }
    var volumesPool: String { pools + "-vols" }

    func domains(on host: TestBedHost) -> [String] {
        let output = (try? sh("virsh", "-c", host.libvirtURI, "list", "--all", "--name"))?.stdout ?? ""
        return output.split(separator: "\n").map(String.init).filter { $0.hasPrefix(world.project + ".") }.sorted()
    }

    /// Instance name → the hosts it is defined on, as their libvirtds say.
    func placement() -> [String: [String]] {
        var result: [String: [String]] = [:]
        for host in hosts {
            for domain in domains(on: host) { result[String(domain.dropFirst(world.project.count + 1)), default: []].append(host.name) }
        }
        return result
    }

    /// The cloud: three Hosts reached over TLS/SSL, one project, the world's tiny image; `instances` are
    /// name → extra spec lines.
    func write(_ instances: [(String, [String])], volume: Bool = false) throws {
        var docs = ["""
            apiVersion: driftless.dev/v1
            kind: Project
            metadata: {name: \(world.project)}
            """, """
            apiVersion: driftless.dev/v1
            kind: Image
            metadata: {name: tiny}
            spec:
              source: {path: \(world.root)/tiny.qcow2}
              sha256: \(try sha256(world.root + "/tiny.qcow2"))
              format: qcow2
            """]
        for host in hosts {
            docs.append(host.hostManifest(bridge: "br-\(world.id.prefix(6))", pools: pools, directory: poolsDirectory,
                                          labels: ["rack": host.name == "tb3" ? "b" : "a"],
                                          extra: ["capacity: {vcpus: 2, memory: 1GiB}", "overcommit: {cpu: 1.0}"]))
        }
        if volume {
            docs.append("""
                apiVersion: driftless.dev/v1
                kind: Volume
                metadata: {name: data, project: \(world.project)}
                spec: {size: 16MiB, format: raw}
                """)
        }
        for (name, extra) in instances {
            docs.append("""
                apiVersion: driftless.dev/v1
                kind: Instance
                metadata: {name: \(name), project: \(world.project)}
                spec:
                  image: tiny
                  vcpus: 1
                  rootDisk: 128MiB
                  power: stopped
                """ + (extra.contains { $0.hasPrefix("memory:") } ? extra : extra + ["memory: 64MiB"]).map { "\n  " + $0 }.joined())
        }
        try (docs.joined(separator: "\n---\n") + "\n").write(toFile: world.repo + "/cloud.yaml", atomically: true, encoding: .utf8)
    }

    func host(_ name: String) throws -> TestBedHost {
        try XCTUnwrap(hosts.first { $0.name == name })
    }

    /// The volume `name` on `host` starts with the bytes of the file `proof`, as `virsh vol-download` reads it.
    func assertVolume(_ name: String, on host: String, holds proof: String, line: UInt = #line) throws {
        let copy = world.root + "/downloaded"
        let download = try sh("virsh", "-c", self.host(host).libvirtURI, "vol-download", "--pool", volumesPool, name, copy)
        XCTAssertEqual(download.status, 0, download.stderr, line: line)
        let expected = try Data(contentsOf: URL(fileURLWithPath: proof))
        let actual = try Data(contentsOf: URL(fileURLWithPath: copy))
        XCTAssertEqual(actual.count, 16 << 20, "the whole volume came along", line: line)
        XCTAssertEqual(actual.prefix(expected.count), expected, "the volume's bytes on \(host)", line: line)
    }

    func sha256(_ path: String) throws -> String {
        let output = try sh("sha256sum", path)
        return String(output.stdout.prefix(64))
    }

    func driftless(_ command: String, _ arguments: String...) throws -> CommandOutput {
        try spawn([DriftlessBinary.url.path, command, "--repo", world.repo, "--state", world.state, "--image-dir", world.root,
                   "--pki", TestBedHost.pkiDirectory] + arguments).wait()
    }

    func testThreeHostsSpreadPinFillRefuseAMoveAndConvergeAroundAHostThatIsDown() throws {
        // Spread, and a pin.
        try write([("a", []), ("b", []), ("c", []), ("d", []), ("pinned", ["host: tb3"])])
        try world.commit("five instances on three hosts")
        let plan = try driftless("plan")
        XCTAssertEqual(plan.status, 0, plan.stderr)
        XCTAssertTrue(plan.stdout.contains("host: (none) → tb1 (spread: most free memory of 3 hosts that fit)")
                      || plan.stdout.contains("tb1 (spread"), plan.stdout)
        let apply = try driftless("apply", "--yes")
        XCTAssertEqual(apply.status, 0, apply.stdout + apply.stderr)
        var placed = placement()
        XCTAssertEqual(placed.count, 5, "\(placed)")
        XCTAssertEqual(placed["pinned"], ["tb3"])
        XCTAssertTrue(placed.values.allSatisfy { $0.count == 1 }, "one domain per instance: \(placed)")
        let perHost = Dictionary(grouping: placed.values.flatMap { $0 }, by: { $0 }).mapValues(\.count)
        XCTAssertEqual(Set(perHost.keys), ["tb1", "tb2", "tb3"], "spread over every host: \(perHost)")
        XCTAssertTrue(perHost.values.allSatisfy { $0 <= 2 }, "2 vCPUs per host: \(perHost)")
        XCTAssertEqual(try driftless("plan", "--detailed-exitcode").status, 0, "converged: nothing left to do")

        // A constraint no host meets is a plan error naming each host's reason; nothing changes.
        try write([("a", []), ("b", []), ("c", []), ("d", []), ("pinned", ["host: tb3"]),
                   ("rack-c", ["placement: {hostSelector: {rack: c}}"])])
        try world.commit("an instance for a rack that does not exist")
        let full = try driftless("apply", "--yes")
        XCTAssertEqual(full.status, 1, full.stdout + full.stderr)
        XCTAssertTrue(full.stderr.contains("no host can take instance \(world.project)/rack-c: tb1: label rack=c does not match (rack=a); tb2: label rack=c does not match (rack=a); tb3: label rack=c does not match (rack=b)"),
                      full.stderr)
        XCTAssertEqual(placement(), placed, "a refused plan changes nothing")

        // A volume for a, and bytes in it written on its host from outside.
        let aHost = try XCTUnwrap(placed["a"]?.first)
        // The host with a vCPU free (2 each, 5 instances).
        let elsewhere = try XCTUnwrap(hosts.map(\.name).first { name in name != aHost && perHost[name, default: 0] < 2 })
        let others: [(String, [String])] = [("b", []), ("c", []), ("d", []), ("pinned", ["host: tb3"])]
        try write([("a", ["volumes: [data]"])] + others, volume: true)
        try world.commit("a volume for a")
        let attach = try driftless("apply", "--yes")
        XCTAssertEqual(attach.status, 0, attach.stdout + attach.stderr)
        let proof = world.root + "/proof"
        try Data((0..<(1 << 20)).map { _ in UInt8.random(in: 0...255) }).write(to: URL(fileURLWithPath: proof))
        let volumeName = "vol-\(world.project).data.raw"
        let upload = try sh("virsh", "-c", host(aHost).libvirtURI, "vol-upload", "--pool", volumesPool, volumeName, proof)
        XCTAssertEqual(upload.status, 0, upload.stderr)

        // A host: change is a move, refused without --allow-move, shown as one.
        try write([("a", ["volumes: [data]", "host: \(elsewhere)"])] + others, volume: true)
        try world.commit("pin a elsewhere")
        let movePlan = try driftless("plan")
        XCTAssertTrue(movePlan.stdout.contains("-> instance a moves to \(elsewhere) (restarts)"), movePlan.stdout)
        XCTAssertTrue(movePlan.stdout.contains("host: \(aHost) → \(elsewhere) (restarts)"), movePlan.stdout)
        XCTAssertTrue(movePlan.stdout.contains("volumes: data (16MiB, copied)"), movePlan.stdout)
        let refused = try driftless("apply", "--yes")
        XCTAssertEqual(refused.status, 1, refused.stdout + refused.stderr)
        XCTAssertTrue(refused.stderr.contains("use --allow-move to apply it"), refused.stderr)
        XCTAssertEqual(placement()["a"], [aHost], "refused: still one domain, where it was")

        // Killed once the new domain is defined (journal line 4: started, stopped, copied, arrived): both
        // ends exist, and the next run finishes the move without being asked to move again.
        let killed = try world.start("apply", ["--yes", "--allow-move", "--pki", TestBedHost.pkiDirectory],
                                     environment: ["DRIFTLESS_FAULT_KILL_AFTER_JOURNAL_WRITES": "4"]).wait()
        XCTAssertEqual(killed.status, 128 + SIGKILL, killed.stdout + killed.stderr)
        XCTAssertEqual(placement()["a"]?.sorted(), [aHost, elsewhere].sorted(), "killed between the copy and the end")
        XCTAssertEqual(try sh("virsh", "-c", host(aHost).libvirtURI, "domstate", "\(world.project).a").stdout
            .trimmingCharacters(in: .whitespacesAndNewlines), "shut off", "the old domain is stopped")
        let finish = try driftless("apply", "--yes")
        XCTAssertEqual(finish.status, 0, finish.stdout + finish.stderr)
        XCTAssertTrue(finish.stdout.contains("finishes the move from \(aHost)"), finish.stdout)
        XCTAssertEqual(placement()["a"], [elsewhere], "one domain, on the new host")
        try assertVolume(volumeName, on: elsewhere, holds: proof)
        XCTAssertFalse(try sh("virsh", "-c", host(aHost).libvirtURI, "vol-list", volumesPool, "--name").stdout.contains(volumeName),
                       "no copy left on \(aHost)")
        XCTAssertEqual(try driftless("plan", "--detailed-exitcode").status, 0, "converged after the move")

        // Back again, killed after the copy and before the new definition (line 3): the old domain is still
        // the instance, and the next run moves it again.
        try write([("a", ["volumes: [data]", "host: \(aHost)"])] + others, volume: true)
        try world.commit("pin a back")
        let killedEarly = try world.start("apply", ["--yes", "--allow-move", "--pki", TestBedHost.pkiDirectory],
                                          environment: ["DRIFTLESS_FAULT_KILL_AFTER_JOURNAL_WRITES": "3"]).wait()
        XCTAssertEqual(killedEarly.status, 128 + SIGKILL, killedEarly.stdout + killedEarly.stderr)
        XCTAssertEqual(placement()["a"], [elsewhere], "the old domain only")
        let again = try driftless("apply", "--yes", "--allow-move")
        XCTAssertEqual(again.status, 0, again.stdout + again.stderr)
        XCTAssertEqual(placement()["a"], [aHost])
        try assertVolume(volumeName, on: aHost, holds: proof)
        XCTAssertEqual(try driftless("plan", "--detailed-exitcode").status, 0, "converged after the move back")

        // A host whose libvirtd is down gets no actions; the others converge.
        let down = try XCTUnwrap(hosts.first { $0.name != aHost && $0.name != "tb3" })
        try down.stop("libvirtd")
        try write([("a", ["memory: 96MiB"]), ("b", []), ("c", []), ("d", []), ("pinned", ["host: tb3", "memory: 96MiB"])])
        try world.commit("more memory for a and pinned")
        let partial = try driftless("apply", "--yes")
        XCTAssertEqual(partial.status, 1, "a host was unreachable: the run did not converge everything\n" + partial.stdout + partial.stderr)
        XCTAssertTrue(partial.stdout.contains("unreachable: \(down.name)"), partial.stdout + partial.stderr)
        for (instance, host) in [("a", aHost), ("pinned", "tb3")] {
            let target = try XCTUnwrap(hosts.first { $0.name == host })
            let info = try sh("virsh", "-c", target.libvirtURI, "dominfo", "\(world.project).\(instance)")
            XCTAssertTrue(info.stdout.contains("98304 KiB"), "\(instance) on \(host) has 96 MiB: \(info.stdout)")
        }
        try down.start("libvirtd")
        XCTAssertEqual(try driftless("plan", "--detailed-exitcode").status, 0, "after the host is back, nothing is left")
        placed = placement()
        XCTAssertEqual(placed.count, 5)
        XCTAssertTrue(placed.values.allSatisfy { $0.count == 1 }, "\(placed)")
    }
}
