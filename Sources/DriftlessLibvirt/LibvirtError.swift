import CLibvirt

/// A failed libvirt call: the error code and domain as numbers, the message, and the call.
///
/// Built only by `libvirtCall` (see `LibvirtCall.swift`), which reads libvirt's
/// per-thread last error in the same synchronous call as the failing function.
/// Decisions (`isNotFound`, `isConnectionLost`) are made on `code` and `domain`
/// numbers, never on the message text, which libvirt translates and rewords.
public struct LibvirtError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The libvirt error number (`virErrorNumber`), unknown values included.
    public var code: Code
    /// The libvirt component that raised the error (`virErrorDomain`).
    public var domain: ErrorDomain
    /// libvirt's human-readable message (may be empty).
    public var message: String
    /// The C function that failed, for example `virDomainCreate`.
    public var function: String
    /// The connection URI with any credentials removed, when the call belonged to one.
    public var uri: String?
    /// True when the connection's close callback had already reported it closed.
    public var connectionClosed: Bool

    /// Creates an error from its parts; tests and adapters use this, libvirt calls go through `libvirtCall`.
    public init(
        code: Code,
        domain: ErrorDomain = .none,
        message: String,
        function: String,
        uri: String? = nil,
        connectionClosed: Bool = false
    ) {
        self.code = code
        self.domain = domain
        self.message = message
        self.function = function
        self.uri = uri
        self.connectionClosed = connectionClosed
    }

    /// True when the object the call named does not exist ("absent", not a failure, for readers).
    public var isNotFound: Bool {
        Self.notFoundCodes.contains(code)
    }

    /// True when the host could not be reached or the connection to it dropped.
    ///
    /// Mirrors the checks in Nova's libvirt driver: `VIR_ERR_SYSTEM_ERROR` or
    /// `VIR_ERR_INTERNAL_ERROR` raised by the RPC or remote layer (closed socket,
    /// broken pipe, connection refused), `VIR_ERR_RPC`, `VIR_ERR_NO_CONNECT`, and any
    /// failure after the close callback reported the connection gone.
    public var isConnectionLost: Bool {
        if connectionClosed { return true }
        switch code {
        case .rpc, .noConnect:
            return true
        case .systemError, .internalError:
            return domain == .rpc || domain == .remote
        default:
            return false
        }
    }

    /// True for errors worth retrying after a pause (lost connection, timeouts, a busy object).
    public var isTransient: Bool {
        isConnectionLost || code == .operationTimeout || code == .agentUnresponsive
    }

    /// A one-line description; a lost connection says the host is unreachable and names it.
    public var description: String {
        let detail = message.isEmpty ? "libvirt error \(code.rawValue)" : message
        if isConnectionLost {
            return "libvirt host \(uri ?? "(unknown)") is unreachable: \(function): \(detail)"
        }
        return "\(function) failed: \(detail) (code \(code.rawValue), domain \(domain.rawValue))"
    }

    private static let notFoundCodes: Set<Code> = [
        .noDomain, .noStoragePool, .noStorageVol, .noNetwork, .noDomainMetadata,
        .noSecret, .noNodeDevice, .noInterface, .noNWFilter, .noDomainSnapshot,
    ]
}

extension LibvirtError {
    /// A libvirt error number (`virErrorNumber`); any value is representable.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        /// The number libvirt reported.
        public var rawValue: Int32

        /// Wraps any error number.
        public init(rawValue: Int32) {
            self.rawValue = rawValue
        }

        init(_ number: virErrorNumber) {
            self.rawValue = Int32(bitPattern: number.rawValue)
        }

