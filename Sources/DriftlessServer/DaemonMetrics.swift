import Foundation
import Prometheus

/// Every series the daemon exposes on `/metrics`, each with its HELP text, made on the registry directly
/// (swift-metrics' factory registers series without HELP).
///
/// The run, drift and host series exist from the start with zero values, so a dashboard or an alert
/// (`increase(driftless_runs_total{result="failed"}[1h]) > 0`) sees a series before the first event.
public final class DaemonMetrics: Sendable {
    /// The run kinds and results of `driftless_runs_total`, all present from the start.
    public static let runKinds = ["apply"]
    public static let runResults = ["succeeded", "failed", "refused", "error"]

    let registry: PrometheusCollectorRegistry
    private let lastApplied = LockedGauge()

    private static func descriptor(_ name: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "driftless", metricName: name, unitName: unit, helpText: help)
    }

    static var runs: MetricNameDescriptor { descriptor("runs", "total", "Runs of the daemon by kind and result (error: the run could not start).") }
    static var runDuration: MetricNameDescriptor { descriptor("run_duration", "seconds", "How long an apply took, from the poll that found the commit.") }
    static var driftItems: MetricNameDescriptor { descriptor("drift", "items", "Drift items found by the last drift check.") }
    static var driftDuration: MetricNameDescriptor { descriptor("drift_check_duration", "seconds", "How long a drift check took.") }
    static var hostReachable: MetricNameDescriptor { descriptor("host", "reachable", "1 when the host's libvirt and OVSDB were reached by the last run, else 0.") }
    static var lastAppliedInfo: MetricNameDescriptor { descriptor("last_applied_commit", "info", "The last applied commit (label commit), value 1.") }
    static var lastAppliedTime: MetricNameDescriptor { descriptor("last_applied_timestamp", "seconds", "When the last applied commit was applied (Unix time).") }

    static let durationBuckets: [Duration] = [
        .milliseconds(10), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
        .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30), .seconds(60), .seconds(300),
    ]

    public init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        for kind in Self.runKinds {
            for result in Self.runResults {
                _ = registry.makeCounter(descriptor: Self.runs, labels: [("kind", kind), ("result", result)])
            }
            _ = registry.makeDurationHistogram(descriptor: Self.runDuration, labels: [("kind", kind)], buckets: Self.durationBuckets)
        }
        registry.makeGauge(descriptor: Self.driftItems).set(Double(0))
        _ = registry.makeDurationHistogram(descriptor: Self.driftDuration, buckets: Self.durationBuckets)
        registry.makeGauge(descriptor: Self.lastAppliedTime).set(Double(0))
    }

    func run(_ result: String, kind: String = "apply") {
        registry.makeCounter(descriptor: Self.runs, labels: [("kind", kind), ("result", result)]).increment()
    }

    func runDuration(_ duration: Duration, kind: String = "apply") {
        registry.makeDurationHistogram(descriptor: Self.runDuration, labels: [("kind", kind)], buckets: Self.durationBuckets)
            .record(duration)
    }

    func driftChecked(items: Int, duration: Duration) {
        registry.makeGauge(descriptor: Self.driftItems).set(Double(items))
        registry.makeDurationHistogram(descriptor: Self.driftDuration, buckets: Self.durationBuckets).record(duration)
    }

    /// The hosts of the applied commit, before anything is known of them: not (yet) reached.
    func knownHosts(_ hosts: [String]) {
        for host in hosts { _ = registry.makeGauge(descriptor: Self.hostReachable, labels: [("host", host)]) }
    }

    func host(_ host: String, reachable: Bool) {
        registry.makeGauge(descriptor: Self.hostReachable, labels: [("host", host)]).set(Double(reachable ? 1 : 0))
    }

    func applied(commit: String, at time: Date?) {
        let gauge = registry.makeGauge(descriptor: Self.lastAppliedInfo, labels: [("commit", String(commit.prefix(12)))])
        if let previous = lastApplied.swap(gauge), previous !== gauge { registry.unregisterGauge(previous) }
        gauge.set(Double(1))
        if let time { registry.makeGauge(descriptor: Self.lastAppliedTime).set(time.timeIntervalSince1970) }
    }
}

/// The info gauge of the applied commit, replaced when another commit is applied.
final class LockedGauge: @unchecked Sendable {
    private let lock = NSLock()
    private var gauge: Gauge?

    func swap(_ new: Gauge) -> Gauge? {
        lock.withLock {
            defer { gauge = new }
            return gauge
        }
    }
}
