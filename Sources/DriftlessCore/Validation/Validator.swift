/// Checks what no single document can: references, uniqueness, addresses, quotas and capacity.
///
/// Runs over the valid objects of a commit; `knownIDs` also holds objects that failed their own checks,
/// so a reference to an invalid object is not reported a second time as dangling.
struct Validator {
    let state: DesiredState
    /// The identities declared, valid or not (`ManifestLoader.Assembly.known`). The default host's is not
    /// among them, and needs not be: hosts are looked up by name first.
    let knownIDs: Set<ObjectID>
    /// Objects of invalid documents, read leniently; only their valid reference fields are checked.
    let partial: DesiredState
    let invalidPaths: [ObjectID: Set<String>]
    /// Where `source.path` files may be (the operator's image directories).
    let imagePaths: ImagePathPolicy
    /// Networks, volumes and instances in the order they were written (file, then position in the file),
    /// so that a conflict is reported on the later of two declarations.
    let writtenNetworks: [Network]
    /// Positions in `state.volumes` and `state.instances`, in the order written.
    let volumeOrder: [Int]
    let instanceOrder: [Int]
    /// Positions in `state` of images by name, of networks and volumes by identity, and of users by name:
    /// what references resolve to, without a scan per reference.
    let imagesByName: [String: [Int]]
    let networkIndex: [ObjectID: Int]
    let volumeIndex: [ObjectID: Int]
    let userIndex: [String: Int]
    /// The names of projects declared (valid or not): a reference to one resolves.
    let knownProjects: Set<String>
    var diagnostics = Diagnostics()

    /// `written` gives the order `state`'s networks, volumes and instances were written in
    /// (`ManifestLoader.Assembly.written`).
    init(
        state: DesiredState, knownIDs: Set<ObjectID>, partial: DesiredState = DesiredState(),
        invalidPaths: [ObjectID: Set<String>] = [:], imagePaths: ImagePathPolicy = .default, written: WrittenOrder
    ) {
        self.state = state
        self.knownIDs = knownIDs
        self.partial = partial
        self.invalidPaths = invalidPaths
        self.imagePaths = imagePaths
        writtenNetworks = written.networks.map { state.networks[$0] }
        volumeOrder = written.volumes
        instanceOrder = written.instances
        /// Keys are unique: identities, and the names of cluster-scoped kinds, are declared once in a state.
        func positions<Key: Hashable, S>(_ objects: [ManifestObject<S>], _ key: (ManifestObject<S>) -> Key) -> [Key: Int] {
            Dictionary(objects.indices.map { (key(objects[$0]), $0) }, uniquingKeysWith: { first, _ in first })
        }
        imagesByName = Dictionary(grouping: state.images.indices, by: { state.images[$0].name })
        networkIndex = positions(state.networks, \.id)
        volumeIndex = positions(state.volumes, \.id)
        userIndex = positions(state.users, \.name)
        knownProjects = Set(knownIDs.lazy.filter { $0.kind == .project }.map(\.name))
    }

    /// The position in `state.images` of the image an object of `project` means by `name`: the project's
    /// own image, else a public one (as `DesiredState.image(named:project:)`).
    func image(named name: String, project: String?) -> Int? {
        guard let positions = imagesByName[name] else { return nil }
        if let project, let own = positions.first(where: { state.images[$0].project == project }) { return own }
        return positions.first { state.images[$0].project == nil }
    }

    mutating func run() -> Diagnostics {
        checkProjectsExist()
        checkHostPools()
        checkPhysicalNetworks()
        checkUsers()
        checkImages()
        checkNetworks()
        checkVolumes()
        checkInstances()
        checkQuotas()
        checkCapacity()
        checkPartialReferences()
        return diagnostics
    }

