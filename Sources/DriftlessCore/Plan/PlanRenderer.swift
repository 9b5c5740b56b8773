import Foundation

/// Renders plans for people (text, Markdown for pull requests) and for tools (JSON).
public enum PlanRenderer {
    /// A Terraform-like text plan grouped by project; colour only when asked (on a terminal).
    public static func text(_ plan: Plan, color: Bool = false) -> String {
        func paint(_ text: String, _ code: String) -> String { color ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text }
        func colorCode(_ kind: ActionKind) -> String {
            switch kind {
            case .create: "32"
            case .update: "33"
            case .replace: "35"
            case .delete: "31"
            case .retain: "36"
            case .move: "34"
            }
        }
        var lines: [String] = []
        for diagnostic in plan.diagnostics { lines.append(diagnostic.description) }
        if plan.actions.isEmpty {
            lines.append("No changes. The hosts match \(plan.commit.map { "commit \($0.prefix(12))" } ?? "the manifests").")
            return lines.joined(separator: "\n") + "\n"
        }
        for (project, actions) in grouped(plan.actions) {
            lines.append(paint(project.map { "project \($0)" } ?? "cloud-wide", "1"))
            for action in actions {
                let host = action.host.map { action.startsMove ? " moves to \($0) (restarts)" : " on \($0)" } ?? ""
                let source = action.source.map { "  # \($0.file.escapingControlCharacters):\($0.line)" } ?? ""
                lines.append("  " + paint("\(action.action.symbol) \(action.id.kind.rawValue.lowercased()) \(action.id.name)", colorCode(action.action)) + host + source)
                for change in action.changes {
                    lines.append("      \(change.summary.escapingControlCharacters)")
                }
                if let note = action.note { lines.append("      (\(note.escapingControlCharacters))") }
            }
        }
        lines.append("")
        lines.append(paint("Plan: \(plan.header)", "1"))
        return lines.joined(separator: "\n") + "\n"
    }

    /// A Markdown plan for a pull-request comment: the header, one collapsible section per project, each
    /// action linked to its manifest. Kept under `limit` characters by folding details when needed.
    public static func markdown(_ plan: Plan, linkBase: String? = nil, limit: Int = 60_000) -> String {
        for detail in [Detail.full, .noChanges, .countsOnly] {
            let text = markdown(plan, linkBase: linkBase, detail: detail)
            if text.count <= limit { return text }
        }
        return String(markdown(plan, linkBase: linkBase, detail: .countsOnly).prefix(limit - 40)) + "\n\n…(truncated)\n"
    }

    enum Detail {
        case full
        case noChanges
        case countsOnly
    }

    static func markdown(_ plan: Plan, linkBase: String?, detail: Detail) -> String {
        var out = "### Driftless plan"
        if let commit = plan.commit { out += " for `\(commit.prefix(12))`" }
        out += "\n\n**\(plan.header)**\n"
        if !plan.diagnostics.isEmpty {
            out += "\n"
            for d in plan.diagnostics { out += "- :x: `\(escape(d.description))`\n" }
        }
        if plan.actions.isEmpty {
            return out + "\nNo changes.\n"
        }
        for (project, actions) in grouped(plan.actions) {
            let title = project.map { "project <code>\(escapeHTML($0))</code>" } ?? "cloud-wide"
            let counts = Dictionary(grouping: actions, by: \.action).sorted { $0.key.rawValue < $1.key.rawValue }
                .map { "\($0.value.count) \($0.key.rawValue)" }.joined(separator: ", ")
            out += "\n<details><summary>\(title): \(counts)</summary>\n\n"
            if detail != .countsOnly {
                out += "```diff\n"
                for action in actions {
                    let marker = action.action == .create ? "+" : action.action == .delete ? "-" : action.action == .retain ? " " : "!"
                    out += "\(marker) \(action.action.symbol) \(action.id.kind.rawValue.lowercased()) \(escapeFence(action.id.name))\(action.host.map { action.startsMove ? " moves to \($0) (restarts)" : " on \($0)" } ?? "")\n"
                    if detail == .full {
                        for change in action.changes { out += "      \(escapeFence(change.summary))\n" }
                        if let note = action.note { out += "      (\(escapeFence(note)))\n" }
                    }
                }
                out += "```\n"
                let sources = actions.compactMap { action in action.source.map { (action, $0) } }
                if detail == .full && !sources.isEmpty {
                    out += "\n"
                    for (action, source) in sources {
                        let location = "\(source.file):\(source.line)"
                        let path = source.file.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "()[]"))) ?? ""
                        let link = linkBase.map { "[\(escape(location))](\($0)/\(path)#L\(source.line))" } ?? "`\(escape(location))`"
                        out += "- \(action.id.kind.rawValue.lowercased()) `\(action.id.name)`: \(link)\n"
                    }
                }
            }
            out += "\n</details>\n"
        }
        return out
    }

    /// Reads a JSON plan back (as kept with each run in the store).
    public static func decode(_ json: String) throws -> Plan {
        let document = try JSONDecoder().decode(PlanDocument.self, from: Data(json.utf8))
        return Plan(commit: document.commit, baseCommit: document.baseCommit, actions: document.actions.compactMap { action in
            guard let kind = ActionKind(rawValue: action.action), let objectKind = Kind(rawValue: action.kind) else { return nil }
            return PlannedAction(action: kind, id: ObjectID(objectKind, project: action.project, action.name), host: action.host,
                                 source: action.source.map { SourceLocation(file: $0.file, line: $0.line, column: 1) },
                                 changes: action.changes, note: action.note)
        }, diagnostics: document.diagnostics)
    }

    /// The JSON plan (documented in docs/plan-format.md): `actions`, `summary`, `diagnostics`.
    public static func json(_ plan: Plan) throws -> String {
        try DocumentJSON.render(PlanDocument(plan))
    }

    static func grouped(_ actions: [PlannedAction]) -> [(String?, [PlannedAction])] {
        let groups = Dictionary(grouping: actions) { $0.id.project }
        return groups.sorted { ($0.key ?? "") < ($1.key ?? "") }.map { ($0.key, $0.value) }
    }

    /// Text inside inline code: no backquote can end it early, no control character reaches the page.
    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "`", with: "'").escapingControlCharacters
    }

    static func escapeFence(_ text: String) -> String {
        text.replacingOccurrences(of: "```", with: "'''").escapingControlCharacters
    }

    static func escapeHTML(_ text: String) -> String {
        text.escapingControlCharacters.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }
}

/// The JSON form of a plan, as documented in docs/plan-format.md.
public struct PlanDocument: Codable, Sendable {
    public struct Action: Codable, Sendable {
        var action: String
        var kind: String
        var project: String?
        var name: String
        var host: String?
        var source: Source?
        var changes: [FieldChange]
        var note: String?
    }

    public struct Source: Codable, Sendable {
        var file: String
        var line: Int
    }

    var commit: String?
    var baseCommit: String?
    var actions: [Action]
    var summary: Plan.Summary
    var diagnostics: [Diagnostic]

    public init(_ plan: Plan) {
        commit = plan.commit
        baseCommit = plan.baseCommit
        actions = plan.actions.map {
            Action(action: $0.action.rawValue, kind: $0.id.kind.rawValue, project: $0.id.project, name: $0.id.name,
                   host: $0.host, source: $0.source.map { Source(file: $0.file, line: $0.line) }, changes: $0.changes,
                   note: $0.note)
        }
        summary = plan.summary
        diagnostics = plan.diagnostics
    }
}
