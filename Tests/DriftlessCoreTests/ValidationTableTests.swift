import DriftlessCore
import Testing

/// One broken input and the diagnostic it must produce: where, and what it says.
struct ValidationCase: CustomTestStringConvertible, Sendable {
    var name: String
    var yaml: String
    /// The file the diagnostic is reported in; most point into the broken document itself.
    var file = "t.yaml"
    var line: Int
    var column: Int?
    var message: String
    var hint: String?

    var testDescription: String { name }
}

/// A Host whose spec holds `field` (one line under `spec:`, or two with a newline and two spaces).
func hostCase(_ name: String, _ field: String, line: Int = 5, column: Int, message: String) -> ValidationCase {
    ValidationCase(name: name, yaml: """
        apiVersion: driftless.dev/v1
        kind: Host
        metadata: {name: h1}
        spec:
          \(field)
        """, line: line, column: column, message: message)
}

/// Every validation rule, each checked for its file, line and message.
@Suite("Validation rules")
struct ValidationTableTests {
    static let cases: [ValidationCase] = [
        ValidationCase(name: "YAML syntax error", yaml: "apiVersion: driftless.dev/v1\nkind: [Instance\nmetadata: {}\n",
                       line: 3, message: "YAML syntax error"),
        ValidationCase(name: "duplicate key", yaml: """
            apiVersion: driftless.dev/v1
            kind: Project
            metadata:
              name: dup
              name: dup2
            """, line: 5, message: "duplicate key \"name\" (first at line 4)"),
        ValidationCase(name: "unknown apiVersion", yaml: """
            apiVersion: driftless.dev/v2
            kind: Project
            metadata: {name: p2}
            """, line: 1, column: 13, message: "unknown apiVersion \"driftless.dev/v2\"", hint: "this release reads driftless.dev/v1"),
        ValidationCase(name: "unknown kind", yaml: """
            apiVersion: driftless.dev/v1
            kind: Instanse
            metadata: {name: x}
            """, line: 2, column: 7, message: "unknown kind \"Instanse\"", hint: "did you mean \"Instance\"?"),
        ValidationCase(name: "unknown field", yaml: Fixtures.instance(spec: """
              image: tiny
              vcpus: 1
              memory: 128MiB
              rootDisk: 1GiB
              netwroks: []
            """), line: 11, column: 3, message: "unknown field \"netwroks\"", hint: "did you mean \"networks\"?"),
        ValidationCase(name: "unknown top-level field", yaml: """
            apiVersion: driftless.dev/v1
            kind: Project
            metadata: {name: p3}
            spac: {}
            """, line: 4, column: 1, message: "unknown field \"spac\"", hint: "did you mean \"spec\"?"),
        ValidationCase(name: "wrong type: quoted integer", yaml: Fixtures.instance(spec: """
              image: tiny
              vcpus: "2"
              memory: 128MiB
              rootDisk: 1GiB
            """), line: 8, column: 10, message: "expected an integer, got the string \"2\"", hint: "remove the quotes"),
        ValidationCase(name: "wrong type: scalar for list", yaml: Fixtures.instance(spec: """
              image: tiny
              vcpus: 1
              memory: 128MiB
              rootDisk: 1GiB
              volumes: data
            """), line: 11, column: 12, message: "expected a list, got the string \"data\"", hint: "write a list: [data]"),
        ValidationCase(name: "wrong type: boolean", yaml: """
            apiVersion: driftless.dev/v1
            kind: User
            metadata: {name: bob}
            spec: {enabled: yes}
            """, line: 4, column: 17, message: "expected true or false", hint: "YAML 1.2 booleans are true and false"),
        ValidationCase(name: "missing required field", yaml: Fixtures.instance(spec: """
              vcpus: 1
              memory: 128MiB
              rootDisk: 1GiB
            """), line: 7, column: 3, message: "missing required field \"image\""),
        ValidationCase(name: "missing spec", yaml: """
            apiVersion: driftless.dev/v1
            kind: Network
            metadata: {name: n2, project: shop}
            """, line: 1, column: 1, message: "missing required field \"spec\""),
        ValidationCase(name: "decimal size unit", yaml: Fixtures.instance(spec: """
              image: tiny
              vcpus: 1
              memory: 2GB
              rootDisk: 1GiB
            """), line: 9, column: 11, message: "\"2GB\" does not use a binary unit", hint: "did you mean 2GiB?"),
        ValidationCase(name: "bare number size", yaml: Fixtures.instance(spec: """
              image: tiny
              vcpus: 1
              memory: 512
              rootDisk: 1GiB
            """), line: 9, column: 11, message: "size \"512\" has no unit", hint: "did you mean 512GiB? sizes take a binary unit: KiB, MiB, GiB or TiB"),
        ValidationCase(name: "fractional size", yaml: Fixtures.instance(spec: """
              image: tiny
              vcpus: 1
              memory: 1.5GiB
              rootDisk: 1GiB
            """), line: 9, column: 11, message: "is not a whole number of a unit"),
        ValidationCase(name: "out of range vlan", yaml: """
            apiVersion: driftless.dev/v1
            kind: Network
            metadata: {name: n3, project: shop}
            spec: {cidr: 10.9.0.0/24, vlan: 5000}
            """, line: 4, column: 33, message: "5000 is out of range; it must be from 1 to 4094"),
        ValidationCase(name: "out of range vcpus", yaml: Fixtures.instance(spec: """
              image: tiny
              vcpus: 0
              memory: 128MiB
              rootDisk: 1GiB
            """), line: 8, column: 10, message: "0 is out of range; it must be from 1 to 256"),
        ValidationCase(name: "bad name", yaml: Fixtures.instance("Web_2", spec: """
              image: tiny
              vcpus: 1
              memory: 128MiB
              rootDisk: 1GiB
            """), line: 4, column: 9, message: "\"Web_2\" is not a valid name", hint: "did you mean \"web-2\"?"),
        ValidationCase(name: "duplicate object across files", yaml: """
            apiVersion: driftless.dev/v1
            kind: Volume
            metadata:
              name: data
              project: shop
            spec: {size: 1GiB}
            """, line: 4, column: 9, message: "duplicate Volume shop/data: already declared at base.yaml:"),
        ValidationCase(name: "dangling reference", yaml: Fixtures.instance(spec: """
              image: tinny
              vcpus: 1
              memory: 128MiB
              rootDisk: 1GiB
            """), line: 7, column: 10, message: "unknown image \"tinny\" in project \"shop\"", hint: "did you mean \"tiny\"?"),
        ValidationCase(name: "reference across projects", yaml: Fixtures.instance(spec: """
              image: tiny
              vcpus: 1
              memory: 128MiB
              rootDisk: 1GiB
              networks: [{network: mgmt}]
            """), line: 11, column: 24, message: "network \"mgmt\" belongs to project \"ops\", not \"shop\""),
        ValidationCase(name: "missing project", yaml: """
            apiVersion: driftless.dev/v1
            kind: Volume
            metadata: {name: v9, project: shopp}
            spec: {size: 1GiB}
            """, line: 3, column: 31, message: "unknown project \"shopp\"", hint: "did you mean \"shop\"?"),
        ValidationCase(name: "project on a cluster kind", yaml: """
            apiVersion: driftless.dev/v1
            kind: User
            metadata: {name: bob, project: shop}
            """, line: 3, column: 32, message: "User is not project-scoped"),
        ValidationCase(name: "project-scoped kind without project", yaml: """
            apiVersion: driftless.dev/v1
            kind: Volume
            metadata: {name: v8}
            spec: {size: 1GiB}
            """, line: 3, column: 11, message: "a Volume belongs to a project"),
        ValidationCase(name: "malformed CIDR", yaml: """
            apiVersion: driftless.dev/v1
            kind: Network
            metadata: {name: n4, project: shop}
            spec: {cidr: 10.9.0.1/24, vlan: 44}
            """, line: 4, column: 14, message: "has host bits set", hint: "did you mean 10.9.0.0/24?"),
        ValidationCase(name: "malformed IP", yaml: Fixtures.instance(spec: """
              image: tiny
              vcpus: 1
              memory: 128MiB
              rootDisk: 1GiB
              networks: [{network: frontend, ip: 10.0.0.300}]
            """), line: 11, column: 38, message: "\"10.0.0.300\" is not an IPv4 address"),
        ValidationCase(name: "malformed sha256", yaml: """
            apiVersion: driftless.dev/v1
            kind: Image
            metadata: {name: img2}
            spec: {source: {path: /var/lib/driftless/images/a.img}, sha256: abc123, format: raw}
            """, line: 4, column: 65, message: "is not a SHA-256 digest"),
        ValidationCase(name: "malformed SSH key", yaml: """
            apiVersion: driftless.dev/v1
            kind: User
            metadata: {name: bob}
            spec:
              sshKeys: ["ssh-ed25519 not-base64!!"]
            """, line: 5, column: 13, message: "SSH key has a key body that is not valid base64"),
        ValidationCase(name: "SSH key type typo", yaml: """
            apiVersion: driftless.dev/v1
            kind: User
            metadata: {name: bob}
            spec:
              sshKeys: ["ssh-ed2551 AAAA"]
            """, line: 5, column: 13, message: "has unknown key type \"ssh-ed2551\"", hint: "did you mean ssh-ed25519?"),
        ValidationCase(name: "bad role", yaml: """
            apiVersion: driftless.dev/v1
            kind: User
            metadata: {name: bob}
            spec:
              roles: [{project: shop, role: owner}]
            """, line: 5, column: 33, message: "\"owner\" is not one of: admin, member, reader"),
        ValidationCase(name: "bad enum", yaml: Fixtures.instance(spec: """
              image: tiny
              vcpus: 1
              memory: 128MiB
              rootDisk: 1GiB
              power: runing
            """), line: 11, column: 10, message: "\"runing\" is not one of: running, stopped", hint: "did you mean \"running\"?"),
        ValidationCase(name: "IP outside CIDR", yaml: Fixtures.instance(spec: """
              image: tiny
              vcpus: 1
              memory: 128MiB
              rootDisk: 1GiB
              networks: [{network: frontend, ip: 10.5.0.10}]
            """), line: 11, column: 38, message: "10.5.0.10 is outside network frontend's 10.0.0.0/24"),
        ValidationCase(name: "IP taken twice", yaml: Fixtures.instance(spec: """
              image: tiny
              vcpus: 1
              memory: 128MiB
              rootDisk: 1GiB
              networks: [{network: frontend, ip: 10.0.0.10}]
            """), line: 11, column: 38, message: "10.0.0.10 on network frontend is taken twice: by shop/web at base.yaml:"),
        ValidationCase(name: "IP is the gateway", yaml: Fixtures.instance(spec: """
              image: tiny
              vcpus: 1
              memory: 128MiB
              rootDisk: 1GiB
              networks: [{network: frontend, ip: 10.0.0.1}]
            """), line: 11, column: 38, message: "10.0.0.1 is the gateway of network frontend"),
        ValidationCase(name: "two networks, one VLAN", yaml: """
            apiVersion: driftless.dev/v1
            kind: Network
            metadata: {name: other, project: ops}
            spec: {cidr: 10.7.0.0/24, vlan: 10}
            """, line: 4, column: 33, message: "VLAN 10 is already used by network shop/frontend"),
        ValidationCase(name: "quota overflow", yaml: Fixtures.instance(spec: """
              image: tiny
              vcpus: 8
              memory: 128MiB
              rootDisk: 1GiB
            """), line: 8, column: 10,
            message: "project \"shop\" declares 9 vCPUs, over its quota of 8 (set at base.yaml:5:32)"),
        ValidationCase(name: "volume attached twice", yaml: Fixtures.instance(spec: """
              image: tiny
              vcpus: 1
              memory: 128MiB
              rootDisk: 1GiB
              volumes: [data]
            """), line: 11, column: 13, message: "volume \"data\" is attached by shop/web too"),
        ValidationCase(name: "root disk below minDisk", yaml: Fixtures.instance(spec: """
              image: tiny
              vcpus: 1
              memory: 128MiB
              rootDisk: 32MiB
            """), line: 10, column: 13, message: "rootDisk 32MiB is smaller than image \"tiny\" needs (minDisk 64MiB)"),
        ValidationCase(name: "image URL scheme", yaml: """
            apiVersion: driftless.dev/v1
            kind: Image
            metadata: {name: img3}
            spec: {source: {url: "ftp://mirror.example.com/a.img"}, sha256: \(Fixtures.digest), format: raw}
            """, line: 4, column: 22, message: "image URLs must use http or https, not \"ftp\""),
        ValidationCase(name: "image URL loopback", yaml: """
            apiVersion: driftless.dev/v1
            kind: Image
            metadata: {name: img4}
            spec: {source: {url: "http://127.0.0.1:8080/a.img"}, sha256: \(Fixtures.digest), format: raw}
            """, line: 4, column: 22, message: "a loopback address"),
        ValidationCase(name: "image URL metadata service", yaml: """
            apiVersion: driftless.dev/v1
            kind: Image
            metadata: {name: img5}
            spec: {source: {url: "http://169.254.169.254/latest/meta-data"}, sha256: \(Fixtures.digest), format: raw}
            """, line: 4, column: 22, message: "a link-local address"),
        ValidationCase(name: "image URL decimal loopback", yaml: """
            apiVersion: driftless.dev/v1
            kind: Image
            metadata: {name: img6}
            spec: {source: {url: "http://2130706433/a.img"}, sha256: \(Fixtures.digest), format: raw}
            """, line: 4, column: 22, message: "points at 127.0.0.1, a loopback address"),
        ValidationCase(name: "image URL IPv6 loopback", yaml: """
            apiVersion: driftless.dev/v1
            kind: Image
            metadata: {name: img7}
            spec: {source: {url: "https://[::1]/a.img"}, sha256: \(Fixtures.digest), format: raw}
            """, line: 4, column: 22, message: "a loopback address"),
        ValidationCase(name: "image with path and url", yaml: """
            apiVersion: driftless.dev/v1
            kind: Image
            metadata: {name: img8}
            spec: {source: {url: "https://mirror.example.com/a.img", path: /var/lib/driftless/images/a.img}, sha256: \(Fixtures.digest), format: raw}
            """, line: 4, column: 16, message: "source has both path and url"),
        ValidationCase(name: "unknown host", yaml: Fixtures.instance(spec: """
              image: tiny
              vcpus: 1
              memory: 128MiB
              rootDisk: 1GiB
              host: node-9
            """), line: 11, column: 9, message: "unknown host \"node-9\"", hint: "no Host is declared, so the only host is \"local\""),
        ValidationCase(name: "document is not a mapping", yaml: "- a\n- b\n", line: 1, column: 1,
                       message: "a manifest document must be a mapping"),
        // Physical networks (issue 11).
        ValidationCase(name: "physical network no host maps", yaml: """
            apiVersion: driftless.dev/v1
            kind: Network
            metadata: {name: n9, project: shop}
            spec: {cidr: 10.9.0.0/24, vlan: 49, physicalNetwork: physnet1}
            """, line: 4, column: 54, message: "no host maps physical network physnet1",
            hint: "add it to a Host's physicalNetworks, or remove physicalNetwork to keep the network inside the host"),
        hostCase("one interface for two physical networks", "physicalNetworks: [{name: a, interface: eth1}, {name: b, interface: eth1}]",
                 column: 71, message: "interface eth1 already carries physicalNetworks[0] on host h1; an interface is one trunk"),
        hostCase("a physical network mapped twice", "physicalNetworks: [{name: a, interface: eth1}, {name: a, interface: eth2}]",
                 column: 57, message: "physical network a is mapped twice on host h1 (first at physicalNetworks[0])"),
        hostCase("an interface name that is not one", "physicalNetworks: [{name: a, interface: \"eth1;rm\"}]", column: 43,
                 message: "\"eth1;rm\" is not an interface name"),
        hostCase("an unknown virtualization", "virtualization: xen", column: 19,
                 message: "\"xen\" is not one of: auto, kvm, qemu"),
        // Hostile shapes (issue 10): each refused with the line of the field that is wrong.
        hostCase("libvirt ext transport", "libvirt: \"qemu+ext:///system?command=/tmp/x.sh\"", column: 12,
                 message: "the libvirt transport \"ext\" runs a program on the controller and is never allowed"),
        hostCase("test ext transport", "libvirt: \"test+ext:///default?command=/tmp/x.sh\"", column: 12,
                 message: "the libvirt transport \"ext\" runs a program on the controller and is never allowed"),
        hostCase("ssh command=", "libvirt: \"qemu+ssh://h/system?command=/tmp/x.sh\"", column: 12,
                 message: "the URI parameter command= runs a program on the controller and is never allowed"),
        hostCase("ssh no_verify", "libvirt: \"qemu+ssh://h/system?no_verify=1\"", column: 12,
                 message: "the URI parameter no_verify= weakens host verification and is not allowed"),
        hostCase("ssh netcat=", "libvirt: \"qemu+ssh://h/system?netcat=/tmp/nc\"", column: 12,
                 message: "the URI parameter netcat= runs a program on the controller and is never allowed"),
        hostCase("keyfile from the repository", "libvirt: \"qemu+ssh://root@h/system?keyfile=/root/.ssh/id_rsa\"", column: 12,
                 message: "the URI parameter keyfile= names a file of the controller"),
        hostCase("socket= on tcp", "libvirt: \"qemu+tcp://h/system?socket=/run/x\"", column: 12,
                 message: "the URI parameter socket= is only allowed with qemu+unix"),
        hostCase("percent-encoded parameter", "libvirt: \"qemu+ssh://h/system?%63ommand=/tmp/x\"", column: 12,
                 message: "contains the character '%'"),
        hostCase("semicolon-separated parameter", "libvirt: \"qemu+ssh://h/system?x=1;command=/tmp/x\"", column: 12,
                 message: "contains the character ';'"),
        hostCase("test driver reading a file", "libvirt: \"test:///etc/shadow\"", column: 12,
                 message: "the libvirt URI path \"/etc/shadow\" is not allowed"),
        hostCase("embedded qemu driver", "libvirt: \"qemu:///embed?root=/tmp/x\"", column: 12,
                 message: "the libvirt URI path \"/embed\" is not allowed"),
        hostCase("unknown libvirt driver", "libvirt: \"lxc:///system\"", column: 12,
                 message: "the libvirt driver \"lxc\" is not allowed"),
        hostCase("password in a libvirt URI", "libvirt: \"qemu+tcp://alice:pw@h/system\"", column: 12,
                 message: "the user name in a libvirt URI may hold only letters"),
        hostCase("OVSDB passive endpoint", "ovsdb: \"ptcp:6640\"", column: 10,
                 message: "is a passive (listening) endpoint"),
        hostCase("OVSDB unix path with ..", "ovsdb: \"unix:/var/run/../../etc/x.sock\"", column: 10,
                 message: "is not normalised"),
        hostCase("OVSDB endpoint with a space", "ovsdb: \"tcp:h :6640\"", column: 10,
                 message: "the OVSDB endpoint contains a space"),
        hostCase("storage pool at /", "storagePool: {name: vols, path: /}", column: 35,
                 message: "a storage pool may not be \"/\""),
        hostCase("storage pool under /etc", "storagePool: {name: vols, path: /etc/libvirt-pool}", column: 35,
                 message: "a storage pool may not live under /etc"),
        hostCase("two pools, one path", "storagePool: {name: a, path: /srv/pool}\n  imagePool: {name: b, path: /srv/pool}", line: 6, column: 30,
                 message: "the image pool shares its directory \"/srv/pool\" with the storage pool"),
        hostCase("two pools, one name", "storagePool: {name: same, path: /srv/a}\n  imagePool: {name: same, path: /srv/b}", line: 6, column: 21,
                 message: "the image pool has the same name as the storage pool"),
        hostCase("one pool inside the other", "storagePool: {name: a, path: /srv/pool}\n  imagePool: {name: b, path: /srv/pool/images}", line: 6, column: 30,
                 message: "one storage pool's directory lies inside the other's"),
        ValidationCase(name: "quota sum that would wrap around", yaml: """
            apiVersion: driftless.dev/v1
            kind: Volume
            metadata: {name: huge, project: shop}
            spec: {size: 16777215TiB}
            ---
            apiVersion: driftless.dev/v1
            kind: Volume
            metadata: {name: more, project: shop}
            spec: {size: 1025GiB}
            """, line: 4, column: 14,
            message: "project \"shop\" declares more than 16777215TiB of volumes, over its quota of 10GiB"),
        ValidationCase(name: "capacity overflow points at memory", yaml: """
            apiVersion: driftless.dev/v1
            kind: Host
            metadata: {name: small}
            spec: {capacity: {vcpus: 4, memory: 1GiB}}
            ---
            \(Fixtures.instance("big", spec: """
              image: tiny
              vcpus: 1
              memory: 2GiB
              rootDisk: 1GiB
              host: small
            """))
            """, line: 14, column: 11, message: "placing shop/big on host small exceeds its memory"),
        ValidationCase(name: "SSH key with a line break", yaml: """
            apiVersion: driftless.dev/v1
            kind: User
            metadata: {name: mallory}
            spec:
              email: m@example.com
              sshKeys: ["\(Fixtures.aliceKey)\\n#cloud-config"]
            """, line: 6, column: 13, message: "SSH key contains a control character (U+000A)"),
        ValidationCase(name: "SSH key with a carriage return", yaml: """
            apiVersion: driftless.dev/v1
            kind: User
            metadata: {name: mallory}
            spec:
              email: m@example.com
              sshKeys: ["\(Fixtures.aliceKey)\\rx"]
            """, line: 6, column: 13, message: "SSH key contains a control character (U+000D)"),
        ValidationCase(name: "email with a terminal escape", yaml: """
            apiVersion: driftless.dev/v1
            kind: User
            metadata: {name: mallory}
            spec:
              email: "m@example.com\\e[2J"
            """, line: 5, column: 10, message: "is not an email address"),
    ]