    /// Checks the references of objects whose documents had other errors, skipping fields that were
    /// themselves invalid (their mistake is already reported).
    mutating func checkPartialReferences() {
        func check<S>(_ object: ManifestObject<S>, _ field: String, _ kind: Kind, _ name: String?, in project: String?) {
            guard let name, !name.isEmpty, !(invalidPaths[object.id]?.contains(field) ?? false),
                  !(invalidPaths[object.id]?.contains { field.hasPrefix($0 + ".") || field.hasPrefix($0 + "[") } ?? false)
            else { return }
            _ = checkReference(from: object, field: field, to: kind, named: name, in: project)
        }
        func checkProject<S>(_ object: ManifestObject<S>) {
            check(object, "metadata.project", .project, object.project, in: nil)
        }
        for image in partial.images { checkProject(image) }
        for network in partial.networks { checkProject(network) }
        for user in partial.users {
            for (i, binding) in user.spec.roles.enumerated() {
                check(user, "spec.roles[\(i)].project", .project, binding.project, in: nil)
            }
        }
        for volume in partial.volumes {
            checkProject(volume)
            check(volume, "spec.image", .image, volume.spec.image, in: volume.project)
        }
        for instance in partial.instances {
            checkProject(instance)
            let project = instance.project
            check(instance, "spec.image", .image, instance.spec.image, in: project)
            for (i, nic) in instance.spec.networks.enumerated() {
                check(instance, "spec.networks[\(i)].network", .network, nic.network, in: project)
            }
            for (i, name) in instance.spec.volumes.enumerated() {
                check(instance, "spec.volumes[\(i)]", .volume, name, in: project)
            }
            for (i, name) in instance.spec.users.enumerated() {
                check(instance, "spec.users[\(i)]", .user, name, in: nil)
            }
        }
    }

    // MARK: - References

    /// Reports a reference from `object` (at `field`) to a `kind` named `name` in `project` that does not resolve.
    mutating func checkReference<S>(
        from object: ManifestObject<S>, field: String, to kind: Kind, named name: String, in project: String?
    ) -> Bool {
        let wanted = ObjectID(kind, project: kind.scope == .cluster ? nil : project, name)
        if knownIDs.contains(wanted) { return true }
        if kind == .image, knownIDs.contains(ObjectID(.image, project: nil, name)) { return true }
        let noun = kind.rawValue.lowercased()
        // Searched in identity order, never in the set's: the same commit gets the same message whichever
        // way its identities were gathered (all at once, or patched from an earlier commit's).
        if kind.scope != .cluster, let elsewhere = knownIDs.filter({ $0.kind == kind && $0.name == name }).min(),
           let owner = elsewhere.project {
            diagnostics.error(
                "\(noun) \"\(name)\" belongs to project \"\(owner)\", not \"\(project ?? "")\"",
                at: object.location(of: field), field: field,
                hint: "\(object.id.kind.rawValue.lowercased())s may only use \(noun)s of their own project\(kind == .image ? " or public images" : "")")
            return false
        }
        let candidates = knownIDs.filter {
            $0.kind == kind && ($0.project == wanted.project || (kind == .image && $0.project == nil))
        }.map(\.name).sorted()
        let scope = kind.scope == .cluster || project == nil ? "" : " in project \"\(project ?? "")\""
        diagnostics.error(
            "unknown \(noun) \"\(name)\"\(scope)", at: object.location(of: field), field: field,
            hint: Suggestion.closest(to: name, in: candidates).map { "did you mean \"\($0)\"?" })
        return false
    }

    mutating func checkProjectsExist() {
        func check<S>(_ objects: [ManifestObject<S>]) {
            // Sorted by identity, objects come project by project: a project found is not looked up again.
            var found: String?
            for i in objects.indices {
                guard let project = objects[i].project, project != found else { continue }
                if knownProjects.contains(project) {
                    found = project
                    continue
                }
                _ = checkReference(from: objects[i], field: "metadata.project", to: .project, named: project, in: nil)
            }
        }
        check(state.images)
        check(state.networks)
        check(state.volumes)
        check(state.instances)
    }

