import CLibvirt

/// A domain lifecycle event (`VIR_DOMAIN_EVENT_ID_LIFECYCLE`): which domain, what happened, why.
public struct DomainEvent: Sendable, Equatable {
    /// What happened (`virDomainEventType`).
    public enum Kind: Sendable, Equatable {
        case defined, undefined, started, suspended, resumed, stopped, shutdown, pmSuspended, crashed
        /// A type this version does not know.
        case unknown(Int32)

        /// Maps libvirt's `virDomainEventType` number.
        public init(_ raw: Int32) {
            switch UInt32(bitPattern: raw) {
            case VIR_DOMAIN_EVENT_DEFINED.rawValue: self = .defined
            case VIR_DOMAIN_EVENT_UNDEFINED.rawValue: self = .undefined
            case VIR_DOMAIN_EVENT_STARTED.rawValue: self = .started
            case VIR_DOMAIN_EVENT_SUSPENDED.rawValue: self = .suspended
            case VIR_DOMAIN_EVENT_RESUMED.rawValue: self = .resumed
            case VIR_DOMAIN_EVENT_STOPPED.rawValue: self = .stopped
            case VIR_DOMAIN_EVENT_SHUTDOWN.rawValue: self = .shutdown
            case VIR_DOMAIN_EVENT_PMSUSPENDED.rawValue: self = .pmSuspended
            case VIR_DOMAIN_EVENT_CRASHED.rawValue: self = .crashed
            default: self = .unknown(raw)
            }
        }
    }

    /// Why it happened; the meaning of libvirt's detail number depends on the kind.
    public enum Detail: Sendable, Equatable {
        // defined / undefined
        case added, updated, renamed, removed
        // started / resumed / suspended
        case booted, migrated, restored, fromSnapshot, wakeup, paused, unpaused
        case ioError, watchdog, apiError, postcopy, postcopyFailed
        // stopped
        case shutdown, destroyed, crashed, saved, failed
        // shutdown
        case finished, guest, host
        // crashed / pmsuspended
        case panicked, crashLoaded, memory, disk
        /// A detail this version does not map for the kind.
        case unknown(Int32)

        /// Maps libvirt's detail number, whose meaning depends on the kind.
        public init(kind: Kind, raw: Int32) {
            let table: [Detail]
            switch kind {
            case .defined: table = [.added, .updated, .renamed, .fromSnapshot]
            case .undefined: table = [.removed, .renamed]
            case .started: table = [.booted, .migrated, .restored, .fromSnapshot, .wakeup]
            case .suspended:
                table = [.paused, .migrated, .ioError, .watchdog, .restored, .fromSnapshot, .apiError,
                         .postcopy, .postcopyFailed]
            case .resumed: table = [.unpaused, .migrated, .fromSnapshot, .postcopy, .postcopyFailed]
            case .stopped: table = [.shutdown, .destroyed, .crashed, .migrated, .saved, .failed, .fromSnapshot]
            case .shutdown: table = [.finished, .guest, .host]
            case .pmSuspended: table = [.memory, .disk]
            case .crashed: table = [.panicked, .crashLoaded]
            case .unknown: table = []
            }
            // The tables follow the order of libvirt's virDomainEvent*DetailType enums.
            self = raw >= 0 && Int(raw) < table.count ? table[Int(raw)] : .unknown(raw)
        }
    }

    /// The domain's name.
    public var name: String
    /// The domain's UUID, lowercase with dashes.
    public var uuid: String
    /// What happened.
    public var kind: Kind
    /// Why it happened.
    public var detail: Detail

    /// Creates an event; libvirt callbacks and tests use this.
    public init(name: String, uuid: String, kind: Kind, detail: Detail) {
        self.name = name
        self.uuid = uuid
        self.kind = kind
        self.detail = detail
    }
}