    @Test(arguments: cases)
    func reportsFileLineAndMessage(_ c: ValidationCase) {
        let result = Fixtures.load(["t.yaml": c.yaml])
        let found = result.diagnostics.filter { $0.location?.file == c.file && $0.message.contains(c.message) }
        let all = result.diagnostics.map(\.description).joined(separator: "\n")
        #expect(!result.isValid, "\(c.name): expected an error")
        guard let diagnostic = found.first else {
            Issue.record("\(c.name): no diagnostic in \(c.file) containing \(c.message.debugDescription); got:\n\(all)")
            return
        }
        #expect(diagnostic.severity == .error)
        #expect(diagnostic.location?.line == c.line, "\(c.name): line; got:\n\(all)")
        if let column = c.column {
            #expect(diagnostic.location?.column == column, "\(c.name): column; got:\n\(all)")
        }
        if let hint = c.hint {
            #expect(diagnostic.hint == hint, "\(c.name): hint")
        }
    }

    @Test func baseFixtureIsValid() {
        let result = Fixtures.load([:])
        #expect(result.isValid, "\(result.diagnostics.map(\.description))")
        #expect(result.state.instances.count == 1)
        #expect(result.state.usesDefaultHost)
        #expect(result.state.hosts.map(\.name) == ["local"])
    }

    @Test func reportsEveryErrorNotJustTheFirst() {
        let result = Fixtures.load(["t.yaml": Fixtures.instance(spec: """
              image: tinny
              vcpus: two
              memory: 2GB
              rootDisk: 1GiB
              colour: blue
            """)])
        let lines = result.diagnostics.filter { $0.severity == .error }.compactMap(\.location?.line).sorted()
        #expect(lines == [7, 8, 9, 11], "\(result.diagnostics.map(\.description))")
    }

    @Test func aReferenceToAnInvalidObjectIsNotReportedAsDangling() {
        let result = Fixtures.load(["t.yaml": """
            apiVersion: driftless.dev/v1
            kind: Network
            metadata: {name: broken, project: shop}
            spec: {cidr: nonsense, vlan: 77}
            ---
            \(Fixtures.instance(spec: """
              image: tiny
              vcpus: 1
              memory: 128MiB
              rootDisk: 1GiB
              networks: [{network: broken}]
            """))
            """])
        let messages = result.diagnostics.map(\.message)
        #expect(messages.contains { $0.contains("is not an IPv4 CIDR") })
        #expect(!messages.contains { $0.contains("unknown network") }, "\(messages)")
    }
}
