/// Checks a YAML node against a `SchemaType`, reporting every problem with its location and field path.
struct SchemaChecker {
    let file: String
    var diagnostics = Diagnostics()
    /// Field paths whose values failed a check (not counting unknown fields), so that later stages can
    /// skip them instead of reporting consequences of the same mistake.
    var invalidPaths: Set<String> = []

    init(file: String) {
        self.file = file
    }

    func location(_ node: YAMLNode) -> SourceLocation {
        SourceLocation(file: file, line: node.line, column: node.column)
    }

    func location(_ scalar: YAMLNode.Scalar) -> SourceLocation {
        SourceLocation(file: file, line: scalar.line, column: scalar.column)
    }

    /// Checks `node`; returns whether it conforms.
    @discardableResult
    mutating func check(_ node: YAMLNode, against type: SchemaType, path: String) -> Bool {
        switch type {
        case let .object(fields):
            return checkObject(node, fields: fields, path: path)
        case let .list(element):
            guard case let .sequence(sequence) = node else {
                var hint: String?
                if case let .scalar(s) = node, !s.value.isEmpty { hint = "write a list: [\(s.value)]" }
                return mismatch(node, expected: type, path: path, hint: hint)
            }
            var ok = true
            for (i, item) in sequence.items.enumerated() {
                ok = check(item, against: element, path: "\(path)[\(i)]") && ok
            }
            return ok
        case .stringMap:
            guard case let .mapping(mapping) = node else { return mismatch(node, expected: type, path: path) }
            var ok = true
            for entry in mapping.entries {
                let keyPath = "\(path).\(entry.key.value)"
                if !Formats.isLabelKey(entry.key.value) {
                    diagnostics.error("\"\(entry.key.value)\" is not a valid key",
                                      at: location(entry.key), field: path,
                                      hint: "keys are letters, digits, '-', '_' and '.', at most 63, with an optional prefix/")
                    ok = false
                }
                guard case let .scalar(value) = entry.value, value.resolved != .null else {
                    ok = mismatch(entry.value, expected: .string(.text), path: keyPath) && false
                    continue
                }
                if value.value.utf8.count > 4096 {
                    diagnostics.error("value is longer than 4096 bytes", at: location(value), field: keyPath)
                    ok = false
                }
            }
            return ok
        case let .string(format):
            guard case let .scalar(scalar) = node else { return mismatch(node, expected: type, path: path) }
            switch scalar.resolved {
            case .null:
                return mismatch(node, expected: type, path: path)
            case .bool:
                return mismatch(node, expected: type, path: path, hint: "quote it if you mean the text \"\(scalar.value)\"")
            default:
                return checkFormat(scalar, format: format, path: path)
            }
        case let .integer(min, max):
            guard case let .scalar(scalar) = node else { return mismatch(node, expected: type, path: path) }
            guard case let .int(value) = scalar.resolved else {
                var hint: String?
                if !scalar.isPlain, Int(scalar.value) != nil { hint = "remove the quotes" }
                return mismatch(node, expected: type, path: path, hint: hint)
            }
            return checkRange(Double(value), min: min.map(Double.init), max: max.map(Double.init),
                              shown: String(value), at: scalar, path: path)
        case let .number(min, max):
            guard case let .scalar(scalar) = node else { return mismatch(node, expected: type, path: path) }
            let value: Double
            switch scalar.resolved {
            case let .int(i): value = Double(i)
            case let .float(f) where f.isFinite: value = f
            default:
                var hint: String?
                if !scalar.isPlain, Double(scalar.value) != nil { hint = "remove the quotes" }
                return mismatch(node, expected: type, path: path, hint: hint)
            }
            return checkRange(value, min: min, max: max, shown: scalar.value, at: scalar, path: path)
        case .boolean:
            guard case let .scalar(scalar) = node, case .bool = scalar.resolved else {
                var hint: String?
                if case let .scalar(s) = node, ["yes", "no", "on", "off", "y", "n"].contains(s.value.lowercased()) {
                    hint = "YAML 1.2 booleans are true and false"
                } else if case let .scalar(s) = node, !s.isPlain, s.value == "true" || s.value == "false" {
                    hint = "remove the quotes"
                }
                return mismatch(node, expected: type, path: path, hint: hint)
            }
            return true
        case let .enumeration(values):
            guard case let .scalar(scalar) = node, scalar.resolved != .null else {
                return mismatch(node, expected: type, path: path)
            }
            guard values.contains(scalar.value) else {
                invalidPaths.insert(path)
                let hint = Suggestion.closest(to: scalar.value, in: values).map { "did you mean \"\($0)\"?" }
                diagnostics.error("\"\(scalar.value)\" is not one of: \(values.joined(separator: ", "))",
                                  at: location(scalar), field: path, hint: hint)
                return false
            }
            return true
        }
    }

