import DriftlessProcess
import DriftlessStore
import DriftlessTesting
import Foundation
import XCTest

/// The output of a finished command.
struct CommandOutput {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// A child process started in the background (for SIGKILL and concurrency tests), through `ChildProcess`,
/// its output in files.
struct Spawned {
    var process: ChildProcess.Background
    var outFile: String
    var errFile: String

    var pid: pid_t { process.pid ?? 0 }

    /// Whether the child has exited (and been reaped), without waiting.
    var hasExited: Bool { process.exited != nil }

    /// Waits for the child and collects its output.
    func wait() -> CommandOutput {
        let exit = process.waitBlocking()
        defer {
            try? FileManager.default.removeItem(atPath: outFile)
            try? FileManager.default.removeItem(atPath: errFile)
        }
        return CommandOutput(status: exit.status,
                             stdout: (try? String(contentsOfFile: outFile, encoding: .utf8)) ?? "",
                             stderr: (try? String(contentsOfFile: errFile, encoding: .utf8)) ?? "")
    }

    func kill(_ signal: Int32 = SIGKILL) { process.send(signal) }
}

/// Starts a command in the background, output to files, stdin from /dev/null: never pipes, which a
/// daemon the command starts would inherit and hold open (Foundation's `Process` hung on that). XCTest's
/// synchronous tests call this on the main thread, where `ChildProcess.startBlocking` may block.
func spawn(_ arguments: [String], environment: [String: String] = [:]) throws -> Spawned {
    let base = NSTemporaryDirectory() + "dl-e2e-\(UUID().uuidString)"
    let out = base + ".out", err = base + ".err"
    let process = try ChildProcess.startBlocking(arguments[0], Array(arguments.dropFirst()),
                                                 environment: environment.merging(["NO_COLOR": "1"]) { $1 },
                                                 output: .file(out), error: .file(err))
    return Spawned(process: process, outFile: out, errFile: err)
}

@discardableResult
func sh(_ arguments: String...) throws -> CommandOutput {
    try spawn(arguments).wait()
}

@discardableResult
func sh(_ arguments: [String]) throws -> CommandOutput {
    try spawn(arguments).wait()
}

/// One isolated cloud for an end-to-end test: its own project (so domain names, MACs and port ids are
/// unique), bridge, pools, image, git repository and state directory, all removed afterwards. Its one Host
/// is this machine, or a host of the test bed for a test that stops and starts that host's daemons
/// (reached over TLS and SSL with `--pki`, as MultiHostEndToEndTests reach theirs).
final class EndToEndWorld {
    static let libvirtURI = "qemu:///system"
    /// The test bed host the world's Host is, nil for this machine's libvirtd and Open vSwitch.
    let testBedHost: TestBedHost?
    /// Where virsh sees the world's domains from outside.
    var libvirtURI: String { testBedHost?.libvirtURI ?? Self.libvirtURI }
    /// ovs-vsctl on the world's Open vSwitch.
    var ovsVsctl: [String] { ["ovs-vsctl"] + (testBedHost.map { ["--db=\($0.ovsdbEndpoint)"] } ?? []) }
    let id: String
    let root: String
    let project: String
    /// A second project, for tests of what one project's users see of another's (its domains are
    /// removed with the world's).
    var otherProject: String { "other\(id)" }
    let bridge: String
    var repo: String { root + "/repo" }
    var state: String { root + "/state" }
    /// The prefix of the world's pools, `<pools>-vols` and `<pools>-imgs`.
    var pools: String { "dle2e-\(id)" }
    var volumesPool: String { pools + "-vols" }
    var imagesPool: String { pools + "-imgs" }

    init(on testBedHost: TestBedHost? = nil) throws {
        self.testBedHost = testBedHost
        id = String(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(8)).lowercased()
        root = "/var/tmp/driftless-e2e-\(id)"
        project = "p\(id)"
        bridge = "br-e\(id)"
        try FileManager.default.createDirectory(atPath: repo, withIntermediateDirectories: true)
        let image = try sh("qemu-img", "create", "-q", "-f", "qcow2", root + "/tiny.qcow2", "64M")
        guard image.status == 0 else { throw CocoaError(.fileWriteUnknown) }
        try git("init", "-q", "-b", "main")
    }

