/// One driver call the applier makes, with what it depends on.
public enum ApplyStep: Sendable {
    case importImage(host: String, ImageRequest)
    case createVolume(host: String, VolumeRequest)
    case resizeVolume(host: String, ObservedVolume, ByteSize)
    case deleteVolume(host: String, ObservedVolume)
    case retainVolume(host: String, ObservedVolume)
    case createInstance(host: String, InstanceRequest)
    case updateInstance(host: String, InstanceRequest, ObservedInstance)
    case deleteInstance(host: String, ObservedInstance)
    /// Recreates or corrects OVS ports of running instances (after an out-of-band `del-port`), or removes
    /// Driftless's ports whose NIC is gone.
    case ensurePorts(host: String, PortChangeSet)
    /// A cold migration to `move.to` (`InstanceMove`); its host is the new one.
    case moveInstance(InstanceMove)

    /// The host the step runs on.
    public var host: String {
        switch self {
        case let .importImage(host, _), let .createVolume(host, _), let .resizeVolume(host, _, _),
             let .deleteVolume(host, _), let .retainVolume(host, _), let .createInstance(host, _),
             let .updateInstance(host, _, _), let .deleteInstance(host, _), let .ensurePorts(host, _):
            host
        case let .moveInstance(move): move.to
        }
    }

    /// A short, stable name for the journal and progress lines: `create-instance shop/web-1@local`.
    public var key: String {
        switch self {
        case let .importImage(host, r): "import-image \(r.id.qualifiedName)@\(host)"
        case let .createVolume(host, r): "create-volume \(r.id.qualifiedName)@\(host)"
        case let .resizeVolume(host, v, _): "resize-volume \(v.id.qualifiedName)@\(host)"
        case let .deleteVolume(host, v): "delete-volume \(v.id.qualifiedName)@\(host)"
        case let .retainVolume(host, v): "retain-volume \(v.id.qualifiedName)@\(host)"
        case let .createInstance(host, r): "create-instance \(r.id.qualifiedName)@\(host)"
        case let .updateInstance(host, r, _): "update-instance \(r.id.qualifiedName)@\(host)"
        case let .deleteInstance(host, o): "delete-instance \(o.id.qualifiedName)@\(host)"
        case let .moveInstance(move): "move-instance \(move.request.id.qualifiedName)@\(move.from)>\(move.to)"
        case let .ensurePorts(host, set):
            "ports \(Set(set.ensure.map { "\($0.identity.owner.project)/\($0.identity.owner.instance)" } + set.trunks.map(\.interface) + set.delete).sorted().joined(separator: ","))@\(host)"
        }
    }
}
