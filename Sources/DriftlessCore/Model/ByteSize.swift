/// A size in bytes written with a binary unit: `512MiB`, `2GiB`.
///
/// Only binary units are accepted; `2GB` and bare numbers are rejected with a hint, because
/// confusing 10^9 with 2^30 bytes is a classic way to get a disk 7% smaller than meant.
public struct ByteSize: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public var bytes: UInt64

    public init(bytes: UInt64) {
        self.bytes = bytes
    }

    public static func kibibytes(_ n: UInt64) -> ByteSize { ByteSize(bytes: n << 10) }
    public static func mebibytes(_ n: UInt64) -> ByteSize { ByteSize(bytes: n << 20) }
    public static func gibibytes(_ n: UInt64) -> ByteSize { ByteSize(bytes: n << 30) }

    public static let zero = ByteSize(bytes: 0)

    public static func < (lhs: ByteSize, rhs: ByteSize) -> Bool { lhs.bytes < rhs.bytes }
    /// Saturating: a sum that would pass 2^64 bytes stays at the largest size instead of wrapping
    /// around (a wrapped sum once let `16777215TiB + 1025GiB` fit a 2GiB quota).
    public static func + (lhs: ByteSize, rhs: ByteSize) -> ByteSize {
        let (sum, overflow) = lhs.bytes.addingReportingOverflow(rhs.bytes)
        return ByteSize(bytes: overflow ? .max : sum)
    }

    public static let max = ByteSize(bytes: .max)

    /// The size as a total: `more than 16777215TiB` once a sum has saturated.
    public var describedAsTotal: String {
        self == .max ? "more than 16777215TiB" : description
    }

    /// The units, largest first, with their shift.
    static let units: [(suffix: String, shift: UInt64)] = [
        ("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10),
    ]

    /// Decimal and ambiguous spellings people write, mapped to the binary unit they most likely meant.
    static let lookalikes: [String: String] = [
        "TB": "TiB", "T": "TiB", "Ti": "TiB", "TIB": "TiB", "tib": "TiB", "tb": "TiB", "t": "TiB",
        "GB": "GiB", "G": "GiB", "Gi": "GiB", "GIB": "GiB", "gib": "GiB", "gb": "GiB", "g": "GiB",
        "MB": "MiB", "M": "MiB", "Mi": "MiB", "MIB": "MiB", "mib": "MiB", "mb": "MiB", "m": "MiB",
        "KB": "KiB", "K": "KiB", "Ki": "KiB", "KIB": "KiB", "kib": "KiB", "kb": "KiB", "k": "KiB",
        "kB": "KiB",
    ]

    /// Why a size string was rejected.
    public struct ParseError: Error, Equatable, Sendable {
        public var message: String
        public var hint: String?
    }

    /// Parses `<digits><unit>` with a binary unit; on failure says what was probably meant.
    public static func parse(_ text: String) -> Result<ByteSize, ParseError> {
        let trimmed = text.trimmingWhitespace
        let digits = trimmed.prefix { $0.isASCII && $0.isNumber }
        let unit = trimmed.dropFirst(digits.count).trimmingWhitespace
        guard !digits.isEmpty else {
            return .failure(ParseError(
                message: "\"\(text)\" is not a size",
                hint: "write a whole number and a binary unit: KiB, MiB, GiB or TiB, as in 2GiB"))
        }
        guard let value = UInt64(digits) else {
            return .failure(ParseError(message: "\"\(text)\" is too large", hint: nil))
        }
        if unit.isEmpty {
            let suggestion = value < 1024 ? "\(value)GiB" : "\(value)MiB"
            return .failure(ParseError(
                message: "size \"\(text)\" has no unit",
                hint: "did you mean \(suggestion)? sizes take a binary unit: KiB, MiB, GiB or TiB"))
        }
        if let (_, shift) = units.first(where: { $0.suffix == unit }) {
            guard value.leadingZeroBitCount >= Int(shift) else {
                return .failure(ParseError(message: "\"\(text)\" is too large", hint: nil))
            }
            return .success(ByteSize(bytes: value << shift))
        }
        if let meant = lookalikes[String(unit)] {
            return .failure(ParseError(
                message: "\"\(text)\" does not use a binary unit",
                hint: "did you mean \(digits)\(meant)?"))
        }
        if trimmed.contains(".") {
            return .failure(ParseError(
                message: "\"\(text)\" is not a whole number of a unit",
                hint: "use a smaller unit, as in 1536MiB for 1.5GiB"))
        }
        return .failure(ParseError(
            message: "\"\(text)\" has an unknown unit \"\(unit)\"",
            hint: "sizes take KiB, MiB, GiB or TiB"))
    }

    /// The largest unit that divides the size exactly: `2GiB`, `1536MiB`, `17B` for odd sizes.
    public var description: String {
        if bytes == 0 { return "0MiB" }
        for (suffix, shift) in Self.units where bytes & ((1 << shift) - 1) == 0 {
            return "\(bytes >> shift)\(suffix)"
        }
        return "\(bytes)B"
    }

    public var mebibytes: UInt64 { bytes >> 20 }
    public var kibibytes: UInt64 { bytes >> 10 }
}

extension Int {
    /// `self + other`, pinned at `Int.max` instead of trapping.
    public func addingSaturating(_ other: Int) -> Int {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? (other > 0 ? .max : .min) : sum
    }
}

extension StringProtocol {
    var trimmingWhitespace: Substring {
        let scalars = self[...]
        let start = scalars.firstIndex { !$0.isWhitespace } ?? scalars.endIndex
        let end = scalars.lastIndex { !$0.isWhitespace }.map { scalars.index(after: $0) } ?? start
        return Substring(scalars[start..<Swift.max(start, end)])
    }
}
