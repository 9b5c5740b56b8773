import DriftlessCore
import Foundation

/// Where an OVSDB server listens: `unix:PATH`, `tcp:HOST:PORT` or `ssl:HOST:PORT` (as `ovs-vsctl --db`
/// spells them).
public enum OVSDBEndpoint: Sendable, Hashable {
    /// A Unix domain socket, e.g. `/var/run/openvswitch/db.sock`.
    case unix(path: String)
    /// A TCP address; IPv6 hosts are written in brackets, `tcp:[::1]:6641`.
    case tcp(host: String, port: Int)
    /// A TCP address spoken to over TLS, with the controller's client certificate
    /// (`OVSDBClient.Configuration.tls`); the server's certificate must chain to the given CA and name
    /// the host.
    case ssl(host: String, port: Int)

    /// The IANA port for OVSDB, used when a `tcp:` endpoint names none.
    public static let defaultPort = 6640

    /// The local Open vSwitch database socket.
    public static let localOpenVSwitch = OVSDBEndpoint.unix(path: "/var/run/openvswitch/db.sock")

    /// Parses `unix:PATH`, `tcp:HOST:PORT`, `ssl:HOST:PORT` (IPv6 hosts in brackets).
    ///
    /// Passive forms (`punix:`, `ptcp:`, `pssl:`) are refused because a client connects actively.
    public init(parsing text: String) throws {
        // The same allowlist as `validate`, checked again before any connection is made.
        if let problem = OVSDBEndpointPolicy.problem(with: text) {
            throw OVSDBError(code: .invalidEndpoint, endpoint: text, message: problem.message)
        }
        guard let colon = text.firstIndex(of: ":") else {
            throw OVSDBError(
                code: .invalidEndpoint, endpoint: text,
                message: "expected unix:PATH or tcp:HOST:PORT")
        }
        let scheme = text[..<colon]
        let rest = String(text[text.index(after: colon)...])
        switch scheme {
        case "unix":
            guard !rest.isEmpty else {
                throw OVSDBError(code: .invalidEndpoint, endpoint: text, message: "unix: needs a socket path")
            }
            self = .unix(path: rest)
        case "tcp":
            self = try Self.parseTCP(rest, original: text)
        case "ssl":
            guard case let .tcp(host, port) = try Self.parseTCP(rest, original: text) else {
                throw OVSDBError(code: .invalidEndpoint, endpoint: text, message: "ssl: needs HOST:PORT")
            }
            self = .ssl(host: host, port: port)
        case "punix", "ptcp", "pssl":
            throw OVSDBError(
                code: .invalidEndpoint, endpoint: text,
                message: "\(scheme): is a passive (listening) endpoint; a client needs unix: or tcp:")
        default:
            throw OVSDBError(
                code: .invalidEndpoint, endpoint: text,
                message: "unknown scheme \"\(scheme)\"; expected unix:PATH, tcp:HOST:PORT or ssl:HOST:PORT")
        }
    }

    private static func parseTCP(_ rest: String, original: String) throws -> OVSDBEndpoint {
        var host: Substring
        var portText: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else {
                throw OVSDBError(code: .invalidEndpoint, endpoint: original, message: "unclosed [ in IPv6 host")
            }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if after.hasPrefix(":") {
                portText = after.dropFirst()
            } else if !after.isEmpty {
                throw OVSDBError(code: .invalidEndpoint, endpoint: original, message: "expected :PORT after ]")
            }
        } else if let colon = rest.lastIndex(of: ":") {
            host = rest[..<colon]
            portText = rest[rest.index(after: colon)...]
        } else {
            host = Substring(rest)
        }
        guard !host.isEmpty else {
            throw OVSDBError(code: .invalidEndpoint, endpoint: original, message: "tcp: needs a host")
        }
        var port = defaultPort
        if let portText {
            guard let parsed = Int(portText), (1...65535).contains(parsed) else {
                throw OVSDBError(
                    code: .invalidEndpoint, endpoint: original, message: "invalid port \"\(portText)\"")
            }
            port = parsed
        }
        return .tcp(host: String(host), port: port)
    }
}

extension OVSDBEndpoint: CustomStringConvertible {
    /// The endpoint in `unix:PATH` / `tcp:HOST:PORT` form.
    public var description: String {
        switch self {
        case .unix(let path):
            return "unix:\(path)"
        case .tcp(let host, let port):
            return host.contains(":") ? "tcp:[\(host)]:\(port)" : "tcp:\(host):\(port)"
        case .ssl(let host, let port):
            return host.contains(":") ? "ssl:[\(host)]:\(port)" : "ssl:\(host):\(port)"
        }
    }
}
