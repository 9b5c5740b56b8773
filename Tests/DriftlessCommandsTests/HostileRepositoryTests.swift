import Foundation
import XCTest

/// One hostile repository change and what `driftless validate` and `driftless plan` must say about it.
struct HostileCase {
    var name: String
    /// The hostile files, by path in the repository, beside the world's valid `cloud.yaml`.
    var files: [String: Data]
    /// `file:line:column` of the error, as printed (control characters escaped).
    var location: String
    /// Text the error must contain.
    var message: String
    /// Text that must appear nowhere in the output (secrets, raw control characters, forged lines).
    var absent: [String] = []

    init(_ name: String, file: String = "hostile.yaml", _ content: String, at location: String, _ message: String,
         absent: [String] = []) {
        self.name = name
        files = [file: Data(content.utf8)]
        self.location = location
        self.message = message
        self.absent = absent
    }
}

/// The hostile-input corpus (issue 10): every case is a commit a hostile contributor could push. Each must
/// make both `validate` and `plan` exit 1 with a `file:line:column` error, quickly, without changing any
/// host (domains, pools, bridges seen from outside) and without running anything (no marker file).
final class HostileRepositoryTests: XCTestCase {
    var world: EndToEndWorld!

    override func setUpWithError() throws {
        for socket in ["/var/run/libvirt/libvirt-sock", "/var/run/openvswitch/db.sock"] where !FileManager.default.fileExists(atPath: socket) {
            XCTFail("\(socket) is absent: start the daemons with scripts/start-libvirt.sh and scripts/start-ovs.sh")
            throw XCTSkip("daemons missing")
        }
        world = try EndToEndWorld()
    }

    override func tearDown() {
        world?.destroy()
    }

    /// What is on the hosts, seen with virsh and ovs-vsctl.
    func hostSnapshot() -> String {
        let parts = [["virsh", "-c", EndToEndWorld.libvirtURI, "list", "--all", "--name"],
                     ["virsh", "-c", EndToEndWorld.libvirtURI, "pool-list", "--all", "--name"],
                     ["ovs-vsctl", "list-br"]]
        return parts.map { ((try? spawn($0).wait())?.stdout ?? "?").split(separator: "\n").sorted().joined(separator: ",") }
            .joined(separator: " | ")
    }

    static func host(_ field: String) -> String {
        """
        apiVersion: driftless.dev/v1
        kind: Host
        metadata: {name: evil}
        spec:
          \(field)
        """
    }

    static func image(_ source: String) -> String {
        """
        apiVersion: driftless.dev/v1
        kind: Image
        metadata:
          name: evil
        spec:
          source:
            \(source)
          sha256: 1b7af784841125887e688254229e282829e17245d0e47fe7280da9b68a30d9e1
          format: qcow2
        """
    }

    static func user(_ spec: String) -> String {
        """
        apiVersion: driftless.dev/v1
        kind: User
        metadata: {name: mallory}
        spec:
          \(spec)
        """
    }

