import CLibvirt
import Foundation

/// A libvirt domain (`virDomainPtr`), freed when the last reference goes away.
///
/// Safe to share between threads: libvirt domain objects are reference-counted and
/// thread-safe, and this class holds only immutable references.
public final class LibvirtDomain: @unchecked Sendable {
    /// The domain state (`virDomainState`).
    public enum State: Sendable, Equatable {
        case noState, running, blocked, paused, shutdown, shutoff, crashed, pmSuspended
        /// A state this version does not know.
        case unknown(Int32)

        init(_ raw: Int32) {
            switch UInt32(bitPattern: raw) {
            case VIR_DOMAIN_NOSTATE.rawValue: self = .noState
            case VIR_DOMAIN_RUNNING.rawValue: self = .running
            case VIR_DOMAIN_BLOCKED.rawValue: self = .blocked
            case VIR_DOMAIN_PAUSED.rawValue: self = .paused
            case VIR_DOMAIN_SHUTDOWN.rawValue: self = .shutdown
            case VIR_DOMAIN_SHUTOFF.rawValue: self = .shutoff
            case VIR_DOMAIN_CRASHED.rawValue: self = .crashed
            case VIR_DOMAIN_PMSUSPENDED.rawValue: self = .pmSuspended
            default: self = .unknown(raw)
            }
        }

        /// True when the domain has a running QEMU process (running, blocked, paused, shutting down, suspended).
        public var isActive: Bool {
            switch self {
            case .running, .blocked, .paused, .shutdown, .pmSuspended: return true
            default: return false
            }
        }
    }

    /// What `virDomainGetInfo` reports.
    public struct Info: Sendable, Equatable {
        /// The current state.
        public var state: State
        /// Maximum memory in KiB.
        public var maxMemoryKiB: UInt64
        /// Current memory in KiB.
        public var memoryKiB: UInt64
        /// Number of virtual CPUs.
        public var vcpus: Int
        /// CPU time used, in nanoseconds.
        public var cpuTimeNanoseconds: UInt64
    }

    /// Which definition a change affects (`virDomainModificationImpact` and friends).
    public struct Modification: OptionSet, Sendable {
        /// The raw libvirt flag bits.
        public var rawValue: UInt32
        /// Creates flags from libvirt bits.
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        /// The running domain (`VIR_DOMAIN_AFFECT_LIVE`); fails on a stopped domain.
        public static let live = Modification(rawValue: VIR_DOMAIN_AFFECT_LIVE.rawValue)
        /// The persistent definition used at next boot (`VIR_DOMAIN_AFFECT_CONFIG`).
        public static let config = Modification(rawValue: VIR_DOMAIN_AFFECT_CONFIG.rawValue)
        /// The maximum rather than the current value (`VIR_DOMAIN_MEM_MAXIMUM` = `VIR_DOMAIN_VCPU_MAXIMUM`).
        public static let maximum = Modification(rawValue: VIR_DOMAIN_VCPU_MAXIMUM.rawValue)
        /// Ask the guest agent to change the vCPU state (`VIR_DOMAIN_VCPU_GUEST`); vCPUs only.
        public static let guest = Modification(rawValue: VIR_DOMAIN_VCPU_GUEST.rawValue)
        /// Whatever the domain's state allows now (`VIR_DOMAIN_AFFECT_CURRENT`, no bits).
        public static let current: Modification = []

        /// Live and config for a running domain, config alone for a stopped one.
        public static func forState(active: Bool) -> Modification {
            active ? [.live, .config] : [.config]
        }
    }

    /// Flags for `xmlDescription` (`virDomainXMLFlags`).
    public struct XMLFlags: OptionSet, Sendable {
        /// The raw libvirt flag bits.
        public var rawValue: UInt32
        /// Creates flags from libvirt bits.
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        /// Include security-sensitive data (VNC passwords).
        public static let secure = XMLFlags(rawValue: VIR_DOMAIN_XML_SECURE.rawValue)
        /// The persistent definition rather than the live one.
        public static let inactive = XMLFlags(rawValue: VIR_DOMAIN_XML_INACTIVE.rawValue)
        /// XML suitable for migration.
        public static let migratable = XMLFlags(rawValue: VIR_DOMAIN_XML_MIGRATABLE.rawValue)
    }

    /// Flags for `undefine` (`virDomainUndefineFlagsValues`).
    public struct UndefineFlags: OptionSet, Sendable {
        /// The raw libvirt flag bits.
        public var rawValue: UInt32
        /// Creates flags from libvirt bits.
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        /// Also remove a managed-save image.
        public static let managedSave = UndefineFlags(rawValue: VIR_DOMAIN_UNDEFINE_MANAGED_SAVE.rawValue)
        /// Also remove snapshot metadata.
        public static let snapshotsMetadata = UndefineFlags(rawValue: VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA.rawValue)
        /// Also remove the UEFI NVRAM file.
        public static let nvram = UndefineFlags(rawValue: VIR_DOMAIN_UNDEFINE_NVRAM.rawValue)
        /// Also remove checkpoint metadata.
        public static let checkpointsMetadata = UndefineFlags(rawValue: VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA.rawValue)
        /// Also remove TPM state.
        public static let tpm = UndefineFlags(rawValue: VIR_DOMAIN_UNDEFINE_TPM.rawValue)
        /// Everything a managed domain can leave behind.
        public static let all: UndefineFlags = [.managedSave, .snapshotsMetadata, .nvram, .checkpointsMetadata]
    }

