import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// A storage volume definition; renders volume XML and reads it back.
public struct StorageVolumeXML: Sendable, Equatable {
    /// A copy-on-write base image (`<backingStore>`), e.g. an instance root overlay on its image.
    public struct BackingStore: Sendable, Equatable {
        /// Path of the base image.
        public var path: String
        /// Format of the base image.
        public var format: DomainXML.Disk.Format

        /// Creates a backing store reference.
        public init(path: String, format: DomainXML.Disk.Format) {
            self.path = path
            self.format = format
        }
    }

    /// Volume name within the pool (the file name in a dir pool).
    public var name: String
    /// Logical size in bytes.
    public var capacity: UInt64
    /// Bytes to allocate up front; 0 for sparse / thin.
    public var allocation: UInt64
    /// Image format.
    public var format: DomainXML.Disk.Format
    /// Base image for a copy-on-write overlay (qcow2 only).
    public var backingStore: BackingStore?
    /// Host path, filled in when parsing libvirt's XML; ignored when rendering.
    public var path: String?

    /// Creates a volume definition; sparse by default.
    public init(
        name: String,
        capacity: UInt64,
        allocation: UInt64 = 0,
        format: DomainXML.Disk.Format = .qcow2,
        backingStore: BackingStore? = nil,
        path: String? = nil
    ) {
        self.name = name
        self.capacity = capacity
        self.allocation = allocation
        self.format = format
        self.backingStore = backingStore
        self.path = path
    }

    /// The volume XML for `virStorageVolCreateXML`.
    public func xmlString() -> String {
        let volume = XMLElement("volume")
        volume.add(XMLElement("name", text: name))
        volume.add(XMLElement("capacity", ["unit": "bytes"], text: String(capacity)))
        volume.add(XMLElement("allocation", ["unit": "bytes"], text: String(allocation)))
        volume.add(XMLElement("target")).add(XMLElement("format", ["type": format.rawValue]))
        if let backingStore {
            let backing = volume.add(XMLElement("backingStore"))
            backing.add(XMLElement("path", text: backingStore.path))
            backing.add(XMLElement("format", ["type": backingStore.format.rawValue]))
        }
        return volume.prettyXMLString
    }

    /// Reads name, sizes, format, path and backing store from volume XML.
    public init(parsing xml: String) throws {
        let root = try parseXMLRoot(xml, expecting: "volume")
        guard let name = root.childText("name"), let capacityElement = root.child("capacity") else {
            throw XMLParseError("volume XML lacks <name> or <capacity>")
        }
        let capacity = try bytes(
            fromLibvirtValue: capacityElement.stringValue ?? "",
            unit: capacityElement.attribute("unit"),
            defaultUnit: "bytes"
        )
        var allocation: UInt64 = 0
        if let element = root.child("allocation"), let text = element.stringValue {
            allocation = try bytes(fromLibvirtValue: text, unit: element.attribute("unit"), defaultUnit: "bytes")
        }
        let target = root.child("target")
        var backingStore: BackingStore?
        if let backing = root.child("backingStore"), let path = backing.childText("path") {
            let format = DomainXML.Disk.Format(rawValue: backing.child("format")?.attribute("type") ?? "raw") ?? .raw
            backingStore = BackingStore(path: path, format: format)
        }
        self.init(
            name: name,
            capacity: capacity,
            allocation: allocation,
            format: DomainXML.Disk.Format(rawValue: target?.child("format")?.attribute("type") ?? "raw") ?? .raw,
            backingStore: backingStore,
            path: target?.childText("path")
        )
    }
}
