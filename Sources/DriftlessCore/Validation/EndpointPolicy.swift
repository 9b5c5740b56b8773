/// Which libvirt connection URIs a repository may name: an allowlist of drivers, transports and URI
/// parameters, because a libvirt URI is code (`qemu+ext:///system?command=/tmp/x.sh` runs a program,
/// `test:///path.xml` reads a file, `?no_verify=1` turns host key checks off).
///
/// The same check runs in `validate` (a file:line error) and in the libvirt adapter before every
/// `virConnectOpen`, so a URI that did not pass is never opened, whatever path it took.
public enum LibvirtURIPolicy {
    /// The transports a Host may use, after `qemu+`.
    public static let transports: Set<String> = ["unix", "tls", "ssh", "tcp"]

    /// A URI broken into the parts the policy looked at.
    public struct Parsed: Sendable, Equatable {
        public var driver: String
        public var transport: String?
        public var user: String?
        public var host: String?
        public var port: Int?
        public var path: String
        public var socket: String?

        /// Whether the connection leaves this machine (tls, ssh, tcp).
        public var isRemote: Bool { transport.map { $0 != "unix" } ?? false }
    }

    /// Why `uri` is not allowed, or `nil` when it is.
    public static func problem(with uri: String) -> ParseProblem? {
        switch parse(uri) {
        case .success: nil
        case let .failure(problem): problem
        }
    }

    static let examples = "allowed: qemu:///system, qemu+unix:///system?socket=/path, qemu+tls://host/system, qemu+ssh://user@host/system, qemu+tcp://host:16509/system, test:///default"

