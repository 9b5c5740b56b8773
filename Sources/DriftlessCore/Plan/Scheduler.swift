/// Placement of new instances on hosts, as Nova's filter scheduler does it: every host is put through
/// filters (can it take this instance at all?), the hosts that pass are weighed (spread by default, pack
/// on request), and the best one is chosen. Deterministic: the same hosts and requests give the same
/// placement, ties broken by host name. Instances that already run are claimed where they are first, so
/// their resources count and they never move unless told to.
public struct Scheduler: Sendable {
    /// How a host's fit is weighed among the hosts that pass the filters.
    public enum Strategy: String, Sendable, Codable, Hashable, CaseIterable {
        /// The host with the most free memory after placement (then the most free vCPUs): instances are
        /// spread, so a host's failure takes few of them.
        case spread
        /// The host with the least free memory after placement that still fits: hosts fill up one by one,
        /// leaving others empty.
        case pack
    }

    /// A host as placement sees it.
    public struct Host: Sendable, Equatable {
        public var name: String
        /// The Host's labels (`metadata.labels`), which `placement.hostSelector` matches.
        public var labels: [String: String]
        /// False when the Host is drained (`spec.schedulable: false`): nothing new is placed there.
        public var schedulable: Bool
        /// Why the host could not be observed, when it could not: nothing is placed there.
        public var unknownReason: String?
        /// CPUs and memory the host offers: the Host's `spec.capacity` when given, else what the host
        /// reports (`virNodeGetInfo`); nil: not known, not checked.
        public var vcpus: Int?
        public var memory: ByteSize?
        /// `spec.overcommit`.
        public var cpuRatio: Double
        public var memoryRatio: Double
        /// The memory the host reports free now (`virNodeGetFreeMemory`): new instances of one plan must
        /// fit in it, unless memory is overcommitted.
        public var freeMemory: ByteSize?

        public init(name: String, labels: [String: String] = [:], schedulable: Bool = true, unknownReason: String? = nil,
                    vcpus: Int? = nil, memory: ByteSize? = nil, cpuRatio: Double = 4.0, memoryRatio: Double = 1.0,
                    freeMemory: ByteSize? = nil) {
            self.name = name
            self.labels = labels
            self.schedulable = schedulable
            self.unknownReason = unknownReason
            self.vcpus = vcpus
            self.memory = memory
            self.cpuRatio = cpuRatio
            self.memoryRatio = memoryRatio
            self.freeMemory = freeMemory
        }

        /// Virtual CPUs the host may carry (capacity × overcommit), nil when unknown.
        var vcpuLimit: Int? { vcpus.map { Int((Double($0) * cpuRatio).rounded(.down)) } }
        /// Memory the host may carry (capacity × overcommit), nil when unknown.
        var memoryLimit: UInt64? { memory.map { UInt64((Double($0.bytes) * memoryRatio).rounded(.down)) } }
    }

    /// What an instance asks of its host.
    public struct Request: Sendable, Equatable {
        public var instance: ObjectID
        public var vcpus: Int
        public var memory: ByteSize
        /// Labels the host must carry, all of them.
        public var hostSelector: [String: String]
        /// The anti-affinity group (within the project) and the label whose values its members must not
        /// share (`host`: the host itself).
        public var group: String?
        public var antiAffinity: String?
        public var strategy: Strategy

        public init(instance: ObjectID, vcpus: Int, memory: ByteSize, hostSelector: [String: String] = [:], group: String? = nil,
                    antiAffinity: String? = nil, strategy: Strategy = .spread) {
            self.instance = instance
            self.vcpus = vcpus
            self.memory = memory
            self.hostSelector = hostSelector
            self.group = group
            self.antiAffinity = antiAffinity
            self.strategy = strategy
        }

        /// The group's key across projects.
        var groupKey: String? { group.map { "\(instance.project ?? "")/\($0)" } }
    }

    /// Where a new instance goes, and why there.
    public struct Decision: Sendable, Equatable {
        public var host: String
        /// One line for the plan: `spread: most free memory of 3 hosts that fit`.
        public var reason: String
    }

    /// No host can take an instance: why not, host by host.
    public struct NoRoom: Error, Sendable, Equatable, CustomStringConvertible {
        public var instance: ObjectID
        /// Host name → the constraint it failed.
        public var reasons: [String: String]

        public var description: String {
            let each = reasons.keys.sorted().map { "\($0): \(reasons[$0] ?? "")" }
            return "no host can take instance \(instance.qualifiedName): " + (each.isEmpty ? "there is no host" : each.joined(separator: "; "))
        }
    }

    /// What is placed on a host so far in this plan.
    struct Usage: Sendable {
        var vcpus = 0
        var memory: UInt64 = 0
        /// Memory of instances placed by this plan (not running yet), which must fit in the reported free memory.
        var newMemory: UInt64 = 0
        var instances = 0
    }

