import DriftlessCore
@testable import DriftlessDashboard
import Foundation
import Testing

/// Pages and the topology for a fixed state: snapshots (set DRIFTLESS_UPDATE_SNAPSHOTS=1 to rewrite them,
/// then read the diff), what each user sees, escaping, determinism and scale.
@Suite struct DashboardRenderTests {
    static let snapshots = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Snapshots")

    func expectSnapshot(_ text: String, named name: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) throws {
        let url = Self.snapshots.appendingPathComponent(name)
        if ProcessInfo.processInfo.environment["DRIFTLESS_UPDATE_SNAPSHOTS"] == "1" {
            try text.write(to: url, atomically: true, encoding: .utf8)
            return
        }
        guard let recorded = try? String(contentsOf: url, encoding: .utf8) else {
            Issue.record("no snapshot \(name); run with DRIFTLESS_UPDATE_SNAPSHOTS=1 to record it", sourceLocation: sourceLocation)
            return
        }
        if recorded != text {
            let got = Self.snapshots.appendingPathComponent(name + ".new")
            try? text.write(to: got, atomically: true, encoding: .utf8)
            let lines = zip(recorded.split(separator: "\n", omittingEmptySubsequences: false), text.split(separator: "\n", omittingEmptySubsequences: false))
            let first = lines.enumerated().first { $0.element.0 != $0.element.1 }
            let where_: String = first.map { "line \($0.offset + 1): \($0.element.0) ≠ \($0.element.1)" } ?? "the length"
            Issue.record("\(name) differs from its snapshot (written to \(got.lastPathComponent)); first difference at \(where_)", sourceLocation: sourceLocation)
        }
    }

    // MARK: - Snapshots

