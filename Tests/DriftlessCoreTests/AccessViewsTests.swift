import DriftlessCore
import Testing

/// What each grant sees of plans, diagnostics and drift: one project's users never see another's.
@Suite("Access views")
struct AccessViewsTests {
    static func state() throws -> DesiredState {
        let result = Fixtures.load([:])
        try #require(result.isValid, "\(result.diagnostics.map(\.description))")
        return result.state
    }

    @Test func aLocationBelongsToTheProjectOfItsDocument() throws {
        let state = try Self.state()
        let scope = ProjectScope(state: state)
        let web = try #require(state.instances.first { $0.name == "web" })
        let mgmt = try #require(state.networks.first { $0.name == "mgmt" })
        let ops = try #require(state.projects.first { $0.name == "ops" })
        let alice = try #require(state.users.first)
        let tiny = try #require(state.images.first)
        let cases: [(DriftlessCore.SourceLocation?, String?)] = [
            (web.location(of: "spec.memory"), "shop"),
            (web.location(of: "metadata.name"), "shop"),
            (mgmt.location(of: "spec.vlan"), "ops"),
            (ops.location(of: "metadata.name"), "ops"),
            (alice.location(of: "spec.roles[0].project"), nil),
            (tiny.location(of: "spec.sha256"), nil),
            (DriftlessCore.SourceLocation(file: "other.yaml", line: 1, column: 1), nil),
            (nil, nil),
        ]
        for (location, project) in cases {
            #expect(scope.project(at: location) == project, "\(location.map { "\($0)" } ?? "no location")")
        }
    }

    @Test func diagnosticsOfAnInvalidCommitBelongToTheirDocumentAndAFileThatDoesNotParseIsCloudWide() throws {
        let files = [
            ManifestFile(path: "apps.yaml", text: """
                apiVersion: driftless.dev/v1
                kind: Network
                metadata: {name: extra, project: shop}
                spec: {cidr: 10.9.0.0/24, vlan: 99}
                ---
                apiVersion: driftless.dev/v1
                kind: Instance
                metadata: {name: broken, project: ops}
                spec: {image: tiny, vcpus: 1, memory: 2GB, rootDisk: 1GiB, networks: [{network: mgmt}]}
                """),
            ManifestFile(path: "half.yaml", text: """
                apiVersion: driftless.dev/v1
                kind: Network
                metadata: {name: fine, project: shop}
                spec: {cidr: 10.8.0.0/24, vlan: 98}
                ---
                apiVersion: driftless.dev/v1
                kind: Instance
                metadata: {name: x, project: ops
                spec: [
                """),
            ManifestFile(path: "base.yaml", text: Fixtures.base),
        ]
        let result = ManifestLoader.load(files)
        let scope = ProjectScope(files: files)
        let byFile = Dictionary(grouping: result.diagnostics.items.filter { $0.severity == .error }) { $0.location?.file ?? "" }
        let memory = try #require(byFile["apps.yaml"]?.first, "\(result.diagnostics.map(\.description))")
        #expect(scope.project(at: memory.location) == "ops", "\(memory)")
        let syntax = try #require(byFile["half.yaml"]?.first, "\(result.diagnostics.map(\.description))")
        #expect(scope.project(at: syntax.location) == nil, "a file that does not parse is cloud-wide: \(syntax)")
        #expect(scope.project(at: DriftlessCore.SourceLocation(file: "half.yaml", line: 2, column: 1)) == nil)
        #expect(scope.project(at: DriftlessCore.SourceLocation(file: "apps.yaml", line: 3, column: 1)) == "shop")
    }

    static func grants() throws -> (admin: AccessPolicy.Grant, shopReader: AccessPolicy.Grant, opsAdmin: AccessPolicy.Grant) {
        (AccessPolicy.Grant(user: "root", cloudAdmin: true, roles: [:]),
         AccessPolicy.Grant(user: "rita", cloudAdmin: false, roles: ["shop": .reader]),
         AccessPolicy.Grant(user: "otto", cloudAdmin: false, roles: ["ops": .admin, "shop": .reader]))
    }

