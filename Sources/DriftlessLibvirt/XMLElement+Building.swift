import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

// Small helpers over FoundationXML so builders read like the XML they produce. Values
// always go through XMLNode text and attribute nodes, which escape them; no builder
// splices a string into XML text.

extension XMLElement {
    /// Creates an element with attributes (in the given order) and optional text.
    convenience init(_ name: String, _ attributes: KeyValuePairs<String, String> = [:], text: String? = nil) {
        if let text {
            self.init(name: name, stringValue: text)
        } else {
            self.init(name: name)
        }
        for (key, value) in attributes {
            setAttribute(key, value)
        }
    }

    /// Sets an attribute; the value is escaped on output.
    func setAttribute(_ name: String, _ value: String) {
        if let node = XMLNode.attribute(withName: name, stringValue: value) as? XMLNode {
            addAttribute(node)
        }
    }

    /// Adds a child and returns it, for nesting.
    @discardableResult
    func add(_ child: XMLElement) -> XMLElement {
        addChild(child)
        return child
    }

    /// The first child element with this (unprefixed) name.
    func child(_ name: String) -> XMLElement? {
        elements(forName: name).first
    }

    /// The value of an attribute, nil when absent.
    func attribute(_ name: String) -> String? {
        attribute(forName: name)?.stringValue
    }

    /// The trimmed text of the first child element with this name.
    func childText(_ name: String) -> String? {
        child(name)?.stringValue?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The element serialised with indentation.
    var prettyXMLString: String {
        xmlString(options: [.nodePrettyPrint, .nodeCompactEmptyElement])
    }
}

/// An XML document the parsers could not use: malformed, or missing something required.
public struct XMLParseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What was wrong.
    public var message: String

    /// Creates an error with a message.
    public init(_ message: String) {
        self.message = message
    }

    /// The message.
    public var description: String { message }
}

/// Converts a libvirt size with unit (`unit='KiB'`, `MiB`, `G`, `bytes`, …) to bytes.
///
/// libvirt reads single letters and `KiB`-style units as powers of 1024, `KB`-style as
/// powers of 1000, and a missing unit as `defaultUnit`.
func bytes(fromLibvirtValue text: String, unit: String?, defaultUnit: String) throws -> UInt64 {
    guard let value = UInt64(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
        throw XMLParseError("not a size: '\(text)'")
    }
    let multipliers: [String: UInt64] = [
        "b": 1, "bytes": 1,
        "k": 1 << 10, "kib": 1 << 10, "kb": 1_000,
        "m": 1 << 20, "mib": 1 << 20, "mb": 1_000_000,
        "g": 1 << 30, "gib": 1 << 30, "gb": 1_000_000_000,
        "t": 1 << 40, "tib": 1 << 40, "tb": 1_000_000_000_000,
    ]
    let key = (unit ?? defaultUnit).lowercased()
    guard let multiplier = multipliers[key] else { throw XMLParseError("unknown size unit '\(key)'") }
    let (product, overflow) = value.multipliedReportingOverflow(by: multiplier)
    guard !overflow else { throw XMLParseError("size \(text) \(key) overflows") }
    return product
}
