import CLibvirt
import DriftlessCore
import Foundation

/// An open libvirt connection (`virConnectPtr`), closed when the last reference goes away.
///
/// Safe to share between threads: libvirt connections are thread-safe (libvirt locks
/// each object internally and the remote driver serialises RPC on the socket), and the
/// Swift side only keeps immutable fields plus lock-protected state. Domains, pools,
/// volumes and streams keep their connection alive while they exist.
public final class LibvirtConnection: @unchecked Sendable {
    /// Why libvirt closed a connection (`virConnectCloseReason`).
    public enum CloseReason: Sendable, Equatable {
        /// An I/O error on the socket.
        case error
        /// The daemon closed the socket (stopped or crashed).
        case endOfFile
        /// The peer stopped answering keepalive probes.
        case keepalive
        /// The client closed it.
        case client
        /// A reason this version does not know.
        case unknown(Int32)

        init(_ raw: Int32) {
            switch UInt32(bitPattern: raw) {
            case VIR_CONNECT_CLOSE_REASON_ERROR.rawValue: self = .error
            case VIR_CONNECT_CLOSE_REASON_EOF.rawValue: self = .endOfFile
            case VIR_CONNECT_CLOSE_REASON_KEEPALIVE.rawValue: self = .keepalive
            case VIR_CONNECT_CLOSE_REASON_CLIENT.rawValue: self = .client
            default: self = .unknown(raw)
            }
        }
    }

    /// Host resources as `virNodeGetInfo` reports them.
    public struct NodeInfo: Sendable, Equatable {
        /// CPU model string, e.g. `x86_64`.
        public var model: String
        /// Physical memory in KiB.
        public var memoryKiB: UInt64
        /// Number of active logical CPUs.
        public var cpus: Int
        /// Expected CPU frequency in MHz (0 when unknown).
        public var mhz: Int
        /// NUMA nodes.
        public var nodes: Int
        /// Sockets per NUMA node.
        public var sockets: Int
        /// Cores per socket.
        public var cores: Int
        /// Threads per core.
        public var threads: Int
    }

    /// The connection pointer; never leaves this target.
    let pointer: OpaquePointer
    /// Liveness and URI shared with the close callback.
    let state: ConnectionState
    /// Lifecycle event registrations to remove before closing.
    let eventRegistrations = EventRegistrations()
    /// The threads the drivers' blocking calls on this connection run on.
    let workers: LibvirtWorkers
    private let closeCallbackRegistered: Bool

    /// The URI the connection was opened with, credentials removed.
    public var redactedURI: String { state.redactedURI }

    /// False once libvirt reported the connection closed (daemon gone, keepalive timeout).
    public var isAlive: Bool { state.isAlive }

    /// Why the connection closed, nil while it is alive.
    public var closeReason: CloseReason? { state.reason }

    /// Calls `handler` once, on libvirt's event thread, when libvirt reports the connection closed (at once
    /// when it already is): how a watcher notices a lost host without polling `isAlive`.
    public func onClose(_ handler: @escaping @Sendable (CloseReason) -> Void) {
        state.onClose(handler)
    }

