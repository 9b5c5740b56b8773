import DriftlessCore
import Foundation
import Testing

/// Hostile YAML is rejected quickly, with a clear error, and without unbounded memory.
@Suite("Hostile input")
struct HostileInputTests {
    /// Loads one file alone and returns its diagnostics and how long loading took.
    func load(_ text: String) -> (Diagnostics, Duration) {
        let clock = ContinuousClock()
        var result: ManifestLoader.Result?
        let elapsed = clock.measure {
            result = ManifestLoader.load([ManifestFile(path: "evil.yaml", text: text)])
        }
        return (result?.diagnostics ?? Diagnostics(), elapsed)
    }

    @Test func billionLaughsIsRefusedWithinASecond() {
        var yaml = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
        for i in 1...9 {
            let refs = Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ")
            yaml += "a\(i): &a\(i) [\(refs)]\n"
        }
        let (diagnostics, elapsed) = load(yaml)
        let error = diagnostics.first { $0.message.contains("expands to more than") }
        #expect(error != nil, "\(diagnostics.map(\.description))")
        #expect(error?.location?.file == "evil.yaml")
        #expect(elapsed < .seconds(1))
    }

    @Test func modestAliasUseIsAllowed() {
        let yaml = """
            apiVersion: driftless.dev/v1
            kind: Project
            metadata: {name: a, labels: &common {team: web, env: prod}}
            ---
            apiVersion: driftless.dev/v1
            kind: Project
            metadata: {name: b, labels: *common}
            """
        let result = ManifestLoader.load([ManifestFile(path: "ok.yaml", text: yaml)])
        #expect(result.isValid, "\(result.diagnostics.map(\.description))")
        #expect(result.state.projects.map(\.meta.labels["team"]) == ["web", "web"])
    }

    @Test func hugeFileIsRefusedBeforeParsing() {
        let line = "# " + String(repeating: "x", count: 1000) + "\n"
        let yaml = String(repeating: line, count: 5 * 1024)  // ~5 MiB
        let (diagnostics, elapsed) = load(yaml)
        #expect(diagnostics.items.contains { $0.message.contains("manifest files may be at most") && $0.location?.line == 1 })
        #expect(elapsed < .seconds(1))
    }

    @Test func deepNestingIsRefused() {
        let depth = 100_000
        let yaml = "a: " + String(repeating: "[", count: depth) + String(repeating: "]", count: depth) + "\n"
        let (diagnostics, elapsed) = load(yaml)
        #expect(diagnostics.items.contains { $0.message.contains("nesting is deeper than") }, "\(diagnostics.map(\.description))")
        #expect(elapsed < .seconds(1))
    }

    @Test func deepBlockNestingIsRefused() {
        var yaml = ""
        for depth in 0..<2000 { yaml += String(repeating: " ", count: depth) + "k:\n" }
        let (diagnostics, elapsed) = load(yaml)
        #expect(diagnostics.items.contains { $0.message.contains("nesting is deeper than") }, "\(diagnostics.map(\.description))")
        #expect(elapsed < .seconds(1))
    }

    @Test func invalidUTF8IsAnError() {
        let result = ManifestLoader.load([ManifestFile(path: "bin.yaml", contents: [0x6b, 0x3a, 0x20, 0xff, 0xfe, 0x0a])])
        #expect(result.diagnostics.items.contains { $0.message == "file is not valid UTF-8" && $0.location?.file == "bin.yaml" })
    }

    @Test func manyDocumentsInOneFileAreAllRead() {
        let doc = { (i: Int) in "apiVersion: driftless.dev/v1\nkind: Project\nmetadata: {name: p\(i)}\n" }
        let yaml = (0..<500).map(doc).joined(separator: "---\n")
        let result = ManifestLoader.load([ManifestFile(path: "many.yaml", text: yaml)])
        #expect(result.isValid)
        #expect(result.state.projects.count == 500)
    }
    // MARK: Bounded work: one error each, with its exact position, well under a second.

