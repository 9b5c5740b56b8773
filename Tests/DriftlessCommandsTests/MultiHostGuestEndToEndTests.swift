import DriftlessTesting
import Foundation
import XCTest

/// Real guests on two hosts of the test bed (`scripts/testbed.sh up 3`), driven over TLS/SSL: on one
/// provider VLAN (100, physnet1 over each host's `phys0` trunk into the test bed's switch), they reach each
/// other through the physical switch and are reached from its router namespace over SSH; draining a host
/// moves its guest to the third host with its disks, and a file written in the guest's volume before the
/// move is read back after it.
///
/// The Debian image of `scripts/build-guest-image.sh` boots in a minute or two under TCG: one story, three
/// boots (two at once, then the moved guest).
final class MultiHostGuestEndToEndTests: XCTestCase {
    static let image = "/var/lib/driftless/images/debian-12-guest.qcow2"
    static let bootTimeout: TimeInterval = 600
    static let router = "dl-tb-router"

    var world: EndToEndWorld!
    var hosts: [TestBedHost] = []
    var imageSHA = ""

    var pools: String { "dlmg-\(world.id)" }
    var poolsDirectory: String { "/var/lib/driftless/pools/\(world.id)" }
    var bridge: String { "br-g\(world.id.prefix(6))" }

