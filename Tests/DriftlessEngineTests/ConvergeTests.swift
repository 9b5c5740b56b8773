import DriftlessCore
import DriftlessEngine
import DriftlessTesting
import Foundation
import Testing

/// The one converge pipeline over in-memory hosts: each outcome, the guard for every caller, and what is
/// recorded.
@Suite("Converge")
struct ConvergeTests {
    struct Setup {
        let reconciler: Reconciler
        let host: InMemoryHost
        let sessions: HostSessions
        let commit: LoadedCommit
        let directory: String
    }

    static func setup(_ extra: [String: String] = [:]) throws -> Setup {
        let directory = NSTemporaryDirectory() + "driftless-converge-\(UUID().uuidString)"
        let reconciler = try Reconciler(stateDirectory: directory)
        let result = TestManifests.load(extra)
        try #require(result.isValid, "\(result.diagnostics.map(\.description))")
        let commit = LoadedCommit(repository: "test", commit: "c1", path: "", state: result.state,
                                  report: ValidationReport(source: .init(commit: "c1"), result: result))
        let host = InMemoryHost()
        let targets = Reconciler.targets(of: commit.state)
        let sessions = HostSessions(targets: targets, drivers: Dictionary(uniqueKeysWithValues: targets.map { ($0.name, host.drivers(for: $0)) }))
        return Setup(reconciler: reconciler, host: host, sessions: sessions, commit: commit, directory: directory)
    }

    @Test func appliedThenNothingToDo() async throws {
        let s = try Self.setup()
        defer { try? FileManager.default.removeItem(atPath: s.directory) }
        let first = try await s.reconciler.converge(.commit(s.commit, previous: nil), policy: ConvergePolicy(), sessions: { _ in s.sessions })
        guard case let .applied(run) = first else { Issue.record("expected applied, got \(first)"); return }
        #expect(run.succeeded)
        #expect(try s.reconciler.store.lastAppliedCommit() == "c1")
        let second = try await s.reconciler.converge(.commit(s.commit, previous: s.commit.state), policy: ConvergePolicy(),
                                                     sessions: { _ in s.sessions })
        guard case let .nothingToDo(_, recorded) = second else { Issue.record("expected nothing to do, got \(second)"); return }
        #expect(recorded != nil, "an apply records its commit even with nothing to do")
        // A heal with nothing to do records nothing.
        let check = try await s.reconciler.checkDrift(s.commit, sessions: s.sessions)
        #expect(!check.report.hasDrift)
        let heal = try await s.reconciler.converge(.planned(check.planned), policy: ConvergePolicy(purpose: .heal), sessions: { _ in s.sessions })
        guard case .nothingToDo(_, recorded: nil) = heal else { Issue.record("expected an unrecorded nothing to do, got \(heal)"); return }
    }

    /// The same guard for every caller: a replacement is refused without allowReplace, for an apply and a
    /// heal alike, and the refusal is recorded.
    @Test func theGuardRefusesForEveryPurpose() async throws {
        let s = try Self.setup()
        defer { try? FileManager.default.removeItem(atPath: s.directory) }
        _ = try await s.reconciler.converge(.commit(s.commit, previous: nil), policy: ConvergePolicy(), sessions: { _ in s.sessions })
        var changed = s.commit
        changed.commit = "c2"
        changed.state.images[0].spec.sha256 = String(repeating: "a", count: 64)
        for purpose in [ConvergePolicy.Purpose.apply, .heal] {
            let outcome = try await s.reconciler.converge(.commit(changed, previous: s.commit.state), policy: ConvergePolicy(purpose: purpose),
                                                          sessions: { _ in s.sessions })
            guard case let .refused(refusal) = outcome else { Issue.record("\(purpose): expected refused, got \(outcome)"); continue }
            #expect(refusal.reasons.contains { $0.contains("--allow-replace") }, "\(refusal.reasons)")
        }
        let refused = try s.reconciler.store.history(limit: 10).filter { $0.result == "refused" }
        #expect(refused.count == 2)
        #expect(refused.contains { $0.detail?.hasPrefix("heal: ") == true })
    }

    /// A failed step and its dependents are in the outcome; a dry run changes nothing.
    @Test func failedAndSkippedStepsAndDryRuns() async throws {
        let s = try Self.setup()
        defer { try? FileManager.default.removeItem(atPath: s.directory) }
        let dry = try await s.reconciler.converge(.commit(s.commit, previous: nil), policy: ConvergePolicy(dryRun: true),
                                                  sessions: { _ in s.sessions })
        guard case .planned = dry else { Issue.record("expected planned, got \(dry)"); return }
        #expect(s.host.calls.isEmpty)
        s.host.fail("import tiny", .terminal)
        let outcome = try await s.reconciler.converge(.commit(s.commit, previous: nil), policy: ConvergePolicy(), sessions: { _ in s.sessions })
        guard case let .failed(run) = outcome else { Issue.record("expected failed, got \(outcome)"); return }
        #expect(run.failedSteps.map(\.step) == ["import-image tiny@local"])
        #expect(run.skippedSteps.contains { $0.step.hasPrefix("create-instance") })
        #expect(try s.reconciler.store.lastAppliedCommit() == nil, "a failed apply does not move the applied commit")
    }

    /// A host that was reached but could not be read gets no step: the run fails instead of reporting
    /// success over a host nothing is known about.
    @Test func aHostThatCouldNotBeObservedFailsTheRun() async throws {
        let s = try Self.setup()
        defer { try? FileManager.default.removeItem(atPath: s.directory) }
        s.host.unreachable = "libvirt: internal error"
        let outcome = try await s.reconciler.converge(.commit(s.commit, previous: nil), policy: ConvergePolicy(), sessions: { _ in s.sessions })
        guard case let .failed(run) = outcome else { Issue.record("expected failed, got \(outcome)"); return }
        #expect(run.unreachable["local"]?.contains("not observed") == true, "\(run.unreachable)")
        #expect(try s.reconciler.store.lastAppliedCommit() == nil)
    }
}