    /// The single diagnostic of loading `text` alone, and how long loading took.
    func onlyError(_ text: String, limits: ManifestLimits = .default) -> (Diagnostic?, Duration) {
        let clock = ContinuousClock()
        var result: ManifestLoader.Result?
        let elapsed = clock.measure {
            result = ManifestLoader.load([ManifestFile(path: "evil.yaml", text: text)], limits: limits)
        }
        let errors = result?.diagnostics.items.filter { $0.severity == .error } ?? []
        return (errors.count == 1 ? errors[0] : nil, elapsed)
    }

    struct HostileCase: Sendable, CustomTestStringConvertible {
        var name: String
        var text: String
        var message: String
        var line: Int
        var column: Int
        var testDescription: String { name }
    }

    static let hostileCases: [HostileCase] = [
        HostileCase(
            name: "30 anchors 900 levels deep, each holding the previous alias (was SIGSEGV)",
            text: HostileYAML.deepAnchors(count: 30, depth: 900),
            message: "YAML nesting is deeper than 64 levels", line: 1, column: 72),
        HostileCase(
            name: "anchors 40 levels deep, each holding the previous alias: too deep only once expanded",
            text: HostileYAML.deepAnchors(count: 3, depth: 40),
            message: "the alias *a0 nests the document deeper than 64 levels", line: 2, column: 49),
        HostileCase(
            name: "alias bomb used inside a complex key (was minutes): the anchors alone exceed the budget",
            text: HostileYAML.complexKeyBomb(levels: 8, width: 8),
            message: "the document expands to more than 10445 nodes through aliases (an alias bomb?)", line: 5, column: 15),
        HostileCase(
            name: "alias bomb defined inside a complex key",
            text: HostileYAML.bombInsideKey(levels: 8, width: 8),
            message: "a list is used as a mapping key; Driftless manifests do not allow that", line: 1, column: 3),
        HostileCase(
            name: "small anchors, then a list of their aliases as a key",
            text: HostileYAML.complexKeyBomb(levels: 2, width: 3),
            message: "a list is used as a mapping key; Driftless manifests do not allow that", line: 4, column: 3),
        HostileCase(
            name: "a list as a key, no aliases",
            text: "apiVersion: driftless.dev/v1\nkind: Project\nmetadata:\n  ? [a, b]\n  : x\n",
            message: "a list is used as a mapping key; Driftless manifests do not allow that", line: 4, column: 5),
        HostileCase(
            name: "a flow mapping as an implicit key",
            text: "metadata:\n  {name: a}: x\n",
            message: "a mapping is used as a mapping key; Driftless manifests do not allow that", line: 2, column: 3),
        HostileCase(
            name: "an alias as a block key",
            text: "a: &a [x, y]\nb:\n  *a : value\n",
            message: "an alias is used as a mapping key; Driftless manifests do not allow that", line: 3, column: 3),
        HostileCase(
            name: "an alias as a key inside a flow mapping",
            text: "a: &a [x, y]\nb: {c: 1, *a : value}\n",
            message: "an alias is used as a mapping key; Driftless manifests do not allow that", line: 2, column: 11),
        HostileCase(
            name: "an alias inside a flow key",
            text: "a: &a [x, y]\nb: {[*a, *a]: value}\n",
            message: "a list is used as a mapping key; Driftless manifests do not allow that", line: 2, column: 5),
        HostileCase(
            name: "an alias as an explicit key",
            text: "a: &a [x, y]\n? *a\n: value\n",
            message: "an alias is used as a mapping key; Driftless manifests do not allow that", line: 2, column: 3),
        HostileCase(
            name: "65 levels of flow nesting",
            text: "a: " + String(repeating: "[", count: 65) + String(repeating: "]", count: 65) + "\n",
            message: "YAML nesting is deeper than 64 levels", line: 1, column: 67),
        HostileCase(
            name: "65 levels of block nesting",
            text: (0..<65).map { String(repeating: " ", count: $0) + "k:\n" }.joined() + String(repeating: " ", count: 65) + "v\n",
            message: "YAML nesting is deeper than 64 levels", line: 65, column: 65),
        HostileCase(
            // libyaml's own limit (1000) counts the brackets its scanner has read ahead, so it stops at the
            // second bracket, before Driftless's limit is reached.
            name: "100,000 levels of flow nesting",
            text: "a: " + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000) + "\n",
            message: "YAML nesting is deeper than 64 levels", line: 1, column: 5),
        HostileCase(
            name: "billion laughs",
            text: HostileYAML.billionLaughs,
            message: "the document expands to more than 10590 nodes through aliases (an alias bomb?)", line: 4, column: 50),
    ]

    @Test(arguments: hostileCases)
    func hostileFileIsOneLocatedErrorWellUnderASecond(_ hostile: HostileCase) {
        let (error, elapsed) = onlyError(hostile.text)
        #expect(error?.message == hostile.message)
        #expect(error?.location == SourceLocation(file: "evil.yaml", line: hostile.line, column: hostile.column),
                "\(error?.description ?? "no single error")")
        #expect(elapsed < .milliseconds(500))
    }

    static let noTime = ManifestLimits(parseTimeBudget: .zero, parseTimePerMiB: .zero)

    @Test func parseTimeBudgetStopsTheParseWhereTheClockRanOut() {
        // The clock is read every 1,024 events; with no time at all the first read stops the parse. Events
        // 1-3 open the stream, the document and the list, so event 1,024 is the 1,021st item.
        let yaml = String(repeating: "- x\n", count: 5000)
        let (error, elapsed) = onlyError(yaml, limits: Self.noTime)
        #expect(error?.message == "reading the file took longer than its time budget of 0s; it was stopped here")
        #expect(error?.hint == "Driftless allows 0s plus 0s per MiB; simplify or split the file")
        #expect(error?.location == SourceLocation(file: "evil.yaml", line: 1021, column: 3), "\(error?.description ?? "")")
        #expect(elapsed < .milliseconds(500))
    }

    @Test func parseTimeBudgetAlsoBoundsTheExpansionOfAliases() {
        // Few events (the precheck never reads its clock) but thousands of nodes once expanded: convert
        // reads the clock whenever the node budget (10,321 here) reaches a multiple of 1,024, at the 81st
        // node: the 25th x of the first expansion of *a, located where a defines it.
        let yaml = "a: &a [" + Array(repeating: "x", count: 50).joined(separator: ", ") + "]\n"
            + "b: [" + Array(repeating: "*a", count: 40).joined(separator: ", ") + "]\n"
        let (error, elapsed) = onlyError(yaml, limits: Self.noTime)
        #expect(error?.message == "reading the file took longer than its time budget of 0s; it was stopped here")
        #expect(error?.location == SourceLocation(file: "evil.yaml", line: 1, column: 80), "\(error?.description ?? "")")
        #expect(elapsed < .milliseconds(500))
    }

    @Test func parseTimeBudgetGrowsWithTheFile() {
        #expect(ManifestLimits.default.parseTimeBudget(forFileOfSize: 0) == .seconds(1))
        #expect(ManifestLimits.default.parseTimeBudget(forFileOfSize: 4 << 20) == .seconds(5))
        #expect(ManifestLimits.default.parseTimeBudget(forFileOfSize: 3 << 19) == .milliseconds(2500))
    }

    /// Found by the fuzzer: at the end of a file without a final line break libyaml counts one more line.
    @Test(arguments: [
        ("a: b\nc", 2, 2), ("a: b\r\nc", 2, 2), ("a: b\rc", 2, 2), ("a: b\u{2028}c", 2, 2), ("a: b\nc\n", 3, 1),
    ])
    func syntaxErrorAtTheEndPointsIntoTheFile(_ text: String, line: Int, column: Int) {
        let (error, _) = onlyError(text)
        #expect(error?.message == "YAML syntax error: could not find expected ':' while scanning a simple key started at line 2, column 1")
        #expect(error?.location == SourceLocation(file: "evil.yaml", line: line, column: column), "\(error?.description ?? "")")
    }

    /// Found by the fuzzer in a 30-minute run: the empty value of an explicit key on a last line without a
    /// line break is marked by libyaml on the line after; the schema's error about it points into the file.
    @Test(arguments: [("? apiVersion               ", 1, 28), ("kind: Host\n? apiVersion", 2, 13), ("? apiVersion\n", 2, 1)])
    func aNodeMarkedPastTheEndIsPlacedAtTheEnd(_ text: String, line: Int, column: Int) {
        let (diagnostics, _) = load(text)
        let located = diagnostics.items.filter { $0.description.contains("apiVersion: expected a string, got null") }
        #expect(!located.isEmpty, "\(diagnostics.map(\.description))")
        for diagnostic in located {
            #expect(diagnostic.location?.line == line && diagnostic.location?.column == column, "\(diagnostic)")
        }
    }

    /// Found by the fuzzer: a reader error is located with libyaml's line breaks (here NEL), not only LF.
    @Test func readerErrorAfterAnUnusualLineBreakPointsIntoTheFile() {
        let (error, _) = onlyError("!|\u{85}\u{0}\u{0}0/*\u{0}")
        #expect(error?.message == "cannot read the file: control characters are not allowed")
        #expect(error?.location == SourceLocation(file: "evil.yaml", line: 2, column: 1), "\(error?.description ?? "")")
    }

    /// Found by the fuzzer: the second of two duplicate keys is found on lines numbered as libyaml numbers
    /// them (a line separator, U+2028, ends a line).
    @Test func duplicateKeyAfterALineSeparatorIsLocatedOnItsLine() {
        let (error, _) = onlyError("a:\n  k: 1\u{2028}\n  k: 2\n")
        #expect(error?.message == "duplicate key \"k\" (first at line 2)")
        #expect(error?.location == SourceLocation(file: "evil.yaml", line: 4, column: 3), "\(error?.description ?? "")")
    }

    @Test func documentsBeforeARefusedOneAreStillRead() {
        let yaml = """
            apiVersion: driftless.dev/v1
            kind: Project
            metadata: {name: first}
            ---
            a: &a [x]
            ? [*a]
            : y
            ---
            apiVersion: driftless.dev/v1
            kind: Project
            metadata: {name: after}
            """
        let result = ManifestLoader.load([ManifestFile(path: "evil.yaml", text: yaml)])
        #expect(result.state.projects.map(\.id.name) == ["first"])
        #expect(result.diagnostics.items.map(\.description)
                == ["evil.yaml:6:3: error: a list is used as a mapping key; Driftless manifests do not allow that (mapping keys are plain strings)"])
    }

    @Test func hostileFilesStayWithinA512KiBStack() throws {
        // The loader parses files on Dispatch's worker threads, whose stacks may be this small; every
        // recursive stage (Yams' composer, the conversion, the schema checker) runs here on one of them.
        let files = [
            HostileYAML.deepAnchors(count: 30, depth: 900),
            HostileYAML.bombInsideKey(levels: 8, width: 8),
            // As deep as a file may nest, through an alias: every recursive stage runs to the limit.
            "a: &a " + String(repeating: "[", count: 32) + "x" + String(repeating: "]", count: 32) + "\n"
                + "spec: " + String(repeating: "{k: ", count: 31) + "*a" + String(repeating: "}", count: 31) + "\n",
        ]
        let done = DispatchSemaphore(value: 0)
        let box = ResultBox()
        let thread = Thread {
            box.diagnostics = files.enumerated().map { i, text in
                let (documents, diagnostics) = YAMLReader.documents(in: text, file: "f\(i).yaml")
                return diagnostics.items + documents.flatMap { ManifestDecoder.decode($0, file: "f\(i).yaml").diagnostics.items }
            }
            done.signal()
        }
        thread.stackSize = 512 << 10
        thread.start()
        done.wait()
        let diagnostics = box.diagnostics
        try #require(diagnostics.count == 3)
        #expect(diagnostics[0].map(\.message) == ["YAML nesting is deeper than 64 levels"])
        #expect(diagnostics[1].map(\.message) == ["a list is used as a mapping key; Driftless manifests do not allow that"])
        #expect(diagnostics[2].map(\.message).contains("unknown field \"a\""), "\(diagnostics[2])")
        #expect(!diagnostics[2].contains { $0.message.contains("nest") })
    }

    final class ResultBox: @unchecked Sendable {
        var diagnostics: [[Diagnostic]] = []
    }

    @Test func textThatOnlyLooksLikeHostileKeysStillLoads() {
        // Block scalars, quoted strings and comments hold any text; only real keys count. Anchors and
        // aliases as values are fine.
        let yaml = Fixtures.instance("tricky", spec: """
              image: tiny
              vcpus: 1
              memory: &mem 256MiB
              rootDisk: 1GiB
              networks: [{network: frontend, ip: 10.0.0.11}]
              users: &people [alice]
              userData: |
                #!/bin/sh
                [ -f /etc/x ] && echo "? y"
                ? [*a, *b]
                : value
                [a, b]: c
                {k: v}: w
                *x: y
                &a [*a]
                - *mem: 1
            """) + """

            ---
            apiVersion: driftless.dev/v1
            kind: Instance
            metadata: {name: tricky-2, project: shop, labels: {note: "*x: y ? [a]: b"}}  # ? [*a]: b
            spec:
              image: tiny
              vcpus: 1
              memory: *mem
              rootDisk: 1GiB
              users: *people
              userData: >-
                ? [*a, *a]
                *a: b
            """
        let result = Fixtures.load(["tricky.yaml": yaml])
        #expect(result.diagnostics.isEmpty, "\(result.diagnostics.map(\.description))")
        #expect(result.state.instances.first { $0.id.name == "tricky" }?.spec.userData?.contains("? [*a, *b]") == true)
        #expect(result.state.instances.first { $0.id.name == "tricky-2" }?.spec.memory == ByteSize.mebibytes(256))
    }
}

