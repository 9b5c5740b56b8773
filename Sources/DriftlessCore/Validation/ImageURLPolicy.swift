import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Decides whether an image URL may be fetched: http(s) only, never loopback, link-local, unique-local or a
/// cloud metadata service (the server-side request forgery that Glance's URL imports had to close).
///
/// Addresses are judged by value, after `inet_pton`/`inet_aton` normalise them, so every spelling of an
/// address gets the same verdict (`::1`, `0::1` and `0:0:0:0:0:0:0:1`; `127.1` and `2130706433`). The
/// downloader (`DriftlessFetch`) applies `forbiddenReason(_:)` to every address a name resolves to, and
/// connects only to an address it checked.
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

    /// Why `text` is not an http(s) URL with a host, or `nil`. Messages never repeat the URL's credentials.
    public static func shapeProblem(with text: String) -> ParseProblem? {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased() else {
            return ParseProblem("\"\(displayURL(text))\" is not a URL")
        }
        guard scheme == "http" || scheme == "https" else {
            return ParseProblem("image URLs must use http or https, not \"\(scheme)\"",
                                hint: scheme == "file" ? "use source.path for a file on the controller" : nil)
        }
        guard let host = components.host, !host.isEmpty else {
            return ParseProblem("\"\(displayURL(text))\" has no host")
        }
        return nil
    }

    /// Why the URL's host is a name or a literal address that may never be fetched, or `nil`. A name that
    /// passes can still resolve to such an address; the downloader checks what it resolves to.
    public static func addressProblem(with text: String) -> ParseProblem? {
        guard let rawHost = URLComponents(string: text)?.host, !rawHost.isEmpty else { return nil }
        let host = rawHost.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]."))
        if forbiddenNames.contains(host) || host.hasSuffix(".localhost") {
            return ParseProblem("image URL points at \"\(rawHost)\", a loopback or metadata address")
        }
        guard let address = Address(literal: host) else { return nil }
        if let reason = forbiddenReason(address) {
            return ParseProblem("image URL points at \(address.bracketed), \(reason)")
        }
        return nil
    }

    /// `https://user:secret@host/path?token=x` → `https://host/path?…`: an image URL as it may appear in any
    /// message, log line, journal entry or API answer (no user information; a query string may be a
    /// signature, so it is elided too).
    public static func displayURL(_ text: String) -> String {
        if var components = URLComponents(string: text), components.scheme != nil {
            let hadQuery = components.percentEncodedQuery != nil
            components.user = nil
            components.password = nil
            components.percentEncodedQuery = nil
            components.fragment = nil
            if let string = components.string { return string + (hadQuery ? "?…" : "") }
        }
        // Not parseable: drop everything up to the last "@" of the authority, and any query.
        var rest = Substring(text)
        var prefix = ""
        if let schemeEnd = rest.range(of: "://") {
            prefix = String(rest[..<schemeEnd.upperBound])
            rest = rest[schemeEnd.upperBound...]
        }
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        if let at = rest[..<authorityEnd].lastIndex(of: "@") { rest = rest[rest.index(after: at)...] }
        if let query = rest.firstIndex(where: { $0 == "?" || $0 == "#" }) { rest = rest[..<query] }
        return prefix + rest
    }

    // MARK: - Addresses by value

    /// An IPv4 or IPv6 address, as the bytes a socket connects to.
    public enum Address: Hashable, Sendable, CustomStringConvertible {
        case v4(IPv4Address)
        /// Sixteen bytes, network order.
        case v6([UInt8])

        /// Parses a literal the way the C library does: IPv6 with `inet_pton` (a `%zone` suffix is ignored),
        /// IPv4 with `inet_aton`, which also takes `127.1`, `2130706433`, `0x7f.1` and octal `0177.0.0.1`,
        /// as `getaddrinfo` would when the downloader resolves such a host.
        public init?(literal text: String) {
            let host = text.hasPrefix("[") && text.hasSuffix("]") ? String(text.dropFirst().dropLast()) : text
            if host.contains(":") {
                let unzoned = host.split(separator: "%", maxSplits: 1).first.map(String.init) ?? host
                var raw = in6_addr()
                guard inet_pton(AF_INET6, unzoned, &raw) == 1 else { return nil }
                self = .v6(withUnsafeBytes(of: &raw) { Array($0) })
                return
            }
            guard !host.isEmpty, host.allSatisfy({ $0.isASCII && ($0.isHexDigit || $0 == "." || $0 == "x" || $0 == "X") })
            else { return nil }
            var raw = in_addr()
            guard inet_aton(host, &raw) != 0 else { return nil }
            self = .v4(IPv4Address(UInt32(bigEndian: raw.s_addr)))
        }

        /// The address of a `sockaddr_in`/`sockaddr_in6` (from `getaddrinfo`), or nil for other families.
        public init?(socketAddress pointer: UnsafePointer<sockaddr>) {
            switch Int32(pointer.pointee.sa_family) {
            case AF_INET:
                let value = pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt32(bigEndian: $0.pointee.sin_addr.s_addr) }
                self = .v4(IPv4Address(value))
            case AF_INET6:
                var raw = pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
                self = .v6(withUnsafeBytes(of: &raw) { Array($0) })
            default:
                return nil
            }
        }

        /// The canonical text (`inet_ntop`): `::1`, `::ffff:127.0.0.1`, `10.0.0.1`.
        public var description: String {
            switch self {
            case let .v4(address): return address.description
            case let .v6(bytes):
                var raw = in6_addr()
                withUnsafeMutableBytes(of: &raw) { $0.copyBytes(from: bytes.prefix(16)) }
                var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
                guard inet_ntop(AF_INET6, &raw, &buffer, socklen_t(INET6_ADDRSTRLEN)) != nil else { return "?" }
                return String(cString: buffer)
            }
        }

        /// IPv6 in brackets, as in a URL.
        public var bracketed: String {
            if case .v6 = self { return "[\(description)]" }
            return description
        }
    }

    /// Why an address may never be an image source, or nil when it may. Private IPv4 ranges (10/8, 172.16/12,
    /// 192.168/16) are allowed: internal mirrors live there.
    public static func forbiddenReason(_ address: Address) -> String? {
        switch address {
        case let .v4(v4): return forbiddenReason(v4)
        case let .v6(bytes): return forbiddenIPv6Reason(bytes)
        }
    }

    static func forbiddenReason(_ ip: IPv4Address) -> String? {
        let v = ip.value
        if v >> 24 == 127 { return "a loopback address" }
        if v >> 24 == 0 { return "an unspecified address" }
        if v >> 16 == 0xA9FE { return "a link-local address (the metadata service lives at 169.254.169.254)" }
        if v == 0x6464_64C8 { return "a cloud metadata address" }  // 100.100.100.200
        if v == 0xC000_00C0 { return "a cloud metadata address" }  // 192.0.0.192
        if v >> 28 == 0xE { return "a multicast address" }
        if v >> 28 == 0xF { return "a reserved or broadcast address" }
        return nil
    }

    static func forbiddenIPv6Reason(_ b: [UInt8]) -> String? {
        guard b.count == 16 else { return "not an IPv6 address" }
        func zero(_ range: Range<Int>) -> Bool { b[range].allSatisfy { $0 == 0 } }
        func v4(at offset: Int) -> IPv4Address {
            IPv4Address(UInt32(b[offset]) << 24 | UInt32(b[offset + 1]) << 16 | UInt32(b[offset + 2]) << 8 | UInt32(b[offset + 3]))
        }
        func embedded(_ form: String, at offset: Int) -> String? {
            let inner = v4(at: offset)
            return forbiddenReason(inner).map { "\(form) of \(inner), \($0)" }
        }
        if zero(0..<16) { return "an unspecified address" }
        if zero(0..<15) && b[15] == 1 { return "a loopback address" }
        // ::ffff:a.b.c.d, IPv4-mapped: the kernel connects to a.b.c.d.
        if zero(0..<10) && b[10] == 0xFF && b[11] == 0xFF { return embedded("an IPv4-mapped form", at: 12) }
        // ::ffff:0:a.b.c.d, IPv4-translated (SIIT).
        if zero(0..<8) && b[8] == 0xFF && b[9] == 0xFF && b[10] == 0 && b[11] == 0 {
            return embedded("an IPv4-translated form", at: 12)
        }
        // ::a.b.c.d, IPv4-compatible: deprecated by RFC 4291, never a real host.
        if zero(0..<12) {
            return embedded("an IPv4-compatible form", at: 12) ?? "an IPv4-compatible address (deprecated; no host has one)"
        }
        // 64:ff9b::/96 (NAT64, RFC 6052) and 64:ff9b:1::/48 (local-use NAT64, RFC 8215): the translator
        // connects to the embedded IPv4 address.
        if b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xFF && b[3] == 0x9B {
            if zero(4..<12) { return embedded("a NAT64 form", at: 12) }
            if b[4] == 0 && b[5] == 1 { return embedded("a local-use NAT64 form", at: 12) }
        }
        // 2002::/16 (6to4): the relay reaches the IPv4 address in bits 16–47.
        if b[0] == 0x20 && b[1] == 0x02 { return embedded("a 6to4 form", at: 2) }
        if b[0] == 0xFE && b[1] & 0xC0 == 0x80 { return "a link-local address" }
        if b[0] == 0xFE && b[1] & 0xC0 == 0xC0 { return "a site-local address (deprecated)" }
        // fd00:ec2::254, the AWS metadata service over IPv6, sits inside fc00::/7.
        if b[0] == 0xFD && b[1] == 0 && b[2] == 0x0E && b[3] == 0xC2 && zero(4..<14) && b[14] == 0x02 && b[15] == 0x54 {
            return "a cloud metadata address"
        }
        if b[0] & 0xFE == 0xFC { return "a unique-local address" }
        if b[0] == 0xFF { return "a multicast address" }
        return nil
    }
}
