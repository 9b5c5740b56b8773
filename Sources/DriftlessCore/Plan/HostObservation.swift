/// What the drivers saw on one host.
public struct HostObservation: Sendable {
    public var target: HostTarget
    public var compute: Observed<ComputeObservation>
    public var storage: Observed<StorageObservation>
    public var ports: Observed<[ObservedPort]>
    /// Ports on the host's other OVS bridges, by name, with the bridge holding each.
    public var portsOnOtherBridges: [String: String]

    public init(target: HostTarget, compute: Observed<ComputeObservation>, storage: Observed<StorageObservation>,
                ports: Observed<[ObservedPort]>, portsOnOtherBridges: [String: String] = [:]) {
        self.portsOnOtherBridges = portsOnOtherBridges
        self.target = target
        self.compute = compute
        self.storage = storage
        self.ports = ports
    }

    /// Whether everything about the host is known; a host that is not gets no deletes.
    public var isKnown: Bool {
        compute.value != nil && storage.value != nil && ports.value != nil
    }

    /// Why the host could not be read, when it could not.
    public var unknownReason: String? {
        for reason in [compute.unknownReason, storage.unknownReason, ports.unknownReason] {
            if let reason { return reason }
        }
        return nil
    }
}

extension HostObservation {
    /// The path a new volume named `name` gets in the host's storage pool: where the storage driver found
    /// the pool, else where `ensurePools` defines it before an apply (the Host's `storagePool.path`; an
    /// unreadable host gets that too, and none of its steps is carried out).
    public func newVolumePath(_ name: String) -> String {
        (storage.value?.storagePool ?? StoragePoolObservation(target.storagePool)).path(forVolume: name)
    }

    /// The path a new image volume named `name` gets in the host's image pool (as `newVolumePath`).
    public func newImagePath(_ name: String) -> String {
        (storage.value?.imagePool ?? StoragePoolObservation(target.imagePool)).path(forVolume: name)
    }
}
