import DriftlessCore
import Foundation

extension OVSNetworkDriver {
    /// A stream of changes on the integration bridge, derived from the client's monitor events.
    ///
    /// Starts with `.synchronized` (when connected) or `.unknown`; then reports each port
    /// added, changed or removed as the monitor update arrives (within milliseconds of an
    /// out-of-band `ovs-vsctl del-port`). After a reconnect it sends `.synchronized` and the
    /// difference from the last picture, so nothing that happened meanwhile is missed. Each
    /// call returns an independent stream; it ends when the driver closes or the consumer stops.
    public func portChanges() async -> AsyncStream<OVSPortEvent> {
        await client.start()
        let events = await client.events()
        let (stream, continuation) = AsyncStream.makeStream(of: OVSPortEvent.self)
        let task = Task {
            var tracker = PortTracker()
            for await event in events {
                switch event {
                case .stateChanged(.connected):
                    do {
                        try await self.prepare()
                        let ports = try await self.currentPorts()
                        for change in tracker.synchronize(ports) { continuation.yield(change) }
                    } catch {
                        // Lost again before the picture could be read; the next state change says so.
                    }
                case .stateChanged(let state):
                    if tracker.markUnknown() {
                        let reason = "OVSDB at \(self.host.ovsdbEndpoint) is \(Self.describe(state))"
                        continuation.yield(.unknown(reason: reason))
                    }
                case .rowsChanged(let changes):
                    guard tracker.isKnown, changes.contains(where: { Self.watchedTables.contains($0.table) }),
                        let ports = try? await self.currentPorts()
                    else { continue }
                    for change in tracker.update(ports) { continuation.yield(change) }
                }
            }
            continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    private static var watchedTables: Set<String> { ["Bridge", "Port", "Interface"] }

    /// The bridge's ports by name, from the cache; throws while not in sync.
    private func currentPorts() async throws -> [String: ObservedPort] {
        let cache = try await snapshot()
        let ports = OVSBridgeView(named: host.bridge, in: cache)?.observedPorts ?? []
        return Dictionary(ports.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    }
}
