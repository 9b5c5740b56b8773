import DriftlessCore
import DriftlessEngine
import DriftlessTesting
import Foundation
import Testing

/// Saved plans: applied only while the commit, the last applied commit and the hosts are as reviewed.
@Suite("Saved plans")
struct SavedPlanTests {
    @Test func aSavedPlanIsFreshUntilAHostOrTheAppliedCommitChanges() async throws {
        let s = try ConvergeTests.setup()
        defer { try? FileManager.default.removeItem(atPath: s.directory) }
        let planned = try await s.reconciler.plan(s.commit, previous: nil, sessions: s.sessions)
        let saved = try s.reconciler.save(planned)
        #expect(saved.id.count == 16)
        let decoded = try JSONDecoder().decode(SavedPlan.self, from: Data(try DocumentJSON.render(saved).utf8))
        #expect(decoded == saved, "the file form reads back as it was written")
        let again = try await s.reconciler.plan(s.commit, previous: nil, sessions: s.sessions)
        #expect(try s.reconciler.staleness(of: saved, against: again).isEmpty)

        // Applied: the hosts changed under the plan, and so did the last applied commit.
        _ = try await s.reconciler.converge(.planned(again), policy: ConvergePolicy(), sessions: { _ in s.sessions })
        let after = try await s.reconciler.plan(s.commit, previous: nil, sessions: s.sessions)
        let reasons = try s.reconciler.staleness(of: saved, against: after)
        #expect(reasons.contains { $0.contains("host local changed") }, "\(reasons)")
        #expect(reasons.contains { $0.contains("last applied commit") }, "\(reasons)")
    }

    @Test func aHostThatCannotBeObservedMakesThePlanStale() async throws {
        let s = try ConvergeTests.setup()
        defer { try? FileManager.default.removeItem(atPath: s.directory) }
        let saved = try s.reconciler.save(try await s.reconciler.plan(s.commit, previous: nil, sessions: s.sessions))
        s.host.unreachable = "connection refused"
        let now = try await s.reconciler.plan(s.commit, previous: nil, sessions: s.sessions)
        #expect(try s.reconciler.staleness(of: saved, against: now) == ["host local cannot be observed (connection refused)"])
    }
}