    /// Opens a connection: `test:///default`, `qemu:///system`, `qemu+ssh://host/system`, ….
    ///
    /// Starts the process-wide event loop first (once), enables keepalive where the
    /// driver supports it (remote connections) and registers a close callback that
    /// flips `isAlive`. A daemon that cannot be reached fails with an error whose
    /// `isConnectionLost` is true.
    ///
    /// The URI must pass `LibvirtURIPolicy` (no `ext` transport, no `command=`, `no_verify`, `keyfile=`
    /// …); one that does not is refused here, before libvirt sees it, whatever validated it before.
    ///
    /// `access` holds the operator's credentials for remote transports, added to the URI here (after the
    /// check): `pkipath=` for `qemu+tls`, `keyfile=` for `qemu+ssh`, and with a known_hosts file
    /// `qemu+ssh` is opened over libvirt's libssh transport, which checks the host's key against it.
    public init(uri: String, readOnly: Bool = false, access: HostAccess = .none) throws(LibvirtError) {
        let opened = try Self.uri(uri, with: access)
        if let startupError = LibvirtRuntime.shared.startupError { throw startupError }
        let state = ConnectionState(redactedURI: redactLibvirtURI(uri))
        let function = readOnly ? "virConnectOpenReadOnly" : "virConnectOpen"
        let pointer = try libvirtPointer(function, state) {
            readOnly ? virConnectOpenReadOnly(opened) : virConnectOpen(opened)
        }
        // Keepalive: 5 s interval, 3 missed probes. Local drivers (test://) and some
        // in-process drivers do not implement it; that is not an error for us.
        do {
            try libvirtCall("virConnectSetKeepAlive", state) { virConnectSetKeepAlive(pointer, 5, 3) }
        } catch where error.code == .noSupport || error.code == .operationUnsupported
            || error.code == .operationInvalid {
            // Not supported by this driver.
        } catch {
            virConnectClose(pointer)
            throw error
        }
        // The callback gets the state unretained: `self` keeps it alive and `deinit`
        // unregisters the callback (libvirt holds a lock while calling it, so no call is
        // in flight once unregistering returns) before the state is released. A retained
        // box would leak on drivers without close callbacks, which "register" silently.
        let opaque = Unmanaged.passUnretained(state).toOpaque()
        let registered = virConnectRegisterCloseCallback(pointer, connectionClosedCallback, opaque, nil) == 0
        if !registered {
            // Not fatal: the connection works, it just cannot report its own loss early.
            virResetLastError()
        }
        self.pointer = pointer
        self.state = state
        self.closeCallbackRegistered = registered
        self.workers = LibvirtWorkers(label: "libvirt")
    }

    /// The URI libvirt is given for `uri`: checked against `LibvirtURIPolicy` (what a repository may
    /// say), then the operator's credentials for its transport appended.
    public static func uri(_ uri: String, with access: HostAccess) throws(LibvirtError) -> String {
        func refuse(_ message: String) -> LibvirtError {
            LibvirtError(code: .invalidArgument, message: message, function: "virConnectOpen", uri: redactLibvirtURI(uri))
        }
        let parsed: LibvirtURIPolicy.Parsed
        switch LibvirtURIPolicy.parse(uri) {
        case let .success(value): parsed = value
        case let .failure(problem): throw refuse("refusing to open a libvirt URI outside the allowlist: \(problem.message)")
        }
        var result = uri
        var parameters: [(String, String)] = []
        switch parsed.transport {
        case "tls":
            if let pki = access.pkiDirectory { parameters.append(("pkipath", pki)) }
        case "ssh":
            if let key = access.sshKey { parameters.append(("keyfile", key)) }
            if let knownHosts = access.sshKnownHosts {
                result = "qemu+libssh://" + result.dropFirst("qemu+ssh://".count)
                parameters.append(("known_hosts", knownHosts))
            }
        default:
            break
        }
        for (name, path) in parameters {
            if let problem = HostAccess.problem(withPath: path) { throw refuse("the \(name) given for \(redactLibvirtURI(uri)): \(problem)") }
        }
        guard !parameters.isEmpty else { return result }
        let query = parameters.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
        return result + (result.contains("?") ? "&" : "?") + query
    }

    deinit {
        workers.close()
        for id in eventRegistrations.removeAll() {
            _ = virConnectDomainEventDeregisterAny(pointer, id)
        }
        if closeCallbackRegistered {
            _ = virConnectUnregisterCloseCallback(pointer, connectionClosedCallback)
        }
        _ = virConnectClose(pointer)
        virResetLastError()
    }

    // MARK: Host

    /// The host name of the hypervisor host.
    public func hostname() throws(LibvirtError) -> String {
        try libvirtString("virConnectGetHostname", state) { virConnectGetHostname(pointer) }
    }

    /// The capabilities XML of the hypervisor (guest types, arches, domain types).
    public func capabilitiesXML() throws(LibvirtError) -> String {
        try libvirtString("virConnectGetCapabilities", state) { virConnectGetCapabilities(pointer) }
    }

