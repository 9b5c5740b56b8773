/// Turns one YAML document into a typed object, reporting every problem of the document.
public enum ManifestDecoder {
    /// The outcome for one document.
    public struct Result: Sendable {
        /// The typed object, when the document is entirely valid.
        public var object: AnyManifestObject?
        /// The object read leniently from an invalid document whose kind and name are readable: its
        /// valid reference fields are still checked, so one run reports every mistake.
        public var partial: AnyManifestObject?
        /// Field paths of `partial` that failed their checks.
        public var invalidPaths: Set<String> = []
        /// The identity, whenever kind and metadata were readable, so that other documents' references to
        /// an invalid object are not reported a second time as dangling.
        public var id: ObjectID?
        /// Where the identity was declared.
        public var source: ObjectSource?
        public var diagnostics: Diagnostics
    }

    static let envelope = ["apiVersion", "kind", "metadata", "spec"]

    /// Decodes one document of `file`.
    public static func decode(_ document: YAMLReader.Document, file: String) -> Result {
        var checker = SchemaChecker(file: file)
        let root = document.root
        let source = ObjectSource(file: file, document: document.index, root: root)
        guard case let .mapping(mapping) = root else {
            checker.diagnostics.error(
                "a manifest document must be a mapping with apiVersion, kind, metadata and spec; got \(root.kindDescription)",
                at: checker.location(root))
            return Result(object: nil, id: nil, source: source, diagnostics: checker.diagnostics)
        }
        var valid = true

        for entry in mapping.entries where !envelope.contains(entry.key.value) {
            let hint = Suggestion.closest(to: entry.key.value, in: envelope).map { "did you mean \"\($0)\"?" }
                ?? (entry.key.value == "status" ? "status is not written in manifests; Driftless reads it from the hosts" : nil)
            checker.diagnostics.error("unknown field \"\(entry.key.value)\"", at: checker.location(entry.key), hint: hint)
            valid = false
        }

        // apiVersion
        if let node = mapping["apiVersion"], case let .scalar(s) = node, s.resolved != .null {
            if s.value != Kind.apiVersion {
                checker.diagnostics.error(
                    "unknown apiVersion \"\(s.value)\"", at: checker.location(s), field: "apiVersion",
                    hint: "this release reads \(Kind.apiVersion)")
                valid = false
            }
        } else if let node = mapping["apiVersion"] {
            valid = checker.mismatch(node, expected: .string(.text), path: "apiVersion") && false
        } else {
            checker.diagnostics.error("missing required field \"apiVersion\"", at: checker.location(root),
                                      hint: "add apiVersion: \(Kind.apiVersion)")
            valid = false
        }

        // kind
        var kind: Kind?
        if let node = mapping["kind"], case let .scalar(s) = node, s.resolved != .null {
            kind = Kind(rawValue: s.value)
            if kind == nil {
                let names = Kind.allCases.map(\.rawValue)
                let hint = Suggestion.closest(to: s.value, in: names).map { "did you mean \"\($0)\"?" }
                    ?? "kinds are \(names.joined(separator: ", "))"
                checker.diagnostics.error("unknown kind \"\(s.value)\"", at: checker.location(s), field: "kind", hint: hint)
                valid = false
            }
        } else if let node = mapping["kind"] {
            valid = checker.mismatch(node, expected: .string(.text), path: "kind") && false
        } else {
            checker.diagnostics.error("missing required field \"kind\"", at: checker.location(root),
                                      hint: "kinds are \(Kind.allCases.map(\.rawValue).joined(separator: ", "))")
            valid = false
        }

        // metadata
        var id: ObjectID?
        if let node = mapping["metadata"] {
            let metadataValid = checker.check(node, against: .object(Schemas.metadata), path: "metadata")
            valid = metadataValid && valid
            let fields = Fields(node)
            if let kind, let name = fields.string("name"), Formats.isName(name) {
                let project = fields.string("project")
                switch (kind.scope, project) {
                case (.cluster, .some):
                    let at = fields.node("project").map(checker.location) ?? checker.location(node)
                    checker.diagnostics.error(
                        "\(kind.rawValue) is not project-scoped; remove metadata.project", at: at, field: "metadata.project")
                    valid = false
                case (.project, .none):
                    checker.diagnostics.error(
                        "missing required field \"project\": a \(kind.rawValue) belongs to a project",
                        at: checker.location(node), field: "metadata")
                    valid = false
                default:
                    if project.map(Formats.isName) ?? true {
                        id = ObjectID(kind, project: kind.scope == .cluster ? nil : project, name)
                    }
                }
            }
        } else {
            checker.diagnostics.error("missing required field \"metadata\"", at: checker.location(root),
                                      hint: "metadata needs at least a name")
            valid = false
        }

        // spec
        if let kind {
            if let node = mapping["spec"] {
                if case let .scalar(s) = node, s.resolved == .null, kind.specIsOptional {
                    // `spec:` with nothing is an empty spec.
                } else {
                    valid = checker.check(node, against: .object(kind.specSchema), path: "spec") && valid
                }
            } else if !kind.specIsOptional {
                let required = kind.specSchema.filter(\.required).map(\.name).joined(separator: ", ")
                checker.diagnostics.error("missing required field \"spec\"", at: checker.location(root),
                                          hint: "a \(kind.rawValue) needs \(required)")
                valid = false
            }
        }

        guard let kind, let id, let metaNode = mapping["metadata"] else {
            return Result(object: nil, id: id, source: source, diagnostics: checker.diagnostics)
        }
        let meta = Fields(metaNode).meta()
        let spec = Fields(mapping["spec"])
        let object: AnyManifestObject
        switch kind {
        case .host: object = .host(Host(id: id, meta: meta, spec: spec.hostSpec(), source: source))
        case .project: object = .project(Project(id: id, meta: meta, spec: spec.projectSpec(), source: source))
        case .user: object = .user(User(id: id, meta: meta, spec: spec.userSpec(), source: source))
        case .image: object = .image(Image(id: id, meta: meta, spec: spec.imageSpec(), source: source))
        case .network: object = .network(Network(id: id, meta: meta, spec: spec.networkSpec(), source: source))
        case .volume: object = .volume(Volume(id: id, meta: meta, spec: spec.volumeSpec(), source: source))
        case .instance: object = .instance(Instance(id: id, meta: meta, spec: spec.instanceSpec(), source: source))
        }
        if valid {
            return Result(object: object, id: id, source: source, diagnostics: checker.diagnostics)
        }
        return Result(object: nil, partial: object, invalidPaths: checker.invalidPaths, id: id, source: source,
                      diagnostics: checker.diagnostics)
    }
}