    func cases(marker: String, script: String) -> [HostileCase] {
        let shadow = "/etc/shadow"
        var cases: [HostileCase] = [
            // Programs run through libvirt URIs.
            .init("qemu+ext command", Self.host("libvirt: \"qemu+ext:///system?command=\(script)\""), at: "hostile.yaml:5:12",
                  "the libvirt transport \"ext\" runs a program on the controller"),
            .init("test+ext command", Self.host("libvirt: \"test+ext:///default?command=\(script)\""), at: "hostile.yaml:5:12",
                  "the libvirt transport \"ext\" runs a program on the controller"),
            .init("ssh command=", Self.host("libvirt: \"qemu+ssh://h/system?command=\(script)\""), at: "hostile.yaml:5:12",
                  "command= runs a program"),
            .init("ssh command= with no_verify", Self.host("libvirt: \"qemu+ssh://h/system?command=\(script)&no_verify=1\""),
                  at: "hostile.yaml:5:12", "command= runs a program"),
            .init("ssh netcat=", Self.host("libvirt: \"qemu+ssh://h/system?netcat=\(script)\""), at: "hostile.yaml:5:12",
                  "netcat= runs a program"),
            .init("ssh no_verify", Self.host("libvirt: \"qemu+ssh://h/system?no_verify=1\""), at: "hostile.yaml:5:12",
                  "no_verify= weakens host verification"),
            .init("keyfile from the repository", Self.host("libvirt: \"qemu+ssh://root@h/system?keyfile=/root/.ssh/id_rsa\""),
                  at: "hostile.yaml:5:12", "keyfile= names a file of the controller"),
            .init("pkipath from the repository", Self.host("libvirt: \"qemu+tls://h/system?pkipath=/tmp/pki\""),
                  at: "hostile.yaml:5:12", "pkipath= names a file of the controller"),
            .init("socket= outside unix", Self.host("libvirt: \"qemu+tcp://h/system?socket=/run/x\""), at: "hostile.yaml:5:12",
                  "socket= is only allowed with qemu+unix"),
            .init("percent-encoded command", Self.host("libvirt: \"qemu+ssh://h/system?%63ommand=\(script)\""),
                  at: "hostile.yaml:5:12", "contains the character '%'"),
            .init("semicolon-separated command", Self.host("libvirt: \"qemu+ssh://h/system?a=1;command=\(script)\""),
                  at: "hostile.yaml:5:12", "contains the character ';'"),
            .init("ssh option as host", Self.host("libvirt: \"qemu+ssh://-oProxyCommand=\(script)/system\""),
                  at: "hostile.yaml:5:12", "a remote libvirt URI needs a host name or address"),
            .init("test driver reading a file", Self.host("libvirt: \"test:///etc/shadow\""), at: "hostile.yaml:5:12",
                  "the libvirt URI path \"/etc/shadow\" is not allowed"),
            .init("embedded qemu driver", Self.host("libvirt: \"qemu:///embed?root=/tmp/evil\""), at: "hostile.yaml:5:12",
                  "the libvirt URI path \"/embed\" is not allowed"),
            .init("another libvirt driver", Self.host("libvirt: \"lxc:///system\""), at: "hostile.yaml:5:12",
                  "the libvirt driver \"lxc\" is not allowed"),
            .init("libssh transport", Self.host("libvirt: \"qemu+libssh://h/system?known_hosts_verify=ignore\""),
                  at: "hostile.yaml:5:12", "the libvirt transport \"libssh\" is not allowed"),
            .init("password in a libvirt URI", Self.host("libvirt: \"qemu+tcp://alice:s3cret-pw@h/system\""),
                  at: "hostile.yaml:5:12", "the user name in a libvirt URI", absent: ["s3cret-pw"]),
            .init("OVSDB passive endpoint", Self.host("ovsdb: \"ptcp:6640\""), at: "hostile.yaml:5:10",
                  "is a passive (listening) endpoint"),
            .init("OVSDB unix path with ..", Self.host("ovsdb: \"unix:/var/run/../../etc/x.sock\""), at: "hostile.yaml:5:10",
                  "is not normalised"),
            .init("OVSDB endpoint with an escape", Self.host("ovsdb: \"tcp:h\\e[2J:6640\""), at: "hostile.yaml:5:10",
                  "a control character (U+001B)", absent: ["\u{1B}"]),
            .init("OVSDB unknown scheme", Self.host("ovsdb: \"http://169.254.169.254/\""), at: "hostile.yaml:5:10",
                  "is not an OVSDB endpoint"),

            // Files of the controller read as images.
            .init("image from /etc/shadow", Self.image("path: \(shadow)"), at: "hostile.yaml:7:11",
                  "image path /etc/shadow is outside the allowed image directories"),
            .init("image from /proc", Self.image("path: /proc/self/environ"), at: "hostile.yaml:7:11",
                  "is under /proc, which is never read"),
            .init("image from /sys", Self.image("path: /sys/kernel/notes"), at: "hostile.yaml:7:11",
                  "is under /sys, which is never read"),
            .init("image from /dev/zero", Self.image("path: /dev/zero"), at: "hostile.yaml:7:11",
                  "is under /dev, which is never read"),
            .init("image from the state database", Self.image("path: \(world.state)/driftless.sqlite"), at: "hostile.yaml:7:11",
                  "is inside the state directory"),
            .init("image path with ..", Self.image("path: \(world.root)/../../../etc/shadow"), at: "hostile.yaml:7:11",
                  "may not contain '..'"),
            .init("relative image path", Self.image("path: images/tiny.qcow2"), at: "hostile.yaml:7:11",
                  "is not an absolute path"),
            .init("image path with an escape", Self.image("path: \"\(world.root)/a\\e[31m.qcow2\""), at: "hostile.yaml:7:11",
                  "image path contains control characters", absent: ["\u{1B}"]),
            .init("image path naming the directory", Self.image("path: \(world.root)"), at: "hostile.yaml:7:11",
                  "names an image directory, not a file in it"),

            // Image URLs that reach this machine or a metadata service.
            .init("URL at [0::1]", Self.image("url: http://[0::1]/a.qcow2"), at: "hostile.yaml:7:10", "a loopback address"),
            .init("URL at [0:0::1]:8080", Self.image("url: \"http://[0:0::1]:8080/a.qcow2\""), at: "hostile.yaml:7:10", "a loopback address"),
            .init("URL at v4-mapped loopback", Self.image("url: http://[::ffff:7f00:1]/a.qcow2"), at: "hostile.yaml:7:10",
                  "an IPv4-mapped form of 127.0.0.1"),
            .init("URL at v4-compatible loopback", Self.image("url: http://[::127.0.0.1]/a.qcow2"), at: "hostile.yaml:7:10",
                  "an IPv4-compatible form of 127.0.0.1"),
            .init("URL at NAT64 metadata", Self.image("url: http://[64:ff9b::a9fe:a9fe]/latest/meta-data"), at: "hostile.yaml:7:10",
                  "a NAT64 form of 169.254.169.254"),
            .init("URL at unique-local", Self.image("url: https://[fd12:3456::1]/a.qcow2"), at: "hostile.yaml:7:10",
                  "a unique-local address"),
            .init("URL at EC2 IPv6 metadata", Self.image("url: http://[fd00:ec2::254]/latest/meta-data"), at: "hostile.yaml:7:10",
                  "a cloud metadata address"),
            .init("URL at link-local", Self.image("url: http://[fe80::1]/a.qcow2"), at: "hostile.yaml:7:10", "a link-local address"),
            .init("URL at 6to4 loopback", Self.image("url: http://[2002:7f00:1::]/a.qcow2"), at: "hostile.yaml:7:10",
                  "a 6to4 form of 127.0.0.1"),
            .init("URL at multicast", Self.image("url: http://224.0.0.1/a.qcow2"), at: "hostile.yaml:7:10", "a multicast address"),
            .init("URL at decimal loopback", Self.image("url: http://2130706433/a.qcow2"), at: "hostile.yaml:7:10", "a loopback address"),
            .init("URL at the metadata service", Self.image("url: http://169.254.169.254/latest/meta-data"), at: "hostile.yaml:7:10",
                  "a link-local address"),
            .init("URL with credentials", Self.image("url: \"https://user:s3cret@[::1]/a.qcow2?token=t0ken\""), at: "hostile.yaml:7:10",
                  "a loopback address", absent: ["s3cret", "t0ken"]),
            .init("URL with a file scheme", Self.image("url: file:///etc/shadow"), at: "hostile.yaml:7:10",
                  "image URLs must use http or https, not \"file\""),

            // Storage pools over system directories or each other.
            .init("storage pool at /", Self.host("storagePool: {name: vols, path: /}"), at: "hostile.yaml:5:35",
                  "a storage pool may not be \"/\""),
            .init("storage pool under /etc", Self.host("storagePool: {name: vols, path: /etc/pool}"), at: "hostile.yaml:5:35",
                  "a storage pool may not live under /etc"),
            .init("image pool at /var/lib", Self.host("imagePool: {name: imgs, path: /var/lib}"), at: "hostile.yaml:5:33",
                  "a storage pool may not be \"/var/lib\""),
            .init("two pools on one path", Self.host("storagePool: {name: a, path: /srv/pool}\n  imagePool: {name: b, path: /srv/pool}"),
                  at: "hostile.yaml:6:30", "shares its directory \"/srv/pool\" with the storage pool"),
            .init("two pools with one name", Self.host("storagePool: {name: same, path: /srv/a}\n  imagePool: {name: same, path: /srv/b}"),
                  at: "hostile.yaml:6:21", "the image pool has the same name as the storage pool"),
            .init("one pool inside the other", Self.host("storagePool: {name: a, path: /srv/p}\n  imagePool: {name: b, path: /srv/p/i}"),
                  at: "hostile.yaml:6:30", "lies inside the other's"),

            // Arithmetic.
            .init("quota sum that wraps around", """
                apiVersion: driftless.dev/v1
                kind: Project
                metadata: {name: tight}
                spec: {quota: {volumeStorage: 2GiB}}
                ---
                apiVersion: driftless.dev/v1
                kind: Volume
                metadata: {name: huge, project: tight}
                spec: {size: 16777215TiB}
                ---
                apiVersion: driftless.dev/v1
                kind: Volume
                metadata: {name: more, project: tight}
                spec: {size: 1025GiB}
                """, at: "hostile.yaml:9:14", "declares more than 16777215TiB of volumes, over its quota of 2GiB"),
            .init("size beyond 64 bits", """
                apiVersion: driftless.dev/v1
                kind: Volume
                metadata: {name: huge, project: \(world.project)}
                spec: {size: 16777216TiB}
                """, at: "hostile.yaml:4:14", "is too large"),
            .init("vCPUs beyond any integer", Self.host("capacity: {vcpus: 99999999999999999999999, memory: 1GiB}"),
                  at: "hostile.yaml:5:21", "expected an integer"),
            .init("capacity overflow on memory", """
                apiVersion: driftless.dev/v1
                kind: Host
                metadata: {name: small}
                spec: {capacity: {vcpus: 4, memory: 1GiB}, storagePool: {name: s1, path: /srv/s1}, imagePool: {name: s2, path: /srv/s2}}
                ---
                apiVersion: driftless.dev/v1
                kind: Image
                metadata: {name: tiny2}
                spec: {source: {path: \(world.root)/tiny.qcow2}, sha256: 1b7af784841125887e688254229e282829e17245d0e47fe7280da9b68a30d9e1, format: qcow2}
                ---
                apiVersion: driftless.dev/v1
                kind: Instance
                metadata: {name: big, project: \(world.project)}
                spec:
                  image: tiny2
                  vcpus: 1
                  memory: 2GiB
                  rootDisk: 1GiB
                  host: small
                """, at: "hostile.yaml:17:11", "exceeds its memory"),

            // Keys, names and text that would smuggle lines or escapes.
            .init("SSH key with a newline", Self.user("sshKeys: [\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAII707D44LQTl/mEfM+bS16dcCPfNFO+Lu/d8nmNiQVA0 x\\n#cloud-config\"]"),
                  at: "hostile.yaml:5:13", "SSH key contains a control character (U+000A)"),
            .init("SSH key with a carriage return", Self.user("sshKeys: [\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAII707D44LQTl/mEfM+bS16dcCPfNFO+Lu/d8nmNiQVA0 x\\rruncmd\"]"),
                  at: "hostile.yaml:5:13", "SSH key contains a control character (U+000D)"),
            .init("email with a terminal escape", Self.user("email: \"m@example.com\\e[2J\""), at: "hostile.yaml:5:10",
                  "is not an email address", absent: ["\u{1B}"]),
            .init("name with a terminal escape", """
                apiVersion: driftless.dev/v1
                kind: Project
                metadata: {name: "evil\\e]0;owned\\a"}
                """, at: "hostile.yaml:3:18", "is not a valid name", absent: ["\u{1B}", "\u{07}"]),
            .init("name forging an error line", """
                apiVersion: driftless.dev/v1
                kind: Project
                metadata: {name: "x\\nfake.yaml:1:1: error: forged"}
                """, at: "hostile.yaml:3:18", "is not a valid name", absent: ["\nfake.yaml:1:1: error: forged"]),
            .init("direction override in a name", """
                apiVersion: driftless.dev/v1
                kind: Project
                metadata: {name: "abc\\u202Eexe"}
                """, at: "hostile.yaml:3:18", "is not a valid name", absent: ["\u{202E}"]),
        ]
        let forged = HostileCase("file name forging an error line", file: "x\nfake.yaml:1:1: error: forged.yaml",
                                 "apiVersion: driftless.dev/v1\nkind: Instanse\nmetadata: {name: x}\n",
                                 at: "x\\nfake.yaml:1:1: error: forged.yaml:2:7", "unknown kind \"Instanse\"",
                                 absent: ["\nfake.yaml:1:1: error: forged"])
        cases.append(forged)
        cases.append(HostileCase("file name with a terminal escape", file: "\u{1B}[2Jclear.yaml",
                                 "apiVersion: driftless.dev/v1\nkind: Instanse\nmetadata: {name: x}\n",
                                 at: "\\u{1B}[2Jclear.yaml:2:7", "unknown kind", absent: ["\u{1B}"]))
        cases += loaderCases()
        return cases
    }

