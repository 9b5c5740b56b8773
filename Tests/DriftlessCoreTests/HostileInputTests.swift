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

    @Test func aliasUsedAsKeyIsRefused() {
        let (diagnostics, elapsed) = load("""
            a: &a [x, y]
            b:
              *a : value
            """)
        #expect(diagnostics.items.contains { $0.message.contains("alias is used as a mapping key") && $0.location?.line == 3 })
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
}
