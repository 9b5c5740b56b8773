import CLibvirt
import Foundation

/// A libvirt storage volume (`virStorageVolPtr`), freed when the last reference goes away.
///
/// Safe to share between threads: libvirt volume objects are reference-counted and
/// thread-safe, and this class holds only immutable references.
public final class LibvirtStorageVolume: @unchecked Sendable {
    /// What `virStorageVolGetInfo` reports; sizes in bytes.
    public struct Info: Sendable, Equatable {
        /// libvirt's volume type number (`virStorageVolType`: 0 file, 1 block, 2 dir, …).
        public var type: Int32
        /// Logical size seen by a guest.
        public var capacity: UInt64
        /// Bytes actually allocated on the host.
        public var allocation: UInt64
    }

    /// Flags for `resize` (`virStorageVolResizeFlags`).
    public struct ResizeFlags: OptionSet, Sendable {
        /// The raw libvirt flag bits.
        public var rawValue: UInt32
        /// Creates flags from libvirt bits.
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        /// Allocate the new space too.
        public static let allocate = ResizeFlags(rawValue: VIR_STORAGE_VOL_RESIZE_ALLOCATE.rawValue)
        /// Capacity is added to the current size.
        public static let delta = ResizeFlags(rawValue: VIR_STORAGE_VOL_RESIZE_DELTA.rawValue)
        /// Allow shrinking.
        public static let shrink = ResizeFlags(rawValue: VIR_STORAGE_VOL_RESIZE_SHRINK.rawValue)
    }

    let pointer: OpaquePointer
    /// The connection this volume belongs to.
    public let connection: LibvirtConnection
    private var connectionState: ConnectionState { connection.state }

    init(pointer: OpaquePointer, connection: LibvirtConnection) {
        self.pointer = pointer
        self.connection = connection
    }

    deinit {
        _ = virStorageVolFree(pointer)
    }

    /// The volume's name within its pool.
    public func name() throws(LibvirtError) -> String {
        String(cString: try libvirtPointer("virStorageVolGetName", connectionState) { virStorageVolGetName(pointer) })
    }

    /// The volume's host-wide unique key (for file volumes, its path).
    public func key() throws(LibvirtError) -> String {
        String(cString: try libvirtPointer("virStorageVolGetKey", connectionState) { virStorageVolGetKey(pointer) })
    }

    /// The volume's path on the host, as a domain's `<source file=…>` names it.
    public func path() throws(LibvirtError) -> String {
        try libvirtString("virStorageVolGetPath", connectionState) { virStorageVolGetPath(pointer) }
    }

    /// Type, capacity and allocation.
    public func info() throws(LibvirtError) -> Info {
        var info = virStorageVolInfo()
        try libvirtCall("virStorageVolGetInfo", connectionState) { virStorageVolGetInfo(pointer, &info) }
        return Info(type: info.type, capacity: info.capacity, allocation: info.allocation)
    }

    /// How many bytes the volume's file holds (`virStorageVolGetInfoFlags` with
    /// `VIR_STORAGE_VOL_GET_PHYSICAL`): for a qcow2 file what it holds, not its virtual size.
    public func physicalSize() throws(LibvirtError) -> UInt64 {
        var info = virStorageVolInfo()
        try libvirtCall("virStorageVolGetInfoFlags", connectionState) {
            virStorageVolGetInfoFlags(pointer, &info, UInt32(VIR_STORAGE_VOL_GET_PHYSICAL.rawValue))
        }
        return info.allocation
    }

    /// Starts reading the whole volume's file through a stream (`virStorageVolDownload`); the caller
    /// receives from it until it is empty, then finishes it.
    func startDownload() throws(LibvirtError) -> LibvirtStream {
        let stream = try connection.makeStream()
        try libvirtCall("virStorageVolDownload", connectionState) { virStorageVolDownload(pointer, stream.pointer, 0, 0, 0) }
        return stream
    }

    /// Starts writing `length` bytes into the volume's file from offset 0 through a stream
    /// (`virStorageVolUpload`); the caller sends them, then finishes it.
    func startUpload(length: UInt64) throws(LibvirtError) -> LibvirtStream {
        let stream = try connection.makeStream()
        try libvirtCall("virStorageVolUpload", connectionState) { virStorageVolUpload(pointer, stream.pointer, 0, length, 0) }
        return stream
    }

    /// The volume XML (`virStorageVolGetXMLDesc`).
    public func xmlDescription() throws(LibvirtError) -> String {
        try libvirtString("virStorageVolGetXMLDesc", connectionState) { virStorageVolGetXMLDesc(pointer, 0) }
    }

    /// Deletes the volume and its data (`virStorageVolDelete`).
    public func delete() throws(LibvirtError) {
        try libvirtCall("virStorageVolDelete", connectionState) { virStorageVolDelete(pointer, 0) }
    }

    /// Changes the capacity in bytes (`virStorageVolResize`).
    public func resize(capacity: UInt64, _ flags: ResizeFlags = []) throws(LibvirtError) {
        try libvirtCall("virStorageVolResize", connectionState) { virStorageVolResize(pointer, capacity, flags.rawValue) }
    }

    /// Writes `data` into the volume at `offset` through a stream (`virStorageVolUpload`).
    ///
    /// Sends in chunks of `chunkSize` bytes, then finishes the stream; on any failure the
    /// stream is aborted and the error of the failing call is thrown.
    public func upload(_ data: Data, offset: UInt64 = 0, chunkSize: Int = 1 << 20) throws(LibvirtError) {
        let stream = try connection.makeStream()
        try libvirtCall("virStorageVolUpload", connectionState) {
            virStorageVolUpload(pointer, stream.pointer, offset, UInt64(data.count), 0)
        }
        do {
            var start = data.startIndex
            while start < data.endIndex {
                let end = data.index(start, offsetBy: max(chunkSize, 1), limitedBy: data.endIndex) ?? data.endIndex
                try stream.send(data[start..<end])
                start = end
            }
            try stream.finish()
        } catch {
            stream.abort()
            throw error
        }
    }

    /// Writes a local file into the volume at `offset`, reading it in chunks (`virStorageVolUpload`).
    ///
    /// Throws `LibvirtError` for libvirt failures and Foundation errors for the local file.
    public func upload(contentsOf file: URL, offset: UInt64 = 0, chunkSize: Int = 1 << 20) throws {
        let handle = try FileHandle(forReadingFrom: file)
        defer { try? handle.close() }
        let length = try handle.seekToEnd()
        try handle.seek(toOffset: 0)
        let stream = try connection.makeStream()
        try libvirtCall("virStorageVolUpload", connectionState) {
            virStorageVolUpload(pointer, stream.pointer, offset, length, 0)
        }
        do {
            var sent: UInt64 = 0
            while sent < length {
                guard let chunk = try handle.read(upToCount: max(chunkSize, 1)), !chunk.isEmpty else {
                    throw LibvirtError(
                        code: .operationFailed,
                        message: "\(file.path) ended after \(sent) of \(length) bytes",
                        function: "upload"
                    )
                }
                try stream.send(chunk)
                sent += UInt64(chunk.count)
            }
            try stream.finish()
        } catch {
            stream.abort()
            throw error
        }
    }
}
