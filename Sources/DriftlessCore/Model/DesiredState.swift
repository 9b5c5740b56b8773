/// Everything a commit declares, typed and validated: what the engine converges the hosts to.
public struct DesiredState: Sendable {
    public var hosts: [Host] = []
    public var projects: [Project] = []
    public var users: [User] = []
    public var images: [Image] = []
    public var networks: [Network] = []
    public var volumes: [Volume] = []
    public var instances: [Instance] = []
    /// True when the repository declares no Host and the default `local` host stands in.
    public var usesDefaultHost = false

    public init() {}

    /// The host used when a repository declares none: local libvirt and OVS with pools under /var/lib/driftless.
    public static let defaultHost = Host(
        id: ObjectID(.host, "local"), meta: ObjectMeta(name: "local"), spec: HostSpec(), source: nil)

    /// The hosts to drive: those declared, or the default host when none is.
    public var effectiveHosts: [Host] { hosts.isEmpty ? [Self.defaultHost] : hosts }

    /// How many objects were declared (the default host is not counted).
    public var declaredCount: Int {
        (usesDefaultHost ? 0 : hosts.count) + projects.count + users.count + images.count + networks.count
            + volumes.count + instances.count
    }

    mutating func add(_ object: AnyManifestObject) {
        switch object {
        case let .host(o): hosts.append(o)
        case let .project(o): projects.append(o)
        case let .user(o): users.append(o)
        case let .image(o): images.append(o)
        case let .network(o): networks.append(o)
        case let .volume(o): volumes.append(o)
        case let .instance(o): instances.append(o)
        }
    }

    /// The image an object of `project` means by `name`: the project's own image, else a public one.
    public func image(named name: String, project: String?) -> Image? {
        images.first { $0.name == name && $0.project == project && project != nil }
            ?? images.first { $0.name == name && $0.project == nil }
    }
}