/// Reads fields of a node that has already passed its schema check; absent or null fields read as `nil`.
struct Fields {
    let mapping: YAMLNode.Mapping?

    init(_ node: YAMLNode?) {
        mapping = node?.mapping
    }

    func node(_ key: String) -> YAMLNode? {
        guard let value = mapping?[key] else { return nil }
        if case let .scalar(s) = value, s.resolved == .null { return nil }
        return value
    }

    func string(_ key: String) -> String? { node(key)?.scalar?.value }

    func int(_ key: String) -> Int? {
        if case let .int(i)? = node(key)?.scalar?.resolved { return i }
        return nil
    }

    func double(_ key: String) -> Double? {
        switch node(key)?.scalar?.resolved {
        case let .int(i)?: Double(i)
        case let .float(d)?: d
        default: nil
        }
    }

    func bool(_ key: String) -> Bool? {
        if case let .bool(b)? = node(key)?.scalar?.resolved { return b }
        return nil
    }

    func size(_ key: String) -> ByteSize? {
        guard let text = string(key), case let .success(size) = ByteSize.parse(text) else { return nil }
        return size
    }

    func ipv4(_ key: String) -> IPv4Address? { string(key).flatMap(IPv4Address.init) }

    func object(_ key: String) -> Fields { Fields(node(key)) }

    func list(_ key: String) -> [YAMLNode] { node(key)?.sequence?.items ?? [] }

    func strings(_ key: String) -> [String] { list(key).compactMap { $0.scalar?.value } }

    func map(_ key: String) -> [String: String] {
        var result: [String: String] = [:]
        for entry in node(key)?.mapping?.entries ?? [] {
            if let value = entry.value.scalar?.value { result[entry.key.value] = value }
        }
        return result
    }

    func meta() -> ObjectMeta {
        ObjectMeta(name: string("name") ?? "", project: string("project"),
                   labels: map("labels"), annotations: map("annotations"))
    }

    func pool(_ key: String, default fallback: PoolSpec) -> PoolSpec {
        let fields = object(key)
        guard let name = fields.string("name"), let path = fields.string("path") else { return fallback }
        return PoolSpec(name: name, path: path)
    }