    // MARK: - Kinds

    mutating func checkUsers() {
        for user in state.users {
            var seenKeys: [String: Int] = [:]
            for (i, key) in user.spec.sshKeys.enumerated() {
                let blob = key.split(separator: " ").dropFirst().first.map(String.init) ?? key
                if let first = seenKeys[blob] {
                    diagnostics.warning("the same SSH key is listed twice (first at sshKeys[\(first)])",
                                        at: user.location(of: "spec.sshKeys[\(i)]"), field: "spec.sshKeys[\(i)]")
                }
                seenKeys[blob] = seenKeys[blob] ?? i
            }
            var seenProjects: [String: Int] = [:]
            for (i, binding) in user.spec.roles.enumerated() {
                let field = "spec.roles[\(i)].project"
                _ = checkReference(from: user, field: field, to: .project, named: binding.project, in: nil)
                if let first = seenProjects[binding.project] {
                    diagnostics.error("user has two roles in project \"\(binding.project)\" (see roles[\(first)])",
                                      at: user.location(of: field), field: field,
                                      hint: "keep one role per project; admin includes member and reader")
                }
                seenProjects[binding.project] = seenProjects[binding.project] ?? i
            }
        }
    }

    mutating func checkImages() {
        for image in state.images {
            guard let source = image.source, source.isMapping(at: "spec.source") else { continue }
            let hasPath = source.hasValue(at: "spec.source.path"), hasURL = source.hasValue(at: "spec.source.url")
            if hasPath == hasURL {
                diagnostics.error(
                    hasPath ? "source has both path and url" : "source needs a path or a url",
                    at: image.location(of: "spec.source"), field: "spec.source",
                    hint: "give exactly one of source.path or source.url")
            }
            if hasPath, !hasURL, case let .path(path) = image.spec.source, let problem = imagePaths.problem(with: path) {
                diagnostics.error(problem.message, at: image.location(of: "spec.source.path"), field: "spec.source.path",
                                  hint: problem.hint)
            }
            if case let .url(url) = image.spec.source, let problem = ImageURLPolicy.addressProblem(with: url) {
                if !state.hosts.isEmpty && state.hosts.allSatisfy(\.spec.allowPrivateImageSources) {
                    diagnostics.warning(problem.message + "; allowed because every host sets allowPrivateImageSources",
                                        at: image.location(of: "spec.source.url"), field: "spec.source.url")
                } else {
                    diagnostics.error(problem.message, at: image.location(of: "spec.source.url"), field: "spec.source.url",
                                      hint: problem.hint ?? "hosts may allow such sources with allowPrivateImageSources: true (labs and tests only)")
                }
            }
            if case let .url(url) = image.spec.source, url.contains("@"),
               let authority = url.split(separator: "/").dropFirst(1).first, authority.contains("@") {
                diagnostics.warning(
                    "the URL carries credentials, which everyone who can read this repository sees",
                    at: image.location(of: "spec.source.url"), field: "spec.source.url")
            }
        }
    }