    mutating func checkObject(_ node: YAMLNode, fields: [SchemaField], path: String) -> Bool {
        guard case let .mapping(mapping) = node else {
            return mismatch(node, expected: .object(fields), path: path)
        }
        var ok = true
        var seen: Set<String> = []
        for entry in mapping.entries {
            let key = entry.key.value
            let fieldPath = path.isEmpty ? key : "\(path).\(key)"
            guard let field = fields.first(where: { $0.name == key }) else {
                let names = fields.map(\.name)
                let hint = Suggestion.closest(to: key, in: names).map { "did you mean \"\($0)\"?" }
                    ?? "known fields: \(names.joined(separator: ", "))"
                diagnostics.error("unknown field \"\(key)\"", at: location(entry.key), field: path.isEmpty ? nil : path,
                                  hint: hint)
                ok = false
                continue
            }
            seen.insert(key)
            if case let .scalar(s) = entry.value, s.resolved == .null {
                if field.required {
                    invalidPaths.insert(fieldPath)
                    diagnostics.error("required field \"\(key)\" is empty", at: location(entry.key),
                                      field: fieldPath, hint: "it must be \(field.type.phrase)")
                    ok = false
                }
                continue  // An explicit null on an optional field means "not set".
            }
            ok = check(entry.value, against: field.type, path: fieldPath) && ok
        }
        for field in fields where field.required && !seen.contains(field.name) {
            invalidPaths.insert(path.isEmpty ? field.name : "\(path).\(field.name)")
            diagnostics.error("missing required field \"\(field.name)\"",
                              at: location(node), field: path.isEmpty ? nil : path,
                              hint: "it must be \(field.type.phrase)")
            ok = false
        }
        return ok
    }

    mutating func mismatch(_ node: YAMLNode, expected: SchemaType, path: String, hint: String? = nil) -> Bool {
        invalidPaths.insert(path)
        diagnostics.error("expected \(expected.phrase), got \(node.kindDescription)",
                          at: location(node), field: path, hint: hint)
        return false
    }

    mutating func checkRange(
        _ value: Double, min: Double?, max: Double?, shown: String, at scalar: YAMLNode.Scalar, path: String
    ) -> Bool {
        func format(_ d: Double) -> String { d == d.rounded() && abs(d) < 1e15 ? String(Int(d)) : String(d) }
        if (min.map { value < $0 } ?? false) || (max.map { value > $0 } ?? false) { invalidPaths.insert(path) }
        if let min, value < min {
            let range = max.map { "from \(format(min)) to \(format($0))" } ?? "at least \(format(min))"
            diagnostics.error("\(shown) is out of range; it must be \(range)", at: location(scalar), field: path)
            return false
        }
        if let max, value > max {
            let range = min.map { "from \(format($0)) to \(format(max))" } ?? "at most \(format(max))"
            diagnostics.error("\(shown) is out of range; it must be \(range)", at: location(scalar), field: path)
            return false
        }
        return true
    }

    mutating func checkFormat(_ scalar: YAMLNode.Scalar, format: StringFormat, path: String) -> Bool {
        if let problem = Self.formatProblem(scalar.value, format: format) {
            invalidPaths.insert(path)
            diagnostics.error(problem.message, at: location(scalar), field: path, hint: problem.hint)
            return false
        }
        return true
    }

    /// Why `value` does not have `format`, or `nil` when it does.
    static func formatProblem(_ value: String, format: StringFormat) -> ParseProblem? {
        switch format {
        case .text:
            return value.utf8.count > 65_536 ? ParseProblem("is longer than 64KiB") : nil
        case .name:
            return Formats.isName(value) ? nil : Formats.nameProblem(value)
        case .size:
            if case let .failure(error) = ByteSize.parse(value) {
                return ParseProblem(error.message, hint: error.hint)
            }
            return nil
        case .cidr:
            switch IPv4Network.parse(value) {
            case .success: return nil
            case .failure(.malformed):
                return ParseProblem("\"\(value)\" is not an IPv4 CIDR", hint: "write it as 10.0.0.0/24")
            case let .failure(.hostBitsSet(network)):
                return ParseProblem("\"\(value)\" has host bits set", hint: "did you mean \(network)?")
            }
        case .ipv4:
            return IPv4Address(value) == nil ? ParseProblem("\"\(value)\" is not an IPv4 address") : nil
        case .sha256:
            if Formats.isSHA256(value) { return nil }
            if Formats.isSHA256(value.lowercased()) {
                return ParseProblem("the sha256 digest must be lowercase", hint: "write \(value.lowercased())")
            }
            return ParseProblem("\"\(value.prefix(80))\" is not a SHA-256 digest (64 hexadecimal characters, found \(value.count) characters)")
        case .sshKey:
            if case let .failure(problem) = SSHPublicKey.parse(value) {
                return ParseProblem("SSH key \(problem.message)", hint: problem.hint)
            }
            return nil
        case .email:
            return Formats.isEmail(value) ? nil : ParseProblem("\"\(value)\" is not an email address")
        case .imageURL:
            // The address policy depends on the hosts' settings; the Validator checks it.
            return ImageURLPolicy.shapeProblem(with: value)
        case .absolutePath:
            guard value.hasPrefix("/") else {
                return ParseProblem("\"\(value)\" is not an absolute path", hint: "paths start with /")
            }
            if value.contains("\0") || value.split(separator: "/").contains("..") {
                return ParseProblem("\"\(value)\" may not contain '..' or NUL")
            }
            return nil
        case .libvirtURI:
            return LibvirtURIPolicy.problem(with: value)
        case .ovsdbEndpoint:
            return OVSDBEndpointPolicy.problem(with: value)
        case .bridgeName:
            return Formats.isBridgeName(value) ? nil
                : ParseProblem("\"\(value)\" is not a bridge name", hint: "at most 15 letters, digits, '-', '_' or '.'")
        case .interfaceName:
            return Formats.isBridgeName(value) ? nil
                : ParseProblem("\"\(value)\" is not an interface name", hint: "at most 15 letters, digits, '-', '_' or '.'")
        }
    }
}
