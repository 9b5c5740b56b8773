extension ApplyStep {
    /// The project whose objects the step changes: what its journal line is authorised by. Nil for
    /// cloud-wide steps: a public image, and port fixes that touch several projects or ports whose
    /// instance is gone (only their name is known).
    public var project: String? {
        switch self {
        case let .importImage(_, r): r.id.project
        case let .createVolume(_, r): r.id.project
        case let .resizeVolume(_, v, _), let .deleteVolume(_, v), let .retainVolume(_, v): v.id.project
        case let .createInstance(_, r), let .updateInstance(_, r, _): r.id.project
        case let .deleteInstance(_, o): o.id.project
        case let .moveInstance(move): move.request.id.project
        case let .ensurePorts(_, set):
            set.delete.isEmpty ? Self.single(Set(set.ensure.map(\.identity.owner.project))) : nil
        }
    }

    private static func single(_ projects: Set<String>) -> String? {
        projects.count == 1 ? projects.first : nil
    }
}

/// What a step does, as journalled: the first word of its key.
public enum StepKind: String, Sendable, Codable, CaseIterable {
    case importImage = "import-image"
    case createVolume = "create-volume"
    case resizeVolume = "resize-volume"
    case deleteVolume = "delete-volume"
    case retainVolume = "retain-volume"
    case createInstance = "create-instance"
    case updateInstance = "update-instance"
    case deleteInstance = "delete-instance"
    case moveInstance = "move-instance"
    case ports
}

extension ApplyStep {
    /// What the step does; a journal column, so that nothing reads it back out of `key`.
    public var kind: StepKind {
        switch self {
        case .importImage: .importImage
        case .createVolume: .createVolume
        case .resizeVolume: .resizeVolume
        case .deleteVolume: .deleteVolume
        case .retainVolume: .retainVolume
        case .createInstance: .createInstance
        case .updateInstance: .updateInstance
        case .deleteInstance: .deleteInstance
        case .moveInstance: .moveInstance
        case .ensurePorts: .ports
        }
    }

    /// The object the step is about, as the journal's name column keeps it: `shop/web`, `tiny` (a public
    /// image); for port fixes the instances and port names, comma-separated.
    public var name: String {
        switch self {
        case let .importImage(_, r): r.id.qualifiedName
        case let .createVolume(_, r): r.id.qualifiedName
        case let .resizeVolume(_, v, _), let .deleteVolume(_, v), let .retainVolume(_, v): v.id.qualifiedName
        case let .createInstance(_, r), let .updateInstance(_, r, _): r.id.qualifiedName
        case let .deleteInstance(_, o): o.id.qualifiedName
        case let .moveInstance(move): move.request.id.qualifiedName
        case let .ensurePorts(_, set):
            Set(set.ensure.map { "\($0.identity.owner.project)/\($0.identity.owner.instance)" } + set.delete).sorted().joined(separator: ",")
        }
    }
}
