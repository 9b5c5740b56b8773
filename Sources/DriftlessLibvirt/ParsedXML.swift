import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// An element of XML read with Foundation's streaming `XMLParser` into plain Swift values.
///
/// Observation parses every managed domain's and volume's XML on every check. FoundationXML's
/// `XMLDocument` on Linux kept about 50 KB per domain document alive after use (measured: +52 MB per
/// observation of 1,000 domains), which a daemon cannot afford; this tree is freed like any Swift value.
/// Building XML (for defines) still uses `XMLElement`, which runs once per change, not per check.
final class ParsedElement {
    /// The local name (without prefix).
    let localName: String
    /// The namespace URI, when the element has one.
    let uri: String?
    let attributes: [String: String]
    private(set) var children: [ParsedElement] = []
    fileprivate var text = ""

    init(localName: String, uri: String?, attributes: [String: String]) {
        self.localName = localName
        self.uri = uri
        self.attributes = attributes
    }

    /// The text of the element and its descendants, like `XMLNode.stringValue`.
    var stringValue: String? {
        children.isEmpty ? text : text + children.compactMap(\.stringValue).joined()
    }

    /// The first child element with this local name.
    func child(_ name: String) -> ParsedElement? {
        children.first { $0.localName == name }
    }

    /// Every child element with this local name.
    func elements(forName name: String) -> [ParsedElement] {
        children.filter { $0.localName == name }
    }

    func attribute(_ name: String) -> String? {
        attributes[name]
    }

    /// The trimmed text of the first child element with this name.
    func childText(_ name: String) -> String? {
        child(name)?.stringValue?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    fileprivate func append(_ child: ParsedElement) {
        children.append(child)
    }
}

/// Builds `ParsedElement` trees from `XMLParser` callbacks.
private final class TreeBuilder: NSObject, XMLParserDelegate {
    var stack: [ParsedElement] = []
    var root: ParsedElement?

    func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        let element = ParsedElement(localName: elementName, uri: namespaceURI.flatMap { $0.isEmpty ? nil : $0 },
                                    attributes: attributes)
        if let parent = stack.last { parent.append(element) } else { root = element }
        stack.append(element)
    }

    func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName: String?) {
        _ = stack.popLast()
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        stack.last?.text += string
    }

    func parser(_ parser: XMLParser, foundCDATA CDATABlock: Data) {
        stack.last?.text += String(decoding: CDATABlock, as: UTF8.self)
    }
}

/// Parses an XML string and returns its root element, which must be named `name`.
func parseXMLRoot(_ xml: String, expecting name: String) throws -> ParsedElement {
    let parser = XMLParser(data: Data(xml.utf8))
    parser.shouldProcessNamespaces = true
    parser.shouldResolveExternalEntities = false
    let builder = TreeBuilder()
    parser.delegate = builder
    guard parser.parse(), let root = builder.root else {
        throw XMLParseError("malformed XML: \(parser.parserError.map { "\($0)" } ?? "no root element")")
    }
    guard root.localName == name else {
        throw XMLParseError("expected <\(name)> but found <\(root.localName)>")
    }
    return root
}
