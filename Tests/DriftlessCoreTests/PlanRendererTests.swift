import DriftlessCore
import Foundation
import Testing

@Suite("Plan rendering")
struct PlanRendererTests {
    static let canary = "CANARY-s3cr3t-user-data"

    static func plan(actions: Int = 3) -> Plan {
        var list: [PlannedAction] = [
            PlannedAction(action: .create, id: ObjectID(.instance, project: "shop", "web-1"), host: "local",
                          source: SourceLocation(file: "instances.yaml", line: 3, column: 1)),
            PlannedAction(action: .update, id: ObjectID(.instance, project: "shop", "web-2"), host: "local",
                          source: SourceLocation(file: "instances.yaml", line: 20, column: 1),
                          changes: [
                            FieldChange(field: "memory", before: "128MiB", after: "256MiB", effect: .reboot),
                            FieldChange(field: "userData", before: "old", after: canary, effect: .reboot, sensitive: true),
                          ]),
            PlannedAction(action: .delete, id: ObjectID(.volume, project: "ops", "old-data"), host: "local", source: nil),
        ]
        for i in 3..<actions {
            list.append(PlannedAction(action: .create, id: ObjectID(.volume, project: "p\(i % 50)", "vol-\(i)"), host: "local",
                                      source: SourceLocation(file: "volumes/\(i).yaml", line: 1, column: 1),
                                      changes: [FieldChange(field: "size", before: nil, after: "\(i)GiB")]))
        }
        return Plan(commit: "0123456789abcdef0123", actions: list)
    }

    @Test func headerCountsEveryKindOfAction() {
        #expect(Self.plan().header == "1 to create, 1 to update (1 at next boot), 0 to replace, 1 to delete; 1 volume destroyed")
    }

    @Test func textIsTerraformLikeAndHidesSensitiveValues() {
        let text = PlanRenderer.text(Self.plan())
        #expect(text.contains("project shop"))
        #expect(text.contains("  + instance web-1 on local  # instances.yaml:3"))
        #expect(text.contains("  ~ instance web-2 on local"))
        #expect(text.contains("      memory: 128MiB → 256MiB (at next boot)"))
        #expect(text.contains("      userData: (sensitive value changed) (at next boot)"))
        #expect(text.contains("  - volume old-data on local"))
        #expect(!text.contains(Self.canary))
        #expect(!text.contains("\u{1B}["), "no colour unless asked")
    }

    @Test func jsonHasTheDocumentedShapeAndNoSensitiveValue() throws {
        let json = try PlanRenderer.json(Self.plan())
        #expect(!json.contains(Self.canary))
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        let actions = object?["actions"] as? [[String: Any]]
        #expect(actions?.count == 3)
        let update = actions?[1]
        #expect(update?["action"] as? String == "update")
        #expect(update?["kind"] as? String == "Instance")
        #expect(update?["project"] as? String == "shop")
        #expect(update?["name"] as? String == "web-2")
        #expect(update?["host"] as? String == "local")
        #expect((update?["source"] as? [String: Any])?["line"] as? Int == 20)
        let changes = update?["changes"] as? [[String: Any]]
        #expect(changes?.first?["field"] as? String == "memory")
        #expect(changes?.first?["effect"] as? String == "reboot")
        #expect((object?["summary"] as? [String: Any])?["create"] as? Int == 1)
    }

    @Test func markdownLinksSourcesAndStaysUnderTheCommentLimit() {
        let small = PlanRenderer.markdown(Self.plan(), linkBase: "https://git.example.com/cloud/blob/abc")
        #expect(small.contains("<details><summary>project <code>shop</code>"))
        #expect(small.contains("[instances.yaml:20](https://git.example.com/cloud/blob/abc/instances.yaml#L20)"))
        #expect(!small.contains(Self.canary))
        let huge = PlanRenderer.markdown(Self.plan(actions: 5000))
        #expect(huge.count <= 60_000)
        #expect(huge.contains("4998 to create"), "the header survives folding")
    }
}
