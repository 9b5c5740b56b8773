import Yams

/// Reads the YAML documents of one manifest file into located `YAMLNode` trees, turning every parser
/// failure into a diagnostic with the file, line and column.
public enum YAMLReader {
    /// One document of a file and where it starts.
    public struct Document: Sendable {
        public var root: YAMLNode
        /// The document's position in its file, counted from 0.
        public var index: Int
    }

    /// Parses every document of `text`; stops at the first syntax error of the file (later documents are
    /// not trustworthy after one) but keeps the documents before it.
    public static func documents(
        in text: String, file: String, limits: ManifestLimits = .default
    ) -> (documents: [Document], diagnostics: Diagnostics) {
        var diagnostics = Diagnostics()
        let size = text.utf8.count
        if size > limits.maxFileBytes {
            diagnostics.error(
                "file is \(size) bytes; manifest files may be at most \(limits.maxFileBytes) bytes",
                at: SourceLocation(file: file, line: 1, column: 1),
                hint: "split it into several files")
            return ([], diagnostics)
        }
        if let problem = aliasKeyProblem(in: text) {
            diagnostics.error(
                "an alias is used as a mapping key; Driftless manifests do not allow that",
                at: SourceLocation(file: file, line: problem.line, column: problem.column))
            return ([], diagnostics)
        }
        var budget = limits.nodeBudget(forFileOfSize: size)
        var documents: [Document] = []
        do {
            // The basic resolver: Driftless types scalars itself (YAML 1.2 core), and Yams' regex-based
            // resolution of every mapping key (for its duplicate check) dominated parsing time; an explicit
            // encoding spares reading the environment per file.
            let parser = try Parser(yaml: text, resolver: .basic, encoding: .utf8)
            while let root = try parser.nextRoot() {
                let index = documents.count
                guard let node = try convert(root, budget: &budget, file: file) else {
                    continue
                }
                documents.append(Document(root: node, index: index))
            }
        } catch let error as YamlError {
            diagnostics.append(diagnostic(for: error, file: file, text: text, limits: limits))
        } catch let error as BudgetExceeded {
            diagnostics.error(
                "the document expands to more than \(error.budget) nodes through aliases (an alias bomb?)",
                at: SourceLocation(file: file, line: error.line, column: error.column),
                hint: "Driftless limits expansion to one node per byte of the file plus \(limits.extraNodeBudget)")
        } catch {
            diagnostics.error("cannot parse YAML: \(error)", at: SourceLocation(file: file, line: 1, column: 1))
        }
        return (documents, diagnostics)
    }

    struct BudgetExceeded: Error {
        var budget: Int
        var line: Int
        var column: Int
    }

    /// Converts a Yams node, expanding aliases and charging every node to `budget`.
    static func convert(_ node: Node, budget: inout Int, file: String) throws -> YAMLNode? {
        let initial = budget
        func charge(_ mark: Mark?) throws {
            budget -= 1
            if budget < 0 {
                throw BudgetExceeded(budget: initial, line: mark?.line ?? 1, column: mark?.column ?? 1)
            }
        }
        func walk(_ node: Node) throws -> YAMLNode {
            try charge(node.mark)
            let line = node.mark?.line ?? 1, column = node.mark?.column ?? 1
            switch node {
            case let .scalar(s):
                return .scalar(scalar(s))
            case let .mapping(m):
                var entries: [YAMLNode.Entry] = []
                entries.reserveCapacity(m.count)
                for (key, value) in m {
                    try charge(key.mark)
                    let keyScalar: YAMLNode.Scalar
                    if case let .scalar(k) = key {
                        keyScalar = scalar(k)
                    } else {
                        // Complex keys never name a field; keep a placeholder so the validator reports it.
                        keyScalar = YAMLNode.Scalar(
                            value: "<complex key>", isPlain: false, tag: "driftless:complex-key",
                            line: key.mark?.line ?? line, column: key.mark?.column ?? column)
                    }
                    entries.append(YAMLNode.Entry(key: keyScalar, value: try walk(value)))
                }
                return .mapping(YAMLNode.Mapping(entries: entries, line: line, column: column))
            case let .sequence(s):
                var items: [YAMLNode] = []
                items.reserveCapacity(s.count)
                for item in s { items.append(try walk(item)) }
                return .sequence(YAMLNode.Sequence(items: items, line: line, column: column))
            case let .alias(a):
                // Yams resolves aliases while composing; an unresolved one is kept as a string.
                return .scalar(YAMLNode.Scalar(
                    value: "*\(a.anchor.rawValue)", isPlain: false, tag: nil, line: line, column: column))
            }
        }
        if case let .scalar(s) = node, s.style == .plain, s.string.isEmpty || s.string == "~" || s.string == "null" {
            return nil  // An empty document (`---` alone) declares nothing.
        }
        return try walk(node)
    }

    static func scalar(_ s: Node.Scalar) -> YAMLNode.Scalar {
        let tag = s.tag.rawValue
        return YAMLNode.Scalar(
            value: s.string,
            isPlain: s.style == .plain || s.style == .any,
            tag: tag.isEmpty || tag == "!" ? nil : tag,
            line: s.mark?.line ?? 1,
            column: s.mark?.column ?? 1)
    }

