/// The one place credentials are taken out of URLs before they reach an error, a log or the store: user
/// information, and the values of query parameters whose names suggest a secret (Flux strips credentials
/// from every URL in an error the same way).
public enum URLRedaction {
    /// What becomes of a URL's user information.
    public enum UserInfo: Sendable {
        /// `https://***@host/repo`: shows that credentials were there (git remotes in messages).
        case masked
        /// `qemu+ssh://host/system`: as if they never were (libvirt URIs, which are also identities).
        case dropped
    }

    static let secretWords = ["pass", "secret", "token", "key"]

    /// Every URL in `text` redacted (and each of `secrets` replaced by `***`).
    public static func redact(_ text: String, secrets: [String] = [], userInfo: UserInfo = .masked) -> String {
        var result = text
        for secret in secrets where !secret.isEmpty {
            result = result.replacingOccurrences(of: secret, with: "***")
        }
        var output = ""
        var rest = Substring(result)
        while let schemeEnd = rest.range(of: "://") {
            output += rest[..<schemeEnd.upperBound]
            rest = rest[schemeEnd.upperBound...]
            let urlEnd = rest.firstIndex { $0 == " " || $0 == "'" || $0 == "\"" || $0 == "\n" } ?? rest.endIndex
            output += redactAfterScheme(rest[..<urlEnd], userInfo: userInfo)
            rest = rest[urlEnd...]
        }
        return output + rest
    }

    /// One URL without its scheme: authority without user information, secret query values replaced.
    static func redactAfterScheme(_ url: Substring, userInfo: UserInfo) -> String {
        let authorityEnd = url.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? url.endIndex
        var authority = String(url[..<authorityEnd])
        if let at = authority.lastIndex(of: "@") {
            let host = authority[authority.index(after: at)...]
            authority = (userInfo == .masked ? "***@" : "") + host
        }
        var rest = String(url[authorityEnd...])
        if let question = rest.firstIndex(of: "?") {
            let path = rest[..<question]
            let query = rest[rest.index(after: question)...]
            let items = query.split(separator: "&", omittingEmptySubsequences: false).map { item -> String in
                let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let name = parts[0].lowercased()
                if parts.count == 2, secretWords.contains(where: { name.contains($0) }), name != "keyfile" {
                    return "\(parts[0])=REDACTED"
                }
                return String(item)
            }
            rest = path + "?" + items.joined(separator: "&")
        }
        return authority + rest
    }
}