    mutating func checkNetworks() {
        var byVLAN: [Int: Network] = [:]
        let hostNames = state.hosts.map(\.name).joined(separator: ", ")
        for network in writtenNetworks {
            let spec = network.spec
            let cidr = spec.cidr
            if cidr.prefixLength > 30 {
                diagnostics.error("\(cidr) leaves no room for instances; use a prefix of /30 or shorter",
                                  at: network.location(of: "spec.cidr"), field: "spec.cidr")
                continue
            }
            if let gateway = spec.gateway {
                if !cidr.contains(gateway) {
                    diagnostics.error("gateway \(gateway) is outside \(cidr)",
                                      at: network.location(of: "spec.gateway"), field: "spec.gateway")
                } else if gateway == cidr.networkAddress || gateway == cidr.broadcastAddress {
                    diagnostics.error("gateway \(gateway) is the network or broadcast address of \(cidr)",
                                      at: network.location(of: "spec.gateway"), field: "spec.gateway")
                }
            }
            if let dhcp = spec.dhcp {
                for (bound, ip) in [("start", dhcp.start), ("end", dhcp.end)]
                where !cidr.contains(ip) || ip == cidr.networkAddress || ip == cidr.broadcastAddress {
                    diagnostics.error("dhcp \(bound) \(ip) is not a host address of \(cidr)",
                                      at: network.location(of: "spec.dhcp.\(bound)"), field: "spec.dhcp.\(bound)")
                }
                if dhcp.start > dhcp.end {
                    diagnostics.error("dhcp range starts at \(dhcp.start), after its end \(dhcp.end)",
                                      at: network.location(of: "spec.dhcp"), field: "spec.dhcp")
                } else if dhcp.contains(spec.effectiveGateway) {
                    diagnostics.error("the gateway \(spec.effectiveGateway) lies inside the dhcp range",
                                      at: network.location(of: "spec.dhcp"), field: "spec.dhcp")
                }
            }
            if let other = byVLAN[spec.vlan] {
                let otherAt = other.location(of: "spec.vlan").map { " (\($0))" } ?? ""
                diagnostics.error(
                    "VLAN \(spec.vlan) is already used by network \(other.id.qualifiedName)\(otherAt); on host \(hostNames) both would share one broadcast domain",
                    at: network.location(of: "spec.vlan"), field: "spec.vlan",
                    hint: "give each network its own VLAN")
            } else {
                byVLAN[spec.vlan] = network
            }
        }
    }

    /// Each volume's size, and its image. Volumes are read where they are (there may be thousands).
    mutating func checkVolumes() {
        for index in state.volumes.indices {
            let size = state.volumes[index].spec.size
            if size == .zero {
                diagnostics.error("a volume needs a size above zero", at: state.volumes[index].location(of: "spec.size"),
                                  field: "spec.size")
            }
            guard let imageName = state.volumes[index].spec.image else { continue }
            let project = state.volumes[index].project
            guard let image = self.image(named: imageName, project: project) else {
                _ = checkReference(from: state.volumes[index], field: "spec.image", to: .image, named: imageName, in: project)
                continue
            }
            if let minDisk = state.images[image].spec.minDisk, size < minDisk {
                diagnostics.error("size \(size) is smaller than image \"\(imageName)\" needs (minDisk \(minDisk))",
                                  at: state.volumes[index].location(of: "spec.size"), field: "spec.size")
            }
        }
    }

