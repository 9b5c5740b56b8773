import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// A directory storage pool definition; renders pool XML and reads it back.
public struct StoragePoolXML: Sendable, Equatable {
    /// Unique pool name on the host.
    public var name: String
    /// The directory holding the volumes.
    public var path: String
    /// Octal permission of the directory when libvirt builds it, e.g. `0755`.
    public var mode: String?

    /// Creates a dir pool definition.
    public init(name: String, path: String, mode: String? = "0755") {
        self.name = name
        self.path = path
        self.mode = mode
    }

    /// The pool XML for `virStoragePoolDefineXML`.
    public func xmlString() -> String {
        let pool = XMLElement("pool", ["type": "dir"])
        pool.add(XMLElement("name", text: name))
        let target = pool.add(XMLElement("target"))
        target.add(XMLElement("path", text: path))
        if let mode {
            target.add(XMLElement("permissions")).add(XMLElement("mode", text: mode))
        }
        return pool.prettyXMLString
    }

    /// Reads name, path and mode from pool XML.
    public init(parsing xml: String) throws {
        let root = try parseXMLRoot(xml, expecting: "pool")
        guard let name = root.childText("name"), let path = root.child("target")?.childText("path") else {
            throw XMLParseError("pool XML lacks <name> or <target><path>")
        }
        self.init(name: name, path: path, mode: root.child("target")?.child("permissions")?.childText("mode"))
    }
}
