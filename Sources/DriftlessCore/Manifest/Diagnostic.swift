/// One finding of validation: an error or a warning, with where it was found.
public struct Diagnostic: Hashable, Sendable, Codable, CustomStringConvertible {
    /// How serious a diagnostic is.
    public enum Severity: String, Sendable, Codable, Comparable {
        case warning
        case error

        public static func < (lhs: Severity, rhs: Severity) -> Bool {
            lhs == .warning && rhs == .error
        }
    }

    public var severity: Severity
    /// Where the problem is; `nil` for problems of the whole run (an empty repository).
    public var location: SourceLocation?
    /// The field path inside the document, such as `spec.networks[0].ip`, when there is one.
    public var field: String?
    /// What is wrong, in one sentence.
    public var message: String
    /// How to fix it, when we can tell (`did you mean "2GiB"?`).
    public var hint: String?

    public init(
        _ severity: Severity,
        at location: SourceLocation?,
        field: String? = nil,
        _ message: String,
        hint: String? = nil
    ) {
        self.severity = severity
        self.location = location
        self.field = field
        self.message = message
        self.hint = hint
    }

    /// `path:line:column: error: field: message; hint`, one line, as compilers print it, with control
    /// characters escaped (messages quote what the repository wrote).
    public var description: String {
        var text = ""
        if let location { text += "\(location): " }
        text += "\(severity.rawValue): "
        if let field { text += "\(field.escapingControlCharacters): " }
        text += message.escapingControlCharacters
        if let hint { text += " (\(hint.escapingControlCharacters))" }
        return text
    }
}

/// An ordered collection of diagnostics that every stage appends to, so one run reports every problem.
public struct Diagnostics: Sendable, Sequence {
    public private(set) var items: [Diagnostic] = []

    public init(_ items: [Diagnostic] = []) {
        self.items = items
    }

    public var hasErrors: Bool { items.contains { $0.severity == .error } }
    public var errorCount: Int { items.count { $0.severity == .error } }
    public var warningCount: Int { items.count { $0.severity == .warning } }
    public var isEmpty: Bool { items.isEmpty }

    public mutating func append(_ diagnostic: Diagnostic) {
        items.append(diagnostic)
    }

    public mutating func append(contentsOf other: Diagnostics) {
        items.append(contentsOf: other.items)
    }

    public mutating func error(
        _ message: String, at location: SourceLocation?, field: String? = nil, hint: String? = nil
    ) {
        items.append(Diagnostic(.error, at: location, field: field, message, hint: hint))
    }

    public mutating func warning(
        _ message: String, at location: SourceLocation?, field: String? = nil, hint: String? = nil
    ) {
        items.append(Diagnostic(.warning, at: location, field: field, message, hint: hint))
    }

    /// The diagnostics ordered by file, line and column; those without a location come first.
    public var sorted: [Diagnostic] {
        items.enumerated().sorted { lhs, rhs in
            let (l, r) = (lhs.element.location, rhs.element.location)
            switch (l, r) {
            case (nil, nil): return lhs.offset < rhs.offset
            case (nil, _): return true
            case (_, nil): return false
            case let (l?, r?):
                if l.file != r.file { return l.file < r.file }
                if l.line != r.line { return l.line < r.line }
                if l.column != r.column { return l.column < r.column }
                return lhs.offset < rhs.offset
            }
        }.map(\.element)
    }

    public func makeIterator() -> IndexingIterator<[Diagnostic]> {
        items.makeIterator()
    }
}
