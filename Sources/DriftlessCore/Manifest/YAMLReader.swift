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
        let deadline = Deadline(budget: limits.parseTimeBudget(forFileOfSize: size))
        var budget = limits.nodeBudget(forFileOfSize: size)
        // Refuse what would make Yams' composer, or the recursive stages after it, blow up; the documents
        // before a refused one are still composed, as they are before a syntax error.
        let refused = YAMLPrecheck.problem(in: text, limits: limits, budget: budget, deadline: deadline)
        var documents: [Document] = []
        var composed = 0
        let end = endOfText(text)
        do {
            // The basic resolver: Driftless types scalars itself (YAML 1.2 core), and Yams' regex-based
            // resolution of every mapping key (for its duplicate check) dominated parsing time; an explicit
            // encoding spares reading the environment per file.
            let parser = try Parser(yaml: text, resolver: .basic, encoding: .utf8)
            while composed < refused?.document ?? Int.max, let root = try parser.nextRoot() {
                composed += 1
                let index = documents.count
                guard let node = try convert(root, budget: &budget, limits: limits, deadline: deadline, end: end) else {
                    continue
                }
                documents.append(Document(root: node, index: index))
            }
            if let refused { diagnostics.append(refused.diagnostic(file: file)) }
        } catch let error as YamlError {
            diagnostics.append(diagnostic(for: error, file: file, text: text, limits: limits))
        } catch let problem as Problem {
            diagnostics.append(problem.diagnostic(file: file))
        } catch {
            diagnostics.error("cannot parse YAML: \(error)", at: SourceLocation(file: file, line: 1, column: 1))
        }
        return (documents, withinFile(diagnostics, text: text))
    }

    /// Moves locations past the end of `text` back to the end of its last line: at the end of a file
    /// without a final line break, libyaml counts one more line, and an editor cannot open line 9 of 8.
    static func withinFile(_ diagnostics: Diagnostics, text: String) -> Diagnostics {
        guard !diagnostics.isEmpty else { return diagnostics }
        let end = endOfText(text)
        return Diagnostics(diagnostics.items.map { diagnostic in
            guard let location = diagnostic.location, location.line > end.line else { return diagnostic }
            var moved = diagnostic
            moved.location = SourceLocation(file: location.file, line: end.line, column: end.column)
            return moved
        })
    }

    /// The last position of `text` an editor can show: its last line (lines counted as libyaml counts
    /// them), one past that line's last character.
    static func endOfText(_ text: String) -> (line: Int, column: Int) {
        var lines = 1, lastLineLength = 0, previous: Unicode.Scalar?
        for scalar in text.unicodeScalars {
            switch LineBreak(scalar, after: previous) {
            case .ends: lines += 1; lastLineLength = 0
            case .continues: break
            case .none: lastLineLength += 1
            }
            previous = scalar
        }
        return (lines, lastLineLength + 1)
    }

    /// When reading a file must stop, and the budget that set it (for the message).
    struct Deadline: Sendable {
        var budget: Duration
        var instant: ContinuousClock.Instant

        init(budget: Duration) {
            self.budget = budget
            instant = .now.advanced(by: budget)
        }

        var hasPassed: Bool { ContinuousClock.now >= instant }
    }

    /// A limit that a file exceeds, found by `YAMLPrecheck` or, as a second line of defence, by `convert`.
    struct Problem: Error, Equatable {
        var message: String
        var hint: String?
        var line: Int
        var column: Int
        /// The document it is in, counted from 0 (empty documents included).
        var document = 0

        func diagnostic(file: String) -> Diagnostic {
            Diagnostic(.error, at: SourceLocation(file: file, line: max(1, line), column: max(1, column)), message,
                       hint: hint)
        }

        static func nodeBudget(_ budget: Int, limits: ManifestLimits, line: Int, column: Int) -> Problem {
            Problem(message: "the document expands to more than \(budget) nodes through aliases (an alias bomb?)",
                    hint: "Driftless limits expansion to one node per byte of the file plus \(limits.extraNodeBudget)",
                    line: line, column: column)
        }

        static func tooDeep(limits: ManifestLimits, line: Int, column: Int) -> Problem {
            Problem(message: "YAML nesting is deeper than \(limits.maxNesting) levels", hint: nil,
                    line: line, column: column)
        }

        static func aliasTooDeep(_ anchor: String, limits: ManifestLimits, line: Int, column: Int) -> Problem {
            Problem(message: "the alias *\(anchor) nests the document deeper than \(limits.maxNesting) levels",
                    hint: "nesting is counted after aliases are expanded",
                    line: line, column: column)
        }

        static func aliasKey(line: Int, column: Int) -> Problem {
            Problem(message: "an alias is used as a mapping key; Driftless manifests do not allow that",
                    hint: "mapping keys are plain strings", line: line, column: column)
        }

        static func collectionKey(isMapping: Bool, line: Int, column: Int) -> Problem {
            Problem(message: "a \(isMapping ? "mapping" : "list") is used as a mapping key; Driftless manifests do not allow that",
                    hint: "mapping keys are plain strings", line: line, column: column)
        }

        static func timeBudget(_ budget: Duration, limits: ManifestLimits, line: Int, column: Int) -> Problem {
            Problem(message: "reading the file took longer than its time budget of \(ManifestLimits.describe(budget)); it was stopped here",
                    hint: "Driftless allows \(ManifestLimits.describe(limits.parseTimeBudget)) plus "
                        + "\(ManifestLimits.describe(limits.parseTimePerMiB)) per MiB; simplify or split the file",
                    line: line, column: column)
        }
    }

    /// How many nodes `convert` charges between two reads of the clock.
    static let deadlineCheckInterval = 1024

    /// Converts a Yams node, expanding aliases and charging every node to `budget`.
    ///
    /// `YAMLPrecheck` has already refused whatever exceeds the limits; the same limits are checked here
    /// again, before every step down, so that the recursion stays bounded by `maxNesting` even if the two
    /// ever disagreed.
    ///
    /// `end` is the text's last position (`endOfText`): a node libyaml marks past it (the empty value of a
    /// key on a last line without a line break is marked on the line after) is placed there, so that
    /// every later diagnostic about the node points into the file.
    static func convert(
        _ node: Node, budget: inout Int, limits: ManifestLimits = .default,
        deadline: Deadline = Deadline(budget: ManifestLimits.default.parseTimeBudget),
        end: (line: Int, column: Int) = (Int.max, 1)
    ) throws -> YAMLNode? {
        let initial = budget
        func position(_ mark: Mark?) -> (line: Int, column: Int) {
            let line = mark?.line ?? 1, column = mark?.column ?? 1
            return line > end.line ? end : (line, column)
        }
        func scalar(_ s: Node.Scalar) -> YAMLNode.Scalar {
            YAMLReader.scalar(s, at: position(s.mark))
        }
        func charge(_ mark: Mark?) throws {
            budget -= 1
            let line = mark?.line ?? 1, column = mark?.column ?? 1
            if budget < 0 {
                throw Problem.nodeBudget(initial, limits: limits, line: line, column: column)
            }
            // `budget` runs down across the documents of a file, so the clock is read every so many nodes
            // of the file, however small its documents.
            if budget % deadlineCheckInterval == 0, deadline.hasPassed {
                throw Problem.timeBudget(deadline.budget, limits: limits, line: line, column: column)
            }
        }
        func walk(_ node: Node, depth: Int) throws -> YAMLNode {
            try charge(node.mark)
            let (line, column) = position(node.mark)
            switch node {
            case let .scalar(s):
                return .scalar(scalar(s))
            case let .mapping(m):
                guard depth < limits.maxNesting else {
                    throw Problem.tooDeep(limits: limits, line: line, column: column)
                }
                var entries: [YAMLNode.Entry] = []
                entries.reserveCapacity(m.count)
                for (key, value) in m {
                    try charge(key.mark)
                    let (keyLine, keyColumn) = key.mark == nil ? (line, column) : position(key.mark)
                    switch key {
                    case let .scalar(k):
                        entries.append(YAMLNode.Entry(key: scalar(k), value: try walk(value, depth: depth + 1)))
                    case .mapping, .sequence:
                        throw Problem.collectionKey(isMapping: key.mapping != nil, line: keyLine, column: keyColumn)
                    case .alias:
                        throw Problem.aliasKey(line: keyLine, column: keyColumn)
                    }
                }
                return .mapping(YAMLNode.Mapping(entries: entries, line: line, column: column))
            case let .sequence(s):
                guard depth < limits.maxNesting else {
                    throw Problem.tooDeep(limits: limits, line: line, column: column)
                }
                var items: [YAMLNode] = []
                items.reserveCapacity(s.count)
                for item in s { items.append(try walk(item, depth: depth + 1)) }
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
        return try walk(node, depth: 0)
    }

    static func scalar(_ s: Node.Scalar, at position: (line: Int, column: Int)) -> YAMLNode.Scalar {
        let tag = s.tag.rawValue
        return YAMLNode.Scalar(
            value: s.string,
            isPlain: s.style == .plain || s.style == .any,
            tag: tag.isEmpty || tag == "!" ? nil : tag,
            line: position.line,
            column: position.column)
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
        for scalars in lines(of: text) {
            lineNumber += 1
            guard lineNumber > first.line else { continue }
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

    /// The lines of `text` as libyaml numbers them, each as its scalars without the line break.
    static func lines(of text: String) -> [[Unicode.Scalar]] {
        var lines: [[Unicode.Scalar]] = [[]]
        var previous: Unicode.Scalar?
        for scalar in text.unicodeScalars {
            switch LineBreak(scalar, after: previous) {
            case .ends: lines.append([])
            case .continues: break
            case .none: lines[lines.count - 1].append(scalar)
            }
            previous = scalar
        }
        return lines
    }

    static func lineAndColumn(ofUTF8Offset offset: Int, in text: String, file: String) -> SourceLocation {
        var line = 1, column = 1, consumed = 0, previous: Unicode.Scalar?
        for scalar in text.unicodeScalars {
            if consumed >= offset { break }
            consumed += String(scalar).utf8.count
            switch LineBreak(scalar, after: previous) {
            case .ends: line += 1; column = 1
            case .continues: break
            case .none: column += 1
            }
            previous = scalar
        }
        return SourceLocation(file: file, line: line, column: column)
    }

    /// Line breaks as libyaml counts them (its marks count lines this way): CR LF, CR, LF, NEL, LS, PS.
    enum LineBreak {
        /// The scalar ends a line.
        case ends
        /// The LF of a CR LF: the line already ended.
        case continues

        init?(_ scalar: Unicode.Scalar, after previous: Unicode.Scalar?) {
            switch scalar {
            case "\n" where previous == "\r": self = .continues
            case "\n", "\r", "\u{85}", "\u{2028}", "\u{2029}": self = .ends
            default: return nil
            }
        }
    }
}