/// Generators of the hostile files, shared with the fuzz corpus (`Tests/Fuzz/corpus`).
enum HostileYAML {
    /// `count` anchors, each `depth` flow lists deep around the previous anchor's alias.
    static func deepAnchors(count: Int, depth: Int) -> String {
        (0..<count).map { i in
            "a\(i): &a\(i) " + String(repeating: "[", count: depth) + (i == 0 ? "x" : "*a\(i - 1)")
                + String(repeating: "]", count: depth) + "\n"
        }.joined()
    }

    /// Anchors a1…aN, each a list of `width` aliases of the one before, then `? [*aN, *aN]` as a key.
    static func complexKeyBomb(levels: Int, width: Int) -> String {
        var yaml = "a0: &a0 [" + Array(repeating: "x", count: width).joined(separator: ", ") + "]\n"
        for i in 1...levels {
            yaml += "a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: width).joined(separator: ", ") + "]\n"
        }
        return yaml + "? [*a\(levels), *a\(levels)]\n: boom\n"
    }

    /// The same anchors, all defined inside the key: `? [&a0 [x, …], &a1 [*a0, …], …]`.
    static func bombInsideKey(levels: Int, width: Int) -> String {
        var items = ["&a0 [" + Array(repeating: "x", count: width).joined(separator: ", ") + "]"]
        for i in 1...levels {
            items.append("&a\(i) [" + Array(repeating: "*a\(i - 1)", count: width).joined(separator: ", ") + "]")
        }
        return "? [" + items.joined(separator: ",\n   ") + "]\n: boom\n"
    }

    static var billionLaughs: String {
        var yaml = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
        for i in 1...9 {
            yaml += "a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ") + "]\n"
        }
        return yaml
    }
}
