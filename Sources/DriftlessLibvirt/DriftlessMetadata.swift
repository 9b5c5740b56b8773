import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// The ownership record Driftless stores in a domain's `<metadata>`, in its own XML namespace.
///
/// Like Nova's `<nova:instance>`, it makes the host the source of truth for what
/// Driftless owns: a domain without it is not ours and is never changed or deleted.
public struct DriftlessMetadata: Sendable, Equatable {
    /// The Driftless XML namespace for libvirt metadata.
    public static let namespace = "https://driftless.dev/xmlns/libvirt/1"
    /// The namespace prefix used in domain XML.
    public static let prefix = "driftless"
    /// The local name of the metadata element.
    public static let elementName = "instance"

    /// The manifest kind, e.g. `Instance`.
    public var kind: String
    /// The owning project.
    public var project: String
    /// The manifest name.
    public var name: String
    /// A hash of the applied spec, to detect changes without diffing every field.
    public var specHash: String
    /// The git commit the object was last applied from.
    public var commit: String
    /// The image volume the root disk was built on (instances only).
    public var image: String?
    /// The hash of the cloud-init seed the domain was given (instances only); the seed itself is not
    /// observable from the domain.
    public var seedHash: String?
    /// The Driftless installation (state directory) that made the domain: only it prunes or changes it.
    public var owner: String?
    /// The root disk's size in bytes as last applied (instances only).
    public var rootDisk: String?
    /// The guest accounts the seed carries, as plans show them (`alice (sudo, 1 key), bob (1 key)`).
    public var users: String?
    /// A move under way: the host the domain is going to (on the old host), or came from (on the new one,
    /// until the move ends).
    public var movingTo: String?
    public var movedFrom: String?

    /// Creates a record.
    public init(kind: String, project: String, name: String, specHash: String, commit: String,
                image: String? = nil, seedHash: String? = nil, owner: String? = nil, rootDisk: String? = nil,
                users: String? = nil) {
        self.users = users
        self.owner = owner
        self.rootDisk = rootDisk
        self.kind = kind
        self.project = project
        self.name = name
        self.specHash = specHash
        self.commit = commit
        self.image = image
        self.seedHash = seedHash
    }

    private static var fields: [(String, WritableKeyPath<DriftlessMetadata, String>)] {
        [("kind", \.kind), ("project", \.project), ("name", \.name), ("specHash", \.specHash), ("commit", \.commit)]
    }

    private static var optionalFields: [(String, WritableKeyPath<DriftlessMetadata, String?>)] {
        [("image", \.image), ("seedHash", \.seedHash), ("owner", \.owner), ("rootDisk", \.rootDisk), ("users", \.users),
         ("movingTo", \.movingTo), ("movedFrom", \.movedFrom)]
    }

    /// The record as an element; `prefixed` gives `<driftless:instance xmlns:driftless=…>`,
    /// otherwise a bare `<instance>` as `virDomainSetMetadata` expects.
    func element(prefixed: Bool) -> XMLElement {
        let qualify = { (local: String) in prefixed ? "\(Self.prefix):\(local)" : local }
        let root = XMLElement(qualify(Self.elementName))
        if prefixed, let declaration = XMLNode.namespace(withName: Self.prefix, stringValue: Self.namespace) as? XMLNode {
            root.addNamespace(declaration)
        }
        for (field, keyPath) in Self.fields {
            root.add(XMLElement(qualify(field), text: self[keyPath: keyPath]))
        }
        for (field, keyPath) in Self.optionalFields {
            if let value = self[keyPath: keyPath] { root.add(XMLElement(qualify(field), text: value)) }
        }
        return root
    }

    /// The record serialised (see `element(prefixed:)`).
    public func elementXMLString(prefixed: Bool) -> String {
        element(prefixed: prefixed).xmlString
    }

    /// Reads a record from `virDomainGetMetadata` output (bare `<instance>`) or a prefixed element.
    public init(parsing xml: String) throws {
        try self.init(element: parseXMLRoot(xml, expecting: Self.elementName))
    }

    /// Reads a record from an `<instance>` element, matching children by local name.
    init(element: ParsedElement) throws {
        var record = DriftlessMetadata(kind: "", project: "", name: "", specHash: "", commit: "")
        let children = element.children
        for (field, keyPath) in Self.fields {
            if let child = children.first(where: { $0.localName == field }) {
                record[keyPath: keyPath] = child.stringValue ?? ""
            }
        }
        for (field, keyPath) in Self.optionalFields {
            if let child = children.first(where: { $0.localName == field }) {
                record[keyPath: keyPath] = child.stringValue
            }
        }
        guard !record.kind.isEmpty, !record.name.isEmpty else {
            throw XMLParseError("Driftless metadata lacks kind or name")
        }
        self = record
    }
}