        /// `VIR_ERR_OK`: no error was recorded.
        public static let ok = Code(VIR_ERR_OK)
        /// `VIR_ERR_INTERNAL_ERROR`.
        public static let internalError = Code(VIR_ERR_INTERNAL_ERROR)
        /// `VIR_ERR_NO_SUPPORT`: the driver does not implement the function.
        public static let noSupport = Code(VIR_ERR_NO_SUPPORT)
        /// `VIR_ERR_NO_CONNECT`: the hypervisor could not be reached.
        public static let noConnect = Code(VIR_ERR_NO_CONNECT)
        /// `VIR_ERR_INVALID_CONN`: the connection object is invalid.
        public static let invalidConnection = Code(VIR_ERR_INVALID_CONN)
        /// `VIR_ERR_INVALID_ARG`.
        public static let invalidArgument = Code(VIR_ERR_INVALID_ARG)
        /// `VIR_ERR_OPERATION_FAILED`.
        public static let operationFailed = Code(VIR_ERR_OPERATION_FAILED)
        /// `VIR_ERR_XML_ERROR`: the XML document was rejected.
        public static let xmlError = Code(VIR_ERR_XML_ERROR)
        /// `VIR_ERR_DOM_EXIST`: a domain with that name or UUID exists.
        public static let domainExists = Code(VIR_ERR_DOM_EXIST)
        /// `VIR_ERR_SYSTEM_ERROR`: a system call failed (a closed socket, among others).
        public static let systemError = Code(VIR_ERR_SYSTEM_ERROR)
        /// `VIR_ERR_RPC`.
        public static let rpc = Code(VIR_ERR_RPC)
        /// `VIR_ERR_NO_DOMAIN`.
        public static let noDomain = Code(VIR_ERR_NO_DOMAIN)
        /// `VIR_ERR_NO_NETWORK`.
        public static let noNetwork = Code(VIR_ERR_NO_NETWORK)
        /// `VIR_ERR_AUTH_FAILED`.
        public static let authFailed = Code(VIR_ERR_AUTH_FAILED)
        /// `VIR_ERR_NO_STORAGE_POOL`.
        public static let noStoragePool = Code(VIR_ERR_NO_STORAGE_POOL)
        /// `VIR_ERR_NO_STORAGE_VOL`.
        public static let noStorageVol = Code(VIR_ERR_NO_STORAGE_VOL)
        /// `VIR_ERR_NO_NODE_DEVICE`.
        public static let noNodeDevice = Code(VIR_ERR_NO_NODE_DEVICE)
        /// `VIR_ERR_OPERATION_INVALID`: not applicable in the object's state (e.g. start a running domain).
        public static let operationInvalid = Code(VIR_ERR_OPERATION_INVALID)
        /// `VIR_ERR_NO_INTERFACE`.
        public static let noInterface = Code(VIR_ERR_NO_INTERFACE)
        /// `VIR_ERR_NO_NWFILTER`.
        public static let noNWFilter = Code(VIR_ERR_NO_NWFILTER)
        /// `VIR_ERR_NO_SECRET`.
        public static let noSecret = Code(VIR_ERR_NO_SECRET)
        /// `VIR_ERR_CONFIG_UNSUPPORTED`.
        public static let configUnsupported = Code(VIR_ERR_CONFIG_UNSUPPORTED)
        /// `VIR_ERR_OPERATION_TIMEOUT`.
        public static let operationTimeout = Code(VIR_ERR_OPERATION_TIMEOUT)
        /// `VIR_ERR_NO_DOMAIN_SNAPSHOT`.
        public static let noDomainSnapshot = Code(VIR_ERR_NO_DOMAIN_SNAPSHOT)
        /// `VIR_ERR_ARGUMENT_UNSUPPORTED`.
        public static let argumentUnsupported = Code(VIR_ERR_ARGUMENT_UNSUPPORTED)
        /// `VIR_ERR_STORAGE_POOL_BUILT`.
        public static let storagePoolBuilt = Code(VIR_ERR_STORAGE_POOL_BUILT)
        /// `VIR_ERR_OPERATION_ABORTED`.
        public static let operationAborted = Code(VIR_ERR_OPERATION_ABORTED)
        /// `VIR_ERR_AUTH_CANCELLED`.
        public static let authCancelled = Code(VIR_ERR_AUTH_CANCELLED)
        /// `VIR_ERR_NO_DOMAIN_METADATA`: the requested metadata element is absent.
        public static let noDomainMetadata = Code(VIR_ERR_NO_DOMAIN_METADATA)
        /// `VIR_ERR_OPERATION_UNSUPPORTED`.
        public static let operationUnsupported = Code(VIR_ERR_OPERATION_UNSUPPORTED)
        /// `VIR_ERR_AGENT_UNRESPONSIVE`.
        public static let agentUnresponsive = Code(VIR_ERR_AGENT_UNRESPONSIVE)
        /// `VIR_ERR_STORAGE_VOL_EXIST`.
        public static let storageVolExists = Code(VIR_ERR_STORAGE_VOL_EXIST)
        /// `VIR_ERR_AUTH_UNAVAILABLE`.
        public static let authUnavailable = Code(VIR_ERR_AUTH_UNAVAILABLE)

        /// The number, for logs.
        public var description: String { "\(rawValue)" }
    }

    /// The libvirt component that raised an error (`virErrorDomain`); any value is representable.
    public struct ErrorDomain: RawRepresentable, Hashable, Sendable {
        /// The number libvirt reported.
        public var rawValue: Int32

        /// Wraps any error domain number.
        public init(rawValue: Int32) {
            self.rawValue = rawValue
        }

        init(_ number: virErrorDomain) {
            self.rawValue = Int32(bitPattern: number.rawValue)
        }

        /// `VIR_FROM_NONE`.
        public static let none = ErrorDomain(VIR_FROM_NONE)
        /// `VIR_FROM_RPC`: the RPC layer (sockets, keepalive).
        public static let rpc = ErrorDomain(VIR_FROM_RPC)
        /// `VIR_FROM_REMOTE`: the remote driver.
        public static let remote = ErrorDomain(VIR_FROM_REMOTE)
        /// `VIR_FROM_QEMU`.
        public static let qemu = ErrorDomain(VIR_FROM_QEMU)
        /// `VIR_FROM_TEST`: the built-in test driver.
        public static let test = ErrorDomain(VIR_FROM_TEST)
        /// `VIR_FROM_STORAGE`.
        public static let storage = ErrorDomain(VIR_FROM_STORAGE)
        /// `VIR_FROM_DOMAIN`: domain XML parsing and configuration.
        public static let domain = ErrorDomain(VIR_FROM_DOMAIN)
        /// `VIR_FROM_STREAMS`.
        public static let streams = ErrorDomain(VIR_FROM_STREAMS)
    }
}
