/// The kinds of object a manifest can declare.
public enum Kind: String, Sendable, CaseIterable, Codable, Comparable {
    case host = "Host"
    case project = "Project"
    case user = "User"
    case image = "Image"
    case network = "Network"
    case volume = "Volume"
    case instance = "Instance"

    /// The only API version this release reads.
    public static let apiVersion = "driftless.dev/v1"

    /// Whether `metadata.project` is required, optional or not allowed for a kind.
    public enum Scope: Sendable {
        case cluster
        case project
        /// Project-scoped when `metadata.project` is set, public otherwise (images).
        case optionalProject
    }

    public var scope: Scope {
        switch self {
        case .host, .project, .user: .cluster
        case .image: .optionalProject
        case .network, .volume, .instance: .project
        }
    }

    /// Dependency order: a kind is created after every kind before it.
    public static func < (lhs: Kind, rhs: Kind) -> Bool {
        allCases.firstIndex(of: lhs) ?? 0 < allCases.firstIndex(of: rhs) ?? 0
    }

    /// One sentence for the reference docs and the JSON Schema.
    public var summary: String {
        switch self {
        case .host: "A compute, storage and network node: how to reach its libvirt and OVSDB, its pools and capacity."
        case .project: "A tenant: the scope of names, quotas and access."
        case .user: "A person: identity for the HTTP API, SSH keys for instances, roles per project."
        case .image: "A disk image, verified by SHA-256, imported into each host's image pool that needs it."
        case .network: "An IPv4 network: a VLAN on every host's integration bridge, with IP allocation."
        case .volume: "A block device in a host's storage pool, attached to the instance that lists it."
        case .instance: "A virtual machine: a libvirt domain with a root overlay, NICs on networks, volumes and cloud-init."
        }
    }

    /// The schema of `spec`.
    public var specSchema: [SchemaField] {
        switch self {
        case .host: Schemas.host
        case .project: Schemas.project
        case .user: Schemas.user
        case .image: Schemas.image
        case .network: Schemas.network
        case .volume: Schemas.volume
        case .instance: Schemas.instance
        }
    }

    /// Whether `spec` itself may be omitted (every field of it is optional).
    public var specIsOptional: Bool { !specSchema.contains { $0.required } }
}

/// The field tables of every kind, the single source of truth for checks, JSON Schema and docs.
public enum Schemas {
    static let pool: [SchemaField] = [
        SchemaField("name", .string(.name), required: true, "The libvirt storage pool's name."),
        SchemaField("path", .string(.absolutePath), required: true, "The directory the dir pool lives in."),
    ]

    public static let metadata: [SchemaField] = [
        SchemaField("name", .string(.name), required: true, "The object's name, unique per kind (and project)."),
        SchemaField("project", .string(.name),
                    "The owning project. Required for Network, Volume and Instance; optional for Image (absent means public); not allowed for Host, Project and User."),
        SchemaField("labels", .stringMap, "Free-form key/value pairs for selection and reports."),
        SchemaField("annotations", .stringMap, "Free-form key/value notes; not used by the engine."),
    ]

