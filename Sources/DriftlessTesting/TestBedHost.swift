import DriftlessProcess
import Foundation

/// A host of the test bed `scripts/testbed.sh up N` makes on this machine: its own libvirtd, virtlogd,
/// ovsdb-server and ovs-vswitchd in a network and mount namespace of its own. Tests that stop and start a
/// daemon use one of these instead of the machine's daemons, which other tests use at the same time.
public struct TestBedHost: Sendable {
    /// Where the test bed keeps its files.
    public static let root = "/var/lib/driftless-testbed"

    /// `tb1`, `tb2`, …
    public let name: String

    /// The host's management address (`10.77.0.(10+K)`), where libvirt listens for TLS (16514), OVSDB for
    /// SSL (6640) and TCP (6641), and sshd on 22.
    public var address: String { "10.77.0.\(10 + (Int(name.dropFirst(2)) ?? 0))" }
    /// The host's address on the tunnel network (`10.78.0.(10+K)` on its br-tun): its OVN encap IP.
    public var tunnelAddress: String { "10.78.0.\(10 + (Int(name.dropFirst(2)) ?? 0))" }
    /// OVN's central databases, in the root namespace: as the hosts reach them, and as the controller does.
    public static let ovnSouthbound = "tcp:10.77.0.1:6642"
    public static let ovnNorthbound = "tcp:10.77.0.1:6641"
    /// The controller's CA and client certificate, in libvirt's pkipath layout.
    public static var pkiDirectory: String { root + "/pki" }
    /// The controller's SSH key, authorised as root on every host.
    public static var sshKey: String { root + "/ssh/id_ed25519" }
    /// The hosts' SSH keys.
    public static var sshKnownHosts: String { root + "/ssh/known_hosts" }

    /// libvirtd's socket, as the root namespace sees it.
    public var libvirtSocket: String { "\(Self.root)/\(name)/run-libvirt/libvirt-sock" }
    /// A libvirt URI for the host through its socket.
    public var libvirtURI: String { "qemu+unix:///system?socket=\(libvirtSocket)" }
    /// ovsdb-server's socket, as the root namespace sees it.
    public var ovsdbSocket: String { "\(Self.root)/\(name)/run-openvswitch/db.sock" }
    /// An OVSDB endpoint for the host through its socket.
    public var ovsdbEndpoint: String { "unix:\(ovsdbSocket)" }

    /// The host is not up: a failure naming the fix, never a skip.
    public struct NotUp: Error, CustomStringConvertible {
        public var host: String
        public var description: String {
            "test bed host \(host) is not up: run scripts/testbed.sh up 2 (as root; scripts/test.sh does)"
        }
    }

    /// A daemon could not be stopped or started.
    public struct ScriptFailed: Error, CustomStringConvertible {
        public var description: String
    }

    /// The host `name`, checked up (its libvirtd and ovsdb-server sockets exist).
    public static func require(_ name: String = "tb1") throws -> TestBedHost {
        let host = TestBedHost(name: name)
        guard FileManager.default.fileExists(atPath: host.libvirtSocket), FileManager.default.fileExists(atPath: host.ovsdbSocket)
        else { throw NotUp(host: name) }
        return host
    }

    /// Stops `daemon` (libvirtd, virtlogd, ovsdb-server, ovs-vswitchd, sshd) on this host.
    public func stop(_ daemon: String) throws {
        try Self.script(["stop", name, daemon])
    }

    /// Starts `daemon` on this host and waits until it answers.
    public func start(_ daemon: String) throws {
        try Self.script(["start", name, daemon])
    }

    /// Runs `command` inside the host (its network and mount namespaces) and returns its output.
    @discardableResult
    public func run(_ command: String...) throws -> String {
        let output = try ChildProcess.runBlocking("/bin/bash", [Self.scriptPath, "exec", name] + command)
        guard output.succeeded else {
            throw ScriptFailed(description: "\(command.joined(separator: " ")) on \(name) failed (\(output.status)): \(output.stderr)")
        }
        return output.stdout
    }

    static var scriptPath: String {
        URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/testbed.sh").path
    }

    static func script(_ arguments: [String]) throws {
        let output = try ChildProcess.runBlocking("/bin/bash", [scriptPath] + arguments)
        guard output.succeeded else {
            throw ScriptFailed(description: "testbed.sh \(arguments.joined(separator: " ")) failed (\(output.status)): \(output.stderr)")
        }
    }

    // MARK: - What a test makes on the host

    /// The Host manifest of a test that drives this host the way a controller drives a remote one:
    /// libvirt over TLS and OVSDB over SSL (with `--pki pkiDirectory`), QEMU under TCG, the userspace
    /// datapath, and the test's own pools `<pools>-vols` and `<pools>-imgs` in `directory` inside the
    /// host; `labels` and `extra` spec lines (`schedulable: false`, capacity…) as the test needs.
    public func hostManifest(bridge: String, pools: String, directory: String, labels: [String: String] = [:],
                             extra: [String] = []) -> String {
        let labelText = labels.isEmpty ? "" : ", labels: {" + labels.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }
            .joined(separator: ", ") + "}"
        return """
            apiVersion: driftless.dev/v1
            kind: Host
            metadata: {name: \(name)\(labelText)}
            spec:
              libvirt: qemu+tls://\(address)/system
              ovsdb: ssl:\(address):6640
              bridge: \(bridge)
              datapath: netdev
              virtualization: qemu
              storagePool: {name: \(pools)-vols, path: \(directory)/vols}
              imagePool: {name: \(pools)-imgs, path: \(directory)/imgs}
            """ + extra.map { "\n  " + $0 }.joined()
    }

    /// Removes what a test made here with `hostManifest`: the domains whose names start with
    /// `domainPrefix`, the pools `<pools>-vols` and `<pools>-imgs` with their volumes, their directory
    /// inside the host, and the bridge. Best effort: what is already gone is skipped.
    public func removeTestObjects(domainPrefix: String, pools: String, directory: String, bridge: String) {
        func virsh(_ arguments: String...) -> String {
            (try? ChildProcess.runBlocking("virsh", ["-c", libvirtURI] + arguments))?.stdout ?? ""
        }
        for domain in virsh("list", "--all", "--name").split(separator: "\n") where domain.hasPrefix(domainPrefix) {
            _ = virsh("destroy", String(domain))
            _ = virsh("undefine", String(domain), "--remove-all-storage")
        }
        for pool in [pools + "-vols", pools + "-imgs"] {
            for volume in virsh("vol-list", pool, "--name").split(separator: "\n") {
                _ = virsh("vol-delete", String(volume), "--pool", pool)
            }
            _ = virsh("pool-destroy", pool)
            _ = virsh("pool-undefine", pool)
        }
        _ = try? run("rm", "-rf", directory)
        _ = try? ChildProcess.runBlocking("ovs-vsctl", ["--db=\(ovsdbEndpoint)", "--if-exists", "del-br", bridge])
    }
}
