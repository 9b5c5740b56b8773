import CLibvirt
import Foundation

/// A libvirt storage pool (`virStoragePoolPtr`), freed when the last reference goes away.
///
/// Safe to share between threads: libvirt pool objects are reference-counted and
/// thread-safe, and this class holds only immutable references.
public final class LibvirtStoragePool: @unchecked Sendable {
    /// The pool state (`virStoragePoolState`).
    public enum State: Sendable, Equatable {
        case inactive, building, running, degraded, inaccessible
        /// A state this version does not know.
        case unknown(Int32)

        init(_ raw: Int32) {
            switch UInt32(bitPattern: raw) {
            case VIR_STORAGE_POOL_INACTIVE.rawValue: self = .inactive
            case VIR_STORAGE_POOL_BUILDING.rawValue: self = .building
            case VIR_STORAGE_POOL_RUNNING.rawValue: self = .running
            case VIR_STORAGE_POOL_DEGRADED.rawValue: self = .degraded
            case VIR_STORAGE_POOL_INACCESSIBLE.rawValue: self = .inaccessible
            default: self = .unknown(raw)
            }
        }
    }

    /// What `virStoragePoolGetInfo` reports; sizes in bytes.
    public struct Info: Sendable, Equatable {
        /// The pool state.
        public var state: State
        /// Logical size.
        public var capacity: UInt64
        /// Current allocation.
        public var allocation: UInt64
        /// Remaining free space.
        public var available: UInt64
    }

    let pointer: OpaquePointer
    /// The connection this pool belongs to.
    public let connection: LibvirtConnection
    private var connectionState: ConnectionState { connection.state }

    init(pointer: OpaquePointer, connection: LibvirtConnection) {
        self.pointer = pointer
        self.connection = connection
    }

    deinit {
        _ = virStoragePoolFree(pointer)
    }

    /// The pool's name.
    public func name() throws(LibvirtError) -> String {
        String(cString: try libvirtPointer("virStoragePoolGetName", connectionState) { virStoragePoolGetName(pointer) })
    }

    /// The pool's UUID, lowercase with dashes.
    public func uuidString() throws(LibvirtError) -> String {
        var buffer = [CChar](repeating: 0, count: Int(VIR_UUID_STRING_BUFLEN))
        try libvirtCall("virStoragePoolGetUUIDString", connectionState) { virStoragePoolGetUUIDString(pointer, &buffer) }
        return decodeCString(buffer)
    }

    /// State and sizes.
    public func info() throws(LibvirtError) -> Info {
        var info = virStoragePoolInfo()
        try libvirtCall("virStoragePoolGetInfo", connectionState) { virStoragePoolGetInfo(pointer, &info) }
        return Info(
            state: State(Int32(info.state)),
            capacity: info.capacity,
            allocation: info.allocation,
            available: info.available
        )
    }

    /// True when the pool is started.
    public func isActive() throws(LibvirtError) -> Bool {
        try libvirtCall("virStoragePoolIsActive", connectionState) { virStoragePoolIsActive(pointer) } == 1
    }

    /// The pool XML; `inactive` gives the persistent definition.
    public func xmlDescription(inactive: Bool = false) throws(LibvirtError) -> String {
        try libvirtString("virStoragePoolGetXMLDesc", connectionState) {
            virStoragePoolGetXMLDesc(pointer, inactive ? VIR_STORAGE_XML_INACTIVE.rawValue : 0)
        }
    }

    /// Builds the pool's backing storage (a dir pool creates its directory) (`virStoragePoolBuild`).
    public func build() throws(LibvirtError) {
        try libvirtCall("virStoragePoolBuild", connectionState) { virStoragePoolBuild(pointer, 0) }
    }

    /// Starts the pool (`virStoragePoolCreate`); `operationInvalid` when already active.
    public func create() throws(LibvirtError) {
        try libvirtCall("virStoragePoolCreate", connectionState) { virStoragePoolCreate(pointer, 0) }
    }