    /// Each instance's own fields, its references (image, networks, volumes, users, host), and what no two
    /// instances may share: an address on a network, a volume. Conflicts are reported on the later one.
    ///
    /// Runs over every instance of the commit, so it copies none: an instance is read where it is, a
    /// reference that resolves to a declared object is found by one lookup, and only a problem builds its
    /// field path and message.
    mutating func checkInstances() {
        /// Who took an address or a volume first: the instance's position in `state.instances`, and which
        /// of its NICs or volumes.
        struct Owner {
            var instance: Int
            var item: Int
        }
        struct Address: Hashable {
            var network: Int
            var ip: IPv4Address
        }
        var addressOwners: [Address: Owner] = [:]
        addressOwners.reserveCapacity(instanceOrder.count)
        /// By position in `state.volumes`; volumes that are known but invalid by identity.
        var volumeOwners = [Owner?](repeating: nil, count: state.volumes.count)
        var invalidVolumeOwners: [ObjectID: Owner] = [:]
        let hostNames = Set(state.hosts.map(\.name))

        for index in instanceOrder {
            func location(_ field: String) -> SourceLocation? { state.instances[index].location(of: field) }
            let spec = state.instances[index].spec
            let project = state.instances[index].project
            if spec.memory < .mebibytes(16) {
                diagnostics.error("memory \(spec.memory) is below the 16MiB an instance needs",
                                  at: location("spec.memory"), field: "spec.memory")
            }
            if let image = image(named: spec.image, project: project) {
                if let minDisk = state.images[image].spec.minDisk, spec.rootDisk < minDisk {
                    diagnostics.error("rootDisk \(spec.rootDisk) is smaller than image \"\(spec.image)\" needs (minDisk \(minDisk))",
                                      at: location("spec.rootDisk"), field: "spec.rootDisk")
                }
            } else {
                _ = checkReference(from: state.instances[index], field: "spec.image", to: .image, named: spec.image, in: project)
            }
            if spec.rootDisk == .zero {
                diagnostics.error("rootDisk must be above zero", at: location("spec.rootDisk"), field: "spec.rootDisk")
            }
            for (i, nic) in spec.networks.enumerated() {
                guard let position = networkIndex[ObjectID(.network, project: project, nic.network)] else {
                    _ = checkReference(from: state.instances[index], field: "spec.networks[\(i)].network", to: .network,
                                       named: nic.network, in: project)
                    continue
                }
                guard let ip = nic.ip else { continue }
                let network = state.networks[position].spec
                var ipField: String { "spec.networks[\(i)].ip" }
                let cidr = network.cidr
                if !cidr.contains(ip) {
                    diagnostics.error("\(ip) is outside network \(nic.network)'s \(cidr)", at: location(ipField), field: ipField)
                    continue
                }
                if ip == cidr.networkAddress || ip == cidr.broadcastAddress {
                    diagnostics.error("\(ip) is the network or broadcast address of \(cidr)", at: location(ipField), field: ipField)
                    continue
                }
                if ip == network.effectiveGateway {
                    diagnostics.error("\(ip) is the gateway of network \(nic.network)", at: location(ipField), field: ipField)
                    continue
                }
                if let dhcp = network.dhcp, dhcp.contains(ip) {
                    diagnostics.warning("\(ip) lies in network \(nic.network)'s dhcp range \(dhcp.start)-\(dhcp.end)",
                                        at: location(ipField), field: ipField)
                }
                let address = Address(network: position, ip: ip)
                if let owner = addressOwners[address] {
                    let first = state.instances[owner.instance]
                    let where_ = first.location(of: "spec.networks[\(owner.item)].ip").map { " at \($0)" } ?? ""
                    diagnostics.error(
                        "\(ip) on network \(nic.network) is taken twice: by \(first.id.qualifiedName)\(where_) and by \(state.instances[index].id.qualifiedName)",
                        at: location(ipField), field: ipField)
                } else {
                    addressOwners[address] = Owner(instance: index, item: i)
                }
            }
            for (i, name) in spec.volumes.enumerated() {
                let id = ObjectID(.volume, project: project, name)
                let previous: Owner?
                if let position = volumeIndex[id] {
                    previous = volumeOwners[position]
                    if previous == nil { volumeOwners[position] = Owner(instance: index, item: i) }
                } else {
                    guard checkReference(from: state.instances[index], field: "spec.volumes[\(i)]", to: .volume, named: name,
                                         in: project)
                    else { continue }
                    previous = invalidVolumeOwners[id]
                    if previous == nil { invalidVolumeOwners[id] = Owner(instance: index, item: i) }
                }
                if let owner = previous {
                    let first = state.instances[owner.instance]
                    let what = owner.instance == index ? "twice by this instance" : "by \(first.id.qualifiedName) too"
                    let where_ = first.location(of: "spec.volumes[\(owner.item)]").map { " (\($0))" } ?? ""
                    diagnostics.error("volume \"\(name)\" is attached \(what)\(where_); a volume attaches to one instance",
                                      at: location("spec.volumes[\(i)]"), field: "spec.volumes[\(i)]")
                }
            }
            for (i, name) in spec.users.enumerated() {
                guard let position = userIndex[name] else {
                    _ = checkReference(from: state.instances[index], field: "spec.users[\(i)]", to: .user, named: name, in: nil)
                    continue
                }
                if state.users[position].spec.sshKeys.isEmpty {
                    diagnostics.warning("user \"\(name)\" has no SSH keys to inject",
                                        at: location("spec.users[\(i)]"), field: "spec.users[\(i)]")
                }
            }
            if let host = spec.host, !hostNames.contains(host), !knownIDs.contains(ObjectID(.host, host)) {
                let hint = Suggestion.closest(to: host, in: hostNames).map { "did you mean \"\($0)\"?" }
                    ?? (state.usesDefaultHost ? "no Host is declared, so the only host is \"local\"" : nil)
                diagnostics.error("unknown host \"\(host)\"", at: location("spec.host"), field: "spec.host", hint: hint)
            }
        }
    }

