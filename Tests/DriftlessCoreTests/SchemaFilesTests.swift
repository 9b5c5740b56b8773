import DriftlessCore
import Foundation
import Testing

/// The JSON Schemas shipped in `manifests/` must be exactly what the model generates.
@Suite("Schemas")
struct SchemaFilesTests {
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func shippedSchemasMatchTheModel() throws {
        let directory = Self.repositoryRoot.appendingPathComponent("manifests")
        for (name, contents) in try JSONSchema.files() {
            let shipped = try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
            #expect(shipped == contents, "manifests/\(name) is out of date: run `driftless schema --output-dir manifests`")
        }
        let shippedNames = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".json") }
        #expect(Set(shippedNames) == Set(try JSONSchema.files().map(\.name)))
    }

    @Test func manifestReferenceMatchesTheModel() throws {
        let url = Self.repositoryRoot.appendingPathComponent("docs/manifest-reference.md")
        let shipped = try String(contentsOf: url, encoding: .utf8)
        #expect(shipped == ReferenceDocs.markdown(), "docs/manifest-reference.md is out of date: run `driftless schema --markdown > docs/manifest-reference.md`")
    }

    @Test func everySpecFieldIsInTheSchema() throws {
        let schema = JSONSchema.schema(for: .instance)
        let spec = (schema["properties"] as? [String: Any])?["spec"] as? [String: Any]
        let properties = spec?["properties"] as? [String: Any]
        #expect(Set(properties?.keys.map { $0 } ?? []) == Set(Kind.instance.specSchema.map(\.name)))
        #expect((spec?["required"] as? [String]).map(Set.init) == ["image", "vcpus", "memory", "rootDisk"])
    }

    @Test func exampleLabIsValidAndComplete() throws {
        let lab = Self.repositoryRoot.appendingPathComponent("examples/lab").path
        let (files, readDiagnostics) = try DirectorySource.read(lab, displayPrefix: "examples/lab")
        #expect(readDiagnostics.isEmpty)
        let result = ManifestLoader.load(files)
        #expect(result.isValid, "\(result.diagnostics.map(\.description))")
        let state = result.state
        #expect(state.hosts.count == 1 && !state.usesDefaultHost)
        #expect(state.projects.count == 2)
        #expect(state.users.count == 2)
        #expect(state.images.count == 1)
        #expect(state.networks.count == 2)
        #expect(state.instances.count == 3)
        #expect(state.volumes.count == 2)
        // The modeline that lets editors complete and check manifests.
        let text = try String(contentsOfFile: lab + "/instances.yaml", encoding: .utf8)
        #expect(text.hasPrefix("# yaml-language-server: $schema=../../manifests/driftless.schema.json"))
    }
}
