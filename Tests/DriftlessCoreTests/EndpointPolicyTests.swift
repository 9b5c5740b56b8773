import DriftlessCore
import Testing

@Suite("Endpoint and text policies")
struct EndpointPolicyTests {
    @Test(arguments: [
        "qemu:///system", "qemu:///session", "test:///default",
        "qemu+unix:///system", "qemu+unix:///system?socket=/var/run/libvirt/libvirt-sock",
        "qemu+tls://node-1/system", "qemu+tls://node-1.example.com:16514/system",
        "qemu+ssh://root@node-1/system", "qemu+ssh://node_2/system", "qemu+tcp://10.0.0.5:16509/system",
        "qemu+tcp://[fd00::5]:16509/system",
    ])
    func allowedLibvirtURIs(_ uri: String) {
        #expect(LibvirtURIPolicy.problem(with: uri) == nil, "\(uri): \(LibvirtURIPolicy.problem(with: uri)?.message ?? "")")
    }

    @Test(arguments: [
        ("qemu+ext:///system?command=/tmp/x.sh", "\"ext\" runs a program"),
        ("test+ext:///default?command=/tmp/x.sh", "\"ext\" runs a program"),
        ("qemu+ssh://h/system?command=/tmp/x", "command= runs a program"),
        ("qemu+ssh://h/system?netcat=/tmp/nc", "netcat= runs a program"),
        ("qemu+ssh://h/system?no_verify=1", "no_verify= weakens"),
        ("qemu+libssh2://h/system?known_hosts_verify=ignore", "transport \"libssh2\" is not allowed"),
        ("qemu+ssh://h/system?keyfile=/root/.ssh/id_rsa", "keyfile= names a file"),
        ("qemu+tls://h/system?pkipath=/tmp", "pkipath= names a file"),
        ("qemu+tcp://h/system?socket=/x", "socket= is only allowed with qemu+unix"),
        ("qemu+unix:///system?socket=relative", "must be absolute"),
        ("qemu+unix:///system?socket=/a/../b", "not normalised"),
        ("qemu+unix://host/system", "a local libvirt URI names no host"),
        ("qemu://host/system", "a local libvirt URI names no host"),
        ("qemu+ssh:///system", "needs a host name"),
        ("qemu+ssh://-oProxyCommand=x/system", "needs a host name"),
        ("qemu+ssh://h/system?%63ommand=x", "the character '%'"),
        ("qemu+ssh://h/system?a=1;command=x", "the character ';'"),
        ("qemu+ssh://h/system#frag", "the character '#'"),
        ("qemu+ssh://h/system?x=\u{1B}", "a control character (U+001B)"),
        ("qemu+ssh://u:p@h/system", "user name in a libvirt URI"),
        ("qemu+ssh://h:99999/system", "not a number from 1 to 65535"),
        ("test:///etc/passwd", "is not allowed"),
        ("qemu:///embed?root=/tmp", "\"/embed\" is not allowed"),
        ("xen:///system", "driver \"xen\" is not allowed"),
        ("qemu:/system", "is not a libvirt URI"),
        ("qemu+ssh://h/system?mode=legacy", "\"mode\"= is not allowed"),
    ])
    func refusedLibvirtURIs(_ uri: String, _ reason: String) {
        let problem = LibvirtURIPolicy.problem(with: uri)
        #expect(problem?.message.contains(reason) == true, "\(uri): \(problem?.message ?? "accepted")")
    }

    @Test(arguments: [
        ("unix:/var/run/openvswitch/db.sock", true), ("tcp:192.0.2.10:6640", true), ("ssl:ovs.example.com:6640", true),
        ("tcp:[::1]:6640", true), ("ptcp:6640", false), ("punix:/tmp/x", false), ("unix:relative", false),
        ("unix:/a/../b", false), ("tcp:host", true), ("tcp::6640", false), ("tcp:h:0", false), ("tcp:h o:1", false),
        ("tcp:[zz]:1", false), ("http://x", false),
    ])
    func ovsdbEndpoints(_ endpoint: String, _ allowed: Bool) {
        #expect((OVSDBEndpointPolicy.problem(with: endpoint) == nil) == allowed, "\(endpoint)")
    }

    @Test func controlCharactersAreEscapedInDiagnostics() {
        let diagnostic = Diagnostic(.error, at: SourceLocation(file: "a\nfake.yaml:1:1: error: x", line: 2, column: 3),
                                    field: "spec", "bad \u{1B}[2J name \u{202E}txt", hint: "tab\there")
        #expect(diagnostic.description == #"a\nfake.yaml:1:1: error: x:2:3: error: spec: bad \u{1B}[2J name \u{202E}txt (tab\there)"#)
        #expect(!diagnostic.description.contains("\n"))
        #expect("plain text".escapingControlCharacters == "plain text")
        #expect("\u{9B}31m".escapingControlCharacters == #"\u{9B}31m"#)
    }

    @Test func sizeSumsSaturateInsteadOfWrapping() throws {
        let huge = try ByteSize.parse("16777215TiB").get()
        let more = try ByteSize.parse("1025GiB").get()
        #expect(huge + more == .max)
        #expect((huge + more) > (try ByteSize.parse("2GiB").get()))
        #expect(Int.max.addingSaturating(1) == .max)
    }
}
