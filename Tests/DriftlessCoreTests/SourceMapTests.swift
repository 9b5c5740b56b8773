import DriftlessCore
import Testing

/// Where a field of a loaded object was written, from the flat source map kept instead of its tree.
@Suite("Source maps")
struct SourceMapTests {
    static let text = """
        apiVersion: driftless.dev/v1
        kind: Instance
        metadata:
          name: web
          project: shop
        spec:
          image: tiny
          memory:
          networks:
            - network: lan
            - {network: dmz, ip: 10.0.0.9}
          volumes: [data, logs]
        """

    static func source() throws -> ObjectSource {
        let parsed = YAMLReader.documents(in: Self.text + "\n", file: "web.yaml", limits: .init())
        let document = try #require(parsed.documents.first)
        return ObjectSource(file: "web.yaml", document: document.index, root: document.root)
    }

    @Test(arguments: [
        ("", 1, 1),                             // the document
        ("metadata.project", 5, 12),
        ("spec.image", 7, 10),
        ("spec.memory", 8, 3),                  // a null value is placed at its key
        ("spec.memory.size", 8, 3),             // and so is anything below it
        ("spec.networks[0].network", 10, 16),
        ("spec.networks[1].ip", 11, 26),
        ("spec.networks[1]", 11, 7),
        ("spec.networks[2].ip", 10, 5),         // past the list: the list
        ("spec.volumes[1]", 12, 19),
        ("spec.vcpus", 7, 3),                   // a missing field: its mapping
        ("metadata.name.first", 4, 9),          // below a scalar: the scalar
    ])
    func aFieldIsPlacedWhereItWasWritten(path: String, line: Int, column: Int) throws {
        let location = try Self.source().location(of: path)
        #expect((location.file, location.line, location.column) == ("web.yaml", line, column), "\(path)")
    }

    @Test func valuesAndMappingsAreTold() throws {
        let source = try Self.source()
        #expect(source.hasValue(at: "spec.image"))
        #expect(!source.hasValue(at: "spec.memory"))
        #expect(!source.hasValue(at: "spec.vcpus"))
        #expect(source.hasValue(at: "spec.networks[1]"))
        #expect(source.isMapping(at: "spec"))
        #expect(source.isMapping(at: "spec.networks[1]"))
        #expect(!source.isMapping(at: "spec.networks"))
        #expect(!source.isMapping(at: "spec.image"))
    }
}
