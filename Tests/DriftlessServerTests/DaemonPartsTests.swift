import DriftlessProcess
import Foundation
import Prometheus
import Testing

@testable import DriftlessServer

/// The daemon's watcher and metrics, without hosts: an event stream made by the test, a registry read back.
@Suite("Daemon parts")
struct DaemonPartsTests {
    /// A burst of host events is one drift check, naming every host of the burst (swift-async-algorithms'
    /// debounce); the watcher ends with its stream, having added nothing more.
    @Test func aBurstOfEventsIsOneDriftCheckNamingItsHosts() async throws {
        let queue = WorkQueue<Daemon.Work>()
        let (events, input) = AsyncStream.makeStream(of: String.self)
        for i in 0..<200 { input.yield(i.isMultiple(of: 2) ? "node-1" : "node-2") }
        let watcher = Task { await WatchedSessions.forward(events, to: queue, debounce: .milliseconds(50)) }
        let item = try #require(await queue.next())
        #expect(item.key == .driftCheck)
        #expect(item.reasons == ["event on node-1, node-2"])
        input.finish()
        await watcher.value
        #expect(queue.count == 0, "one check for the whole burst")
    }

    /// Cancelling a watcher ends it: sessions that are replaced leave no task behind.
    @Test func aCancelledWatcherEnds() async {
        let queue = WorkQueue<Daemon.Work>()
        let (events, _) = AsyncStream.makeStream(of: String.self)
        let watcher = Task { await WatchedSessions.forward(events, to: queue, debounce: .milliseconds(50)) }
        watcher.cancel()
        await watcher.value
        #expect(queue.count == 0)
    }

    /// Every series has HELP text and the run, drift and host series exist before the first event;
    /// Prometheus' own checker accepts the exposition (`promtool` from Debian's `prometheus`).
    @Test func metricsPassPromtoolAndExistFromTheStart() async throws {
        let registry = PrometheusCollectorRegistry()
        let metrics = DaemonMetrics(registry: registry)
        let fresh = String(decoding: registry.emitToBuffer(), as: UTF8.self)
        for series in ["driftless_runs_total{kind=\"apply\",result=\"failed\"} 0", "driftless_drift_items 0",
                       "driftless_drift_check_duration_seconds_count 0", "driftless_run_duration_seconds_count{kind=\"apply\"} 0"] {
            #expect(fresh.contains(series), "\(series) missing from:\n\(fresh)")
        }
        metrics.knownHosts(["local"])
        metrics.host("local", reachable: true)
        metrics.run("succeeded")
        metrics.runDuration(.milliseconds(1500))
        metrics.driftChecked(items: 2, duration: .milliseconds(30))
        metrics.applied(commit: "0123456789abcdef", at: Date())
        metrics.applied(commit: "fedcba9876543210", at: Date())
        let text = String(decoding: registry.emitToBuffer(), as: UTF8.self)
        #expect(text.contains("driftless_host_reachable{host=\"local\"} 1"))
        #expect(text.contains("driftless_last_applied_commit_info{commit=\"fedcba987654\"} 1"))
        #expect(!text.contains("0123456789ab"), "the previous commit's info series is gone")
        let names = Set(text.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.map { $0.split(separator: " ")[2] })
        let helped = Set(text.split(separator: "\n").filter { $0.hasPrefix("# HELP ") }.map { $0.split(separator: " ")[2] })
        #expect(names == helped, "series without HELP: \(names.subtracting(helped))")
        let file = NSTemporaryDirectory() + "driftless-metrics-\(UUID().uuidString).prom"
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let check = try await ChildProcess.run("/bin/sh", ["-c", "promtool check metrics < \"$1\"", "sh", file])
        #expect(check.status == 0, "promtool: \(check.stdout)\(check.stderr)")
    }
}
