import Foundation
import XCTest

/// From a commit to SSH, with real guests: the Debian image of `scripts/build-guest-image.sh` booted by a
/// real libvirtd under QEMU (TCG), on a real Open vSwitch bridge (netdev), reached from a network namespace
/// playing physnet1's router (`scripts/physnet.sh`), the way an operator reaches a provider network.
///
/// Guests boot in about a minute each under TCG, so one cloud of three guests is shared by the whole
/// story below, in order, instead of a cloud per case:
/// - alpha (front + back, alice and carol listed, the data volume), beta (front, bob), gamma (back only);
/// - accounts, keys, sudo, a disabled user; the volume's size; who reaches whom on which VLAN;
/// - a memory change at next boot and a seed change (bob removed from beta), then `power: stopped`
///   (an ACPI shutdown) and back to running, after which the guests show both.
final class GuestEndToEndTests: XCTestCase {
    static let image = "/var/lib/driftless/images/debian-12-guest.qcow2"
    static let bootTimeout: TimeInterval = 600

    var id = ""
    var root = ""
    var project: String { "g\(id)" }
    var bridge: String { "br-g\(id)" }
    var physInterface: String { "gp\(id.prefix(6))" }
    var router: String { "dlg-\(id)" }
    var repo: String { root + "/repo" }
    var state: String { root + "/state" }
    var imageSHA = ""