    /// CPU and memory of the host.
    public func nodeInfo() throws(LibvirtError) -> NodeInfo {
        var info = virNodeInfo()
        try libvirtCall("virNodeGetInfo", state) { virNodeGetInfo(pointer, &info) }
        let model = withUnsafeBytes(of: info.model) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        return NodeInfo(
            model: model,
            memoryKiB: UInt64(info.memory),
            cpus: Int(info.cpus),
            mhz: Int(info.mhz),
            nodes: Int(info.nodes),
            sockets: Int(info.sockets),
            cores: Int(info.cores),
            threads: Int(info.threads)
        )
    }

    /// The host's free memory in bytes (`virNodeGetFreeMemory`).
    public func freeMemory() throws(LibvirtError) -> UInt64 {
        let bytes = try libvirtCheck("virNodeGetFreeMemory", state, failed: { $0 == 0 }) { virNodeGetFreeMemory(pointer) }
        return UInt64(bytes)
    }

    /// The hypervisor's version as `major * 1_000_000 + minor * 1_000 + release`.
    public func hypervisorVersion() throws(LibvirtError) -> UInt64 {
        var version: UInt = 0
        try libvirtCall("virConnectGetVersion", state) { virConnectGetVersion(pointer, &version) }
        return UInt64(version)
    }

    /// Checks that the daemon still answers (a cheap round trip).
    public func ping() throws(LibvirtError) {
        try libvirtCall("virConnectIsAlive", state) { virConnectIsAlive(pointer) }
        _ = try hypervisorVersion()
    }

    // MARK: Domains

    /// Filters for `listAllDomains` (`virConnectListAllDomainsFlags`); empty means all.
    public struct ListDomainsFlags: OptionSet, Sendable {
        /// The raw libvirt flag bits.
        public var rawValue: UInt32
        /// Creates flags from libvirt bits.
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        /// Running or paused domains.
        public static let active = ListDomainsFlags(rawValue: VIR_CONNECT_LIST_DOMAINS_ACTIVE.rawValue)
        /// Shut-off domains.
        public static let inactive = ListDomainsFlags(rawValue: VIR_CONNECT_LIST_DOMAINS_INACTIVE.rawValue)
        /// Domains with a persistent definition.
        public static let persistent = ListDomainsFlags(rawValue: VIR_CONNECT_LIST_DOMAINS_PERSISTENT.rawValue)
        /// Transient domains.
        public static let transient = ListDomainsFlags(rawValue: VIR_CONNECT_LIST_DOMAINS_TRANSIENT.rawValue)
    }

    /// Every domain, running or not, in one call (`virConnectListAllDomains`).
    public func listAllDomains(_ flags: ListDomainsFlags = []) throws(LibvirtError) -> [LibvirtDomain] {
        var list: UnsafeMutablePointer<virDomainPtr?>?
        let count = try libvirtCall("virConnectListAllDomains", state) {
            virConnectListAllDomains(pointer, &list, flags.rawValue)
        }
        return adoptList(list, count: count).map { LibvirtDomain(pointer: $0, connection: self) }
    }

    /// The domain with this name; throws `noDomain` when there is none.
    public func lookupDomain(name: String) throws(LibvirtError) -> LibvirtDomain {
        let domain = try libvirtPointer("virDomainLookupByName", state) { virDomainLookupByName(pointer, name) }
        return LibvirtDomain(pointer: domain, connection: self)
    }

    /// The domain with this UUID (string form); throws `noDomain` when there is none.
    public func lookupDomain(uuid: String) throws(LibvirtError) -> LibvirtDomain {
        let domain = try libvirtPointer("virDomainLookupByUUIDString", state) {
            virDomainLookupByUUIDString(pointer, uuid)
        }
        return LibvirtDomain(pointer: domain, connection: self)
    }

    /// The domain with this name, or nil when it does not exist ("absent is not an error").
    public func domainIfPresent(name: String) throws(LibvirtError) -> LibvirtDomain? {
        do {
            return try lookupDomain(name: name)
        } catch where error.isNotFound {
            return nil
        }
    }

