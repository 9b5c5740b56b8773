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
        case let .ensurePorts(_, set):
            set.delete.isEmpty ? Self.single(Set(set.ensure.map(\.identity.owner.project))) : nil
        }
    }

    private static func single(_ projects: Set<String>) -> String? {
        projects.count == 1 ? projects.first : nil
    }
}