    /// Parses `uri` strictly, refusing anything outside the allowlist.
    public static func parse(_ uri: String) -> Result<Parsed, ParseProblem> {
        func refuse(_ message: String, hint: String? = examples) -> Result<Parsed, ParseProblem> {
            .failure(ParseProblem(message, hint: hint))
        }
        let shown = TextEscaping.quoted(uri, limit: 120)
        // libvirt unescapes %XX in parameters and splits them on ';' as well as '&': refuse both, and
        // anything that is not plain printable ASCII, so what is checked here is what libvirt reads.
        let allowed: (Unicode.Scalar) -> Bool = {
            ($0 >= "a" && $0 <= "z") || ($0 >= "A" && $0 <= "Z") || ($0 >= "0" && $0 <= "9")
                || "+:/@.-_[]?=&~".unicodeScalars.contains($0)
        }
        if let bad = uri.unicodeScalars.first(where: { !allowed($0) }) {
            return refuse("the libvirt URI \(shown) contains \(TextEscaping.describe(bad)), which Driftless does not allow in a URI")
        }
        guard let schemeEnd = uri.range(of: "://") else {
            return refuse("\(shown) is not a libvirt URI")
        }
        let scheme = uri[..<schemeEnd.lowerBound]
        let parts = scheme.split(separator: "+", maxSplits: 1, omittingEmptySubsequences: false)
        let driver = String(parts[0])
        let transport = parts.count == 2 ? String(parts[1]) : nil
        guard driver == "qemu" || driver == "test" else {
            return refuse("the libvirt driver \"\(driver)\" is not allowed")
        }
        if let transport {
            if transport == "ext" {
                return refuse("the libvirt transport \"ext\" runs a program on the controller and is never allowed")
            }
            guard transports.contains(transport) else {
                return refuse("the libvirt transport \"\(transport)\" is not allowed")
            }
            guard driver == "qemu" else {
                return refuse("the test driver is only allowed as test:///default")
            }
        }
        var rest = uri[schemeEnd.upperBound...]
        var query: Substring = ""
        if let mark = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: mark)...]
            rest = rest[..<mark]
        }
        let authority = rest.prefix { $0 != "/" }
        let path = String(rest.dropFirst(authority.count))

        var parsed = Parsed(driver: driver, transport: transport, path: path)
        let remote = transport.map { $0 != "unix" } ?? false
        if remote {
            switch parseAuthority(authority) {
            case let .failure(problem): return .failure(problem)
            case let .success((user, host, port)):
                parsed.user = user
                parsed.host = host
                parsed.port = port
            }
        } else if !authority.isEmpty {
            return refuse("a local libvirt URI names no host; found \(TextEscaping.quoted(String(authority)))",
                          hint: "write qemu:///system, or qemu+ssh://\(authority)/system for a remote host")
        }

        let paths: Set<String> = driver == "test" ? ["/default"] : ["/system", "/session"]
        guard paths.contains(path) else {
            return refuse("the libvirt URI path \(TextEscaping.quoted(path)) is not allowed; use \(paths.sorted().joined(separator: " or "))",
                          hint: driver == "test" ? "test:///default is the only test URI (others read files of the controller)" : nil)
        }

        for parameter in query.split(separator: "&", omittingEmptySubsequences: false) where !query.isEmpty {
            let pair = parameter.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(pair[0])
            let value = pair.count == 2 ? String(pair[1]) : ""
            switch name {
            case "socket" where transport == "unix":
                if let problem = socketPathProblem(value) { return .failure(problem) }
                guard parsed.socket == nil else { return refuse("the URI parameter socket= is given twice") }
                parsed.socket = value
            case "socket":
                return refuse("the URI parameter socket= is only allowed with qemu+unix",
                              hint: "a remote host is reached through its transport, not a local socket")
            case "command", "netcat":
                return refuse("the URI parameter \(name)= runs a program on the controller and is never allowed")
            case "no_verify", "no_tty", "known_hosts_verify":
                return refuse("the URI parameter \(name)= weakens host verification and is not allowed")
            case "keyfile", "known_hosts", "pkipath", "sshauth", "authfile":
                return refuse("the URI parameter \(name)= names a file of the controller; the operator sets it, not the repository",
                              hint: "pass it on the command line (see driftless --help)")
            default:
                return refuse("the URI parameter \(TextEscaping.quoted(name))= is not allowed", hint: examples)
            }
        }
        return .success(parsed)
    }

    static func parseAuthority(_ authority: Substring) -> Result<(String?, String, Int?), ParseProblem> {
        var hostPort = authority
        var user: String?
        if let at = authority.lastIndex(of: "@") {
            let name = authority[..<at]
            guard !name.isEmpty, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }) else {
                return .failure(ParseProblem(
                    "the user name in a libvirt URI may hold only letters, digits, '.', '_' and '-'",
                    hint: "passwords never go in a manifest"))
            }
            user = String(name)
            hostPort = authority[authority.index(after: at)...]
        }
        var host: Substring
        var portText: Substring?
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else {
                return .failure(ParseProblem("unclosed [ in the libvirt URI's host"))
            }
            host = hostPort[hostPort.index(after: hostPort.startIndex)..<close]
            let after = hostPort[hostPort.index(after: close)...]
            if after.hasPrefix(":") { portText = after.dropFirst() } else if !after.isEmpty {
                return .failure(ParseProblem("expected :PORT after ] in the libvirt URI"))
            }
            guard isIPv6Literal(host) else {
                return .failure(ParseProblem("\(TextEscaping.quoted(String(host))) is not an IPv6 address"))
            }
        } else {
            if let colon = hostPort.firstIndex(of: ":") {
                host = hostPort[..<colon]
                portText = hostPort[hostPort.index(after: colon)...]
            } else {
                host = hostPort
            }
            guard isHostName(host) else {
                return .failure(ParseProblem(
                    "a remote libvirt URI needs a host name or address; found \(TextEscaping.quoted(String(host)))",
                    hint: "for example qemu+ssh://root@node-1/system"))
            }
        }
        var port: Int?
        if let portText {
            guard let number = Int(portText), (1...65535).contains(number) else {
                return .failure(ParseProblem("the port \(TextEscaping.quoted(String(portText))) is not a number from 1 to 65535"))
            }
            port = number
        }
        return .success((user, String(host), port))
    }

    /// What may stand between `[` and `]`: hexadecimal digits, `:` and `.` (an embedded IPv4 address).
    static func isIPv6Literal(_ host: Substring) -> Bool {
        !host.isEmpty && host.allSatisfy { $0.isHexDigit || $0 == ":" || $0 == "." }
    }

    /// A DNS name or dotted IPv4 address: labels of letters, digits and '-', not starting with '-'.
    static func isHostName(_ host: Substring) -> Bool {
        guard (1...253).contains(host.utf8.count) else { return false }
        return host.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
            (1...63).contains(label.utf8.count) && label.first != "-" && label.last != "-"
                && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
        }
    }

    /// An absolute, normalised path of safe characters (no `..`, no `//`).
    static func socketPathProblem(_ path: String) -> ParseProblem? {
        guard path.hasPrefix("/"), path.count > 1 else {
            return ParseProblem("the socket= path must be absolute, such as /var/run/libvirt/libvirt-sock")
        }
        let components = path.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
        guard components.allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." }) else {
            return ParseProblem("the socket= path \(TextEscaping.quoted(path)) is not normalised (no '.', '..' or '//')")
        }
        return nil
    }
}

