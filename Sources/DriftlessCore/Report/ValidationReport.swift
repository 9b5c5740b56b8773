import Foundation

/// The outcome of `driftless validate`, rendered as compiler-style text or as JSON for tools.
public struct ValidationReport: Sendable, Codable {
    /// Where the manifests came from.
    public struct Source: Sendable, Codable {
        public var repository: String?
        public var commit: String?
        public var directory: String?
        public var path: String?

        public init(repository: String? = nil, commit: String? = nil, directory: String? = nil, path: String? = nil) {
            self.repository = repository
            self.commit = commit
            self.directory = directory
            self.path = path
        }
    }

    public struct Summary: Sendable, Codable {
        public var files: Int
        public var documents: Int
        public var objects: Int
        public var errors: Int
        public var warnings: Int
    }

    /// One diagnostic, flattened for JSON.
    public struct Entry: Sendable, Codable {
        public var severity: Diagnostic.Severity
        public var file: String?
        public var line: Int?
        public var column: Int?
        public var field: String?
        public var message: String
        public var hint: String?
    }

    public var valid: Bool
    public var source: Source
    public var summary: Summary
    public var diagnostics: [Entry]

    public init(source: Source, result: ManifestLoader.Result, extra: Diagnostics = Diagnostics()) {
        var all = extra
        all.append(contentsOf: result.diagnostics)
        let sorted = all.sorted
        self.valid = !all.hasErrors
        self.source = source
        self.summary = Summary(
            files: result.fileCount, documents: result.documentCount, objects: result.state.declaredCount,
            errors: all.errorCount, warnings: all.warningCount)
        self.diagnostics = sorted.map {
            Entry(severity: $0.severity, file: $0.location?.file, line: $0.location?.line, column: $0.location?.column,
                  field: $0.field, message: $0.message, hint: $0.hint)
        }
    }

    /// Compiler-style lines, then a one-line summary. `color` adds ANSI colours for a terminal.
    public func renderText(color: Bool) -> String {
        var lines: [String] = []
        for entry in diagnostics {
            var line = ""
            // Everything here quotes the repository: escape control characters (TextEscaping).
            if let file = entry.file, let l = entry.line, let c = entry.column { line += "\(file.escapingControlCharacters):\(l):\(c): " }
            let label = entry.severity.rawValue + ":"
            if color {
                line += (entry.severity == .error ? "\u{1B}[1;31m" : "\u{1B}[1;33m") + label + "\u{1B}[0m "
            } else {
                line += label + " "
            }
            if let field = entry.field { line += "\(field.escapingControlCharacters): " }
            line += entry.message.escapingControlCharacters
            if let hint = entry.hint { line += " (\(hint.escapingControlCharacters))" }
            lines.append(line)
        }
        let what = [source.repository ?? source.directory, source.commit.map { "at \($0.prefix(12))" }]
            .compactMap { $0 }.joined(separator: " ").escapingControlCharacters
        let counts = "\(summary.objects) objects in \(summary.files) files"
        func plural(_ n: Int, _ word: String) -> String { "\(n) \(word)\(n == 1 ? "" : "s")" }
        if valid {
            let warnings = summary.warnings > 0 ? " with \(plural(summary.warnings, "warning"))" : ""
            lines.append("\(what): \(counts) valid\(warnings)")
        } else {
            lines.append("\(what): \(plural(summary.errors, "error")), \(plural(summary.warnings, "warning")) in \(plural(summary.documents, "document")) in \(plural(summary.files, "file"))")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Pretty, key-sorted JSON.
    public func renderJSON() throws -> String {
        try DocumentJSON.render(self)
    }
}