    /// Stops the pool; volumes stay on disk (`virStoragePoolDestroy`).
    public func destroy() throws(LibvirtError) {
        try libvirtCall("virStoragePoolDestroy", connectionState) { virStoragePoolDestroy(pointer) }
    }

    /// Deletes the pool's backing storage; a dir pool removes its (empty) directory (`virStoragePoolDelete`).
    public func delete() throws(LibvirtError) {
        try libvirtCall("virStoragePoolDelete", connectionState) { virStoragePoolDelete(pointer, 0) }
    }

    /// Removes the persistent definition of an inactive pool (`virStoragePoolUndefine`).
    public func undefine() throws(LibvirtError) {
        try libvirtCall("virStoragePoolUndefine", connectionState) { virStoragePoolUndefine(pointer) }
    }

    /// Sets whether the pool starts with the daemon.
    public func setAutostart(_ enabled: Bool) throws(LibvirtError) {
        try libvirtCall("virStoragePoolSetAutostart", connectionState) { virStoragePoolSetAutostart(pointer, enabled ? 1 : 0) }
    }

    /// Rescans the pool's storage so volumes created out of band appear (`virStoragePoolRefresh`).
    public func refresh() throws(LibvirtError) {
        try libvirtCall("virStoragePoolRefresh", connectionState) { virStoragePoolRefresh(pointer, 0) }
    }

    /// Every volume in the pool in one call (`virStoragePoolListAllVolumes`).
    public func listAllVolumes() throws(LibvirtError) -> [LibvirtStorageVolume] {
        var list: UnsafeMutablePointer<virStorageVolPtr?>?
        let count = try libvirtCall("virStoragePoolListAllVolumes", connectionState) {
            virStoragePoolListAllVolumes(pointer, &list, 0)
        }
        return adoptList(list, count: count).map { LibvirtStorageVolume(pointer: $0, connection: connection) }
    }

    /// The volume with this name; throws `noStorageVol` when there is none.
    public func lookupVolume(name: String) throws(LibvirtError) -> LibvirtStorageVolume {
        let volume = try libvirtPointer("virStorageVolLookupByName", connectionState) {
            virStorageVolLookupByName(pointer, name)
        }
        return LibvirtStorageVolume(pointer: volume, connection: connection)
    }

    /// The volume with this name, or nil when it does not exist.
    public func volumeIfPresent(name: String) throws(LibvirtError) -> LibvirtStorageVolume? {
        do {
            return try lookupVolume(name: name)
        } catch where error.isNotFound {
            return nil
        }
    }

    /// Creates a volume from XML (`virStorageVolCreateXML`).
    public func createVolume(xml: String) throws(LibvirtError) -> LibvirtStorageVolume {
        let volume = try libvirtPointer("virStorageVolCreateXML", connectionState) {
            virStorageVolCreateXML(pointer, xml, 0)
        }
        return LibvirtStorageVolume(pointer: volume, connection: connection)
    }

    /// Creates a volume from a `StorageVolumeXML` value.
    public func createVolume(_ volume: StorageVolumeXML) throws(LibvirtError) -> LibvirtStorageVolume {
        try createVolume(xml: volume.xmlString())
    }

    /// Creates a volume whose content is a copy of `source`, possibly converting format (`virStorageVolCreateXMLFrom`).
    public func createVolume(xml: String, cloning source: LibvirtStorageVolume) throws(LibvirtError) -> LibvirtStorageVolume {
        let volume = try libvirtPointer("virStorageVolCreateXMLFrom", connectionState) {
            virStorageVolCreateXMLFrom(pointer, xml, source.pointer, 0)
        }
        return LibvirtStorageVolume(pointer: volume, connection: connection)
    }

    /// Clones `source` into a new volume described by a `StorageVolumeXML` value.
    public func createVolume(
        _ volume: StorageVolumeXML,
        cloning source: LibvirtStorageVolume
    ) throws(LibvirtError) -> LibvirtStorageVolume {
        try createVolume(xml: volume.xmlString(), cloning: source)
    }
}
