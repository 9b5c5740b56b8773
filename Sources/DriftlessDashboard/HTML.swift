import DriftlessCore

/// Markup that is safe to send: literals are the dashboard's own markup, and every `String` interpolated
/// into one is escaped, so a name from a repository can never become markup.
///
/// Escaping makes text safe in element content and in quoted attribute values of HTML and SVG (XML):
/// control characters, terminal escapes and Unicode direction overrides first become visible escapes
/// (`\n`, `\u{202E}`, as in every other report, and because XML 1.0 forbids most control characters
/// even as references), then `& < > " '` become character references. Only values of types the
/// interpolation knows (text, numbers, other `HTML`) can be interpolated: anything else does not compile.
public struct HTML: Sendable, Equatable, CustomStringConvertible, ExpressibleByStringInterpolation {
    public private(set) var markup: String

    /// The dashboard's own markup, taken as it is: never call this with text from outside.
    init(trusted markup: String) { self.markup = markup }

    public init(stringLiteral value: String) { markup = value }

    public init(stringInterpolation: StringInterpolation) { markup = stringInterpolation.markup }

    public var description: String { markup }

    public static let empty = HTML(trusted: "")

    public static func + (lhs: HTML, rhs: HTML) -> HTML { HTML(trusted: lhs.markup + rhs.markup) }

    public static func += (lhs: inout HTML, rhs: HTML) { lhs.markup += rhs.markup }

    public struct StringInterpolation: StringInterpolationProtocol {
        var markup = ""

        public init(literalCapacity: Int, interpolationCount: Int) {
            markup.reserveCapacity(literalCapacity + interpolationCount * 16)
        }

        public mutating func appendLiteral(_ literal: String) { markup += literal }

        /// Text: escaped.
        public mutating func appendInterpolation(_ text: String) { HTML.escape(text, into: &markup) }

        public mutating func appendInterpolation(_ text: Substring) { HTML.escape(String(text), into: &markup) }

        /// Markup made by the dashboard: as it is.
        public mutating func appendInterpolation(_ html: HTML) { markup += html.markup }

        public mutating func appendInterpolation(_ items: [HTML]) {
            for item in items { markup += item.markup }
        }

        public mutating func appendInterpolation(_ number: Int) { markup += String(number) }

        public mutating func appendInterpolation(_ number: Double) { markup += HTML.decimal(number) }
    }

    /// Joins pieces of markup.
    public static func join(_ items: [HTML], separator: HTML = .empty) -> HTML {
        HTML(trusted: items.map(\.markup).joined(separator: separator.markup))
    }

    /// `text` escaped for element content and quoted attribute values.
    public static func escape(_ text: String) -> String {
        var result = ""
        escape(text, into: &result)
        return result
    }

    static func escape(_ text: String, into result: inout String) {
        let safe = TextEscaping.escaped(text)
        guard safe.utf8.contains(where: { $0 == 0x26 || $0 == 0x3C || $0 == 0x3E || $0 == 0x22 || $0 == 0x27 }) else {
            result += safe
            return
        }
        for character in safe.unicodeScalars {
            switch character {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            case "'": result += "&#39;"
            default: result.unicodeScalars.append(character)
            }
        }
    }

    /// A path component for a link: every byte but unreserved characters percent-encoded, so a name can
    /// neither leave its path segment (`/`, `?`, `#`) nor start a scheme.
    public static func pathComponent(_ text: String) -> String {
        var result = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                result.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = String(byte, radix: 16, uppercase: true)
                result += "%" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return result
    }

    /// A number as SVG coordinates want it: at most one decimal, no exponent, the same on every machine.
    static func decimal(_ value: Double) -> String {
        let tenths = (value * 10).rounded()
        guard tenths.isFinite, abs(tenths) < 1e15 else { return "0" }
        let whole = Int(tenths)
        return whole % 10 == 0 ? String(whole / 10) : (whole < 0 && whole > -10 ? "-" : "") + "\(whole / 10).\(abs(whole % 10))"
    }
}
