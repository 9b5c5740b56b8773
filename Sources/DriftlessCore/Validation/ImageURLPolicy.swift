import Foundation

/// Decides whether an image URL may be fetched: http(s) only, never loopback, link-local or a cloud
/// metadata service (the server-side request forgery that Glance's URL imports had to close).
public enum ImageURLPolicy {
    /// Host names that always mean this machine or a metadata service.
    static let forbiddenNames: Set<String> = [
        "localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback",
        "metadata", "metadata.google.internal", "metadata.goog", "instance-data", "instance-data.ec2.internal",
    ]

    /// Returns why `text` is not an acceptable image URL, or `nil` when it is.
    public static func problem(with text: String) -> ParseProblem? {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased() else {
            return ParseProblem("\"\(text)\" is not a URL")
        }
        guard scheme == "http" || scheme == "https" else {
            return ParseProblem("image URLs must use http or https, not \"\(scheme)\"",
                                hint: scheme == "file" ? "use source.path for a file on the controller" : nil)
        }
        guard let rawHost = components.host, !rawHost.isEmpty else {
            return ParseProblem("\"\(text)\" has no host")
        }
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