    public private(set) var hosts: [Host]
    private var usage: [String: Usage] = [:]
    /// Group key → the hosts its members are on.
    private var groupHosts: [String: [String]] = [:]
    private let byName: [String: Host]

    public init(hosts: [Host]) {
        self.hosts = hosts.sorted { $0.name < $1.name }
        byName = Dictionary(hosts.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// The host named `name`, if the scheduler has it.
    public func host(named name: String) -> Host? { byName[name] }

    /// Counts an instance that stays on `host` (it runs there, or is pinned there).
    public mutating func claim(_ request: Request, on host: String, new: Bool = false) {
        var used = usage[host, default: Usage()]
        used.vcpus += request.vcpus
        used.memory += request.memory.bytes
        if new { used.newMemory += request.memory.bytes }
        used.instances += 1
        usage[host] = used
        if let key = request.groupKey { groupHosts[key, default: []].append(host) }
    }

    /// Why `host` cannot take `request`, or nil when it can.
    public func problem(placing request: Request, on host: Host) -> String? {
        if let reason = host.unknownReason { return "not observed (\(reason))" }
        if !host.schedulable { return "drained (schedulable: false)" }
        for key in request.hostSelector.keys.sorted() where host.labels[key] != request.hostSelector[key] {
            return "label \(key)=\(request.hostSelector[key] ?? "") does not match (\(host.labels[key].map { "\(key)=\($0)" } ?? "no \(key) label"))"
        }
        let used = usage[host.name, default: Usage()]
        if let limit = host.vcpuLimit, used.vcpus + request.vcpus > limit {
            return "vcpus: needs \(request.vcpus), \(max(0, limit - used.vcpus)) of \(limit) free (\(host.vcpus ?? 0) × \(Self.ratio(host.cpuRatio)))"
        }
        if let limit = host.memoryLimit, used.memory + request.memory.bytes > limit {
            let free = ByteSize(bytes: limit > used.memory ? limit - used.memory : 0)
            return "memory: needs \(request.memory), \(free) of \(ByteSize(bytes: limit)) free"
        }
        if let reported = host.freeMemory, host.memoryRatio <= 1, used.newMemory + request.memory.bytes > reported.bytes {
            let free = ByteSize(bytes: reported.bytes > used.newMemory ? reported.bytes - used.newMemory : 0)
            return "memory: needs \(request.memory), the host reports \(free) free"
        }
        if let key = request.groupKey, let label = request.antiAffinity {
            let value = label == "host" ? host.name : host.labels[label]
            if let value, let other = groupHosts[key, default: []].first(where: { (label == "host" ? $0 : byName[$0]?.labels[label]) == value }) {
                return label == "host"
                    ? "anti-affinity: group \(request.group ?? "") already has an instance on \(other)"
                    : "anti-affinity: group \(request.group ?? "") already has an instance where \(label)=\(value) (\(other))"
            }
        }
        return nil
    }

    /// Chooses a host for a new instance and claims it there.
    public mutating func place(_ request: Request) -> Result<Decision, NoRoom> {
        var fitting: [Host] = []
        var reasons: [String: String] = [:]
        for host in hosts {
            if let problem = problem(placing: request, on: host) { reasons[host.name] = problem } else { fitting.append(host) }
        }
        guard !fitting.isEmpty else { return .failure(NoRoom(instance: request.instance, reasons: reasons)) }
        let chosen = fitting.min { a, b in
            let (wa, wb) = (weight(a, request), weight(b, request))
            return wa != wb ? wa.lexicographicallyPrecedes(wb) : a.name < b.name
        }!
        claim(request, on: chosen.name, new: true)
        let fits = fitting.count == 1 ? "the only host that fits" : "of \(fitting.count) hosts that fit"
        let reason = switch request.strategy {
        case .spread: fitting.count == 1 ? fits : "spread: most free memory \(fits)"
        case .pack: fitting.count == 1 ? fits : "pack: least free memory \(fits)"
        }
        return .success(Decision(host: chosen.name, reason: reason))
    }

    /// Lower is better: spread prefers free memory (as a fraction when capacity is known), then free
    /// vCPUs, then fewer instances; pack the opposite.
    func weight(_ host: Host, _ request: Request) -> [Double] {
        let used = usage[host.name, default: Usage()]
        let freeMemory = host.memoryLimit.map { Double($0) - Double(used.memory) } ?? Double(UInt64.max) - Double(used.memory)
        let freeCPUs = host.vcpuLimit.map { Double($0 - used.vcpus) } ?? Double(Int32.max) - Double(used.vcpus)
        let spread = [-freeMemory, -freeCPUs, Double(used.instances)]
        return request.strategy == .spread ? spread : spread.map { -$0 }
    }

    static func ratio(_ value: Double) -> String {
        "\(value)"
    }
}
