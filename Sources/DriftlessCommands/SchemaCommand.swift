import ArgumentParser
import DriftlessCore
import Foundation

/// `driftless schema`: print or write the JSON Schemas of the manifest kinds.
struct SchemaCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schema",
        abstract: "Print the JSON Schema of each manifest kind, for editors and CI.",
        discussion: """
            With a kind, prints that kind's schema. Without one, prints an object of every kind's schema. \
            With --output-dir, writes one file per kind plus driftless.schema.json, which accepts any kind; \
            point yaml-language-server at it with a modeline:
              # yaml-language-server: $schema=../manifests/driftless.schema.json
            """
    )

    @Argument(help: ArgumentHelp("A kind: \(Kind.allCases.map(\.rawValue).joined(separator: ", ")).", valueName: "kind"))
    var kind: String?

    @Option(name: .long, help: ArgumentHelp("Write the schema files into this directory.", valueName: "dir"))
    var outputDir: String?

    @Flag(name: .long, help: "Print the Markdown manifest reference instead (docs/manifest-reference.md).")
    var markdown = false

    func run() async throws {
        if markdown {
            Terminal.write(ReferenceDocs.markdown())
            return
        }
        if let outputDir {
            try FileManager.default.createDirectory(atPath: outputDir, withIntermediateDirectories: true)
            for (name, text) in try JSONSchema.files() {
                try Data(text.utf8).write(to: URL(fileURLWithPath: outputDir).appendingPathComponent(name))
            }
            Terminal.write("wrote \(Kind.allCases.count + 1) schemas to \(outputDir)\n")
            return
        }
        if let kind {
            guard let parsed = Kind.allCases.first(where: { $0.rawValue.lowercased() == kind.lowercased() }) else {
                throw ValidationError("unknown kind \"\(kind)\"; kinds are \(Kind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            Terminal.write(try JSONSchema.render(JSONSchema.schema(for: parsed)))
            return
        }
        var all: [String: Any] = [:]
        for kind in Kind.allCases { all[kind.rawValue] = JSONSchema.schema(for: kind) }
        Terminal.write(try JSONSchema.render(all))
    }
}
