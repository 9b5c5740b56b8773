/// What an action does to an object.
public enum ActionKind: String, Sendable, Codable, Hashable, CaseIterable {
    case create
    case update
    /// Delete and create again: for an instance, a new root disk.
    case replace
    case delete
    /// The object's manifest is gone but its data is kept (`deletionPolicy: Retain`): Driftless detaches
    /// it and stops managing it.
    case retain
    /// The instance goes to another host with its disks (a cold migration: it restarts there).
    case move

    /// The Terraform-style marker of the action in text plans.
    public var symbol: String {
        switch self {
        case .create: "+"
        case .update: "~"
        case .replace: "-/+"
        case .delete: "-"
        case .retain: "="
        case .move: "->"
        }
    }
}

/// One field's change: before and after as shown to a person, and how it takes effect.
public struct FieldChange: Sendable, Codable, Hashable {
    public var field: String
    public var before: String?
    public var after: String?
    public var effect: ChangeEffect?
    /// A sensitive value is never shown: before and after are omitted.
    public var sensitive: Bool

    public init(field: String, before: String?, after: String?, effect: ChangeEffect? = nil, sensitive: Bool = false) {
        self.field = field
        self.sensitive = sensitive
        self.before = sensitive ? nil : before
        self.after = sensitive ? nil : after
        self.effect = effect
    }

    /// `memory: 128MiB → 256MiB (live)`, or `userData: (sensitive value changed)`.
    public var summary: String {
        let effectText = effect.map { " (\($0.phrase))" } ?? ""
        if sensitive { return "\(field): (sensitive value changed)\(effectText)" }
        switch (before, after) {
        case let (b?, a?): return "\(field): \(b) → \(a)\(effectText)"
        case let (nil, a?): return "\(field): \(a)\(effectText)"
        case let (b?, nil): return "\(field): \(b) → (none)\(effectText)"
        case (nil, nil): return "\(field)\(effectText)"
        }
    }
}

extension ChangeEffect {
    /// How the effect reads in a plan.
    public var phrase: String {
        switch self {
        case .live: "live"
        case .reboot: "at next boot"
        case .replace: "replaces the instance: root disk data is lost"
        case .destroysData: "destroys data"
        case .restarts: "restarts"
        }
    }
}

/// One step of a plan.
public struct PlannedAction: Sendable, Codable, Hashable {
    public var action: ActionKind
    public var id: ObjectID
    /// The host the action runs on, for host-bound kinds.
    public var host: String?
    /// Where the object is declared; `nil` for deletes of objects no longer in git.
    public var source: SourceLocation?
    public var changes: [FieldChange]
    /// Why, when it is not obvious ("manifest removed; deletionPolicy Retain keeps the data").
    public var note: String?

    public init(action: ActionKind, id: ObjectID, host: String?, source: SourceLocation?, changes: [FieldChange] = [],
                note: String? = nil) {
        self.action = action
        self.id = id
        self.host = host
        self.source = source
        self.changes = changes
        self.note = note
    }

    /// Whether the action is a move that stops the instance and copies its disks (`--allow-move`); a move
    /// that finishes one interrupted after the copy does not.
    public var startsMove: Bool {
        action == .move && changes.contains { $0.field == "host" && $0.effect == .restarts }
    }

    /// Whether the action loses data: a replace, a change that destroys data, or a volume delete.
    public var destroysData: Bool {
        action == .replace || changes.contains { $0.effect == .replace || $0.effect == .destroysData }
            || (action == .delete && id.kind == .volume)
    }
}

/// A plan: what applying a commit would do, as a value that can be rendered, reviewed and applied.
public struct Plan: Sendable, Codable {
    public var commit: String?
    public var baseCommit: String?
    public var actions: [PlannedAction]
    /// Problems that make the plan unsafe or impossible (collisions, unknown hosts).
    public var diagnostics: [Diagnostic]

    public init(commit: String?, baseCommit: String? = nil, actions: [PlannedAction], diagnostics: [Diagnostic] = []) {
        self.commit = commit
        self.baseCommit = baseCommit
        self.actions = actions
        self.diagnostics = diagnostics
    }

    /// No action at all: the hosts match the commit.
    public var isEmpty: Bool { actions.isEmpty }
    public var hasErrors: Bool { diagnostics.contains { $0.severity == .error } }

    /// Counts of the plan, for headers and JSON.
    public struct Summary: Sendable, Codable, Equatable {
        public var create = 0
        public var update = 0
        /// Updates with at least one change that takes effect at next boot.
        public var updateAtNextBoot = 0
        public var replace = 0
        public var delete = 0
        public var retain = 0
        public var move = 0
        public var volumesDestroyed = 0
    }

    public var summary: Summary {
        var s = Summary()
        for action in actions {
            switch action.action {
            case .create: s.create += 1
            case .update:
                s.update += 1
                if action.changes.contains(where: { $0.effect == .reboot }) { s.updateAtNextBoot += 1 }
            case .replace: s.replace += 1
            case .delete: s.delete += 1
            case .retain: s.retain += 1
            case .move: s.move += 1
            }
            if action.id.kind == .volume && action.action == .delete { s.volumesDestroyed += 1 }
        }
        return s
    }

    /// `3 to create, 1 to update (1 at next boot), 0 to replace, 0 to delete; 0 volumes destroyed`.
    public var header: String {
        let s = summary
        let boot = s.updateAtNextBoot > 0 ? " (\(s.updateAtNextBoot) at next boot)" : ""
        var text = "\(s.create) to create, \(s.update) to update\(boot), \(s.replace) to replace, \(s.delete) to delete; "
        text += "\(s.volumesDestroyed) volume\(s.volumesDestroyed == 1 ? "" : "s") destroyed"
        if s.retain > 0 { text += "; \(s.retain) retained" }
        if s.move > 0 { text += "; \(s.move) to move" }
        return text
    }
}