    static let plan = Plan(commit: "c1", actions: [
        PlannedAction(action: .create, id: ObjectID(.instance, project: "shop", "web"), host: "local", source: nil),
        PlannedAction(action: .update, id: ObjectID(.instance, project: "ops", "db"), host: "local", source: nil),
        PlannedAction(action: .delete, id: ObjectID(.volume, project: "ops", "old"), host: "local", source: nil),
        PlannedAction(action: .create, id: ObjectID(.image, "tiny"), host: "local", source: nil),
    ], diagnostics: [
        Diagnostic(.error, at: DriftlessCore.SourceLocation(file: "shop.yaml", line: 3, column: 1), "shop collides"),
        Diagnostic(.error, at: DriftlessCore.SourceLocation(file: "ops.yaml", line: 3, column: 1), "ops collides"),
        Diagnostic(.error, at: nil, "no host to plan for"),
        Diagnostic(.warning, at: nil, "host node-9 could not be read"),
        Diagnostic(.warning, at: nil, "host node-8 could not be read"),
    ])
    static let projects: [String?] = ["shop", "ops", nil, nil, nil]

    @Test func plansShowOnlyTheActionsAndDiagnosticsOfTheGrantsProjects() throws {
        let (admin, shopReader, opsAdmin) = try Self.grants()
        let table: [(String, AccessPolicy.Grant, Bool, [String], [String])] = [
            ("cloud admin", admin, false, ["web", "db", "old", "tiny"],
             ["shop collides", "ops collides", "no host to plan for", "host node-9 could not be read", "host node-8 could not be read"]),
            ("reader of shop", shopReader, false, ["web"],
             ["shop collides", AccessPolicy.Grant.cloudWideSummary(count: 1, severity: .error),
              AccessPolicy.Grant.cloudWideSummary(count: 2, severity: .warning)]),
            ("admin of ops, reader of shop, seeing", opsAdmin, false, ["web", "db", "old"],
             ["shop collides", "ops collides", AccessPolicy.Grant.cloudWideSummary(count: 1, severity: .error),
              AccessPolicy.Grant.cloudWideSummary(count: 2, severity: .warning)]),
            ("admin of ops, reader of shop, planning", opsAdmin, true, ["db", "old"],
             ["ops collides", AccessPolicy.Grant.cloudWideSummary(count: 1, severity: .error),
              AccessPolicy.Grant.cloudWideSummary(count: 2, severity: .warning)]),
        ]
        for (who, grant, managedOnly, actions, diagnostics) in table {
            let visible = grant.visible(Self.plan, diagnosticProjects: Self.projects, managedOnly: managedOnly)
            #expect(visible.actions.map(\.id.name) == actions, "\(who)")
            #expect(visible.diagnostics.map(\.message) == diagnostics, "\(who)")
            #expect(visible.hasErrors, "\(who): a plan that cannot be applied still says so")
            #expect(visible.summary.create + visible.summary.update + visible.summary.delete == actions.count, "\(who): counts follow the filter")
        }
        let placeholder = try #require(shopReader.visible(Self.plan, diagnosticProjects: Self.projects).diagnostics.last)
        #expect(placeholder.location == nil && !placeholder.message.contains("node-"), "a cloud-wide diagnostic shows no content")
    }

    @Test func diagnosticsWithoutRecordedProjectsAreCloudWide() throws {
        let (_, shopReader, _) = try Self.grants()
        let visible = shopReader.visible(Self.plan.diagnostics, projects: nil)
        #expect(visible.map(\.message) == [AccessPolicy.Grant.cloudWideSummary(count: 3, severity: .error),
                                           AccessPolicy.Grant.cloudWideSummary(count: 2, severity: .warning)])
        #expect(shopReader.visible(Self.plan.diagnostics, projects: ["shop"]).first?.message == "shop collides",
                "a shorter list leaves the rest cloud-wide")
    }

    @Test func driftReportsShowOnlyTheGrantsProjects() throws {
        let (admin, shopReader, _) = try Self.grants()
        let hosts = [HostObservation(target: HostTarget(DesiredState.defaultHost), compute: .unknown(reason: "down"),
                                     storage: .unknown(reason: "down"), ports: .unknown(reason: "down"))]
        let report = DriftReport(plan: Self.plan, hosts: hosts)
        #expect(admin.visible(report).items.count == 5)
        #expect(shopReader.visible(report).items.map(\.name) == ["web"], "no other project's item, no host")
    }
}
