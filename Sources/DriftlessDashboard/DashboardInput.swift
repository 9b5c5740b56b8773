import DriftlessCore
import Foundation

/// Everything a page is drawn from, as the daemon has it: the applied commit, what the last check
/// observed on the hosts, the latest drift report and the latest runs. Plain values, so a page can be
/// rendered (and tested) without a server. Not yet filtered: `DashboardView` applies the grant.
public struct DashboardInput: Sendable {
    /// The applied commit as a person reads it.
    public struct Commit: Sendable, Equatable {
        public var id: String
        public var summary: String
        public var author: String
        public var date: Date?

        public init(id: String, summary: String, author: String, date: Date?) {
            self.id = id
            self.summary = summary
            self.author = author
            self.date = date
        }
    }

    /// A run as the grant may see it (the server filters runs with the API's rules before this).
    public struct Run: Sendable, Equatable {
        public var id: Int64
        public var kind: String
        public var commit: String?
        public var startedAt: Date
        public var finishedAt: Date?
        public var result: String?
        public var summary: String?
        public var detail: String?

        public init(id: Int64, kind: String, commit: String?, startedAt: Date, finishedAt: Date?, result: String?,
                    summary: String?, detail: String?) {
            self.id = id
            self.kind = kind
            self.commit = commit
            self.startedAt = startedAt
            self.finishedAt = finishedAt
            self.result = result
            self.summary = summary
            self.detail = detail
        }
    }

    /// One journal line of a run (already limited to what the grant sees).
    public struct JournalLine: Sendable, Equatable {
        public var action: String
        public var phase: String
        public var detail: String?
        public var at: Date

        public init(action: String, phase: String, detail: String?, at: Date) {
            self.action = action
            self.phase = phase
            self.detail = detail
            self.at = at
        }
    }

    public var repository: String?
    public var commit: Commit?
    public var state: DesiredState?
    /// What the last drift check observed on each host (empty before the first check).
    public var hosts: [HostObservation]
    public var observedAt: Date?
    public var allocations: [IPAllocation]
    public var drift: DriftReport?
    public var runs: [Run]
    /// The time pages are drawn at, for "3 min ago" (fixed in tests).
    public var now: Date

    public init(repository: String? = nil, commit: Commit? = nil, state: DesiredState? = nil, hosts: [HostObservation] = [],
                observedAt: Date? = nil, allocations: [IPAllocation] = [], drift: DriftReport? = nil, runs: [Run] = [],
                now: Date = Date()) {
        self.repository = repository
        self.commit = commit
        self.state = state
        self.hosts = hosts
        self.observedAt = observedAt
        self.allocations = allocations
        self.drift = drift
        self.runs = runs
        self.now = now
    }
}