    /// Files that attack the YAML loader itself: alias bombs, deep nesting, huge files, bad encodings.
    func loaderCases() -> [HostileCase] {
        var laughs = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for i in 1...9 { laughs += "a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ") + "]\n" }
        var bomb = "apiVersion: driftless.dev/v1\nkind: Project\nmetadata: {name: p}\nx0: &x0 [a, a, a, a, a, a, a, a, a]\n"
        for i in 1...8 { bomb += "x\(i): &x\(i) [" + Array(repeating: "*x\(i - 1)", count: 9).joined(separator: ", ") + "]\n" }
        bomb += "? [*x8, *x8]\n: boom\n"
        let deep = String(repeating: "[", count: 1001) + String(repeating: "]", count: 1001) + "\n"
        var anchors = ""
        for i in 0..<30 {
            let open = String(repeating: "[", count: 900), close = String(repeating: "]", count: 900)
            anchors += "a\(i): &a\(i) \(open)\(i == 0 ? "x" : "*a\(i - 1)")\(close)\n"
        }
        var invalidUTF8 = HostileCase("invalid UTF-8", "", at: "hostile.yaml:1:1", "file is not valid UTF-8")
        invalidUTF8.files = ["hostile.yaml": Data("apiVersion: driftless.dev/v1\nkind: Project\nmetadata: {name: ".utf8) + Data([0xC3, 0x28, 0xFF]) + Data("}\n".utf8)]
        var deepAlias = ""
        for i in 0..<3 {
            deepAlias += "a\(i): &a\(i) " + String(repeating: "[", count: 40) + (i == 0 ? "x" : "*a\(i - 1)") + String(repeating: "]", count: 40) + "\n"
        }
        let block65 = (0..<65).map { String(repeating: " ", count: $0) + "k:\n" }.joined() + String(repeating: " ", count: 65) + "v\n"
        let aliasKey = "an alias is used as a mapping key; Driftless manifests do not allow that"
        let listKey = "a list is used as a mapping key; Driftless manifests do not allow that"
        return [invalidUTF8,
            .init("billion laughs", laughs, at: "hostile.yaml:4:50", "nodes through aliases (an alias bomb?)"),
            .init("alias bomb inside a complex key", bomb, at: "hostile.yaml:8:10", "nodes through aliases (an alias bomb?)"),
            .init("thirty anchors 900 levels deep", anchors, at: "hostile.yaml:1:72", "YAML nesting is deeper than 64 levels"),
            .init("anchors too deep once expanded", deepAlias, at: "hostile.yaml:2:49",
                  "the alias *a0 nests the document deeper than 64 levels"),
            .init("nesting deeper than libyaml allows", deep, at: "hostile.yaml:1:65", "YAML nesting is deeper than 64 levels"),
            .init("65 levels of block nesting", block65, at: "hostile.yaml:65:65", "YAML nesting is deeper than 64 levels"),
            .init("alias used as a key", "base: &k name\n*k : evil\n", at: "hostile.yaml:2:1", aliasKey),
            .init("alias as an explicit key", "a: &a [x, y]\n? *a\n: value\n", at: "hostile.yaml:2:3", aliasKey),
            .init("alias inside a flow key", "a: &a [x, y]\nb: {[*a, *a]: value}\n", at: "hostile.yaml:2:5", listKey),
            .init("list as a key", "apiVersion: driftless.dev/v1\nkind: Project\nmetadata:\n  ? [a, b]\n  : x\n", at: "hostile.yaml:4:5", listKey),
            .init("mapping as a key", "metadata:\n  {name: a}: x\n", at: "hostile.yaml:2:3",
                  "a mapping is used as a mapping key; Driftless manifests do not allow that"),
            .init("syntax error at the end without a newline", "a: b\nc", at: "hostile.yaml:2:2", "YAML syntax error"),
            .init("control characters after a NEL", "!|\u{85}\u{0}\u{0}0/*\u{0}", at: "hostile.yaml:2:1",
                  "cannot read the file: control characters are not allowed", absent: ["\u{0}"]),
            .init("duplicate key after a line separator", "a:\n  k: 1\u{2028}\n  k: 2\n", at: "hostile.yaml:4:3",
                  "duplicate key \"k\" (first at line 2)"),
            .init("a file above 4 MiB", "# " + String(repeating: "x", count: 4 << 20) + "\n", at: "hostile.yaml:1:1",
                  "manifest files may be at most"),
        ]
    }

    func testEveryHostileInputIsAFileLineErrorAndChangesNothing() throws {
        let marker = world.root + "/MARKER"
        let script = world.root + "/evil.sh"
        try "#!/bin/sh\ntouch \(marker)\n".write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        try world.writeManifests(instances: [], volumes: [], network: false)
        try world.commit("a valid base")
        let before = hostSnapshot()
        let table = cases(marker: marker, script: script)
        XCTAssertGreaterThanOrEqual(table.count, 60, "the corpus keeps at least 60 cases")
        for hostile in table {
            for (path, content) in hostile.files {
                let url = URL(fileURLWithPath: world.repo).appendingPathComponent(path)
                try content.write(to: url)
            }
            try world.commit(hostile.name)
            for command in ["validate", "plan"] {
                let started = Date()
                let output = try world.driftless(command)
                let elapsed = Date().timeIntervalSince(started)
                let all = output.stdout + output.stderr
                let label = "\(hostile.name) (\(command))"
                XCTAssertEqual(output.status, 1, "\(label) must fail:\n\(all)")
                let lines = all.split(separator: "\n").filter { $0.contains(hostile.location) && $0.contains("error:") }
                XCTAssertTrue(lines.contains { $0.contains(hostile.message) },
                              "\(label): no error at \(hostile.location) saying \"\(hostile.message)\":\n\(all)")
                for text in hostile.absent {
                    XCTAssertFalse(all.contains(text), "\(label): the output holds \(text.debugDescription):\n\(all)")
                }
                XCTAssertLessThan(elapsed, 5, "\(label) took \(elapsed) s")
                XCTAssertFalse(FileManager.default.fileExists(atPath: marker), "\(label) ran the marker script")
            }
            XCTAssertEqual(hostSnapshot(), before, "\(hostile.name) changed a host")
            for path in hostile.files.keys {
                try FileManager.default.removeItem(at: URL(fileURLWithPath: world.repo).appendingPathComponent(path))
            }
        }
        try world.commit("clean")
        XCTAssertEqual(try world.driftless("validate").status, 0, "the base is valid again")
    }

    /// A repository whose Host uses the `ext` transport never runs its command: not under validate, plan,
    /// apply, drift or serve.
    func testAnExtTransportNeverRunsItsCommand() throws {
        let marker = world.root + "/MARKER"
        let script = world.root + "/evil.sh"
        try "#!/bin/sh\ntouch \(marker)\nexec nc -U /var/run/libvirt/libvirt-sock\n".write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        try world.writeManifests(instances: [.init(name: "a")])
        try world.commit("valid")
        try (try String(contentsOfFile: world.repo + "/cloud.yaml", encoding: .utf8))
            .replacingOccurrences(of: "libvirt: \(EndToEndWorld.libvirtURI)", with: "libvirt: \"qemu+ext:///system?command=\(script)\"")
            .write(toFile: world.repo + "/cloud.yaml", atomically: true, encoding: .utf8)
        try world.commit("ext transport")
        for arguments in [["validate"], ["plan"], ["apply", "--yes"], ["drift"]] {
            let output = try world.start(arguments[0], Array(arguments.dropFirst())).wait()
            XCTAssertEqual(output.status, 1, "\(arguments): \(output.stdout)\(output.stderr)")
            if arguments[0] != "drift" {
                XCTAssertTrue((output.stdout + output.stderr).contains("cloud.yaml:5:"), "\(arguments): \(output.stdout)\(output.stderr)")
            }
        }
        let serve = try spawn([DriftlessBinary.url.path, "serve", "--repo", world.repo, "--state", world.state, "--image-dir", world.root,
                               "--listen", "127.0.0.1:0", "--interval", "1s"], environment: ["DRIFTLESS_LOG_LEVEL": "debug"])
        defer { serve.kill(); _ = serve.wait() }
        XCTAssertTrue(waitUntilTrue(timeout: 30) {
            let history = (try? self.world.driftless("history"))?.stdout ?? ""
            return history.contains("refused")
        }, "serve records the invalid head as refused")
        // A later poll saw the refused head again and left it alone (nothing ever connects for it).
        XCTAssertTrue(waitUntilTrue(timeout: 30) {
            ((try? String(contentsOfFile: serve.errFile, encoding: .utf8)) ?? "").contains("poll: nothing new")
        }, "serve polled again")
        XCTAssertFalse(FileManager.default.fileExists(atPath: marker), "an ext transport ran its command")
        XCTAssertEqual(world.domains(), [], "nothing was applied")
    }
}
