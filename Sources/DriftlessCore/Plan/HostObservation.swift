/// What the drivers saw on one host.
///
/// A value, held in one shared immutable box: the planner keeps a host beside each of thousands of
/// instances and volumes (where each runs, where each is placed), and a copy is a reference, not the
/// hundreds of bytes of a target and three observations. A change makes a new box.
public struct HostObservation: Sendable {
    private struct Values: Sendable {
        var target: HostTarget
        var compute: Observed<ComputeObservation>
        var storage: Observed<StorageObservation>
        var ports: Observed<[ObservedPort]>
        var portsOnOtherBridges: [String: String]
    }

    private final class Box: Sendable {
        let values: Values
        init(_ values: Values) { self.values = values }
    }

    private var box: Box

    private mutating func change(_ body: (inout Values) -> Void) {
        var values = box.values
        body(&values)
        box = Box(values)
    }

    public var target: HostTarget {
        get { box.values.target }
        set { change { $0.target = newValue } }
    }

    public var compute: Observed<ComputeObservation> {
        get { box.values.compute }
        set { change { $0.compute = newValue } }
    }

    public var storage: Observed<StorageObservation> {
        get { box.values.storage }
        set { change { $0.storage = newValue } }
    }

    public var ports: Observed<[ObservedPort]> {
        get { box.values.ports }
        set { change { $0.ports = newValue } }
    }

    /// Ports on the host's other OVS bridges, by name, with the bridge holding each.
    public var portsOnOtherBridges: [String: String] {
        get { box.values.portsOnOtherBridges }
        set { change { $0.portsOnOtherBridges = newValue } }
    }

    public init(target: HostTarget, compute: Observed<ComputeObservation>, storage: Observed<StorageObservation>,
                ports: Observed<[ObservedPort]>, portsOnOtherBridges: [String: String] = [:]) {
        box = Box(Values(target: target, compute: compute, storage: storage, ports: ports,
                         portsOnOtherBridges: portsOnOtherBridges))
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
