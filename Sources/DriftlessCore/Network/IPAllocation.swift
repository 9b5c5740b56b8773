/// Who holds an address: one NIC of an instance, identified by the instance and the NIC's position
/// among the instance's NICs on that network (so reordering NICs across networks keeps addresses).
public struct NICOwner: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public var project: String
    public var instance: String
    public var network: String
    /// 0 for the instance's first NIC on `network`, 1 for its second, and so on.
    public var ordinal: Int

    public init(project: String, instance: String, network: String, ordinal: Int) {
        self.project = project
        self.instance = instance
        self.network = network
        self.ordinal = ordinal
    }

    /// `shop/web-1 on frontend` (plus `#2` for a second NIC on the same network).
    public var description: String {
        "\(project)/\(instance) on \(network)" + (ordinal > 0 ? " #\(ordinal + 1)" : "")
    }

    /// A stable text key for storage: `project/instance/network/ordinal`.
    public var key: String { "\(project)/\(instance)/\(network)/\(ordinal)" }

    public init?(key: String) {
        let parts = key.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 4, let ordinal = Int(parts[3]) else { return nil }
        self.init(project: String(parts[0]), instance: String(parts[1]), network: String(parts[2]), ordinal: ordinal)
    }

    public static func < (lhs: NICOwner, rhs: NICOwner) -> Bool { lhs.key < rhs.key }
}

/// An address held by a NIC on a network (`project/network`).
public struct IPAllocation: Hashable, Sendable, Codable {
    public var owner: NICOwner
    public var address: IPv4Address
    /// Whether the manifest fixed the address (`ip:`) rather than the allocator choosing it.
    public var isFixed: Bool

    public init(owner: NICOwner, address: IPv4Address, isFixed: Bool) {
        self.owner = owner
        self.address = address
        self.isFixed = isFixed
    }
}

/// Persists IP allocations across runs and restarts.
///
/// Implementations replace the whole set atomically: after `save`, `load` returns exactly what was saved,
/// even after a crash in between (then the old set).
public protocol IPAllocationStore: Sendable {
    func loadAllocations() throws -> [IPAllocation]
    func saveAllocations(_ allocations: [IPAllocation]) throws
}

/// Computes the address of every instance NIC: fixed addresses as declared, earlier allocations kept,
/// new NICs given the lowest free address, departed NICs' addresses released.
///
/// Skipped when choosing: the network and broadcast addresses, the gateway and the DHCP range.
public enum IPAllocator {
    /// The allocations, and the conflicts that make the plan fail.
    public struct Outcome: Sendable {
        public var allocations: [IPAllocation]
        /// Addresses released because their NIC is gone (or its network changed).
        public var released: [IPAllocation]
        public var diagnostics: Diagnostics
    }

    public static func allocate(for state: DesiredState, existing: [IPAllocation]) -> Outcome {
        var diagnostics = Diagnostics()
        let networks = Dictionary(state.networks.map { ("\($0.project ?? "")/\($0.name)", $0) }, uniquingKeysWith: { a, _ in a })

        // Every NIC that wants an address, in a stable order.
        struct Want {
            var owner: NICOwner
            var fixed: IPv4Address?
            var instance: Instance
            var index: Int
        }
        var wants: [Want] = []
        for instance in state.instances {
            var ordinals: [String: Int] = [:]
            for (index, nic) in instance.spec.networks.enumerated() {
                let ordinal = ordinals[nic.network, default: 0]
                ordinals[nic.network] = ordinal + 1
                let owner = NICOwner(project: instance.project ?? "", instance: instance.name, network: nic.network, ordinal: ordinal)
                wants.append(Want(owner: owner, fixed: nic.ip, instance: instance, index: index))
            }
        }
        let wantedOwners = Set(wants.map(\.owner))
        let previous = Dictionary(existing.map { ($0.owner, $0) }, uniquingKeysWith: { a, _ in a })
        var released = existing.filter { !wantedOwners.contains($0.owner) }

        // Addresses taken per network: fixed ones first, then kept earlier allocations.
        var taken: [String: [IPv4Address: NICOwner]] = [:]
        var result: [NICOwner: IPAllocation] = [:]
        for want in wants {
            guard let fixed = want.fixed else { continue }
            let net = "\(want.owner.project)/\(want.owner.network)"
            taken[net, default: [:]][fixed] = want.owner
            result[want.owner] = IPAllocation(owner: want.owner, address: fixed, isFixed: true)
        }
        for want in wants where want.fixed == nil {
            guard let earlier = previous[want.owner], let network = networks["\(want.owner.project)/\(want.owner.network)"],
                  network.spec.cidr.contains(earlier.address)
            else { continue }
            let net = "\(want.owner.project)/\(want.owner.network)"
            if let holder = taken[net]?[earlier.address] {
                // A fixed address now claims what the allocator gave this NIC earlier.
                diagnostics.error(
                    "\(earlier.address) is claimed by \(holder) (fixed in its manifest) but is allocated to \(want.owner); changing it would readdress a running instance",
                    at: want.instance.location(of: "spec.networks[\(want.index)]"), field: "spec.networks[\(want.index)]",
                    hint: "choose another ip for \(holder.project)/\(holder.instance), or remove \(want.owner.project)/\(want.owner.instance)'s NIC first")
                continue
            }
            taken[net, default: [:]][earlier.address] = want.owner
            result[want.owner] = earlier
        }
        // Fixed addresses that moved: the old allocation is released.
        for want in wants {
            if let earlier = previous[want.owner], let now = result[want.owner], earlier.address != now.address {
                released.append(earlier)
            }
        }

        // New NICs: the lowest free address.
        for want in wants where result[want.owner] == nil && want.fixed == nil {
            let net = "\(want.owner.project)/\(want.owner.network)"
            guard let network = networks[net] else { continue }
            if let address = firstFree(in: network.spec, taken: taken[net] ?? [:]) {
                taken[net, default: [:]][address] = want.owner
                result[want.owner] = IPAllocation(owner: want.owner, address: address, isFixed: false)
            } else {
                diagnostics.error(
                    "network \(want.owner.network) (\(network.spec.cidr)) has no free address left for \(want.owner)",
                    at: want.instance.location(of: "spec.networks[\(want.index)]"), field: "spec.networks[\(want.index)]",
                    hint: "widen the CIDR or shrink the DHCP range")
            }
        }
        return Outcome(allocations: result.values.sorted { $0.owner < $1.owner }, released: released, diagnostics: diagnostics)
    }

    /// The lowest host address that is not the gateway, not in the DHCP range and not taken.
    static func firstFree(in spec: NetworkSpec, taken: [IPv4Address: NICOwner]) -> IPv4Address? {
        let cidr = spec.cidr
        guard cidr.prefixLength <= 30 else { return nil }
        var candidate = cidr.firstHost.value
        let last = cidr.lastHost.value
        let gateway = spec.effectiveGateway
        while candidate <= last {
            let ip = IPv4Address(candidate)
            if let dhcp = spec.dhcp, dhcp.contains(ip) {
                candidate = dhcp.end.value &+ 1
                if candidate == 0 { return nil }
                continue
            }
            if ip != gateway && taken[ip] == nil { return ip }
            candidate += 1
        }
        return nil
    }
}
