import Foundation

/// Checks for the string formats manifests use: names, emails, label keys, image URLs, digests.
public enum Formats {
    /// A DNS label: `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 characters.
    public static func isName(_ s: String) -> Bool {
        let bytes = Array(s.utf8)
        guard (1...63).contains(bytes.count) else { return false }
        func alnum(_ b: UInt8) -> Bool { (b >= 97 && b <= 122) || (b >= 48 && b <= 57) }
        guard let first = bytes.first, let last = bytes.last, alnum(first), alnum(last) else { return false }
        return bytes.allSatisfy { alnum($0) || $0 == 45 }
    }

    /// Why a name is not a DNS label, in words a person can act on.
    public static func nameProblem(_ s: String) -> ParseProblem {
        if s.isEmpty { return ParseProblem("is empty") }
        if s.utf8.count > 63 { return ParseProblem("is \(s.utf8.count) characters long; names have at most 63") }
        let lowered = s.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "-" }
        var suggestion = String(lowered).trimmingCharacters(of: "-")
        while suggestion.contains("--") { suggestion = suggestion.replacingOccurrences(of: "--", with: "-") }
        let hint = isName(suggestion) ? "did you mean \"\(suggestion)\"?" : nil
        return ParseProblem(
            "\"\(s)\" is not a valid name: use lowercase letters, digits and '-', starting and ending with a letter or digit",
            hint: hint)
    }

    /// A lowercase hexadecimal SHA-256 digest: 64 characters.
    public static func isSHA256(_ s: String) -> Bool {
        s.utf8.count == 64 && s.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }
    }

    /// A plausible email address: one `@`, a non-empty local part, a dotted domain, no spaces.
    public static func isEmail(_ s: String) -> Bool {
        let parts = s.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[1].contains("."),
              !parts[1].hasPrefix("."), !parts[1].hasSuffix("."),
              !s.contains(where: { $0.isWhitespace }), !s.unicodeScalars.contains(where: TextEscaping.isUnsafe)
        else { return false }
        return true
    }

    /// A label or annotation key: an optional DNS-style prefix and `/`, then a name of letters, digits, `-_.`.
    public static func isLabelKey(_ s: String) -> Bool {
        let parts = s.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let name = parts.last, (1...63).contains(name.count) else { return false }
        if parts.count == 2 {
            let prefix = parts[0]
            guard (1...253).contains(prefix.count),
                  prefix.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-" || $0 == ".") })
            else { return false }
        }
        guard let first = name.first, let last = name.last,
              first.isASCII && (first.isLetter || first.isNumber), last.isASCII && (last.isLetter || last.isNumber)
        else { return false }
        return name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ".") }
    }

    /// An OVS bridge name: 1–15 characters of letters, digits, `-_.` (the kernel's interface name limit).
    public static func isBridgeName(_ s: String) -> Bool {
        (1...15).contains(s.utf8.count)
            && s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ".") }
    }
}

extension String {
    func trimmingCharacters(of character: Character) -> String {
        var s = Substring(self)
        while s.first == character { s = s.dropFirst() }
        while s.last == character { s = s.dropLast() }
        return String(s)
    }
}