    static func diagnostic(for error: YamlError, file: String, text: String, limits: ManifestLimits) -> Diagnostic {
        func at(_ mark: Mark) -> SourceLocation {
            SourceLocation(file: file, line: max(1, mark.line), column: max(1, mark.column))
        }
        switch error {
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _),
             let .composer(context, problem, mark, _):
            if problem.contains("Maximum nesting level") || (context?.text.contains("nesting") ?? false) {
                return Diagnostic(.error, at: at(mark),
                                  "YAML nesting is deeper than \(limits.maxNesting) levels")
            }
            var message = "YAML syntax error: \(problem)"
            if let context, !context.text.isEmpty {
                message += " \(context.text) started at line \(context.mark.line), column \(context.mark.column)"
            }
            return Diagnostic(.error, at: at(mark), message)
        case let .duplicatedKeysInMapping(duplicates, context):
            let key = duplicates.sorted().first ?? "?"
            let first = context.mark
            if let second = secondOccurrence(of: key, after: first, in: text) {
                return Diagnostic(.error, at: SourceLocation(file: file, line: second.line, column: second.column),
                                  "duplicate key \"\(key)\" (first at line \(first.line))",
                                  hint: "a key may appear once per mapping")
            }
            return Diagnostic(.error, at: at(first), "duplicate key \"\(key)\" in this mapping",
                              hint: "a key may appear once per mapping")
        case let .reader(problem, offset, _, _):
            var location = SourceLocation(file: file, line: 1, column: 1)
            if let offset { location = lineAndColumn(ofUTF8Offset: offset, in: text, file: file) }
            return Diagnostic(.error, at: location, "cannot read the file: \(problem)")
        default:
            return Diagnostic(.error, at: SourceLocation(file: file, line: 1, column: 1), "cannot parse YAML: \(error)")
        }
    }

    /// Finds the repeated key: the next line at the same column after `first` that starts with `key:`.
    static func secondOccurrence(of key: String, after first: Mark, in text: String) -> (line: Int, column: Int)? {
        var lineNumber = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            guard lineNumber > first.line else { continue }
            let scalars = Array(line.unicodeScalars)
            let start = first.column - 1
            guard start < scalars.count else { continue }
            let indent = scalars[..<start].allSatisfy { $0 == " " || $0 == "-" }
            let rest = String(String.UnicodeScalarView(scalars[start...]))
            if indent, rest.hasPrefix(key + ":") || rest.hasPrefix("\"\(key)\":") || rest.hasPrefix("'\(key)':") {
                return (lineNumber, first.column)
            }
        }
        return nil
    }

    static func lineAndColumn(ofUTF8Offset offset: Int, in text: String, file: String) -> SourceLocation {
        var line = 1, column = 1, consumed = 0
        for scalar in text.unicodeScalars {
            if consumed >= offset { break }
            consumed += String(scalar).utf8.count
            if scalar == "\n" { line += 1; column = 1 } else { column += 1 }
        }
        return SourceLocation(file: file, line: line, column: column)
    }

    /// Finds an alias used as a mapping key (`*a: x`, `? *a`, `{*a: x}`), which would make Yams hash a
    /// possibly exponential expansion. Only files that define anchors are scanned.
    static func aliasKeyProblem(in text: String) -> (line: Int, column: Int)? {
        guard text.utf8.contains(38 /* & */), text.utf8.contains(42 /* * */) else { return nil }
        var lineNumber = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let scalars = Array(line.unicodeScalars)
            var i = 0
            // Skip indentation and sequence or complex-key indicators.
            while i < scalars.count, scalars[i] == " " || scalars[i] == "\t" || scalars[i] == "-" || scalars[i] == "?" {
                if scalars[i] == "?" , i + 1 < scalars.count, scalars[i + 1] == " " {
                    var j = i + 1
                    while j < scalars.count, scalars[j] == " " { j += 1 }
                    if j < scalars.count, scalars[j] == "*" { return (lineNumber, j + 1) }
                }
                i += 1
            }
            if i < scalars.count, scalars[i] == "*", aliasFollowedByColon(scalars, from: i) {
                return (lineNumber, i + 1)
            }
            // Flow mappings: `{` or `,` then an alias then `:`.
            var inQuote: Unicode.Scalar?
            for k in scalars.indices {
                let c = scalars[k]
                if let q = inQuote { if c == q { inQuote = nil }; continue }
                if c == "\"" || c == "'" { inQuote = c; continue }
                if c == "#" { break }
                if c == "{" || c == "," {
                    var j = k + 1
                    while j < scalars.count, scalars[j] == " " { j += 1 }
                    if j < scalars.count, scalars[j] == "*", aliasFollowedByColon(scalars, from: j) {
                        return (lineNumber, j + 1)
                    }
                }
            }
        }
        return nil
    }

    private static func aliasFollowedByColon(_ scalars: [Unicode.Scalar], from start: Int) -> Bool {
        var j = start + 1
        // libyaml's anchor names are letters, digits, '-' and '_'.
        while j < scalars.count,
              scalars[j].properties.isAlphabetic || ("0"..."9").contains(scalars[j]) || scalars[j] == "-" || scalars[j] == "_" {
            j += 1
        }
        guard j > start + 1 else { return false }
        while j < scalars.count, scalars[j] == " " { j += 1 }
        return j < scalars.count && scalars[j] == ":"
    }
}
