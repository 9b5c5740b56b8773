import DriftlessCore
import Foundation

/// An http(s) image URL taken apart once: what to resolve, what to connect to, what to ask for, and how
/// to show it (`display`, without user information or query string).
struct ImageURL: Sendable, Equatable {
    var secure: Bool
    /// The host as written, lowercased, without brackets: a name or a literal address.
    var host: String
    var port: Int
    /// Path and query, as sent in the request line.
    var target: String
    /// `user:password` from the URL, sent as Basic auth to this origin only.
    var credentials: String?
    /// The URL as it may be shown anywhere.
    var display: String

    var scheme: String { secure ? "https" : "http" }

    /// Scheme, host and port: credentials go only where all three are the original's.
    var origin: String { "\(scheme)://\(host):\(port)" }

    /// The `Host` header: the name (or bracketed literal), with the port when it is not the default.
    var hostHeader: String {
        let name = host.contains(":") ? "[\(host)]" : host
        return port == (secure ? 443 : 80) ? name : "\(name):\(port)"
    }

    /// A literal IP address, when the host is one (then there is nothing to resolve and no SNI).
    var literalAddress: ImageURLPolicy.Address? { ImageURLPolicy.Address(literal: host) }

    init(_ text: String) throws {
        let shown = ImageURLPolicy.displayURL(text)
        if let problem = ImageURLPolicy.shapeProblem(with: text) {
            throw ImageSourceError.urlRefused(url: shown, reason: problem.message)
        }
        guard let components = URLComponents(string: text), let host = components.host, let scheme = components.scheme
        else { throw ImageSourceError.urlRefused(url: shown, reason: "it is not a URL") }
        secure = scheme.lowercased() == "https"
        self.host = host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        guard !self.host.isEmpty, !self.host.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F }) else {
            throw ImageSourceError.urlRefused(url: shown, reason: "its host is empty or has control characters")
        }
        if let port = components.port {
            guard (1...65535).contains(port) else { throw ImageSourceError.urlRefused(url: shown, reason: "port \(port) is out of range") }
            self.port = port
        } else {
            port = secure ? 443 : 80
        }
        var path = components.percentEncodedPath
        if path.isEmpty { path = "/" }
        if let query = components.percentEncodedQuery { path += "?" + query }
        guard !path.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F }) else {
            throw ImageSourceError.urlRefused(url: shown, reason: "its path has spaces or control characters")
        }
        target = path
        if let user = components.user {
            credentials = user + ":" + (components.password ?? "")
        }
        display = shown
    }

    /// The URL a `Location` header names, relative to this one; never carrying credentials of its own.
    func resolving(location: String) throws -> ImageURL {
        let shown = ImageURLPolicy.displayURL(location)
        guard let base = URL(string: "\(scheme)://\(hostHeader)\(target)"),
              let url = URL(string: location, relativeTo: base)?.absoluteURL
        else { throw ImageSourceError.urlRefused(url: display, reason: "it redirects to \"\(shown)\", which is not a URL") }
        var next = try ImageURL(url.absoluteString)
        if next.credentials != nil {
            throw ImageSourceError.urlRefused(url: display, reason: "it redirects to a URL with credentials (\(next.display))")
        }
        // Credentials follow a redirect only within the same origin.
        next.credentials = next.origin == origin ? credentials : nil
        return next
    }
}