    @Test func pagesAndTopologyMatchTheirSnapshots() throws {
        let view = DashboardView(grant: DashboardFixture.alice, input: DashboardFixture.input)
        let chrome = DashboardFixture.chrome(DashboardFixture.alice)
        try expectSnapshot(Pages.overview(view, chrome: chrome).markup, named: "overview.html")
        try expectSnapshot(try #require(Pages.project(view, name: "shop", chrome: chrome)).markup, named: "project-shop.html")
        try expectSnapshot(Pages.drift(view, chrome: chrome).markup, named: "drift.html")
        try expectSnapshot(Pages.topology(view, project: nil, chrome: chrome).markup, named: "topology.html")
        try expectSnapshot(Topology.svg(view, standalone: true).markup, named: "topology.svg")
        try expectSnapshot(Pages.signIn(error: "That token is not valid.").markup, named: "sign-in.html")
        try expectSnapshot(Assets.fullStylesheet, named: "dashboard.css")
        let journal = [
            DashboardInput.JournalLine(action: "import-image tiny@local", phase: "started", detail: nil, at: DashboardFixture.now.addingTimeInterval(-600)),
            DashboardInput.JournalLine(action: "import-image tiny@local", phase: "succeeded", detail: nil, at: DashboardFixture.now.addingTimeInterval(-599.2)),
            DashboardInput.JournalLine(action: "create-instance shop/web-1@local", phase: "started", detail: nil, at: DashboardFixture.now.addingTimeInterval(-599)),
            DashboardInput.JournalLine(action: "create-instance shop/web-1@local", phase: "retrying", detail: "connection reset", at: DashboardFixture.now.addingTimeInterval(-598.5)),
            DashboardInput.JournalLine(action: "create-instance shop/web-1@local", phase: "failed", detail: "no space left", at: DashboardFixture.now.addingTimeInterval(-597)),
            DashboardInput.JournalLine(action: "ports shop/web-1@local", phase: "skipped", detail: "depends on create-instance shop/web-1@local", at: DashboardFixture.now.addingTimeInterval(-597)),
        ]
        let plan = Plan(commit: "8f0c2d41aa0e5b1c9e7d3f6a2b4c8d0e1f2a3b4c", baseCommit: nil, actions: [
            PlannedAction(action: .create, id: ObjectID(.instance, project: "shop", "web-1"), host: "local",
                          source: DriftlessCore.SourceLocation(file: "cloud.yaml", line: 60, column: 1),
                          changes: [FieldChange(field: "memory", before: nil, after: "128MiB", effect: nil, sensitive: false)], note: nil),
        ], diagnostics: [])
        try expectSnapshot(Pages.run(DashboardFixture.input.runs[0], plan: plan, journal: journal, now: DashboardFixture.now, chrome: chrome).markup,
                           named: "run.html")
    }

    // MARK: - Who sees what

    /// Everything of ops that could leak into a page of shop's member, and the other way round.
    static let opsOnly = ["monitor", "mgmt", "10.20.0.10", "Monitoring.", "/projects/ops", "vlan 200", "carol"]
    static let shopOnly = ["web-1", "web-2", "old-1", "frontend", "backend", "10.10.0.11", "web-data", "/projects/shop", "vlan 100", "bob"]
    static let cloudWide = ["br-lab", "qemu:///system", "capacity", "Hosts</h2>"]

    @Test(arguments: [
        (DashboardFixture.bob, shopOnly, opsOnly + cloudWide),
        (DashboardFixture.carol, opsOnly, shopOnly + cloudWide),
    ])
    func aReaderOfOneProjectSeesNothingOfAnother(grant: AccessPolicy.Grant, mine: [String], others: [String]) throws {
        let view = DashboardView(grant: grant, input: DashboardFixture.input)
        let chrome = DashboardFixture.chrome(grant)
        let own = try #require(view.projects.first?.name)
        let pages = [
            Pages.overview(view, chrome: chrome).markup, Pages.drift(view, chrome: chrome).markup,
            Pages.topology(view, project: nil, chrome: chrome).markup, Topology.svg(view, standalone: true).markup,
            try #require(Pages.project(view, name: own, chrome: chrome)).markup,
        ]
        for text in others {
            for page in pages { #expect(!page.contains(text), "\(grant.user) sees \(text)") }
        }
        let all = pages.joined()
        for text in mine where text != "carol" && text != "bob" { #expect(all.contains(text), "\(grant.user) should see \(text)") }
        #expect(view.hosts == nil)
        #expect(view.projects.map(\.name) == [own])
        #expect(Pages.project(view, name: own == "shop" ? "ops" : "shop", chrome: chrome) == nil, "another project's page does not exist for them")
    }

    @Test func aCloudAdminSeesEverythingAndTheHosts() throws {
        let view = DashboardView(grant: DashboardFixture.alice, input: DashboardFixture.input)
        let page = Pages.overview(view, chrome: DashboardFixture.chrome(DashboardFixture.alice)).markup
        for text in ["/projects/ops", "/projects/shop", "br-lab", "qemu:///system", "3 open"] { #expect(page.contains(text), "\(text)") }
        let host = try #require(view.hosts?.first)
        #expect(host.vcpusUsed == 4 && host.vcpusLimit == 16, "used counts what the host runs; the limit is capacity times overcommit")
        #expect(host.reachable == true)
    }

    // MARK: - What the rows say

    @Test func instancesJoinTheCommitTheHostsAndTheDrift() throws {
        let view = DashboardView(grant: DashboardFixture.alice, input: DashboardFixture.input)
        let rows = Dictionary(uniqueKeysWithValues: view.instances.map { ("\($0.project)/\($0.name)", $0) })
        let web1 = try #require(rows["shop/web-1"])
        #expect(web1.power == "running" && web1.drift == nil && web1.host == "local")
        #expect(web1.nics.map(\.address) == ["10.10.0.11", "10.11.0.2"], "a fixed address, then the allocated one")
        let web2 = try #require(rows["shop/web-2"])
        #expect(web2.power == "stopped" && web2.drift?.text == "drifted: power, description")
        let monitor = try #require(rows["ops/monitor"])
        #expect(monitor.power == "not found" && monitor.drift?.type == .missing)
        let old = try #require(rows["shop/old-1"])
        #expect(!old.declared && old.drift?.type == .unexpected)
        #expect(view.roles["shop"]?.map(\.user) == ["bob"])
    }

    @Test func beforeAnyCheckPowerIsUnknownNotMissing() {
        var input = DashboardFixture.input
        input.hosts = []
        input.drift = nil
        let view = DashboardView(grant: DashboardFixture.alice, input: input)
        #expect(view.instances.allSatisfy { $0.power == "unknown" })
        #expect(Pages.overview(view, chrome: DashboardFixture.chrome(DashboardFixture.alice)).markup.contains("not checked"))
    }

    // MARK: - Escaping

    @Test func textFromOutsideNeverBecomesMarkup() throws {
        // A managed domain's identity is read from its metadata on the host: whoever edits it writes names.
        var input = DashboardFixture.input
        input.hosts = [DashboardFixture.host([DashboardFixture.observed("shop", DashboardFixture.hostile, power: .other("crashed</tspan>"))])]
        let view = DashboardView(grant: DashboardFixture.alice, input: input)
        let chrome = DashboardFixture.chrome(DashboardFixture.alice, path: "/drift?x=\"><script>")
        let pages = [Pages.overview(view, chrome: chrome), Pages.drift(view, chrome: chrome), Topology.svg(view, standalone: true),
                     try #require(Pages.project(view, name: "shop", chrome: chrome)), Pages.runs(DashboardFixture.input.runs, now: DashboardFixture.now, chrome: chrome),
                     Pages.planPreview(revision: "\"><script>alert(2)</script>", result: .unavailable("<b>bad</b>"), chrome: chrome)]
        for page in pages.map(\.markup) {
            #expect(!page.contains("<script>alert"))
            #expect(!page.contains("<b>bad"))
            #expect(!page.contains("\u{202E}"), "direction overrides are shown as escapes")
            #expect(page.components(separatedBy: "<script").count - 1 <= 1, "only the dashboard's own script tag")
        }
        #expect(pages[0].markup.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;\\u{202E}"))
        #expect(pages[2].markup.contains("&lt;script&gt;alert(1)"), "a name read from a host is escaped in the SVG")
        #expect(pages[2].markup.contains("crashed&lt;/tspan&gt;"))
    }

    @Test(arguments: [
        ("plain", "plain"), ("<a href='x'>", "&lt;a href=&#39;x&#39;&gt;"), ("a&b\"c", "a&amp;b&quot;c"),
        ("line\nbreak", "line\\nbreak"), ("\u{1B}[31mred", "\\u{1B}[31mred"),
    ])
    func escaping(input: String, expected: String) {
        #expect(HTML.escape(input) == expected)
        let html: HTML = "<p title=\"\(input)\">\(input)</p>"
        #expect(html.markup == "<p title=\"\(expected)\">\(expected)</p>")
    }

    @Test(arguments: [("web-1", "web-1"), ("a/b", "a%2Fb"), ("?x=1#y", "%3Fx%3D1%23y"), ("é", "%C3%A9"), ("javascript:", "javascript%3A")])
    func linksKeepNamesInTheirPathSegment(name: String, encoded: String) {
        #expect(HTML.pathComponent(name) == encoded)
    }

    // MARK: - Layout

    @Test func theSameStateDrawsTheSamePictureWhateverTheOrderObserved() {
        let input = DashboardFixture.input
        var shuffled = input
        shuffled.hosts = input.hosts.map { host in
            var host = host
            if case let .known(compute) = host.compute {
                host.compute = .known(ComputeObservation(instances: compute.instances.reversed(), unmanagedDomainNames: []))
            }
            return host
        }
        let a = Topology.svg(DashboardView(grant: DashboardFixture.alice, input: input), standalone: true)
        let b = Topology.svg(DashboardView(grant: DashboardFixture.alice, input: shuffled), standalone: true)
        #expect(a == b)
    }

    @Test func theStandaloneSVGCarriesItsStylesAsCSS() throws {
        let svg = Topology.svg(DashboardView(grant: DashboardFixture.alice, input: DashboardFixture.input), standalone: true).markup
        let style = try #require(svg.firstMatch(of: /<style>([^<]*)<\/style>/)).1
        #expect(style.contains("\n.t-lane{") && style.contains("@media (prefers-color-scheme: dark)"), "rules on their own lines, not escaped text")
        #expect(!style.contains("\\n") && !style.contains("&quot;"))
        #expect(svg.hasPrefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\""))
    }

    @Test func fiveHundredInstancesStayReadable() throws {
        let input = DashboardFixture.large(instances: 500)
        let view = DashboardView(grant: DashboardFixture.alice, input: input)
        let svg = Topology.svg(view, standalone: true).markup
        #expect(svg.components(separatedBy: "<g class=\"t-instance\">").count - 1 == 500, "one row per instance")
        #expect(svg.components(separatedBy: "<g class=\"t-host\">").count - 1 == 8, "one band per host")
        #expect(svg.components(separatedBy: " · drifted: power</tspan>").count - 1 == 50, "every drifted instance says so in words")
        // Rows never overlap: one row height each, and text stays at least 10.5px.
        let height = try #require(svg.firstMatch(of: /height="(\d+)"/).flatMap { Double($0.1) })
        #expect(height >= 500 * Topology.rowHeight)
        #expect(!svg.contains("font-size:9") && !svg.contains("font-size:8"))
    }
}
