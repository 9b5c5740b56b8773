/// Makes text from a repository safe to print: control characters, terminal escapes and Unicode
/// direction overrides become visible escapes (`\n`, `\u{1B}`), so a file name or a name cannot forge
/// a `fake.yaml:1:1: error:` line, move the cursor, or reorder what a reviewer reads.
public enum TextEscaping {
    /// Whether `scalar` must not reach a terminal or a log line as it is.
    public static func isUnsafe(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F: true                   // C0, DEL, C1 (including CSI 0x9B)
        case 0x200E, 0x200F, 0x061C: true                      // direction marks
        case 0x202A...0x202E, 0x2066...0x2069: true            // embeddings, overrides, isolates
        case 0x2028, 0x2029: true                              // line and paragraph separators
        case 0xFEFF: true                                      // zero-width no-break space (BOM)
        default: false
        }
    }

    /// `text` with every unsafe character written as an escape; `\` itself is left alone.
    public static func escaped(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isUnsafe) else { return text }
        var result = ""
        result.reserveCapacity(text.utf8.count + 8)
        for scalar in text.unicodeScalars {
            guard isUnsafe(scalar) else {
                result.unicodeScalars.append(scalar)
                continue
            }
            switch scalar {
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            default: result += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
            }
        }
        return result
    }

    /// `"text"`, escaped, and cut to `limit` characters with `...` when longer.
    public static func quoted(_ text: String, limit: Int = 80) -> String {
        let safe = escaped(text)
        let shown = safe.count > limit ? String(safe.prefix(max(0, limit - 3))) + "..." : safe
        return "\"\(shown)\""
    }

    /// A character in words for an error message: `the character ';'` or `a control character (U+001B)`.
    public static func describe(_ scalar: Unicode.Scalar) -> String {
        if isUnsafe(scalar) {
            let hex = String(scalar.value, radix: 16, uppercase: true)
            return "a control character (U+\(String(repeating: "0", count: max(0, 4 - hex.count)) + hex))"
        }
        if scalar == " " { return "a space" }
        return "the character '\(scalar)'"
    }
}

extension String {
    /// This text with control characters and direction overrides escaped (see `TextEscaping`).
    public var escapingControlCharacters: String { TextEscaping.escaped(self) }
}
