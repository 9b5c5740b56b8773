import DriftlessStore
import DriftlessProcess
import Foundation
import Testing

@Suite("State lock and journal")
struct StateLockAndJournalTests {
    func temporaryDirectory() -> String {
        NSTemporaryDirectory() + "driftless-state-\(UUID().uuidString)"
    }

    @Test func aSecondHolderIsRefusedAndToldWhoHoldsIt() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = try StateLock(stateDirectory: directory, command: "driftless apply")
        do {
            _ = try StateLock(stateDirectory: directory, command: "driftless serve")
            Issue.record("a second lock was granted")
        } catch let failure as StateLock.Failure {
            guard case let .held(holder, _) = failure else { Issue.record("\(failure)"); return }
            #expect(holder?.pid == getpid())
            #expect(holder?.command == "driftless apply")
            #expect(failure.description.contains("in use by another driftless: pid \(getpid())"))
        }
        first.release()
        first.release()  // idempotent
        _ = try StateLock(stateDirectory: directory, command: "driftless apply")
    }

    @Test func aLockWhoseHolderDiedIsRecovered() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/driftless.lock"
        let holder = await ChildProcess.start("/usr/bin/flock", ["--close", path, "sleep", "30"])  // only flock itself holds the lock
        defer { holder.kill() }
        var refused = false
        for _ in 0..<50 where !refused {
            do {
                let lock = try StateLock(stateDirectory: directory, command: "probe")
                lock.release()
                try await Task.sleep(for: .milliseconds(50))
            } catch {
                refused = true
            }
        }
        #expect(refused, "the other process never held the lock")
        holder.kill()
        var recovered = false
        for _ in 0..<50 where !recovered {
            recovered = (try? StateLock(stateDirectory: directory, command: "driftless apply")) != nil
            if !recovered { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(recovered, "the lock of a killed holder was not recovered")
    }

    @Test func aKilledRunLeavesItsInFlightActionsInTheJournal() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        do {
            let store = try Store(stateDirectory: directory)
            let done = try store.beginRun(kind: "apply", commit: "c1")
            try store.journal(run: done, action: "create Instance shop/a", phase: "started")
            try store.journal(run: done, action: "create Instance shop/a", phase: "succeeded")
            try store.finishRun(done, result: "succeeded")
            let killed = try store.beginRun(kind: "apply", commit: "c2")
            try store.journal(run: killed, action: "create Volume shop/v", phase: "started")
            try store.journal(run: killed, action: "create Volume shop/v", phase: "succeeded")
            try store.journal(run: killed, action: "create Instance shop/b", phase: "started")
            // The process dies here: no finish.
        }
        let store = try Store(stateDirectory: directory)
        let interrupted = try store.recoverInterruptedRuns()
        #expect(interrupted.map(\.action) == ["create Instance shop/b"])
        #expect(try store.recoverInterruptedRuns().isEmpty, "recovery happens once")
        let history = try store.history()
        #expect(history.map(\.result) == ["interrupted", "succeeded"])
        #expect(try store.lastAppliedCommit() == "c1")
    }
}
