// libFuzzer's entry point over the manifest loader. Built by scripts/fuzz.sh with
// `swift build --sanitize=fuzzer --sanitize=address`, which parses it as a library: libFuzzer supplies `main`,
// so this file has no top-level code.
@testable import DriftlessCore

/// The fuzzer's own limits: the default ones, with a shorter time budget so that a slow path shows up as
/// a broken promise well before libFuzzer's own timeout.
let limits = ManifestLimits(parseTimeBudget: .milliseconds(500))

/// The messages of the limits that `YAMLPrecheck` enforces before Yams composes a file.
let limitMessages = [
    "the document expands to more than", "YAML nesting is deeper than", "is used as a mapping key",
    "nests the document deeper than",
]

/// Loads the input as one manifest file and checks what the loader promises for any input, beyond not
/// crashing (a broken promise traps, which libFuzzer reports as a crash and saves the input):
/// 1. loading returns within a second;
/// 2. every diagnostic points into the file: its name, a line of the file, a column from 1 to one past
///    the end of that line;
/// 3. `YAMLPrecheck` and `YAMLReader.convert` agree: a limit is reported exactly when the precheck found
///    one (convert's checks are a second line of defence that must never fire on their own);
/// 4. every document tree handed on is within `maxNesting` and the node budget.
@_cdecl("LLVMFuzzerTestOneInput")
public func loaderFuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size))
    let file = ManifestFile(path: "fuzz.yaml", contents: bytes)

    let clock = ContinuousClock()
    let start = clock.now
    let result = ManifestLoader.load([file], limits: limits)
    let elapsed = clock.now - start
    precondition(elapsed < .seconds(1), "loading took \(elapsed)")

    let lines = lineLengths(bytes)
    for diagnostic in result.diagnostics {
        _ = diagnostic.description
        guard let location = diagnostic.location else { continue }
        precondition(location.file == "fuzz.yaml", "\(diagnostic)")
        precondition(location.line >= 1 && location.line <= lines.count, "\(diagnostic) in a file of \(lines.count) lines")
        precondition(location.column >= 1 && location.column <= lines[location.line - 1] + 1,
                     "\(diagnostic) on a line of \(lines[location.line - 1]) characters")
    }

    guard let text = String(validating: bytes, as: UTF8.self), bytes.count <= limits.maxFileBytes else { return 0 }
    let budget = limits.nodeBudget(forFileOfSize: bytes.count)
    let deadline = YAMLReader.Deadline(budget: .seconds(60))
    let refused = YAMLPrecheck.problem(in: text, limits: limits, budget: budget, deadline: deadline)
    let (documents, diagnostics) = YAMLReader.documents(in: text, file: "fuzz.yaml", limits: limits)
    let reported = diagnostics.items.filter { d in limitMessages.contains { d.message.contains($0) } }
    if let refused {
        // Reported, unless Yams stopped at an error in an earlier document (a duplicate key).
        let expected = refused.diagnostic(file: "fuzz.yaml")
        precondition(diagnostics.items == [expected] || (diagnostics.items.count == 1 && reported.isEmpty),
                     "precheck: \(expected); reader: \(diagnostics.items)")
    } else {
        precondition(reported.isEmpty, "the precheck let through what convert refused: \(reported)")
    }

    var nodes = 0
    for document in documents {
        var pending = [(document.root, 1)]
        while let (node, depth) = pending.popLast() {
            nodes += 1
            switch node {
            case .scalar:
                continue
            case let .mapping(mapping):
                precondition(depth <= limits.maxNesting, "a tree \(depth) levels deep")
                nodes += mapping.entries.count
                pending += mapping.entries.map { ($0.value, depth + 1) }
            case let .sequence(sequence):
                precondition(depth <= limits.maxNesting, "a tree \(depth) levels deep")
                pending += sequence.items.map { ($0, depth + 1) }
            }
        }
    }
    precondition(nodes <= budget, "\(nodes) nodes over a budget of \(budget)")
    return 0
}

/// The length of each line in characters (Unicode scalars), with lines as libyaml counts them: CR LF, CR,
/// LF, NEL, LS and PS each end one (invalid UTF-8, reported at 1:1, is decoded with replacement characters).
func lineLengths(_ bytes: [UInt8]) -> [Int] {
    var lengths = [0]
    var previous: Unicode.Scalar?
    for scalar in String(decoding: bytes, as: UTF8.self).unicodeScalars {
        switch scalar {
        case "\n" where previous == "\r":
            break
        case "\n", "\r", "\u{85}", "\u{2028}", "\u{2029}":
            lengths.append(0)
        default:
            lengths[lengths.count - 1] += 1
        }
        previous = scalar
    }
    return lengths
}
