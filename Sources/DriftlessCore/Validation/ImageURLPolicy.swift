import Foundation

/// Decides whether an image URL may be fetched: http(s) only, never loopback, link-local or a cloud
/// metadata service (the server-side request forgery that Glance's URL imports had to close).
public enum ImageURLPolicy {
    /// Host names that always mean this machine or a metadata service.
    static let forbiddenNames: Set<String> = [
        "localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback",
        "metadata", "metadata.google.internal", "metadata.goog", "instance-data", "instance-data.ec2.internal",
    ]

    /// Returns why `text` is not an acceptable image URL (its shape or its address), or `nil` when it is.
    public static func problem(with text: String) -> ParseProblem? {
        shapeProblem(with: text) ?? addressProblem(with: text)
    }

    /// Why `text` is not an http(s) URL with a host, or `nil`.
    public static func shapeProblem(with text: String) -> ParseProblem? {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased() else {
            return ParseProblem("\"\(text)\" is not a URL")
        }
        guard scheme == "http" || scheme == "https" else {
            return ParseProblem("image URLs must use http or https, not \"\(scheme)\"",
                                hint: scheme == "file" ? "use source.path for a file on the controller" : nil)
        }
        guard let host = components.host, !host.isEmpty else {
            return ParseProblem("\"\(text)\" has no host")
        }
        return nil
    }

    /// Why the URL's host is a loopback, link-local or metadata address, or `nil`.
    public static func addressProblem(with text: String) -> ParseProblem? {
        guard let rawHost = URLComponents(string: text)?.host, !rawHost.isEmpty else { return nil }
        let host = rawHost.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]."))
        if forbiddenNames.contains(host) || host.hasSuffix(".localhost") {
            return ParseProblem("image URL points at \"\(rawHost)\", a loopback or metadata address")
        }
        if let ipv4 = looseIPv4(host), let reason = forbiddenReason(ipv4) {
            return ParseProblem("image URL points at \(ipv4), \(reason)")
        }
        if host.contains(":"), let reason = forbiddenIPv6Reason(host) {
            return ParseProblem("image URL points at [\(host)], \(reason)")
        }
        return nil
    }

    static func forbiddenReason(_ ip: IPv4Address) -> String? {
        let v = ip.value
        if v >> 24 == 127 { return "a loopback address" }
        if v >> 24 == 0 { return "an unspecified address" }
        if v >> 16 == 0xA9FE { return "a link-local address (the metadata service lives at 169.254.169.254)" }
        if v == 0x6464_64C8 { return "a cloud metadata address" }  // 100.100.100.200
        if v == 0xC000_00C0 { return "a cloud metadata address" }  // 192.0.0.192
        return nil
    }

    static func forbiddenIPv6Reason(_ host: String) -> String? {
        let h = host.split(separator: "%").first.map(String.init) ?? host
        if h == "::1" || h == "0:0:0:0:0:0:0:1" { return "a loopback address" }
        if h == "::" { return "an unspecified address" }
        if let first = h.split(separator: ":").first, first.count == 4, first.hasPrefix("fe"),
           let nibble = first.dropFirst(2).first, "89ab".contains(nibble) {
            return "a link-local address"
        }
        if h.hasPrefix("fd00:ec2:") { return "a cloud metadata address" }
        if h.hasPrefix("::ffff:"), let v4 = looseIPv4(String(h.dropFirst(7))), let reason = forbiddenReason(v4) {
            return reason
        }
        return nil
    }

    /// Parses IPv4 the way `inet_aton` does (`127.1`, `2130706433`, `0x7f.0.0.1`, octal `0177.0.0.1`), since
    /// that is how an HTTP client would resolve such a host.
    static func looseIPv4(_ host: String) -> IPv4Address? {
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...4).contains(parts.count) else { return nil }
        var numbers: [UInt64] = []
        for part in parts {
            let p = part.lowercased()
            let value: UInt64?
            if p.hasPrefix("0x") { value = UInt64(p.dropFirst(2), radix: 16) }
            else if p.count > 1, p.hasPrefix("0") { value = UInt64(p.dropFirst(), radix: 8) }
            else { value = UInt64(p, radix: 10) }
            guard let value else { return nil }
            numbers.append(value)
        }
        var result: UInt64 = 0
        for (i, n) in numbers.enumerated() {
            if i == numbers.count - 1 {
                let remainingBits = UInt64(8 * (4 - i))
                guard n < (1 << remainingBits) else { return nil }
                result = result << remainingBits | n
            } else {
                guard n < 256 else { return nil }
                result = result << 8 | n
            }
        }
        return IPv4Address(UInt32(truncatingIfNeeded: result))
    }
}

extension ImageURLPolicy {
    /// Why a resolved address is not acceptable, thrown when a host name resolves to loopback, link-local or
    /// metadata addresses (a name that passes validation can still point there through DNS).
    public struct ResolvedAddressError: Error, CustomStringConvertible {
        public var host: String
        public var address: String
        public var reason: String
        public var description: String { "\(host) resolves to \(address), \(reason)" }
    }

    /// Resolves `host` and refuses it when any of its IPv4 or IPv6 addresses is forbidden.
    public static func checkResolvedAddresses(of host: String) throws {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &result) == 0, let first = result else { return }
        defer { freeaddrinfo(first) }
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let info = cursor {
            if info.pointee.ai_family == AF_INET, let raw = info.pointee.ai_addr {
                let value = raw.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt32(bigEndian: $0.pointee.sin_addr.s_addr) }
                let address = IPv4Address(value)
                if let reason = forbiddenReason(address) {
                    throw ResolvedAddressError(host: host, address: address.description, reason: reason)
                }
            } else if info.pointee.ai_family == AF_INET6, let raw = info.pointee.ai_addr {
                var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
                raw.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { pointer in
                    var address = pointer.pointee.sin6_addr
                    _ = inet_ntop(AF_INET6, &address, &buffer, socklen_t(INET6_ADDRSTRLEN))
                }
                let text = String(cString: buffer)
                if let reason = forbiddenIPv6Reason(text) {
                    throw ResolvedAddressError(host: host, address: text, reason: reason)
                }
            }
            cursor = info.pointee.ai_next
        }
    }
}
