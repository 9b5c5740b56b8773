import DriftlessCore

/// A change on a host's integration bridge, as the daemon's drift check consumes it.
public enum OVSPortEvent: Sendable, Hashable {
    /// The OVSDB connection is down or resynchronizing: what is on the bridge is unknown until `.synchronized`.
    case unknown(reason: String)
    /// Connected and in sync (first, and again after every reconnect): every port on the bridge.
    case synchronized([ObservedPort])
    /// A port appeared on the bridge.
    case added(ObservedPort)
    /// A port's tag, marks, interface ids or MTU changed.
    case changed(before: ObservedPort, after: ObservedPort)
    /// A port left the bridge (deleted by anyone, or gone while the connection was down).
    case removed(ObservedPort)
}

/// The last picture of the bridge a `portChanges()` stream reported, and the difference to a new one.
struct PortTracker {
    private var last: [String: ObservedPort]?
    private(set) var isKnown = false
    private var reportedUnknown = false

    /// Marks the picture unknown; true when that is news (reported once per outage).
    mutating func markUnknown() -> Bool {
        isKnown = false
        guard !reportedUnknown else { return false }
        reportedUnknown = true
        return true
    }

    /// Back in sync: the full picture, then what changed since the last one (if there was one).
    mutating func synchronize(_ ports: [String: ObservedPort]) -> [OVSPortEvent] {
        isKnown = true
        reportedUnknown = false
        let full = OVSPortEvent.synchronized(ports.values.sorted { $0.name < $1.name })
        return [full] + update(ports)
    }

    /// What changed since the last picture; the new one becomes the last.
    mutating func update(_ ports: [String: ObservedPort]) -> [OVSPortEvent] {
        defer { last = ports }
        guard let last else { return [] }
        var events: [OVSPortEvent] = []
        for name in last.keys.sorted() where ports[name] == nil {
            if let port = last[name] { events.append(.removed(port)) }
        }
        for name in ports.keys.sorted() {
            guard let port = ports[name] else { continue }
            if let before = last[name] {
                if before != port { events.append(.changed(before: before, after: port)) }
            } else {
                events.append(.added(port))
            }
        }
        return events
    }
}