    /// Removes every domain, pool, bridge and file of this world.
    func destroy() {
        for name in domains() + domains(of: otherProject) {
            _ = try? sh("virsh", "-c", libvirtURI, "destroy", name)
            _ = try? sh("virsh", "-c", libvirtURI, "undefine", name)
        }
        for pool in [volumesPool, imagesPool] {
            _ = try? sh("virsh", "-c", libvirtURI, "pool-destroy", pool)
            _ = try? sh("virsh", "-c", libvirtURI, "pool-undefine", pool)
        }
        _ = try? sh(ovsVsctl + ["--if-exists", "del-br", bridge])
        // A test bed host keeps the pools' files inside it.
        _ = try? testBedHost?.run("rm", "-rf", poolsDirectory)
        try? FileManager.default.removeItem(atPath: root)
    }

    /// Where the pools' directories are: under the world's root here, inside a test bed host there.
    var poolsDirectory: String { testBedHost == nil ? root + "/pools" : "/var/lib/driftless/pools/\(id)" }

    // MARK: - Manifests

    struct InstanceSpec {
        var name: String
        var memory = "64MiB"
        var rootDisk = "128MiB"
        var vcpus = 1
        var volumes: [String] = []
        var userData: String?
    }

    struct VolumeSpec {
        var name: String
        var policy = "Retain"
        var format = "qcow2"
    }

    /// Writes the world's manifests: one host, the project, the image, one network, and the given volumes
    /// and instances (none: a commit that declares nothing but the host and project).
    func writeManifests(instances: [InstanceSpec], volumes: [VolumeSpec] = [], network: Bool = true, extra: [String] = []) throws {
        let host = if let testBedHost {
            testBedHost.hostManifest(bridge: bridge, pools: pools, directory: poolsDirectory)
        } else {
            """
            apiVersion: driftless.dev/v1
            kind: Host
            metadata: {name: local}
            spec:
              libvirt: \(Self.libvirtURI)
              ovsdb: unix:/var/run/openvswitch/db.sock
              bridge: \(bridge)
              datapath: netdev
              storagePool: {name: \(volumesPool), path: \(poolsDirectory)/vols}
              imagePool: {name: \(imagesPool), path: \(poolsDirectory)/imgs}
            """
        }
        var docs = [host, """
            apiVersion: driftless.dev/v1
            kind: Project
            metadata: {name: \(project)}
            """]
        if !instances.isEmpty || network {
            docs.append("""
                apiVersion: driftless.dev/v1
                kind: Image
                metadata: {name: tiny}
                spec:
                  source: {path: \(root)/tiny.qcow2}
                  sha256: 1b7af784841125887e688254229e282829e17245d0e47fe7280da9b68a30d9e1
                  format: qcow2
                """)
            docs.append("""
                apiVersion: driftless.dev/v1
                kind: Network
                metadata: {name: net, project: \(project)}
                spec: {cidr: 10.77.0.0/24, vlan: 77}
                """)
        }
        for volume in volumes {
            docs.append("""
                apiVersion: driftless.dev/v1
                kind: Volume
                metadata: {name: \(volume.name), project: \(project)}
                spec: {size: 64MiB, format: \(volume.format), deletionPolicy: \(volume.policy)}
                """)
        }
        for instance in instances {
            var doc = """
                apiVersion: driftless.dev/v1
                kind: Instance
                metadata: {name: \(instance.name), project: \(project)}
                spec:
                  image: tiny
                  vcpus: \(instance.vcpus)
                  memory: \(instance.memory)
                  rootDisk: \(instance.rootDisk)
                  networks: [{network: net}]
                  volumes: [\(instance.volumes.joined(separator: ", "))]
                """
            if let userData = instance.userData {
                doc += "\n  userData: |\n" + userData.split(separator: "\n").map { "    \($0)" }.joined(separator: "\n")
            }
            docs.append(doc)
        }
        docs += extra
        try (docs.joined(separator: "\n---\n") + "\n").write(toFile: repo + "/cloud.yaml", atomically: true, encoding: .utf8)
    }

