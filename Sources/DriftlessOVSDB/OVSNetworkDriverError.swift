import DriftlessCore

/// A failure of the OVS network driver, naming the host and classified for the applier.
///
/// Connection trouble, timeouts and transactions aborted by a concurrent change are
/// `.transient` (retry later); a name taken by an unmanaged port, a bridge on the wrong
/// datapath or a request the schema refuses are `.terminal` (a person must act).
public struct OVSNetworkDriverError: DriverError, Sendable {
    /// What went wrong; a `RawRepresentable` struct so later codes stay representable.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// The OVSDB connection is down or not yet in sync: the host's ports are unknown.
        public static let notConnected = Code(rawValue: "not connected")
        /// An OVSDB request failed; see `underlying`.
        public static let ovsdb = Code(rawValue: "ovsdb")
        /// Someone else changed the bridge or a port while the transaction was built (its `wait` aborted it).
        public static let concurrentChange = Code(rawValue: "concurrent change")
        /// A port or interface name the driver needs is taken by a row Driftless does not own.
        public static let nameCollision = Code(rawValue: "name collision")
        /// The integration bridge exists, unmanaged, with another datapath type than the Host declares.
        public static let datapathMismatch = Code(rawValue: "datapath mismatch")
        /// The change set contradicts itself or holds values OVS refuses (a VLAN outside 0...4095).
        public static let invalidRequest = Code(rawValue: "invalid request")
    }

    public var code: Code
    /// The host (its `HostTarget.name`).
    public var host: String
    public var message: String
    /// The OVSDB client error behind this one, when there is one.
    public var underlying: OVSDBError?
    public var failureKind: FailureKind

    public init(
        code: Code, host: String, message: String, underlying: OVSDBError? = nil, failureKind: FailureKind
    ) {
        self.code = code
        self.host = host
        self.message = message
        self.underlying = underlying
        self.failureKind = failureKind
    }

    /// Wraps a client error: transient exactly when the client says so.
    init(_ error: OVSDBError, host: String, while doing: String) {
        self.init(
            code: .ovsdb, host: host, message: "\(doing): \(error)", underlying: error,
            failureKind: error.failureKind)
    }

    public var description: String {
        "network driver on host \(host) (\(failureKind)): \(code): \(message)"
    }
}

extension OVSDBError: DriverError {
    /// `.transient` for connection loss, timeouts and an unsynchronized cache; `.terminal` otherwise.
    public var failureKind: FailureKind { isTransient ? .transient : .terminal }
}