    let pointer: OpaquePointer
    /// The connection this domain belongs to, kept alive as long as the domain.
    public let connection: LibvirtConnection
    private var connectionState: ConnectionState { connection.state }

    init(pointer: OpaquePointer, connection: LibvirtConnection) {
        self.pointer = pointer
        self.connection = connection
    }

    deinit {
        _ = virDomainFree(pointer)
    }

    // MARK: Identity and state

    /// The domain's name.
    public func name() throws(LibvirtError) -> String {
        let name = try libvirtPointer("virDomainGetName", connectionState) { virDomainGetName(pointer) }
        return String(cString: name)
    }

    /// The domain's UUID, lowercase with dashes.
    public func uuidString() throws(LibvirtError) -> String {
        var buffer = [CChar](repeating: 0, count: Int(VIR_UUID_STRING_BUFLEN))
        try libvirtCall("virDomainGetUUIDString", connectionState) { virDomainGetUUIDString(pointer, &buffer) }
        return decodeCString(buffer)
    }

    /// State, memory, vCPUs and CPU time.
    public func info() throws(LibvirtError) -> Info {
        var info = virDomainInfo()
        try libvirtCall("virDomainGetInfo", connectionState) { virDomainGetInfo(pointer, &info) }
        return Info(
            state: State(Int32(info.state)),
            maxMemoryKiB: UInt64(info.maxMem),
            memoryKiB: UInt64(info.memory),
            vcpus: Int(info.nrVirtCpu),
            cpuTimeNanoseconds: info.cpuTime
        )
    }

    /// The current state and libvirt's reason number for it (`virDomainGetState`).
    public func state() throws(LibvirtError) -> (state: State, reason: Int32) {
        var value: Int32 = 0
        var reason: Int32 = 0
        try libvirtCall("virDomainGetState", connectionState) { virDomainGetState(pointer, &value, &reason, 0) }
        return (State(value), reason)
    }

    /// True when the domain is running (has a QEMU process).
    public func isActive() throws(LibvirtError) -> Bool {
        try libvirtCall("virDomainIsActive", connectionState) { virDomainIsActive(pointer) } == 1
    }

    /// True when the domain has a persistent definition.
    public func isPersistent() throws(LibvirtError) -> Bool {
        try libvirtCall("virDomainIsPersistent", connectionState) { virDomainIsPersistent(pointer) } == 1
    }

    /// The domain XML (`virDomainGetXMLDesc`); `.inactive` gives the next-boot definition.
    public func xmlDescription(_ flags: XMLFlags = []) throws(LibvirtError) -> String {
        try libvirtString("virDomainGetXMLDesc", connectionState) { virDomainGetXMLDesc(pointer, flags.rawValue) }
    }

    /// The domain XML parsed into a `DomainXML`.
    public func definition(_ flags: XMLFlags = []) throws -> DomainXML {
        try DomainXML(parsing: xmlDescription(flags))
    }

    // MARK: Metadata

    /// The custom metadata element in namespace `uri`, or nil when absent (`virDomainGetMetadata`).
    ///
    /// libvirt returns the element without its namespace prefix. `.live` reads the
    /// running definition, `.config` the persistent one; pass one of them, not both.
    public func metadata(namespace uri: String, _ flags: Modification = .current) throws(LibvirtError) -> String? {
        do {
            return try libvirtString("virDomainGetMetadata", connectionState) {
                virDomainGetMetadata(pointer, Int32(VIR_DOMAIN_METADATA_ELEMENT.rawValue), uri, flags.rawValue)
            }
        } catch where error.code == .noDomainMetadata {
            return nil
        }
    }

    /// Sets (replaces) the custom metadata element in namespace `uri` with prefix `key` (`virDomainSetMetadata`).
    public func setMetadata(
        _ xml: String,
        key: String,
        namespace uri: String,
        _ flags: Modification
    ) throws(LibvirtError) {
        try libvirtCall("virDomainSetMetadata", connectionState) {
            virDomainSetMetadata(pointer, Int32(VIR_DOMAIN_METADATA_ELEMENT.rawValue), xml, key, uri, flags.rawValue)
        }
    }

    /// Removes the custom metadata element in namespace `uri`.
    public func removeMetadata(namespace uri: String, _ flags: Modification) throws(LibvirtError) {
        try libvirtCall("virDomainSetMetadata", connectionState) {
            virDomainSetMetadata(pointer, Int32(VIR_DOMAIN_METADATA_ELEMENT.rawValue), nil, nil, uri, flags.rawValue)
        }
    }