    @discardableResult
    func commit(_ message: String) throws -> String {
        try git("add", "-A")
        try git("commit", "-q", "--allow-empty", "-m", message)
        return try git("rev-parse", "HEAD")
    }

    @discardableResult
    func git(_ arguments: String...) throws -> String {
        let output = try spawn(["git", "-C", repo, "-c", "user.name=Test", "-c", "user.email=t@example.com"] + arguments).wait()
        guard output.status == 0 else { throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: output.stderr]) }
        return output.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    // MARK: - Driftless

    /// Runs `driftless <command> --repo <repo> --state <state> …`.
    func driftless(_ command: String, _ arguments: String...) throws -> CommandOutput {
        try start(command, arguments).wait()
    }

    func start(_ command: String, _ arguments: [String], environment: [String: String] = [:]) throws -> Spawned {
        if command == "token" { return try spawn([DriftlessBinary.url.path, command] + arguments + ["--state", state], environment: environment) }
        var all = [DriftlessBinary.url.path, command]
        // The world's image is root/tiny.qcow2: the operator (the test) allows root, which also holds the
        // state directory, whose files stay refused.
        if !["status", "history"].contains(command) { all += ["--repo", repo, "--image-dir", root] }
        // The operator's certificates for a test bed host, to the commands that reach hosts.
        if testBedHost != nil, ["plan", "apply", "drift", "serve"].contains(command) { all += ["--pki", TestBedHost.pkiDirectory] }
        return try spawn(all + ["--state", state] + arguments, environment: environment)
    }

    /// The journal's `started` entries of all runs, read the way `driftless history` reads them.
    func startedSteps() -> Int {
        guard FileManager.default.fileExists(atPath: state + "/driftless.sqlite"),
              let store = try? Store(stateDirectory: state),
              let runs = try? store.history(limit: 100)
        else { return 0 }
        return runs.reduce(0) { count, run in
            count + ((try? store.journalEntries(run: run.id))?.filter { $0.phase == "started" }.count ?? 0)
        }
    }

    // MARK: - Seen from outside

    func domains() -> [String] {
        domains(of: project)
    }

    func domains(of project: String) -> [String] {
        let output = (try? sh("virsh", "-c", libvirtURI, "list", "--all", "--name"))?.stdout ?? ""
        return output.split(separator: "\n").map(String.init).filter { $0.hasPrefix(project + ".") }.sorted()
    }

    func domainState(_ name: String) -> String {
        ((try? sh("virsh", "-c", libvirtURI, "domstate", "\(project).\(name)"))?.stdout ?? "")
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func domainUUID(_ name: String) -> String {
        ((try? sh("virsh", "-c", libvirtURI, "domuuid", "\(project).\(name)"))?.stdout ?? "")
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `Max memory` of the persistent definition, in KiB.
    func maxMemoryKiB(_ name: String) -> Int? {
        let xml = (try? sh("virsh", "-c", libvirtURI, "dumpxml", "--inactive", "\(project).\(name)"))?.stdout ?? ""
        guard let range = xml.range(of: #"<memory unit='KiB'>(\d+)</memory>"#, options: .regularExpression) else { return nil }
        return Int(String(xml[range].filter(\.isNumber)))
    }

    func volumes(in pool: String) -> [String] {
        let output = (try? sh("virsh", "-c", libvirtURI, "vol-list", "--pool", pool))?.stdout ?? ""
        return output.split(separator: "\n").dropFirst(2).compactMap { $0.split(separator: " ").first.map(String.init) }.sorted()
    }

    /// The bridge's ports with their VLAN tag and iface-id.
    func ports() -> [(name: String, tag: String, ifaceID: String)] {
        let names = ((try? sh(ovsVsctl + ["list-ports", bridge]))?.stdout ?? "").split(separator: "\n").map(String.init)
        return names.map { name in
            let tag = ((try? sh(ovsVsctl + ["get", "Port", name, "tag"]))?.stdout ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            let iface = ((try? sh(ovsVsctl + ["--if-exists", "get", "Interface", name, "external_ids:iface-id"]))?.stdout ?? "")
                .trimmingCharacters(in: CharacterSet(charactersIn: "\"\n "))
            return (name, tag, iface)
        }
    }
}