    // MARK: - Hosts

    /// Directories a storage pool may never be: libvirt builds a dir pool by creating and chmod-ing its
    /// directory, and Driftless writes volumes into it.
    static let forbiddenPoolRoots: [String] = [
        "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/run", "/sbin", "/sys", "/usr",
        "/var/run",
    ]
    static let forbiddenPoolPaths: Set<String> = ["/", "/home", "/root", "/tmp", "/var", "/var/lib", "/var/tmp", "/srv", "/opt", "/mnt", "/media"]

    /// Why a pool directory is refused, or nil.
    static func poolPathProblem(_ path: String) -> String? {
        let trimmed = path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
        if forbiddenPoolPaths.contains(trimmed) {
            return "a storage pool may not be \(TextEscaping.quoted(path)): libvirt takes over a pool's directory"
        }
        if let root = forbiddenPoolRoots.first(where: { trimmed == $0 || trimmed.hasPrefix($0 + "/") }) {
            return "a storage pool may not live under \(root), a system directory"
        }
        return nil
    }

    /// Each host's two pools: not at a system directory, and not sharing a name or a directory (nor one
    /// inside the other), since each pool's volumes are pruned by what that pool is for.
    mutating func checkHostPools() {
        for host in state.hosts {
            let pools = [("spec.storagePool", host.spec.storagePool), ("spec.imagePool", host.spec.imagePool)]
            for (field, pool) in pools {
                if let problem = Self.poolPathProblem(pool.path) {
                    diagnostics.error(problem, at: host.location(of: field + ".path"), field: field + ".path",
                                      hint: "use a directory of its own, such as /var/lib/driftless/volumes")
                }
            }
            let (volumes, images) = (host.spec.storagePool, host.spec.imagePool)
            func normalized(_ path: String) -> String { path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path }
            let (v, i) = (normalized(volumes.path), normalized(images.path))
            if volumes.name == images.name {
                diagnostics.error(
                    "the image pool has the same name as the storage pool (\(TextEscaping.quoted(images.name)))",
                    at: host.location(of: "spec.imagePool.name"), field: "spec.imagePool.name",
                    hint: "give each pool its own name")
            }
            if v == i {
                diagnostics.error(
                    "the image pool shares its directory \(TextEscaping.quoted(images.path)) with the storage pool",
                    at: host.location(of: "spec.imagePool.path"), field: "spec.imagePool.path",
                    hint: "give each pool its own directory")
            } else if Self.poolPathProblem(v) == nil, Self.poolPathProblem(i) == nil, v.hasPrefix(i + "/") || i.hasPrefix(v + "/") {
                diagnostics.error(
                    "one storage pool's directory lies inside the other's (\(TextEscaping.quoted(volumes.path)) and \(TextEscaping.quoted(images.path)))",
                    at: host.location(of: "spec.imagePool.path"), field: "spec.imagePool.path",
                    hint: "give each pool its own directory")
            }
        }
    }

