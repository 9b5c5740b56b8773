import DriftlessCore
import DriftlessLibvirt
import DriftlessOVSDB
import DriftlessStore
import Foundation

/// Live connections to the hosts of a desired state: each reachable host's drivers, and why each other
/// host could not be reached.
public final class HostSessions: @unchecked Sendable {
    public let targets: [HostTarget]
    public let drivers: [String: HostDrivers]
    public let unreachable: [String: String]
    private let networks: [String: OVSNetworkDriver]
    private let connections: [String: [LibvirtConnection]]

    /// Connects to every host in parallel: libvirt (compute and storage) and OVSDB (network). The storage
    /// drivers read `path:` images only as `imagePaths` allows.
    /// `access` holds the operator's credentials for remote transports (TLS files, SSH key and known_hosts).
    public static func connect(_ targets: [HostTarget], store: Store, timeout: Duration = .seconds(10),
                               imagePaths: ImagePathPolicy = .default, access: HostAccess = .none) async -> HostSessions {
        let results = await withTaskGroup(of: (HostTarget, Result<(HostDrivers, OVSNetworkDriver, [LibvirtConnection]), any Error>).self) { group in
            for target in targets {
                group.addTask {
                    (target, await Result { try await connect(target, store: store, timeout: timeout, imagePaths: imagePaths, access: access) })
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        var drivers: [String: HostDrivers] = [:]
        var unreachable: [String: String] = [:]
        var networks: [String: OVSNetworkDriver] = [:]
        var connections: [String: [LibvirtConnection]] = [:]
        for (target, result) in results {
            switch result {
            case let .success((hostDrivers, network, connection)):
                drivers[target.name] = hostDrivers
                networks[target.name] = network
                connections[target.name] = connection
            case let .failure(error):
                unreachable[target.name] = "\(error)"
            }
        }
        return HostSessions(targets: targets, drivers: drivers, unreachable: unreachable, networks: networks, connections: connections)
    }

    static func connect(_ target: HostTarget, store: Store, timeout: Duration, imagePaths: ImagePathPolicy,
                        access: HostAccess) async throws -> (HostDrivers, OVSNetworkDriver, [LibvirtConnection])
    {
        // Two connections: libvirtd serves only a few requests of one client at a time, and an apply runs
        // several steps at once. The first also carries the lifecycle events.
        let connection = try await LibvirtComputeDriver.connect(target, access: access)
        let second = try await LibvirtComputeDriver.connect(target, access: access)
        let network = try OVSNetworkDriver(host: target, configuration: OVSDBClient.Configuration(
            tls: access.pkiDirectory.map { OVSDBTLSFiles(pkiDirectory: $0) }))
        do {
            try await network.connect(timeout: timeout)
        } catch {
            await network.close()
            throw error
        }
        let drivers = HostDrivers(
            target: target,
            compute: LibvirtComputeDriver(target: target, connections: [connection, second]),
            storage: LibvirtStorageDriver(target: target, connection: second, ownership: store, imagePaths: imagePaths),
            network: network)
        return (drivers, network, [connection, second])
    }

    /// Sessions over drivers made elsewhere (`InMemoryHost` in tests and benchmarks): no connection to
    /// close, no events.
    public convenience init(targets: [HostTarget], drivers: [String: HostDrivers], unreachable: [String: String] = [:]) {
        self.init(targets: targets, drivers: drivers, unreachable: unreachable, networks: [:], connections: [:])
    }

    init(targets: [HostTarget], drivers: [String: HostDrivers], unreachable: [String: String],
         networks: [String: OVSNetworkDriver], connections: [String: [LibvirtConnection]]) {
        self.targets = targets
        self.drivers = drivers
        self.unreachable = unreachable
        self.networks = networks
        self.connections = connections
    }

    /// Every host was reached and every libvirt connection is still open (libvirtd did not restart).
    /// The OVSDB clients reconnect and resync by themselves.
    public var isHealthy: Bool {
        unreachable.isEmpty && connections.values.joined().allSatisfy(\.isAlive) && !eventStreamEnded.value
    }

    /// Set when an event stream of these sessions ended (a connection went away under it): the sessions
    /// must be made again to see events again.
    private let eventStreamEnded = LockedFlag()

    /// The name of a host each time something changes on it out of band or not: a libvirt domain
    /// lifecycle event (started, stopped, defined, undefined…) or a change to its bridge's ports.
    public func events() -> AsyncStream<String> {
        let (stream, continuation) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingNewest(64))
        var tasks: [Task<Void, Never>] = []
        for (host, hostConnections) in connections {
            // A closed connection is an event too: the sessions must be made again (no polling).
            for connection in hostConnections {
                connection.onClose { [eventStreamEnded] _ in
                    eventStreamEnded.set()
                    continuation.yield(host)
                }
            }
            guard let domainEvents = try? hostConnections.first?.domainEvents() else { continue }
            tasks.append(Task { [eventStreamEnded] in
                for await _ in domainEvents { continuation.yield(host) }
                if !Task.isCancelled { eventStreamEnded.set(); continuation.yield(host) }
            })
        }
        for (host, network) in networks {
            tasks.append(Task { [eventStreamEnded] in
                for await _ in await network.portChanges() { continuation.yield(host) }
                if !Task.isCancelled { eventStreamEnded.set(); continuation.yield(host) }
            })
        }
        let running = tasks
        continuation.onTermination = { _ in running.forEach { $0.cancel() } }
        return stream
    }

    /// Observes every host in parallel; an unreachable host is observed as unknown.
    public func observe() async -> [HostObservation] {
        await withTaskGroup(of: HostObservation.self) { group in
            for target in targets {
                group.addTask { [self] in
                    if let hostDrivers = drivers[target.name] { return await hostDrivers.observe() }
                    let reason = Observed<ComputeObservation>.unknown(reason: unreachable[target.name] ?? "not connected")
                    return HostObservation(target: target, compute: reason,
                                           storage: .unknown(reason: reason.unknownReason!),
                                           ports: .unknown(reason: reason.unknownReason!))
                }
            }
            let all = await group.reduce(into: [HostObservation]()) { $0.append($1) }
            let order = Dictionary(targets.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { a, _ in a })
            return all.sorted { order[$0.target.name, default: 0] < order[$1.target.name, default: 0] }
        }
    }

    /// Makes sure each reachable host has its pools and integration bridge (idempotent; only before an
    /// apply, never while planning). A host where this fails is reported and left out.
    public func prepare() async -> [String: String] {
        var failures: [String: String] = [:]
        for (name, hostDrivers) in drivers.sorted(by: { $0.key < $1.key }) {
            do {
                try await hostDrivers.storage.ensurePools()
                try await hostDrivers.network.ensureBridge()
            } catch {
                failures[name] = "\(error)"
            }
        }
        return failures
    }

    public func close() async {
        for network in networks.values { await network.close() }
    }
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}

/// A flag set once, read from any thread.
final class LockedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var flag = false

    var value: Bool { lock.withLock { flag } }
    func set() { lock.withLock { flag = true } }
}