    public static let host: [SchemaField] = [
        SchemaField("libvirt", .string(.libvirtURI), default: .string(HostSpec.defaultLibvirtURI),
                    "The libvirt connection URI: qemu:///system locally, qemu+ssh://…, qemu+tls://… or qemu+tcp://… remotely, qemu+unix:///system?socket=… or test:///default; no other transport or URI parameter (see docs/security.md)."),
        SchemaField("ovsdb", .string(.ovsdbEndpoint), default: .string(HostSpec.defaultOVSDB),
                    "The OVSDB endpoint of the host's Open vSwitch."),
        SchemaField("bridge", .string(.bridgeName), default: .string("br-int"),
                    "The integration bridge that instance NICs are plugged into."),
        SchemaField("datapath", .enumeration(["system", "netdev"]), default: .string("system"),
                    "The bridge's datapath type: system (kernel module) or netdev (userspace). On netdev, instance NICs get their virtio offloads turned off, without which TCP does not pass the userspace datapath."),
        SchemaField("virtualization", .enumeration(["auto", "kvm", "qemu"]), default: .string("auto"),
                    "How guests run, as Nova's virt_type: kvm (hardware), qemu (software emulation, TCG), or auto: kvm when the host's libvirt offers it (its domain capabilities), else qemu."),
        SchemaField("physicalNetworks", .list(.object([
            SchemaField("name", .string(.name), required: true, "The physical network's name, which Networks name in physicalNetwork."),
            SchemaField("interface", .string(.interfaceName), required: true,
                        "An existing interface of the host, plugged into the bridge as a trunk carrying the VLANs of the networks on this physical network."),
        ])), default: .emptyList, "Physical networks reachable from this host (Neutron's bridge_mappings)."),
        SchemaField("storagePool", .object(pool),
                    "The dir pool for volumes and root disks (default name driftless-volumes under /var/lib/driftless/volumes)."),
        SchemaField("imagePool", .object(pool),
                    "The dir pool for images (default name driftless-images under /var/lib/driftless/images)."),
        SchemaField("capacity", .object([
            SchemaField("vcpus", .integer(min: 1, max: 65536), required: true, "Physical CPUs offered to instances."),
            SchemaField("memory", .string(.size), required: true, "Memory offered to instances."),
        ]), "What the host offers; without it, placement on this host is not checked."),
        SchemaField("overcommit", .object([
            SchemaField("cpu", .number(min: 0.1, max: 64), default: .number(4.0), "Virtual CPUs per physical CPU."),
            SchemaField("memory", .number(min: 0.1, max: 4), default: .number(1.0), "Memory overcommit ratio."),
        ]), "Overcommit ratios applied to capacity."),
        SchemaField("allowPrivateImageSources", .boolean, default: .boolean(false),
                    "Let image URLs point at loopback, link-local or metadata addresses (labs and tests only; every host must allow it)."),
        SchemaField("schedulable", .boolean, default: .boolean(true),
                    "false drains the host: the scheduler places nothing new on it, and moves the unpinned instances that run there (with --allow-move)."),
    ]

    public static let project: [SchemaField] = [
        SchemaField("description", .string(.text), "What the project is for."),
        SchemaField("quota", .object([
            SchemaField("instances", .integer(min: 0, max: 1_000_000), "Most instances."),
            SchemaField("vcpus", .integer(min: 0, max: 10_000_000), "Most virtual CPUs over all instances."),
            SchemaField("memory", .string(.size), "Most memory over all instances."),
            SchemaField("volumeStorage", .string(.size), "Most volume storage (sum of Volume sizes; root disks excluded)."),
        ]), "Limits on what the project declares; unset limits are unlimited."),
    ]

    public static let user: [SchemaField] = [
        SchemaField("email", .string(.email), "Contact address."),
        SchemaField("enabled", .boolean, default: .boolean(true), "A disabled user keeps its roles but loses API access."),
        SchemaField("admin", .boolean, default: .boolean(false), "A cloud administrator sees and manages everything."),
        SchemaField("sshKeys", .list(.string(.sshKey)), default: .emptyList,
                    "OpenSSH public keys, injected into instances that list the user."),
        SchemaField("roles", .list(.object([
            SchemaField("project", .string(.name), required: true, "The project the role applies to."),
            SchemaField("role", .enumeration(["admin", "member", "reader"]), required: true,
                        "admin manages the project, member changes it, reader sees it."),
        ])), default: .emptyList, "Roles per project."),
    ]