    /// Each host maps a physical network once and plugs an interface into one physical network; a Network's
    /// `physicalNetwork` must be one some host maps (which host an instance needs it on is the planner's).
    mutating func checkPhysicalNetworks() {
        var mapped: Set<String> = []
        for host in state.hosts {
            var names: [String: Int] = [:]
            var interfaces: [String: Int] = [:]
            for (index, mapping) in host.spec.physicalNetworks.enumerated() {
                let field = "spec.physicalNetworks[\(index)]"
                mapped.insert(mapping.name)
                if let first = names[mapping.name] {
                    diagnostics.error("physical network \(mapping.name) is mapped twice on host \(host.name) (first at physicalNetworks[\(first)])",
                                      at: host.location(of: field + ".name"), field: field + ".name")
                } else {
                    names[mapping.name] = index
                }
                if let first = interfaces[mapping.interface] {
                    diagnostics.error("interface \(mapping.interface) already carries physicalNetworks[\(first)] on host \(host.name); an interface is one trunk",
                                      at: host.location(of: field + ".interface"), field: field + ".interface")
                } else {
                    interfaces[mapping.interface] = index
                }
                if mapping.interface == host.spec.bridge {
                    diagnostics.error("interface \(mapping.interface) is the host's integration bridge itself",
                                      at: host.location(of: field + ".interface"), field: field + ".interface",
                                      hint: "name the host interface that leads to the physical network, such as eth1")
                }
            }
        }
        for network in writtenNetworks {
            guard let physical = network.spec.physicalNetwork, !mapped.contains(physical) else { continue }
            let known = mapped.sorted()
            diagnostics.error(
                "no host maps physical network \(physical)" + (known.isEmpty ? "" : " (mapped: \(known.joined(separator: ", ")))"),
                at: network.location(of: "spec.physicalNetwork"), field: "spec.physicalNetwork",
                hint: known.isEmpty ? "add it to a Host's physicalNetworks, or remove physicalNetwork to keep the network inside the host"
                    : Suggestion.closest(to: physical, in: known).map { "did you mean \($0)?" })
        }
    }

    // MARK: - Quotas and capacity

    /// Each quota is checked in source order with saturating sums, and reported on the declaration that
    /// first takes the project over it (its `vcpus:`, `memory:` or `size:` line), naming the quota's line.
    mutating func checkQuotas() {
        let limited = state.projects.filter {
            let quota = $0.spec.quota
            return quota.instances != nil || quota.vcpus != nil || quota.memory != nil || quota.volumeStorage != nil
        }
        guard !limited.isEmpty else { return }
        let instancesByProject = Dictionary(grouping: instanceOrder.map { state.instances[$0] }, by: { $0.project ?? "" })
        let volumesByProject = Dictionary(grouping: volumeOrder.map { state.volumes[$0] }, by: { $0.project ?? "" })
        for project in limited {
            let quota = project.spec.quota
            func over<S>(_ quotaField: String, _ object: ManifestObject<S>, at field: String, _ used: String, _ limit: String) {
                let quotaAt = project.location(of: "spec.quota.\(quotaField)").map { " (set at \($0))" } ?? ""
                diagnostics.error(
                    "project \"\(project.name)\" declares \(used), over its quota of \(limit)\(quotaAt)",
                    at: object.location(of: field), field: field)
            }
            let instances = instancesByProject[project.name] ?? []
            if let limit = quota.instances, instances.count > limit {
                over("instances", instances[limit], at: "metadata.name", "\(instances.count) instances", "\(limit)")
            }
            if let limit = quota.vcpus {
                var sum = 0
                for instance in instances {
                    sum = sum.addingSaturating(instance.spec.vcpus)
                    if sum > limit {
                        over("vcpus", instance, at: "spec.vcpus", "\(instances.reduce(0) { $0.addingSaturating($1.spec.vcpus) }) vCPUs", "\(limit)")
                        break
                    }
                }
            }
            if let limit = quota.memory {
                var sum = ByteSize.zero
                for instance in instances {
                    sum = sum + instance.spec.memory
                    if sum > limit {
                        over("memory", instance, at: "spec.memory", "\(instances.reduce(ByteSize.zero) { $0 + $1.spec.memory }.describedAsTotal) of memory", "\(limit)")
                        break
                    }
                }
            }
            if let limit = quota.volumeStorage {
                let volumes = volumesByProject[project.name] ?? []
                var sum = ByteSize.zero
                for volume in volumes {
                    sum = sum + volume.spec.size
                    if sum > limit {
                        over("volumeStorage", volume, at: "spec.size", "\(volumes.reduce(ByteSize.zero) { $0 + $1.spec.size }.describedAsTotal) of volumes", "\(limit)")
                        break
                    }
                }
            }
        }
    }

