import DriftlessCore

extension DomainXML.Disk.Format {
    /// The libvirt disk format of a manifest's disk format.
    init(_ format: DiskFormat) {
        self = format == .raw ? .raw : .qcow2
    }
}

extension DiskFormat {
    /// The manifest disk format of a libvirt disk format.
    init(_ format: DomainXML.Disk.Format) {
        self = format == .raw ? .raw : .qcow2
    }
}
