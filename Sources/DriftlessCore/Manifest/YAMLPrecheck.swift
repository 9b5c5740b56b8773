internal import CYaml

/// Checks a file's YAML event stream against `ManifestLimits` before Yams composes it, so that nothing
/// hostile ever reaches Yams' composer or the recursive stages after it.
///
/// Yams has no event API, so this reads the events from the libyaml that Yams vendors (its `CYaml`
/// module): the same scanner on the same bytes, so quoting, comments and block scalars are tokenized
/// exactly as Yams will see them, and the check cannot reject a manifest Yams would read differently.
/// It refuses, at the offending event's position:
/// - nesting of mappings and sequences deeper than `maxNesting`, counted after alias expansion (an alias
///   counts as deep as its anchored node);
/// - more nodes than the file's node budget, counted after alias expansion;
/// - an alias used as a mapping key, and a list or mapping used as a key: Yams hashes every key for its
///   duplicate check, and hashing an alias-expanded key is exponential;
/// - a parse that runs past the file's deadline (checked every `deadlineCheckInterval` events).
///
/// Syntax errors and undefined aliases end the check without a problem: Yams reports them, at the same
/// position, after composing only what the check has already seen.
enum YAMLPrecheck {
    /// How many events pass between two reads of the clock.
    static let deadlineCheckInterval = 1024

    /// What an anchored node expands to: its nodes and its nesting height (a scalar is 0).
    private struct Extent {
        var nodes: Int
        var height: Int
    }

    /// An open mapping or sequence.
    private struct Frame {
        var isMapping: Bool
        var anchor: String?
        /// Nodes so far, the collection itself included.
        var nodes = 1
        /// The tallest child's height.
        var childHeight = 0
        /// For a mapping: whether the next child is a key.
        var expectsKey: Bool
    }

    /// Returns the first problem of `text`, or `nil` when Yams may compose the whole file.
    static func problem(
        in text: String, limits: ManifestLimits, budget: Int, deadline: YAMLReader.Deadline
    ) -> YAMLReader.Problem? {
        guard !text.isEmpty else { return nil }
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { return nil }
        defer { yaml_parser_delete(&parser) }
        var text = text
        return text.withUTF8 { bytes -> YAMLReader.Problem? in
            guard let base = bytes.baseAddress else { return nil }
            yaml_parser_set_input_string(&parser, base, bytes.count)
            yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING)
            var scan = Scan(limits: limits, budget: budget, deadline: deadline)
            var event = yaml_event_t()
            while yaml_parser_parse(&parser, &event) == 1 {
                defer { yaml_event_delete(&event) }
                switch scan.handle(event) {
                case .next: continue
                case .done: return nil
                case let .problem(problem): return problem
                }
            }
            return nil  // A syntax error: Yams stops at the same event and reports it.
        }
    }

    private enum Step {
        case next
        case done
        case problem(YAMLReader.Problem)
    }

    private struct Scan {
        let limits: ManifestLimits
        let budget: Int
        let deadline: YAMLReader.Deadline
        var stack: [Frame] = []
        /// Anchors of completed nodes; Yams keeps them across the documents of a file, and so does this.
        var anchors: [String: Extent] = [:]
        var nodes = 0
        var events = 0
        var document = -1

        init(limits: ManifestLimits, budget: Int, deadline: YAMLReader.Deadline) {
            self.limits = limits
            self.budget = budget
            self.deadline = deadline
        }

        mutating func handle(_ event: yaml_event_t) -> Step {
            events += 1
            let line = Int(event.start_mark.line) + 1, column = Int(event.start_mark.column) + 1
            func refuse(_ problem: YAMLReader.Problem) -> Step {
                var problem = problem
                problem.document = document
                return .problem(problem)
            }
            if events % YAMLPrecheck.deadlineCheckInterval == 0, deadline.hasPassed {
                return refuse(.timeBudget(deadline.budget, limits: limits, line: line, column: column))
            }
            switch event.type {
            case YAML_STREAM_END_EVENT:
                return .done
            case YAML_DOCUMENT_START_EVENT:
                document += 1
                return .next
            case YAML_SCALAR_EVENT:
                return complete(Extent(nodes: 1, height: 0), anchor: name(event.data.scalar.anchor), line, column)
            case YAML_ALIAS_EVENT:
                guard let anchor = name(event.data.alias.anchor), let extent = anchors[anchor] else {
                    return .done  // Undefined: Yams reports it here.
                }
                if stack.last?.expectsKey == true {
                    return refuse(.aliasKey(line: line, column: column))
                }
                if stack.count + extent.height > limits.maxNesting {
                    return refuse(.aliasTooDeep(anchor, limits: limits, line: line, column: column))
                }
                return complete(extent, anchor: nil, line, column)
            case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
                let isMapping = event.type == YAML_MAPPING_START_EVENT
                if stack.last?.expectsKey == true {
                    return refuse(.collectionKey(isMapping: isMapping, line: line, column: column))
                }
                if stack.count + 1 > limits.maxNesting {
                    return refuse(.tooDeep(limits: limits, line: line, column: column))
                }
                if let step = charge(1, line, column) { return step }
                let anchor = name(isMapping ? event.data.mapping_start.anchor : event.data.sequence_start.anchor)
                stack.append(Frame(isMapping: isMapping, anchor: anchor, expectsKey: isMapping))
                return .next
            case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                guard let frame = stack.popLast() else { return .done }
                let extent = Extent(nodes: frame.nodes, height: frame.childHeight + 1)
                if let anchor = frame.anchor { anchors[anchor] = extent }
                deliver(extent)
                return .next
            default:
                return .next
            }
        }

        /// Counts a scalar or an alias, records its anchor and hands it to the open collection.
        private mutating func complete(_ extent: Extent, anchor: String?, _ line: Int, _ column: Int) -> Step {
            if let step = charge(extent.nodes, line, column) { return step }
            if let anchor { anchors[anchor] = extent }
            deliver(extent)
            return .next
        }

        private mutating func charge(_ count: Int, _ line: Int, _ column: Int) -> Step? {
            // Every count was charged once already, so the sum stays below twice the budget: no overflow.
            nodes += count
            guard nodes > budget else { return nil }
            var problem = YAMLReader.Problem.nodeBudget(budget, limits: limits, line: line, column: column)
            problem.document = document
            return .problem(problem)
        }

        private mutating func deliver(_ extent: Extent) {
            guard let top = stack.indices.last else { return }
            stack[top].nodes += extent.nodes
            stack[top].childHeight = max(stack[top].childHeight, extent.height)
            if stack[top].isMapping { stack[top].expectsKey.toggle() }
        }

        private func name(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
            pointer.map { String(cString: $0) }
        }
    }
}