    /// Defines (or redefines) a persistent domain from XML without starting it (`virDomainDefineXML`).
    public func defineDomain(xml: String) throws(LibvirtError) -> LibvirtDomain {
        let domain = try libvirtPointer("virDomainDefineXML", state) { virDomainDefineXML(pointer, xml) }
        return LibvirtDomain(pointer: domain, connection: self)
    }

    /// Defines a persistent domain from a `DomainXML` value.
    public func defineDomain(_ domain: DomainXML) throws(LibvirtError) -> LibvirtDomain {
        try defineDomain(xml: domain.xmlString())
    }

    // MARK: Storage

    /// Every storage pool, active or not (`virConnectListAllStoragePools`).
    public func listAllStoragePools() throws(LibvirtError) -> [LibvirtStoragePool] {
        var list: UnsafeMutablePointer<virStoragePoolPtr?>?
        let count = try libvirtCall("virConnectListAllStoragePools", state) {
            virConnectListAllStoragePools(pointer, &list, 0)
        }
        return adoptList(list, count: count).map { LibvirtStoragePool(pointer: $0, connection: self) }
    }

    /// The pool with this name; throws `noStoragePool` when there is none.
    public func lookupStoragePool(name: String) throws(LibvirtError) -> LibvirtStoragePool {
        let pool = try libvirtPointer("virStoragePoolLookupByName", state) { virStoragePoolLookupByName(pointer, name) }
        return LibvirtStoragePool(pointer: pool, connection: self)
    }

    /// The pool with this name, or nil when it does not exist.
    public func storagePoolIfPresent(name: String) throws(LibvirtError) -> LibvirtStoragePool? {
        do {
            return try lookupStoragePool(name: name)
        } catch where error.isNotFound {
            return nil
        }
    }

    /// Defines a persistent, inactive pool from XML (`virStoragePoolDefineXML`); build and create it next.
    public func defineStoragePool(xml: String) throws(LibvirtError) -> LibvirtStoragePool {
        let pool = try libvirtPointer("virStoragePoolDefineXML", state) { virStoragePoolDefineXML(pointer, xml, 0) }
        return LibvirtStoragePool(pointer: pool, connection: self)
    }

    /// Defines a persistent pool from a `StoragePoolXML` value.
    public func defineStoragePool(_ pool: StoragePoolXML) throws(LibvirtError) -> LibvirtStoragePool {
        try defineStoragePool(xml: pool.xmlString())
    }

    /// The volume at this path in any pool (`virStorageVolLookupByPath`).
    public func lookupStorageVolume(path: String) throws(LibvirtError) -> LibvirtStorageVolume {
        let volume = try libvirtPointer("virStorageVolLookupByPath", state) { virStorageVolLookupByPath(pointer, path) }
        return LibvirtStorageVolume(pointer: volume, connection: self)
    }

    /// A new blocking stream on this connection, for uploads and downloads.
    func makeStream() throws(LibvirtError) -> LibvirtStream {
        let stream = try libvirtPointer("virStreamNew", state) { virStreamNew(pointer, 0) }
        return LibvirtStream(pointer: stream, connection: self)
    }
}

/// Takes ownership of the objects in a libvirt-allocated list and frees the list itself.
func adoptList(_ list: UnsafeMutablePointer<OpaquePointer?>?, count: Int32) -> [OpaquePointer] {
    guard let list else { return [] }
    defer { free(list) }
    return (0..<Int(max(count, 0))).compactMap { list[$0] }
}

/// The close callback: marks the connection's state closed. Runs on the event-loop thread.
private func connectionClosedCallback(
    _ connection: OpaquePointer?,
    _ reason: Int32,
    _ opaque: UnsafeMutableRawPointer?
) {
    guard let opaque else { return }
    Unmanaged<ConnectionState>.fromOpaque(opaque).takeUnretainedValue()
        .markClosed(LibvirtConnection.CloseReason(reason))
}

/// Releases the reference handed to libvirt with `Unmanaged.passRetained`.
func releaseRetained(_ opaque: UnsafeMutableRawPointer?) {
    guard let opaque else { return }
    Unmanaged<AnyObject>.fromOpaque(opaque).release()
}