/// Which OVSDB endpoints a repository may name: active `unix:`, `tcp:` and `ssl:` only, with an
/// absolute normalised socket path or a host name or address and a port.
public enum OVSDBEndpointPolicy {
    /// Why `endpoint` is not allowed, or `nil` when it is.
    public static func problem(with endpoint: String) -> ParseProblem? {
        let hint = "for example unix:/var/run/openvswitch/db.sock or tcp:192.0.2.10:6640"
        if let bad = endpoint.unicodeScalars.first(where: { !$0.isASCII || $0.value < 0x21 || $0.value == 0x7F }) {
            return ParseProblem("the OVSDB endpoint contains \(TextEscaping.describe(bad))", hint: hint)
        }
        if endpoint.hasPrefix("unix:") {
            let path = String(endpoint.dropFirst(5))
            guard path.hasPrefix("/") else {
                return ParseProblem("\(TextEscaping.quoted(endpoint)) needs an absolute socket path", hint: hint)
            }
            return LibvirtURIPolicy.socketPathProblem(path).map { ParseProblem("OVSDB endpoint: " + $0.message, hint: hint) }
        }
        for scheme in ["tcp:", "ssl:"] where endpoint.hasPrefix(scheme) {
            let rest = endpoint.dropFirst(scheme.count)
            var host: Substring
            let portText: Substring
            if rest.hasPrefix("[") {
                guard let close = rest.firstIndex(of: "]"), rest[rest.index(after: close)...].hasPrefix(":") else {
                    return ParseProblem("\(TextEscaping.quoted(endpoint)) needs [IPV6]:PORT", hint: hint)
                }
                host = rest[rest.index(after: rest.startIndex)..<close]
                portText = rest[rest.index(close, offsetBy: 2)...]
                guard LibvirtURIPolicy.isIPv6Literal(host) else {
                    return ParseProblem("\(TextEscaping.quoted(String(host))) is not an IPv6 address", hint: hint)
                }
            } else {
                // `tcp:HOST` alone means the IANA port 6640, as ovs-vsctl reads it.
                let colon = rest.lastIndex(of: ":")
                host = colon.map { rest[..<$0] } ?? rest
                portText = colon.map { rest[rest.index(after: $0)...] } ?? "6640"
                guard LibvirtURIPolicy.isHostName(host) else {
                    return ParseProblem("\(TextEscaping.quoted(endpoint)) needs a host name or address", hint: hint)
                }
            }
            guard let port = Int(portText), (1...65535).contains(port) else {
                return ParseProblem("\(TextEscaping.quoted(endpoint)) needs a host and a port from 1 to 65535", hint: hint)
            }
            return nil
        }
        if ["punix:", "ptcp:", "pssl:"].contains(where: endpoint.hasPrefix) {
            return ParseProblem("\(TextEscaping.quoted(endpoint)) is a passive (listening) endpoint; Driftless connects actively", hint: hint)
        }
        return ParseProblem("\(TextEscaping.quoted(endpoint)) is not an OVSDB endpoint", hint: hint)
    }
}
