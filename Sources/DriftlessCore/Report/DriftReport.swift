import Foundation

/// What differs between the hosts and the last applied commit: every drifted field, missing or unexpected
/// managed object, and host that could not be read.
public struct DriftReport: Sendable, Codable {
    public enum ItemKind: String, Sendable, Codable {
        /// Declared in the commit, absent on its host.
        case missing
        /// Present, with fields that differ from the commit.
        case drifted
        /// Managed by Driftless on a host, no longer declared.
        case unexpected
        /// The host could not be read: nothing about it is known.
        case unreachable
    }

    public struct Field: Sendable, Codable, Equatable {
        public var field: String
        /// What the commit declares.
        public var expected: String?
        /// What the host shows.
        public var actual: String?
        public var sensitive: Bool
    }

    public struct Item: Sendable, Codable {
        public var type: ItemKind
        public var kind: String
        public var project: String?
        public var name: String
        public var host: String?
        public var source: SourceLocation?
        public var fields: [Field]
        public var detail: String?
        /// When this item was first seen (kept across reports by the daemon; now for a one-off check).
        public var firstSeen: Date?

        /// What identifies the item across checks: the same object drifting the same way.
        public var key: String {
            let what = [type.rawValue, kind, project ?? "", name, host ?? ""].joined(separator: "|")
            return what + "|" + fields.map { "\($0.field)=\($0.expected ?? "")>\($0.actual ?? "")" }.joined(separator: ",")
        }
    }

    public var commit: String?
    public var checkedAt: Date
    public var items: [Item]

    public var hasDrift: Bool { !items.isEmpty }

    /// The drift shown by a plan computed against the last applied commit.
    public init(plan: Plan, hosts: [HostObservation], checkedAt: Date = Date()) {
        commit = plan.commit
        self.checkedAt = checkedAt
        var items: [Item] = []
        for host in hosts where !host.isKnown {
            items.append(Item(type: .unreachable, kind: "Host", project: nil, name: host.target.name, host: host.target.name,
                              source: nil, fields: [], detail: host.unknownReason, firstSeen: checkedAt))
        }
        for action in plan.actions {
            let type: ItemKind = switch action.action {
            case .create: .missing
            case .update, .replace, .move: .drifted
            case .delete, .retain: .unexpected
            }
            let fields = type == .drifted
                ? action.changes.map { Field(field: $0.field, expected: $0.after, actual: $0.before, sensitive: $0.sensitive) }
                : []
            items.append(Item(type: type, kind: action.id.kind.rawValue, project: action.id.project, name: action.id.name,
                              host: action.host, source: action.source, fields: fields, detail: action.note, firstSeen: checkedAt))
        }
        self.items = items
    }

    /// A person's report: one line per item, fields indented.
    public func renderText() -> String {
        guard hasDrift else {
            return "No drift: the hosts match \(commit.map { "commit \($0.prefix(12))" } ?? "the last applied commit").\n"
        }
        var lines = ["Drift from \(commit.map { "commit \($0.prefix(12))" } ?? "the last applied commit"):"]
        for item in items {
            let name = item.project.map { "\($0)/\(item.name)" } ?? item.name
            let host = item.host.map { " on \($0)" } ?? ""
            let source = item.source.map { "  # \($0.file.escapingControlCharacters):\($0.line)" } ?? ""
            lines.append("  \(item.type.rawValue): \(item.kind.lowercased()) \(name)\(host)\(source)".escapingControlCharacters)
            for field in item.fields {
                if field.sensitive {
                    lines.append("      \(field.field): (sensitive value changed)")
                } else {
                    lines.append("      \(field.field): expected \(field.expected ?? "(none)"), found \(field.actual ?? "(none)")".escapingControlCharacters)
                }
            }
            if let detail = item.detail { lines.append("      (\(detail))".escapingControlCharacters) }
        }
        let counts = Dictionary(grouping: items, by: \.type).mapValues(\.count)
        lines.append("")
        lines.append("\(items.count) drift item\(items.count == 1 ? "" : "s"): "
            + [ItemKind.missing, .drifted, .unexpected, .unreachable].map { "\(counts[$0] ?? 0) \($0.rawValue)" }.joined(separator: ", "))
        return lines.joined(separator: "\n") + "\n"
    }

    /// A Markdown report (for an issue or a chat message).
    public func renderMarkdown() -> String {
        guard hasDrift else { return "### Driftless: no drift\n\nThe hosts match \(commit.map { "`\($0.prefix(12))`" } ?? "the last applied commit").\n" }
        var lines = ["### Driftless: \(items.count) drift item\(items.count == 1 ? "" : "s")", "",
                     "Against \(commit.map { "`\($0.prefix(12))`" } ?? "the last applied commit"):", ""]
        for item in items {
            let name = item.project.map { "\($0)/\(item.name)" } ?? item.name
            lines.append("- **\(item.type.rawValue)** \(item.kind.lowercased()) `\(name)`\(item.host.map { " on `\($0)`" } ?? "")"
                + (item.source.map { " (`\($0.file):\($0.line)`)" } ?? "").escapingControlCharacters)
            for field in item.fields {
                lines.append(field.sensitive ? "  - `\(field.field)`: (sensitive value changed)"
                             : "  - `\(field.field)`: expected `\(field.expected ?? "(none)")`, found `\(field.actual ?? "(none)")`".escapingControlCharacters)
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    public func renderJSON() throws -> String {
        try DocumentJSON.render(self)
    }
}