    func hostSpec() -> HostSpec {
        var spec = HostSpec()
        spec.libvirt = string("libvirt") ?? spec.libvirt
        spec.ovsdb = string("ovsdb") ?? spec.ovsdb
        spec.bridge = string("bridge") ?? spec.bridge
        spec.datapath = string("datapath").flatMap(Datapath.init) ?? spec.datapath
        spec.virtualization = string("virtualization").flatMap(Virtualization.init) ?? spec.virtualization
        spec.physicalNetworks = list("physicalNetworks").compactMap { node in
            let fields = Fields(node)
            guard let name = fields.string("name"), let interface = fields.string("interface") else { return nil }
            return PhysicalNetworkMapping(name: name, interface: interface)
        }
        spec.storagePool = pool("storagePool", default: spec.storagePool)
        spec.imagePool = pool("imagePool", default: spec.imagePool)
        let capacity = object("capacity")
        if let vcpus = capacity.int("vcpus"), let memory = capacity.size("memory") {
            spec.capacity = HostSpec.Capacity(vcpus: vcpus, memory: memory)
        }
        let overcommit = object("overcommit")
        spec.overcommit.cpu = overcommit.double("cpu") ?? spec.overcommit.cpu
        spec.overcommit.memory = overcommit.double("memory") ?? spec.overcommit.memory
        spec.allowPrivateImageSources = bool("allowPrivateImageSources") ?? false
        spec.schedulable = bool("schedulable") ?? true
        return spec
    }

    func projectSpec() -> ProjectSpec {
        var spec = ProjectSpec()
        spec.description = string("description")
        let quota = object("quota")
        spec.quota = ProjectSpec.Quota(
            instances: quota.int("instances"), vcpus: quota.int("vcpus"),
            memory: quota.size("memory"), volumeStorage: quota.size("volumeStorage"))
        return spec
    }

    func userSpec() -> UserSpec {
        var spec = UserSpec()
        spec.email = string("email")
        spec.enabled = bool("enabled") ?? true
        spec.admin = bool("admin") ?? false
        spec.sshKeys = strings("sshKeys")
        spec.roles = list("roles").compactMap { node in
            let fields = Fields(node)
            guard let project = fields.string("project"), let role = fields.string("role").flatMap(Role.init) else {
                return nil
            }
            return UserSpec.RoleBinding(project: project, role: role)
        }
        return spec
    }

    func imageSpec() -> ImageSpec {
        let source = object("source")
        let imageSource: ImageSpec.Source =
            source.string("url").map(ImageSpec.Source.url) ?? .path(source.string("path") ?? "")
        return ImageSpec(
            source: imageSource, sha256: string("sha256") ?? "",
            format: string("format").flatMap(DiskFormat.init) ?? .qcow2, minDisk: size("minDisk"))
    }

    func networkSpec() -> NetworkSpec {
        let cidr: IPv4Network
        if let text = string("cidr"), case let .success(parsed) = IPv4Network.parse(text) {
            cidr = parsed
        } else {
            cidr = IPv4Network(address: IPv4Address(0), prefixLength: 0)
        }
        let dhcp = object("dhcp")
        var range: NetworkSpec.DHCPRange?
        if let start = dhcp.ipv4("start"), let end = dhcp.ipv4("end") {
            range = NetworkSpec.DHCPRange(start: start, end: end)
        }
        return NetworkSpec(cidr: cidr, gateway: ipv4("gateway"), vlan: int("vlan") ?? 0, mtu: int("mtu"), dhcp: range,
                           physicalNetwork: string("physicalNetwork"))
    }

    func volumeSpec() -> VolumeSpec {
        VolumeSpec(
            size: size("size") ?? .zero,
            format: string("format").flatMap(DiskFormat.init) ?? .qcow2,
            image: string("image"),
            deletionPolicy: string("deletionPolicy").flatMap(DeletionPolicy.init) ?? .retain)
    }

    func instanceSpec() -> InstanceSpec {
        let placement = object("placement")
        var spec = InstanceSpec(
            image: string("image") ?? "",
            vcpus: int("vcpus") ?? 1,
            memory: size("memory") ?? .zero,
            rootDisk: size("rootDisk") ?? .zero,
            networks: list("networks").map { node in
                let fields = Fields(node)
                return InstanceSpec.NIC(network: fields.string("network") ?? "", ip: fields.ipv4("ip"))
            },
            volumes: strings("volumes"),
            users: strings("users"),
            power: string("power").flatMap(PowerState.init) ?? .running,
            host: string("host"),
            userData: string("userData"))
        spec.placement = PlacementSpec(
            hostSelector: placement.map("hostSelector"), group: placement.string("group"),
            antiAffinity: placement.string("antiAffinity"),
            strategy: placement.string("strategy").flatMap(Scheduler.Strategy.init) ?? .spread)
        return spec
    }
}