    override func setUp() async throws {
        id = String(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(8)).lowercased()
        root = "/var/tmp/driftless-guests-\(id)"
        try FileManager.default.createDirectory(atPath: repo, withIntermediateDirectories: true)
        let build = try sh(DriftlessBinary.repositoryRoot + "/scripts/build-guest-image.sh", Self.image)
        XCTAssertEqual(build.status, 0, "building the guest image: \(build.stderr)")
        imageSHA = try XCTUnwrap(build.stdout.split(separator: "\n").last?.split(separator: " ").last.map(String.init))
        let physnet = try sh(DriftlessBinary.repositoryRoot + "/scripts/physnet.sh", "up", physInterface, router,
                             "110=10.110.0.1/24")
        XCTAssertEqual(physnet.status, 0, physnet.stderr)
        for user in ["alice", "bob", "carol"] {
            let keygen = try sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "\(user)@test", "-f", "\(root)/\(user)")
            XCTAssertEqual(keygen.status, 0, keygen.stderr)
        }
        _ = try git("init", "-q", "-b", "main")
    }

    override func tearDown() async throws {
        for name in domains() {
            _ = try? sh("virsh", "-c", "qemu:///system", "destroy", name)
            _ = try? sh("virsh", "-c", "qemu:///system", "undefine", name)
        }
        for pool in ["dlg-\(id)-vols", "dlg-\(id)-imgs"] {
            _ = try? sh("virsh", "-c", "qemu:///system", "pool-destroy", pool)
            _ = try? sh("virsh", "-c", "qemu:///system", "pool-undefine", pool)
        }
        _ = try? sh("ovs-vsctl", "--if-exists", "del-br", bridge)
        _ = try? sh(DriftlessBinary.repositoryRoot + "/scripts/physnet.sh", "down", physInterface, router)
        try? FileManager.default.removeItem(atPath: root)
    }

    // MARK: - The cloud

    struct Guest {
        var name: String
        var memory = "512MiB"
        var networks: [(network: String, ip: String)]
        var users: [String]
        var volumes: [String] = []
        var power = "running"
    }

    func key(_ user: String) throws -> String {
        try String(contentsOfFile: "\(root)/\(user).pub", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func writeManifests(_ guests: [Guest], physicalNetwork: String = "physnet1", interface: String? = nil) throws {
        var docs = ["""
            apiVersion: driftless.dev/v1
            kind: Host
            metadata: {name: local}
            spec:
              libvirt: qemu:///system
              bridge: \(bridge)
              datapath: netdev
              virtualization: qemu
              physicalNetworks: [{name: physnet1, interface: \(interface ?? physInterface)}]
              storagePool: {name: dlg-\(id)-vols, path: \(root)/vols}
              imagePool: {name: dlg-\(id)-imgs, path: \(root)/imgs}
            """, """
            apiVersion: driftless.dev/v1
            kind: Project
            metadata: {name: \(project)}
            """, """
            apiVersion: driftless.dev/v1
            kind: User
            metadata: {name: alice}
            spec: {sshKeys: ["\(try key("alice"))"], roles: [{project: \(project), role: admin}]}
            """, """
            apiVersion: driftless.dev/v1
            kind: User
            metadata: {name: bob}
            spec: {sshKeys: ["\(try key("bob"))"], roles: [{project: \(project), role: member}]}
            """, """
            apiVersion: driftless.dev/v1
            kind: User
            metadata: {name: carol}
            spec: {enabled: false, sshKeys: ["\(try key("carol"))"], roles: [{project: \(project), role: admin}]}
            """, """
            apiVersion: driftless.dev/v1
            kind: Image
            metadata: {name: debian-12}
            spec: {source: {path: \(Self.image)}, sha256: \(imageSHA), format: qcow2, minDisk: 2GiB}
            """, """
            apiVersion: driftless.dev/v1
            kind: Network
            metadata: {name: front, project: \(project)}
            spec: {cidr: 10.110.0.0/24, gateway: 10.110.0.1, vlan: 110, physicalNetwork: \(physicalNetwork)}
            """, """
            apiVersion: driftless.dev/v1
            kind: Network
            metadata: {name: back, project: \(project)}
            spec: {cidr: 10.120.0.0/24, vlan: 120}
            """, """
            apiVersion: driftless.dev/v1
            kind: Volume
            metadata: {name: data, project: \(project)}
            spec: {size: 1GiB}
            """]
        for guest in guests {
            let networks = guest.networks.map { "{network: \($0.network), ip: \($0.ip)}" }.joined(separator: ", ")
            docs.append("""
                apiVersion: driftless.dev/v1
                kind: Instance
                metadata: {name: \(guest.name), project: \(project)}
                spec:
                  image: debian-12
                  vcpus: 1
                  memory: \(guest.memory)
                  rootDisk: 3GiB
                  networks: [\(networks)]
                  users: [\(guest.users.joined(separator: ", "))]
                  volumes: [\(guest.volumes.joined(separator: ", "))]
                  power: \(guest.power)
                """)
        }
        try (docs.joined(separator: "\n---\n") + "\n").write(toFile: repo + "/cloud.yaml", atomically: true, encoding: .utf8)
        _ = try git("add", "-A")
        _ = try git("commit", "-q", "--allow-empty", "-m", "guests")
    }

    static let story = [
        Guest(name: "alpha", networks: [("front", "10.110.0.11"), ("back", "10.120.0.11")], users: ["alice", "carol"], volumes: ["data"]),
        Guest(name: "beta", networks: [("front", "10.110.0.12")], users: ["bob"]),
        Guest(name: "gamma", networks: [("back", "10.120.0.13")], users: ["alice"]),
    ]

    // MARK: - Tools

    @discardableResult
    func git(_ arguments: String...) throws -> String {
        let output = try spawn(["git", "-C", repo, "-c", "user.name=Test", "-c", "user.email=t@example.com"] + arguments).wait()
        guard output.status == 0 else { throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: output.stderr]) }
        return output.stdout
    }

    func driftless(_ command: String, _ arguments: String...) throws -> CommandOutput {
        try spawn([DriftlessBinary.url.path, command, "--repo", repo, "--state", state, "--image-dir", "/var/lib/driftless/images"]
            + arguments).wait()
    }

    /// `ssh user@address command` from the router namespace; status 0 when the command ran and succeeded.
    func ssh(_ user: String, _ address: String, _ command: String, timeout: Int = 8) throws -> CommandOutput {
        try spawn(["ip", "netns", "exec", router, "ssh", "-i", "\(root)/\(user)", "-o", "StrictHostKeyChecking=no",
                   "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=\(timeout)", "-o", "BatchMode=yes",
                   "-o", "LogLevel=ERROR", "\(user)@\(address)", command]).wait()
    }

    /// Waits until `user` can run a command on `address`; returns how long it took.
    @discardableResult
    func waitForSSH(_ user: String, _ address: String) throws -> TimeInterval {
        let start = Date()
        while Date().timeIntervalSince(start) < Self.bootTimeout {
            if try ssh(user, address, "true", timeout: 5).status == 0 {
                // Answering SSH is not the end of the first boot: wait for cloud-init to finish too.
                // ssh's own failure (255: the guest, busy with its first boot under TCG, did not send its
                // banner in time) is tried again until the deadline; cloud-init's is a failure.
                var status = try ssh(user, address, "cloud-init status --wait", timeout: 15)
                while status.status == 255, Date().timeIntervalSince(start) < Self.bootTimeout {
                    Thread.sleep(forTimeInterval: 3)
                    status = try ssh(user, address, "cloud-init status --wait", timeout: 15)
                }
                XCTAssertEqual(status.status, 0, "cloud-init on \(address): \(status.stdout)\(status.stderr)")
                return Date().timeIntervalSince(start)
            }
            Thread.sleep(forTimeInterval: 3)
        }
        struct NoAnswer: Error, CustomStringConvertible { var description: String }
        throw NoAnswer(description: "\(user)@\(address) did not answer SSH within \(Int(Self.bootTimeout)) s")
    }

    func domains() -> [String] {
        ((try? sh("virsh", "-c", "qemu:///system", "list", "--all", "--name").stdout) ?? "")
            .split(separator: "\n").map(String.init).filter { $0.hasPrefix(project + ".") }
    }

    func inRouter(_ arguments: String...) throws -> CommandOutput {
        try spawn(["ip", "netns", "exec", router] + arguments).wait()
    }

    // MARK: - The story

    func testFromACommitToSSHAndThroughANextBoot() throws {
        try writeManifests(Self.story)
        let plan = try driftless("plan")
        XCTAssertEqual(plan.status, 0, plan.stderr)
        XCTAssertTrue(plan.stdout.contains("networks: front (vlan 110, 10.110.0.11, offloads off), back (vlan 120, 10.120.0.11, offloads off)"), plan.stdout)
        XCTAssertTrue(plan.stdout.contains("users: alice (sudo, 1 key)\n"), "carol is disabled: no account\n\(plan.stdout)")
        XCTAssertTrue(plan.stdout.contains("physicalNetworks.physnet1: \(physInterface) trunk 110"), plan.stdout)

        let apply = try driftless("apply", "--yes")
        XCTAssertEqual(apply.status, 0, apply.stdout + apply.stderr)
        XCTAssertEqual(try sh("ovs-vsctl", "get", "Port", physInterface, "trunks").stdout.trimmingCharacters(in: .whitespacesAndNewlines), "[110]")
        let firstBoot = try waitForSSH("alice", "10.110.0.11")
        try waitForSSH("bob", "10.110.0.12")
        print("guests: alice@alpha answered SSH \(Int(firstBoot)) s after apply")

        // Hostname, accounts, keys and sudo.
        XCTAssertEqual(try ssh("alice", "10.110.0.11", "hostname").stdout, "alpha\n")
        XCTAssertEqual(try ssh("bob", "10.110.0.12", "hostname").stdout, "beta\n")
        let sudo = try ssh("alice", "10.110.0.11", "sudo -n id -u")
        XCTAssertEqual(sudo.stdout, "0\n", "alice is an admin of the project: \(sudo.status) \(sudo.stderr)")
        XCTAssertNotEqual(try ssh("bob", "10.110.0.12", "sudo -n true").status, 0, "bob is a member: no sudo")
        XCTAssertNotEqual(try ssh("bob", "10.110.0.11", "true").status, 0, "bob is not listed on alpha")
        XCTAssertNotEqual(try ssh("carol", "10.110.0.11", "true").status, 0, "carol is disabled: no account")
        XCTAssertEqual(try ssh("alice", "10.110.0.11", "getent passwd carol >/dev/null || echo none").stdout, "none\n")

        // The volume: a disk of the declared size, found by its serial; a file written there.
        XCTAssertEqual(try ssh("alice", "10.110.0.11", "lsblk -bdno SIZE /dev/disk/by-id/virtio-data").stdout
            .trimmingCharacters(in: .whitespacesAndNewlines), "1073741824")
        let write = try ssh("alice", "10.110.0.11", """
            sudo mkfs.ext4 -q /dev/disk/by-id/virtio-data && sudo mount /dev/disk/by-id/virtio-data /mnt \
            && echo kept-across-boots | sudo tee /mnt/proof >/dev/null && sudo umount /mnt
            """, timeout: 30)
        XCTAssertEqual(write.status, 0, write.stderr)

        // Who reaches whom: alpha and beta share front, alpha and gamma share back (gamma is up); from
        // VLAN 110 nothing reaches VLAN 120, even with an address of its subnet.
        XCTAssertEqual(try ssh("alice", "10.110.0.11", "ping -c 2 -W 3 10.110.0.12").status, 0, "alpha reaches beta on front")
        XCTAssertEqual(try ssh("alice", "10.110.0.11", "ping -c 2 -W 3 10.120.0.13").status, 0, "alpha reaches gamma on back")
        XCTAssertEqual(try inRouter("ping", "-c", "2", "-W", "3", "10.110.0.12").status, 0, "the router reaches beta on front")
        XCTAssertEqual(try inRouter("ip", "address", "add", "10.120.0.254/24", "dev", "vlan110").status, 0)
        XCTAssertNotEqual(try inRouter("ping", "-c", "2", "-W", "2", "10.120.0.13").status, 0,
                          "gamma is on VLAN 120, which is not on physnet1 and not on VLAN 110")
        _ = try inRouter("ip", "address", "del", "10.120.0.254/24", "dev", "vlan110")

        // A memory change at next boot, and a seed change: bob leaves beta, alice joins it.
        var next = Self.story
        next[0].memory = "640MiB"
        next[1].users = ["alice"]
        try writeManifests(next)
        let nextPlan = try driftless("plan")
        XCTAssertTrue(nextPlan.stdout.contains("memory: 512MiB → 640MiB (at next boot)"), nextPlan.stdout)
        XCTAssertTrue(nextPlan.stdout.contains("users: bob (1 key) → alice (sudo, 1 key) (at next boot)"), nextPlan.stdout)
        XCTAssertEqual(try driftless("apply", "--yes").status, 0)
        XCTAssertEqual(try ssh("bob", "10.110.0.12", "true").status, 0, "until beta reboots, bob's account is as it was")

        // power: stopped asks the guests to shut down (ACPI); they do, nothing is forced.
        next[0].power = "stopped"
        next[1].power = "stopped"
        try writeManifests(next)
        let stop = try driftless("apply", "--yes")
        XCTAssertEqual(stop.status, 0, stop.stderr)
        XCTAssertEqual(stop.stderr.components(separatedBy: "ACPI shutdown in").count - 1, 2, stop.stderr)
        XCTAssertFalse(stop.stderr.contains("forced off"), stop.stderr)
        XCTAssertEqual(try sh("virsh", "-c", "qemu:///system", "domstate", "\(project).alpha").stdout.trimmingCharacters(in: .whitespacesAndNewlines), "shut off")

        // Back to running: the next boot has the memory and the new seed; the volume kept its file.
        next[0].power = "running"
        next[1].power = "running"
        try writeManifests(next)
        XCTAssertEqual(try driftless("apply", "--yes").status, 0)
        try waitForSSH("alice", "10.110.0.11")
        try waitForSSH("alice", "10.110.0.12")
        let memTotal = try ssh("alice", "10.110.0.11", "awk '/MemTotal/ {print $2}' /proc/meminfo").stdout
        let kib = try XCTUnwrap(Int(memTotal.trimmingCharacters(in: .whitespacesAndNewlines)), memTotal)
        XCTAssertGreaterThan(kib, 560_000, "640MiB at this boot (512MiB showed about 480,000 kB)")
        XCTAssertEqual(try ssh("alice", "10.110.0.11", """
            sudo mount /dev/disk/by-id/virtio-data /mnt && cat /mnt/proof; sudo umount /mnt
            """, timeout: 30).stdout, "kept-across-boots\n")
        XCTAssertEqual(try ssh("alice", "10.110.0.12", "hostname").stdout, "beta\n", "alice is on beta now")
        XCTAssertNotEqual(try ssh("bob", "10.110.0.12", "true").status, 0, "bob was removed from beta: locked out at its next boot")
        XCTAssertEqual(try driftless("plan", "--detailed-exitcode").status, 0, "converged")

        // Someone unplugs the trunk: drift names it, healing plugs it back and the guests answer again.
        XCTAssertEqual(try sh("ovs-vsctl", "del-port", bridge, physInterface).status, 0)
        let drift = try driftless("drift", "--detailed-exitcode")
        XCTAssertEqual(drift.status, 2, drift.stdout + drift.stderr)
        XCTAssertTrue(drift.stdout.contains("physicalNetworks.physnet1"), drift.stdout)
        XCTAssertEqual(try driftless("drift", "--heal").status, 0)
        XCTAssertEqual(try sh("ovs-vsctl", "get", "Port", physInterface, "trunks").stdout.trimmingCharacters(in: .whitespacesAndNewlines), "[110]")
        XCTAssertEqual(try ssh("alice", "10.110.0.11", "hostname").stdout, "alpha\n")
    }

    /// A Network on a physical network the host does not map (refused by validation, at the line), or a
    /// mapped interface that does not exist on the host (a plan error naming it): nothing changes.
    func testPhysicalNetworkMistakesChangeNothing() throws {
        let guests = [Guest(name: "solo", networks: [("front", "10.110.0.21")], users: ["alice"])]
        try writeManifests(guests, physicalNetwork: "physnet9")
        let unmapped = try driftless("plan")
        XCTAssertNotEqual(unmapped.status, 0)
        XCTAssertTrue(unmapped.stderr.contains("cloud.yaml:40:"), unmapped.stderr)
        XCTAssertTrue(unmapped.stderr.contains("no host maps physical network physnet9 (mapped: physnet1)"), unmapped.stderr)

        try writeManifests(guests, interface: "nosuch\(id.prefix(4))")
        let missing = try driftless("apply", "--yes")
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue((missing.stdout + missing.stderr).contains("interface nosuch\(id.prefix(4)) of physical network physnet1 does not exist on host local"),
                      missing.stdout + missing.stderr)
        XCTAssertEqual(domains(), [], "no domain was made")
        let ports = try sh("ovs-vsctl", "--if-exists", "list-ports", bridge).stdout
        XCTAssertEqual(ports, "", "no port was plugged")
    }
}