    mutating func checkCapacity() {
        struct Room {
            var vcpus: Double
            var memory: Double
        }
        var room: [String: Room] = [:]
        for host in state.hosts {
            guard let capacity = host.spec.capacity else { continue }
            room[host.name] = Room(vcpus: Double(capacity.vcpus) * host.spec.overcommit.cpu,
                                   memory: Double(capacity.memory.bytes) * host.spec.overcommit.memory)
        }
        // Without a host of known capacity there is nothing to check (and no instance to look at).
        guard !room.isEmpty else { return }
        let everyHostSized = room.count == state.hosts.count
        let hostsByName = Dictionary(state.hosts.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var unpinned: [Instance] = []
        for instance in instanceOrder.map({ state.instances[$0] }) {
            guard let hostName = instance.spec.host else {
                if everyHostSized { unpinned.append(instance) }
                continue
            }
            guard var left = room[hostName], let host = hostsByName[hostName] else { continue }
            left.vcpus -= Double(instance.spec.vcpus)
            left.memory -= Double(instance.spec.memory.bytes)
            // Point at what does not fit: the memory line, the vcpus line, or both.
            for (short, field, what) in [(left.vcpus < 0, "spec.vcpus", "vCPUs"), (left.memory < 0, "spec.memory", "memory")] where short {
                diagnostics.error(
                    "placing \(instance.id.qualifiedName) on host \(hostName) exceeds its \(what) (\(describe(host)))",
                    at: instance.location(of: field), field: field)
            }
            room[hostName] = left
        }
        // Unpinned instances can go anywhere; only check them when every host's capacity is known.
        guard !unpinned.isEmpty, everyHostSized else { return }
        // First fit, largest first: the same placement the scheduler makes.
        let ordered = unpinned.sorted {
            ($0.spec.memory, $0.spec.vcpus, $1.id) > ($1.spec.memory, $1.spec.vcpus, $0.id)
        }
        for instance in ordered {
            let vcpus = Double(instance.spec.vcpus), memory = Double(instance.spec.memory.bytes)
            if let name = room.keys.sorted().first(where: { room[$0].map { $0.vcpus >= vcpus && $0.memory >= memory } ?? false }) {
                room[name]?.vcpus -= vcpus
                room[name]?.memory -= memory
            } else {
                // The field to blame: vCPUs when no host has that many left, else memory.
                let field = room.values.contains { $0.vcpus >= vcpus } ? "spec.memory" : "spec.vcpus"
                diagnostics.error(
                    "no host has room for \(instance.id.qualifiedName) (\(instance.spec.vcpus) vCPUs, \(instance.spec.memory)) once the other instances are placed",
                    at: instance.location(of: field), field: field,
                    hint: "add capacity, raise overcommit or shrink instances")
            }
        }
    }

    func describe(_ host: Host) -> String {
        guard let capacity = host.spec.capacity else { return "unknown capacity" }
        let cpus = Double(capacity.vcpus) * host.spec.overcommit.cpu
        let memory = ByteSize(bytes: UInt64(Double(capacity.memory.bytes) * host.spec.overcommit.memory))
        return "\(Int(cpus)) vCPUs and \(memory) with overcommit"
    }
}