    /// The Driftless ownership record, or nil when the domain carries none (not ours).
    public func driftlessMetadata(_ flags: Modification = .current) throws -> DriftlessMetadata? {
        guard let xml = try metadata(namespace: DriftlessMetadata.namespace, flags) else { return nil }
        return try DriftlessMetadata(parsing: xml)
    }

    /// Writes the Driftless ownership record; `.live` and `.config` for a running persistent domain.
    public func setDriftlessMetadata(_ metadata: DriftlessMetadata, _ flags: Modification) throws(LibvirtError) {
        try setMetadata(
            metadata.elementXMLString(prefixed: false),
            key: DriftlessMetadata.prefix,
            namespace: DriftlessMetadata.namespace,
            flags
        )
    }

    // MARK: Lifecycle

    /// Starts a defined domain (`virDomainCreate`); `operationInvalid` when it already runs.
    public func create() throws(LibvirtError) {
        try libvirtCall("virDomainCreate", connectionState) { virDomainCreate(pointer) }
    }

    /// Asks the guest to shut down (ACPI); returns before the guest stops.
    public func shutdown() throws(LibvirtError) {
        try libvirtCall("virDomainShutdown", connectionState) { virDomainShutdown(pointer) }
    }

    /// Stops the domain at once, like pulling the plug (`virDomainDestroy`).
    public func destroy() throws(LibvirtError) {
        try libvirtCall("virDomainDestroy", connectionState) { virDomainDestroy(pointer) }
    }

    /// Removes the persistent definition (`virDomainUndefineFlags`); a running domain becomes transient.
    public func undefine(_ flags: UndefineFlags = []) throws(LibvirtError) {
        try libvirtCall("virDomainUndefineFlags", connectionState) { virDomainUndefineFlags(pointer, flags.rawValue) }
    }

    /// Sets whether the domain starts with the host.
    public func setAutostart(_ enabled: Bool) throws(LibvirtError) {
        try libvirtCall("virDomainSetAutostart", connectionState) { virDomainSetAutostart(pointer, enabled ? 1 : 0) }
    }

    // MARK: Resources and devices

    /// Sets memory in KiB (`virDomainSetMemoryFlags`); add `.maximum` to change the ceiling (config only).
    /// Grows a disk of the running domain to `bytes` (`virDomainBlockResize` with `VIR_DOMAIN_BLOCK_RESIZE_BYTES`).
    public func blockResize(disk target: String, bytes: UInt64) throws(LibvirtError) {
        try libvirtCall("virDomainBlockResize", connectionState) {
            virDomainBlockResize(pointer, target, bytes, UInt32(VIR_DOMAIN_BLOCK_RESIZE_BYTES.rawValue))
        }
    }

    public func setMemory(kibibytes: UInt64, _ flags: Modification) throws(LibvirtError) {
        try libvirtCall("virDomainSetMemoryFlags", connectionState) {
            virDomainSetMemoryFlags(pointer, UInt(kibibytes), flags.rawValue)
        }
    }

    /// Sets the memory ceiling (`virDomainSetMemoryFlags` with `VIR_DOMAIN_MEM_MAXIMUM`, which shares its
    /// bit with `.maximum`); with `.config` it takes effect at next boot.
    public func setMaxMemory(kibibytes: UInt64, _ flags: Modification) throws(LibvirtError) {
        try setMemory(kibibytes: kibibytes, flags.union(.maximum))
    }

    /// Sets the vCPU count (`virDomainSetVcpusFlags`); add `.maximum` to change the ceiling (config only).
    public func setVcpus(_ count: Int, _ flags: Modification) throws(LibvirtError) {
        try libvirtCall("virDomainSetVcpusFlags", connectionState) {
            virDomainSetVcpusFlags(pointer, UInt32(clamping: count), flags.rawValue)
        }
    }

    /// The vCPU count (`virDomainGetVcpusFlags`); `.maximum` gives the ceiling.
    public func vcpus(_ flags: Modification = .current) throws(LibvirtError) -> Int {
        Int(try libvirtCall("virDomainGetVcpusFlags", connectionState) { virDomainGetVcpusFlags(pointer, flags.rawValue) })
    }

    /// Attaches a device described by XML (`<disk>`, `<interface>`) (`virDomainAttachDeviceFlags`).
    public func attachDevice(xml: String, _ flags: Modification) throws(LibvirtError) {
        try libvirtCall("virDomainAttachDeviceFlags", connectionState) {
            virDomainAttachDeviceFlags(pointer, xml, flags.rawValue)
        }
    }

    /// Detaches a device described by XML (`virDomainDetachDeviceFlags`).
    public func detachDevice(xml: String, _ flags: Modification) throws(LibvirtError) {
        try libvirtCall("virDomainDetachDeviceFlags", connectionState) {
            virDomainDetachDeviceFlags(pointer, xml, flags.rawValue)
        }
    }

    /// Changes a device in place, e.g. a CD-ROM's media (`virDomainUpdateDeviceFlags`).
    public func updateDevice(xml: String, _ flags: Modification) throws(LibvirtError) {
        try libvirtCall("virDomainUpdateDeviceFlags", connectionState) {
            virDomainUpdateDeviceFlags(pointer, xml, flags.rawValue)
        }
    }
}