    override func setUpWithError() throws {
        hosts = try ["tb1", "tb2", "tb3"].map { try TestBedHost.require($0) }
        world = try EndToEndWorld()
        let build = try sh(DriftlessBinary.repositoryRoot + "/scripts/build-guest-image.sh", Self.image)
        XCTAssertEqual(build.status, 0, "building the guest image: \(build.stderr)")
        imageSHA = try XCTUnwrap(build.stdout.split(separator: "\n").last?.split(separator: " ").last.map(String.init))
        let keygen = try sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "alice@test", "-f", "\(world.root)/alice")
        XCTAssertEqual(keygen.status, 0, keygen.stderr)
    }

    override func tearDown() {
        for host in hosts {
            host.removeTestObjects(domainPrefix: world.project + ".", pools: pools, directory: poolsDirectory, bridge: bridge)
        }
        world?.destroy()
    }

    /// Three Hosts with physnet1 on phys0 (`drained`: schedulable false), VLAN 100 on physnet1, and two
    /// guests kept apart (anti-affinity by host), alpha with the volume `data`.
    func write(drained: String? = nil) throws {
        var docs = ["""
            apiVersion: driftless.dev/v1
            kind: Project
            metadata: {name: \(world.project)}
            """, """
            apiVersion: driftless.dev/v1
            kind: User
            metadata: {name: alice}
            spec: {sshKeys: ["\(try String(contentsOfFile: world.root + "/alice.pub", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines))"], roles: [{project: \(world.project), role: admin}]}
            """, """
            apiVersion: driftless.dev/v1
            kind: Image
            metadata: {name: debian-12}
            spec: {source: {path: \(Self.image)}, sha256: \(imageSHA), format: qcow2, minDisk: 2GiB}
            """, """
            apiVersion: driftless.dev/v1
            kind: Network
            metadata: {name: provider, project: \(world.project)}
            spec: {cidr: 10.10.0.0/24, gateway: 10.10.0.1, vlan: 100, physicalNetwork: physnet1}
            """, """
            apiVersion: driftless.dev/v1
            kind: Volume
            metadata: {name: data, project: \(world.project)}
            spec: {size: 64MiB, format: raw}
            """]
        for host in hosts {
            docs.append(host.hostManifest(bridge: bridge, pools: pools, directory: poolsDirectory, extra: [
                "schedulable: \(host.name == drained ? "false" : "true")", "physicalNetworks: [{name: physnet1, interface: phys0}]",
            ]))
        }
        for (name, ip, volumes) in [("alpha", "10.10.0.21", "[data]"), ("beta", "10.10.0.22", "[]")] {
            docs.append("""
                apiVersion: driftless.dev/v1
                kind: Instance
                metadata: {name: \(name), project: \(world.project)}
                spec:
                  image: debian-12
                  vcpus: 1
                  memory: 512MiB
                  rootDisk: 3GiB
                  networks: [{network: provider, ip: \(ip)}]
                  users: [alice]
                  volumes: \(volumes)
                  placement: {group: pair, antiAffinity: host}
                """)
        }
        try (docs.joined(separator: "\n---\n") + "\n").write(toFile: world.repo + "/cloud.yaml", atomically: true, encoding: .utf8)
        try world.commit(drained.map { "drain \($0)" } ?? "two guests on VLAN 100")
    }

    func driftless(_ command: String, _ arguments: String...) throws -> CommandOutput {
        try spawn([DriftlessBinary.url.path, command, "--repo", world.repo, "--state", world.state, "--image-dir", "/var/lib/driftless/images",
                   "--pki", TestBedHost.pkiDirectory] + arguments).wait()
    }

    /// Instance name → the hosts defining it, as their libvirtds say.
    func placement() throws -> [String: [String]] {
        var result: [String: [String]] = [:]
        for host in hosts {
            let names = try sh("virsh", "-c", host.libvirtURI, "list", "--all", "--name").stdout.split(separator: "\n")
            for name in names where name.hasPrefix(world.project + ".") {
                result[String(name.dropFirst(world.project.count + 1)), default: []].append(host.name)
            }
        }
        return result
    }

    /// `ssh alice@address command` from the router namespace.
    func ssh(_ address: String, _ command: String, timeout: Int = 8) throws -> CommandOutput {
        try spawn(["ip", "netns", "exec", Self.router, "ssh", "-i", "\(world.root)/alice", "-o", "StrictHostKeyChecking=no",
                   "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=\(timeout)", "-o", "BatchMode=yes",
                   "-o", "LogLevel=ERROR", "alice@\(address)", command]).wait()
    }

    /// Waits until alice runs a command on `address` and cloud-init is done; returns how long it took.
    @discardableResult
    func waitForSSH(_ address: String) throws -> TimeInterval {
        let start = Date()
        while Date().timeIntervalSince(start) < Self.bootTimeout {
            if try ssh(address, "true", timeout: 5).status == 0 {
                // Answering SSH is not the end of the first boot: wait for cloud-init to finish too.
                // ssh's own failure (255: the guest, busy with its first boot under TCG, did not send its
                // banner in time) is tried again until the deadline; cloud-init's is a failure.
                var status = try ssh(address, "cloud-init status --wait", timeout: 15)
                while status.status == 255, Date().timeIntervalSince(start) < Self.bootTimeout {
                    Thread.sleep(forTimeInterval: 3)
                    status = try ssh(address, "cloud-init status --wait", timeout: 15)
                }
                XCTAssertEqual(status.status, 0, "cloud-init on \(address): \(status.stdout)\(status.stderr)")
                return Date().timeIntervalSince(start)
            }
            Thread.sleep(forTimeInterval: 3)
        }
        struct NoAnswer: Error, CustomStringConvertible { var description: String }
        throw NoAnswer(description: "alice@\(address) did not answer SSH within \(Int(Self.bootTimeout)) s")
    }

    func testGuestsOnTwoHostsShareAVLANAndADrainMovesOneWithItsVolume() throws {
        try write()
        let apply = try driftless("apply", "--yes")
        XCTAssertEqual(apply.status, 0, apply.stdout + apply.stderr)
        let placed = try placement()
        XCTAssertEqual(placed, ["alpha": ["tb1"], "beta": ["tb2"]], "kept apart, spread by name")
        let boot = try waitForSSH("10.10.0.21")
        try waitForSSH("10.10.0.22")
        print("multi-host guests: alpha answered SSH \(Int(boot)) s after apply")

        // One VLAN across two hosts: each guest's traffic leaves its host on phys0 and crosses the switch.
        XCTAssertEqual(try ssh("10.10.0.21", "hostname").stdout, "alpha\n")
        XCTAssertEqual(try ssh("10.10.0.21", "ping -c 2 -W 3 10.10.0.22").status, 0, "alpha on tb1 reaches beta on tb2")
        XCTAssertEqual(try ssh("10.10.0.22", "ping -c 2 -W 3 10.10.0.21").status, 0, "and back")
        XCTAssertEqual(try ssh("10.10.0.22", "ping -c 2 -W 3 10.10.0.1").status, 0, "beta reaches the VLAN's gateway")

        // A file in alpha's volume.
        let write = try ssh("10.10.0.21", """
            sudo mkfs.ext4 -q /dev/disk/by-id/virtio-data && sudo mount /dev/disk/by-id/virtio-data /mnt \
            && echo written-on-tb1 | sudo tee /mnt/proof >/dev/null && sudo umount /mnt && sync
            """, timeout: 30)
        XCTAssertEqual(write.status, 0, write.stderr)

        // Drain tb1: alpha moves, and only with --allow-move; not to tb2, where beta is.
        try self.write(drained: "tb1")
        let plan = try driftless("plan")
        XCTAssertTrue(plan.stdout.contains("-> instance alpha moves to tb3 (restarts)"), plan.stdout)
        XCTAssertTrue(plan.stdout.contains("tb1 is drained"), plan.stdout)
        let refused = try driftless("apply", "--yes")
        XCTAssertEqual(refused.status, 1, refused.stdout + refused.stderr)
        XCTAssertTrue(refused.stderr.contains("--allow-move"), refused.stderr)
        let started = Date()
        let move = try driftless("apply", "--yes", "--allow-move")
        XCTAssertEqual(move.status, 0, move.stdout + move.stderr)
        XCTAssertEqual(try placement(), ["alpha": ["tb3"], "beta": ["tb2"]], "one domain each")
        let after = try waitForSSH("10.10.0.21")
        print("multi-host guests: alpha moved to tb3 and answered SSH \(Int(Date().timeIntervalSince(started))) s after the apply began (boot \(Int(after)) s)")
        XCTAssertEqual(try ssh("10.10.0.21", "hostname").stdout, "alpha\n")
        XCTAssertEqual(try ssh("10.10.0.21", "sudo mount /dev/disk/by-id/virtio-data /mnt && cat /mnt/proof; sudo umount /mnt",
                               timeout: 30).stdout, "written-on-tb1\n", "the volume's file came along")
        XCTAssertEqual(try ssh("10.10.0.21", "ping -c 2 -W 3 10.10.0.22").status, 0, "alpha on tb3 reaches beta on tb2")
        XCTAssertEqual(try driftless("plan", "--detailed-exitcode").status, 0, "converged")
    }
}