    public static let image: [SchemaField] = [
        SchemaField("source", .object([
            SchemaField("path", .string(.absolutePath),
                        "A regular file on the controller, under a directory the operator allows (--image-dir; default /var/lib/driftless/images); no symbolic links."),
            SchemaField("url", .string(.imageURL), "An http or https URL (not loopback, link-local, unique-local or metadata addresses)."),
        ]), required: true, "Where the image comes from: exactly one of path or url."),
        SchemaField("sha256", .string(.sha256), required: true, "The image's SHA-256; a mismatch refuses the import."),
        SchemaField("format", .enumeration(["qcow2", "raw"]), required: true,
                    "The image's format; the file is inspected and refused when it differs."),
        SchemaField("minDisk", .string(.size), "The smallest root disk the image needs."),
    ]

    public static let network: [SchemaField] = [
        SchemaField("cidr", .string(.cidr), required: true, "The IPv4 subnet, such as 10.10.0.0/24."),
        SchemaField("gateway", .string(.ipv4), "The gateway address (default: the first host address)."),
        SchemaField("vlan", .integer(min: 1, max: 4094), required: true, "The VLAN id tagging the network's ports."),
        SchemaField("mtu", .integer(min: 576, max: 9216), "The MTU of the network's ports."),
        SchemaField("physicalNetwork", .string(.name),
                    "The physical network (a Host's physicalNetworks name) the VLAN runs on, to reach a router or other hosts; absent: the network stays inside each host."),
        SchemaField("dhcp", .object([
            SchemaField("start", .string(.ipv4), required: true, "First address of the range."),
            SchemaField("end", .string(.ipv4), required: true, "Last address of the range."),
        ]), "A range kept for DHCP; static allocation skips it."),
    ]

    public static let volume: [SchemaField] = [
        SchemaField("size", .string(.size), required: true, "The volume's size; it can grow but not shrink."),
        SchemaField("format", .enumeration(["qcow2", "raw"]), default: .string("qcow2"), "The volume's format."),
        SchemaField("image", .string(.name), "An image to copy into the volume."),
        SchemaField("deletionPolicy", .enumeration(["Retain", "Delete"]), default: .string("Retain"),
                    "Retain keeps the volume when its manifest goes; Delete removes it."),
    ]

    public static let instance: [SchemaField] = [
        SchemaField("image", .string(.name), required: true, "The image of the root disk (the project's or a public one)."),
        SchemaField("vcpus", .integer(min: 1, max: 256), required: true, "Virtual CPUs."),
        SchemaField("memory", .string(.size), required: true, "Memory, at least 16MiB."),
        SchemaField("rootDisk", .string(.size), required: true, "Size of the root disk, an overlay on the image."),
        SchemaField("networks", .list(.object([
            SchemaField("network", .string(.name), required: true, "A network of the instance's project."),
            SchemaField("ip", .string(.ipv4), "A fixed address; allocated from the subnet when absent."),
        ])), default: .emptyList, "NICs, in order."),
        SchemaField("volumes", .list(.string(.name)), default: .emptyList, "Volumes of the project to attach."),
        SchemaField("users", .list(.string(.name)), default: .emptyList, "Users whose SSH keys the guest receives."),
        SchemaField("power", .enumeration(["running", "stopped"]), default: .string("running"), "The power state."),
        SchemaField("host", .string(.name), "Pin to a host; otherwise the scheduler places the instance. Changing it moves a running instance there with its disks (with --allow-move)."),
        SchemaField("placement", .object([
            SchemaField("hostSelector", .stringMap, "Labels (a Host's metadata.labels) the host must carry, all of them."),
            SchemaField("group", .string(.name), "An instance group of the project, kept apart by antiAffinity."),
            SchemaField("antiAffinity", .string(.name),
                        "The Host label whose values members of the group must not share, or host for distinct hosts."),
            SchemaField("strategy", .enumeration(["spread", "pack"]), default: .string("spread"),
                        "spread: the host with the most free memory after placement; pack: the fullest host that still fits."),
        ]), "How the scheduler chooses a host when host does not pin one (filters: capacity after overcommit and what the host reports free, labels, anti-affinity, drained hosts; then the strategy)."),
        SchemaField("userData", .string(.text), sensitive: true,
                    "cloud-init user data; sensitive, never shown in plans or logs."),
    ]
}
