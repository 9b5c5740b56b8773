import DriftlessCore
@testable import DriftlessLibvirt
import Foundation
import XCTest

/// A connection's calls run on its own bounded pool of threads: at most the bound run at once, the rest
/// wait as suspended tasks, and nothing runs on Swift's cooperative threads.
final class LibvirtWorkersTests: XCTestCase {
    /// Counts the bodies running at once, and the most ever seen.
    final class Gauge: @unchecked Sendable {
        private let lock = NSLock()
        private var now = 0
        private(set) var most = 0
        private var onPool = true

        func enter() {
            lock.withLock {
                now += 1
                most = max(most, now)
                onPool = onPool && LibvirtWorkers.onPoolThread
            }
        }

        func leave() { lock.withLock { now -= 1 } }
        var allOnPool: Bool { lock.withLock { onPool } }
        var peak: Int { lock.withLock { most } }
        var running: Int { lock.withLock { now } }
    }

    func testAtMostTheBoundRunAtOnceAndEveryCallGetsItsResult() async throws {
        let workers = LibvirtWorkers(label: "libvirt", threads: 3)
        let gauge = Gauge()
        let release = DispatchSemaphore(value: 0)
        // Every body holds its thread until released: once all 12 calls are in, 3 run and 9 wait.
        async let results = withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<12 {
                group.addTask {
                    try await workers.run {
                        gauge.enter()
                        defer { gauge.leave() }
                        release.wait()
                        return index * 2
                    }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        try await waitUntil { gauge.running + workers.queuedCount == 12 }
        XCTAssertEqual(gauge.running, 3)
        XCTAssertEqual(workers.queuedCount, 9)
        for _ in 0..<12 { release.signal() }
        let values = try await results
        XCTAssertEqual(values.sorted(), (0..<12).map { $0 * 2 })
        XCTAssertEqual(gauge.peak, 3)
        XCTAssertEqual(workers.threadCount, 3)
        XCTAssertTrue(gauge.allOnPool, "every body ran on one of the pool's threads")
    }

    func testAnErrorReachesTheCaller() async {
        struct Boom: Error {}
        let workers = LibvirtWorkers(label: "libvirt", threads: 1)
        do {
            _ = try await workers.run { () throws -> Int in throw Boom() }
            XCTFail("no error")
        } catch {
            XCTAssertTrue(error is Boom)
        }
    }

    func testThreadsStartOnDemandAndLeaveWhenClosed() async throws {
        let workers = LibvirtWorkers(label: "libvirt", threads: 4)
        XCTAssertEqual(workers.threadCount, 0, "an idle connection holds no thread")
        _ = try await workers.run { 1 }
        XCTAssertEqual(workers.threadCount, 1, "one call at a time needs one thread")
        workers.close()
        try await waitUntil { workers.threadCount == 0 }
        // Work that arrives after closing (a caller that still held the connection) still runs.
        let late = try await workers.run { 7 }
        XCTAssertEqual(late, 7)
    }

    func testDriverCallsRunOnTheConnectionsThreads() async throws {
        let connection = try LibvirtConnection(uri: "test:///default")
        let onPool = try await connection.perform(host: "local") { LibvirtWorkers.onPoolThread }
        XCTAssertTrue(onPool)
        XCTAssertFalse(LibvirtWorkers.onPoolThread)
    }

    func waitUntil(_ condition: @escaping @Sendable () -> Bool) async throws {
        for _ in 0..<500 where !condition() { try await Task.sleep(for: .milliseconds(10)) }
        XCTAssertTrue(condition())
    }
}
