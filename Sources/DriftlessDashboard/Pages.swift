import DriftlessCore
import Foundation

/// The dashboard's pages, server-rendered: plain HTML forms and links, usable without JavaScript and by
/// keyboard (a skip link, real buttons and links, visible focus, tables with headers). Every status has
/// a word beside its colour. Each function takes what the grant may see (`DashboardView`) or values the
/// server filtered with the API's rules.
public enum Pages {
    /// The colour scheme: the system's, or one the user chose (a cookie; `/theme?set=`).
    public enum Theme: String, Sendable, CaseIterable {
        case auto, light, dark
    }

    /// What every signed-in page shows around its content.
    public struct Chrome: Sendable {
        public var user: String
        public var cloudAdmin: Bool
        public var canPlan: Bool
        /// The form token of the session's logout form (nil: a bearer request, which has no session).
        public var csrf: String?
        public var theme: Theme
        /// The page's own path and query, for the theme links to come back to.
        public var path: String

        public init(user: String, cloudAdmin: Bool, canPlan: Bool, csrf: String?, theme: Theme, path: String) {
            self.user = user
            self.cloudAdmin = cloudAdmin
            self.canPlan = canPlan
            self.csrf = csrf
            self.theme = theme
            self.path = path
        }
    }

    enum Section: String {
        case overview, topology, runs, drift, plan, project
    }

    // MARK: - Layout

    static func document(title: String, theme: Theme, body: HTML) -> HTML {
        let themeAttribute: HTML = theme == .auto ? .empty : " data-theme=\"\(theme.rawValue)\""
        return """
            <!doctype html>
            <html lang="en"\(themeAttribute)>
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(title) · Driftless</title>
            <link rel="stylesheet" href="/static/dashboard.css">
            <noscript><meta http-equiv="refresh" content="30"></noscript>
            </head>
            <body>
            \(body)
            </body>
            </html>

            """
    }

    static func layout(title: String, section: Section, chrome: Chrome, wide: Bool = false, content: HTML) -> HTML {
        func link(_ path: String, _ label: String, _ target: Section) -> HTML {
            "<a href=\"\(path)\"\(target == section ? HTML(" aria-current=\"page\"") : .empty)>\(label)</a>"
        }
        var nav = [link("/", "Overview", .overview), link("/topology", "Topology", .topology), link("/runs", "Runs", .runs),
                   link("/drift", "Drift", .drift)]
        if chrome.canPlan { nav.append(link("/plan", "Plan preview", .plan)) }
        let back = HTML.pathComponent(chrome.path)
        let themes = HTML.join(Theme.allCases.map { theme in
            "<a href=\"/theme?set=\(theme.rawValue)&amp;back=\(back)\" aria-current=\"\(theme == chrome.theme ? "true" : "false")\">\(theme.rawValue)</a>"
        })
        let logout: HTML = chrome.csrf.map { csrf in
            """
            <form method="post" action="/logout"><input type="hidden" name="csrf" value="\(csrf)"><button type="submit">Sign out</button></form>
            """
        } ?? .empty
        let role: HTML = chrome.cloudAdmin ? " <span class=\"muted\">(cloud admin)</span>" : .empty
        return document(title: title, theme: chrome.theme, body: """
            <a class="skip" href="#content">Skip to content</a>
            <header class="top">
            <a class="brand" href="/">drift<span>less</span></a>
            <nav class="main" aria-label="Sections">\(nav)</nav>
            <div class="who"><span id="live" class="live" role="status" aria-live="polite">static</span>
            <span class="themes" aria-label="Theme">\(themes)</span>
            <span>\(chrome.user)\(role)</span>\(logout)</div>
            </header>
            <main id="content"\(wide ? HTML(" class=\"wide\"") : .empty)>
            \(content)
            </main>
            <script src="/static/dashboard.js"></script>
            """)
    }

    // MARK: - Sign-in

    /// `GET /`: a token from `driftless token create`.
    public static func signIn(error: String? = nil, theme: Theme = .auto) -> HTML {
        let message: HTML = error.map { "<p class=\"error\" role=\"alert\">\($0)</p>" } ?? .empty
        return document(title: "Sign in", theme: theme, body: """
            <main id="content">
            <form class="signin" method="post" action="/login">
            <h1>Sign in to drift<span class="muted">less</span></h1>
            \(message)
            <label for="token">API token</label>
            <input id="token" name="token" type="password" autocomplete="off" required autofocus spellcheck="false">
            <p class="hint">Make one with <code>driftless token create --user NAME</code>. The session lasts 12 hours; you see the
            projects your user has a role in.</p>
            <button class="primary" type="submit">Sign in</button>
            </form>
            </main>
            """)
    }

    // MARK: - Overview

    public static func overview(_ view: DashboardView, chrome: Chrome) -> HTML {
        let input = view.input
        let commit: HTML = input.commit.map { commit in
            """
            <div class="card"><h3>Last applied commit</h3>
            <div class="big mono">\(Format.shortCommit(commit.id))</div>
            <div>\(commit.summary)</div>
            <div class="muted">\(commit.author)\(commit.date.map { HTML(" · \(time($0, now: input.now))") } ?? .empty)</div></div>
            """
        } ?? "<div class=\"card\"><h3>Last applied commit</h3><div class=\"big\">none yet</div><div class=\"muted\">nothing applied</div></div>"
        let drift = view.drift
        let driftCard: HTML = """
            <div class="card"><h3>Drift</h3>
            <div class="big">\(drift == nil ? HTML("<span class=\"badge idle\">not checked</span>") : view.driftItemCount == 0 ? HTML("<span class=\"badge ok\">in sync</span>") : HTML("<span class=\"badge bad\">\(view.driftItemCount) open</span>"))</div>
            <div class="muted">\(drift.map { HTML("checked \(time($0.checkedAt, now: input.now))") } ?? "no check yet")</div></div>
            """
        let declared = view.instances.filter(\.declared)
        let running = declared.filter { $0.power == "running" }.count
        let instancesCard: HTML = """
            <div class="card"><h3>Instances</h3><div class="big">\(running) <span class="muted">/ \(declared.count)</span></div>
            <div class="muted">running / declared in \(view.projects.count) project\(view.projects.count == 1 ? "" : "s")</div></div>
            """
        var cards = [commit, driftCard, instancesCard]
        if let hosts = view.hosts {
            let up = hosts.filter { $0.reachable == true }.count
            cards.append("""
                <div class="card"><h3>Hosts</h3><div class="big">\(up) <span class="muted">/ \(hosts.count)</span></div>
                <div class="muted">reachable at the last check</div></div>
                """)
        }
        var content: HTML = """
            <h1>Overview</h1>
            <p class="sub">\(input.repository ?? "")</p>
            <div class="grid">\(cards)</div>
            """
        if let hosts = view.hosts { content += hostsTable(hosts) }
        content += "<h2>Projects</h2>" + projectsTable(view.projects)
        content += "<h2>Open drift</h2>" + driftSummary(view, limit: 8)
        content += "<h2>Latest runs</h2>" + runsTable(Array(input.runs.prefix(8)), now: input.now)
        return layout(title: "Overview", section: .overview, chrome: chrome, content: content)
    }

    static func hostsTable(_ hosts: [DashboardView.HostRow]) -> HTML {
        let rows = hosts.map { host -> HTML in
            let status: HTML = switch host.reachable {
            case .some(true): "<span class=\"badge ok\">reachable</span>"
            case .some(false): "<span class=\"badge bad\">unreachable</span>"
            case .none: "<span class=\"badge idle\">not checked</span>"
            }
            let reason: HTML = host.unreachableReason.map { "<div class=\"hint\">\($0)</div>" } ?? .empty
            return """
                <tr><td><strong>\(host.name)</strong><div class="hint mono">\(host.libvirt)</div></td><td>\(status)\(reason)</td>
                <td class="num">\(host.instances)</td>
                <td>\(usage(Double(host.vcpusUsed), host.vcpusLimit.map(Double.init), "\(host.vcpusUsed)", host.vcpusLimit.map { "\($0)" }, unit: "vCPUs"))</td>
                <td>\(usage(Double(host.memoryUsed.bytes), host.memoryLimit.map { Double($0.bytes) }, bytes(host.memoryUsed), host.memoryLimit.map(bytes), unit: ""))</td>
                <td class="mono">\(host.bridge) <span class="muted">(\(host.datapath))</span></td></tr>
                """
        }
        return """
            <h2>Hosts</h2>
            <table><thead><tr><th scope="col">Host</th><th scope="col">Status</th><th scope="col" class="num">Instances</th>
            <th scope="col">vCPUs used</th><th scope="col">Memory used</th><th scope="col">Bridge</th></tr></thead>
            <tbody>\(rows)</tbody></table>
            """
    }

    static func usage(_ used: Double, _ limit: Double?, _ usedText: String, _ limitText: String?, unit: String) -> HTML {
        let suffix = unit.isEmpty ? "" : " \(unit)"
        guard let limit, let limitText, limit > 0 else {
            return "<span>\(usedText)\(suffix)</span> <span class=\"hint\">(no capacity declared)</span>"
        }
        return """
            <span class="bar"><meter min="0" max="\(limit)" high="\(limit * 0.85)" value="\(min(used, limit))">\(usedText)</meter>\
            <span>\(usedText) of \(limitText)\(suffix)</span></span>
            """
    }

    static func projectsTable(_ projects: [DashboardView.ProjectRow]) -> HTML {
        guard !projects.isEmpty else { return "<p class=\"empty\">No project you have a role in.</p>" }
        let rows = projects.map { p -> HTML in
            let drift: HTML = p.drifted == 0 ? "<span class=\"badge ok\">in sync</span>" : "<span class=\"badge bad\">\(p.drifted) drifted</span>"
            return """
                <tr><td><a href="/projects/\(HTML.pathComponent(p.name))">\(p.name)</a>\(p.description.map { HTML("<div class=\"hint\">\($0)</div>") } ?? .empty)</td>
                <td class="num">\(p.running) / \(p.instances)</td><td>\(drift)</td><td class="num">\(p.networks)</td><td class="num">\(p.volumes)</td></tr>
                """
        }
        return """
            <table><thead><tr><th scope="col">Project</th><th scope="col" class="num">Running / instances</th><th scope="col">Drift</th>
            <th scope="col" class="num">Networks</th><th scope="col" class="num">Volumes</th></tr></thead><tbody>\(rows)</tbody></table>
            """
    }

    static func driftSummary(_ view: DashboardView, limit: Int) -> HTML {
        guard let drift = view.drift else { return "<p class=\"empty\">No drift check has run yet.</p>" }
        guard !drift.items.isEmpty else {
            return "<p class=\"empty\"><span class=\"badge ok\">in sync</span> The hosts match commit \(Format.shortCommit(drift.commit)).</p>"
        }
        let items = drift.items.prefix(limit).map { item -> HTML in
            let name = item.project.map { "\($0)/\(item.name)" } ?? item.name
            let fields = item.fields.map(\.field).joined(separator: ", ")
            return """
                <li>\(driftBadge(item.type)) \(item.kind.lowercased()) <strong>\(name)</strong>\(item.host.map { HTML(" on \($0)") } ?? .empty)\
                \(fields.isEmpty ? .empty : HTML(" — <span class=\"mono\">\(fields)</span>"))\
                \(item.firstSeen.map { HTML(" <span class=\"muted\">since \(time($0, now: view.input.now))</span>") } ?? .empty)</li>
                """
        }
        let more: HTML = drift.items.count > limit ? "<li><a href=\"/drift\">and \(drift.items.count - limit) more…</a></li>" : .empty
        return "<ul class=\"plain\">\(items)\(more)</ul><p><a href=\"/drift\">All drift, field by field</a></p>"
    }

    static func driftBadge(_ type: DriftReport.ItemKind) -> HTML {
        switch type {
        case .drifted: "<span class=\"badge warn\">drifted</span>"
        case .missing: "<span class=\"badge bad\">missing</span>"
        case .unexpected: "<span class=\"badge warn\">unexpected</span>"
        case .unreachable: "<span class=\"badge bad\">unreachable</span>"
        }
    }

    static func runsTable(_ runs: [DashboardInput.Run], now: Date) -> HTML {
        guard !runs.isEmpty else { return "<p class=\"empty\">No runs yet.</p>" }
        let rows = runs.map { run -> HTML in
            let took: HTML = run.finishedAt.map { HTML("\(Format.duration($0.timeIntervalSince(run.startedAt)))") } ?? "—"
            return """
                <tr><td><a href="/runs/\(Int(run.id))">#\(Int(run.id))</a></td><td>\(run.kind)</td><td class="mono">\(Format.shortCommit(run.commit))</td>
                <td>\(time(run.startedAt, now: now))</td><td class="num">\(took)</td><td>\(resultBadge(run.result))</td>
                <td>\(run.summary ?? "")\(run.detail.map { HTML("<div class=\"hint\">\($0)</div>") } ?? .empty)</td></tr>
                """
        }
        return """
            <table><thead><tr><th scope="col">Run</th><th scope="col">Kind</th><th scope="col">Commit</th><th scope="col">Started</th>
            <th scope="col" class="num">Took</th><th scope="col">Result</th><th scope="col">Summary</th></tr></thead><tbody>\(rows)</tbody></table>
            """
    }

    static func resultBadge(_ result: String?) -> HTML {
        switch result {
        case "succeeded": "<span class=\"badge ok\">succeeded</span>"
        case "failed": "<span class=\"badge bad\">failed</span>"
        case nil: "<span class=\"badge idle\">running</span>"
        case let other?: "<span class=\"badge warn\">\(other)</span>"
        }
    }

    static func powerBadge(_ power: String) -> HTML {
        switch power {
        case "running": "<span class=\"badge ok\">running</span>"
        case "stopped": "<span class=\"badge idle\">stopped</span>"
        case "not found": "<span class=\"badge bad\">not found</span>"
        case "unknown": "<span class=\"badge idle\">unknown</span>"
        default: "<span class=\"badge warn\">\(power)</span>"
        }
    }

    static func time(_ date: Date, now: Date) -> HTML {
        "<time datetime=\"\(Format.iso(date))\" title=\"\(Format.time(date))\">\(Format.ago(date, now: now))</time>"
    }

    static func bytes(_ size: ByteSize) -> String {
        let gib = Double(size.bytes) / Double(1 << 30)
        if gib >= 1 { return "\(HTML.decimal(gib)) GiB" }
        return "\(size.bytes >> 20) MiB"
    }

    // MARK: - A project

    public static func project(_ view: DashboardView, name: String, chrome: Chrome) -> HTML? {
        guard let project = view.projects.first(where: { $0.name == name }) else { return nil }
        let instances = view.instances.filter { $0.project == name }
        let instanceRows = instances.map { i -> HTML in
            let addresses = HTML.join(i.nics.map { nic in
                "<div><span class=\"mono\">\(nic.address ?? "dhcp")</span> <span class=\"muted\">on \(nic.network)\(nic.vlan.map { HTML(" (vlan \($0))") } ?? .empty)</span></div>"
            })
            let drift: HTML = i.drift.map { "<span class=\"badge \(i.drift?.type == .missing ? "bad" : "warn")\">\($0.text)</span>" }
                ?? "<span class=\"badge ok\">in sync</span>"
            let declared: HTML = i.declared ? .empty : " <span class=\"hint\">(not in the commit)</span>"
            let wanted: HTML = i.declaredPower.map { $0 == i.power ? .empty : HTML("<div class=\"hint\">declared \($0)</div>") } ?? .empty
            return """
                <tr id="instance-\(HTML.pathComponent(i.name))"><td><strong>\(i.name)</strong>\(declared)</td><td>\(powerBadge(i.power))\(wanted)</td>
                <td>\(i.host ?? "—")</td><td>\(addresses)</td><td>\(i.volumes.isEmpty ? "—" : i.volumes.joined(separator: ", "))</td>
                <td class="num">\(i.vcpus)</td><td class="num">\(bytes(i.memory))</td><td>\(drift)</td></tr>
                """
        }
        let instancesTable: HTML = instances.isEmpty ? "<p class=\"empty\">No instances.</p>" : """
            <table><thead><tr><th scope="col">Instance</th><th scope="col">Power</th><th scope="col">Host</th><th scope="col">Addresses</th>
            <th scope="col">Volumes</th><th scope="col" class="num">vCPUs</th><th scope="col" class="num">Memory</th><th scope="col">Drift</th></tr></thead>
            <tbody>\(instanceRows)</tbody></table>
            """
        let volumes = view.volumes.filter { $0.project == name }
        let volumeTable: HTML = volumes.isEmpty ? "<p class=\"empty\">No volumes.</p>" : """
            <table><thead><tr><th scope="col">Volume</th><th scope="col" class="num">Size</th><th scope="col">Format</th><th scope="col">On removal</th>
            <th scope="col">Attached to</th><th scope="col">Drift</th></tr></thead><tbody>\(volumes.map { v -> HTML in
                """
                <tr><td><strong>\(v.name)</strong></td><td class="num">\(bytes(v.size))</td><td>\(v.format)</td><td>\(v.deletionPolicy)</td>
                <td>\(v.attachedTo.isEmpty ? "—" : v.attachedTo.joined(separator: ", "))</td>
                <td>\(v.drift.map { HTML("<span class=\"badge warn\">\($0.text)</span>") } ?? "<span class=\"badge ok\">in sync</span>")</td></tr>
                """
            })</tbody></table>
            """
        let networks = view.networks.filter { $0.project == name }
        let networkTable: HTML = networks.isEmpty ? "<p class=\"empty\">No networks.</p>" : """
            <table><thead><tr><th scope="col">Network</th><th scope="col">CIDR</th><th scope="col">Gateway</th><th scope="col" class="num">VLAN</th>
            <th scope="col" class="num">MTU</th><th scope="col" class="num">Instances</th></tr></thead><tbody>\(networks.map { n -> HTML in
                """
                <tr><td><strong>\(n.name)</strong></td><td class="mono">\(n.cidr)</td><td class="mono">\(n.gateway)</td><td class="num">\(n.vlan)</td>
                <td class="num">\(n.mtu.map { "\($0)" } ?? "—")</td><td class="num">\(n.instances)</td></tr>
                """
            })</tbody></table>
            """
        let roles = view.roles[name] ?? []
        let roleTable: HTML = roles.isEmpty ? "<p class=\"empty\">No user has a role here (cloud admins see every project).</p>" : """
            <table><thead><tr><th scope="col">User</th><th scope="col">Role</th><th scope="col">Status</th></tr></thead><tbody>\(roles.map { r -> HTML in
                "<tr><td>\(r.user)</td><td>\(r.role)</td><td>\(r.enabled ? HTML("<span class=\"badge ok\">enabled</span>") : HTML("<span class=\"badge idle\">disabled</span>"))</td></tr>"
            })</tbody></table>
            """
        let content: HTML = """
            <h1>Project \(name)</h1>
            <p class="sub">\(project.description ?? "")\(project.description == nil ? .empty : HTML(" · "))<a href="/topology?project=\(HTML.pathComponent(name))">topology</a></p>
            <div class="grid">
            <div class="card"><h3>Instances</h3><div class="big">\(project.running) <span class="muted">/ \(project.instances)</span></div><div class="muted">running / declared</div></div>
            <div class="card"><h3>Drift</h3><div class="big">\(project.drifted == 0 ? HTML("<span class=\"badge ok\">in sync</span>") : HTML("<span class=\"badge bad\">\(project.drifted) drifted</span>"))</div><div class="muted">instances that differ from the commit</div></div>
            </div>
            <h2>Instances</h2>\(instancesTable)
            <h2>Volumes</h2>\(volumeTable)
            <h2>Networks</h2>\(networkTable)
            <h2>Users and roles</h2>\(roleTable)
            """
        return layout(title: "Project \(name)", section: .project, chrome: chrome, content: content)
    }

    // MARK: - Runs

    public static func runs(_ runs: [DashboardInput.Run], now: Date, chrome: Chrome) -> HTML {
        layout(title: "Runs", section: .runs, chrome: chrome, content: """
            <h1>Runs</h1><p class="sub">Applies, heals and refusals, newest first.</p>\(runsTable(runs, now: now))
            """)
    }

    /// One step of a run's journal, folded from its lines.
    struct Step {
        var action: String
        var phase: String
        var started: Date?
        var finished: Date?
        var retries = 0
        var details: [String] = []
    }

    static func steps(_ journal: [DashboardInput.JournalLine]) -> [Step] {
        var order: [String] = []
        var steps: [String: Step] = [:]
        for line in journal {
            if steps[line.action] == nil { order.append(line.action) }
            var step = steps[line.action] ?? Step(action: line.action, phase: line.phase)
            step.phase = line.phase
            switch line.phase {
            case "started": step.started = step.started ?? line.at
            case "retrying": step.retries += 1
            default: step.finished = line.at
            }
            if let detail = line.detail, !detail.isEmpty { step.details.append(detail) }
            steps[line.action] = step
        }
        return order.compactMap { steps[$0] }
    }

    public static func run(_ run: DashboardInput.Run, plan: Plan?, journal: [DashboardInput.JournalLine], now: Date, chrome: Chrome) -> HTML {
        let planText: HTML = plan.map { "<pre class=\"plan\">\(PlanRenderer.text($0))</pre>" } ?? "<p class=\"empty\">This run recorded no plan.</p>"
        let steps = steps(journal)
        let stepRows = steps.map { step -> HTML in
            let took: HTML = (step.started.flatMap { s in step.finished.map { Format.duration($0.timeIntervalSince(s)) } }).map { HTML("\($0)") } ?? "—"
            let badge: HTML = switch step.phase {
            case "succeeded": "<span class=\"badge ok\">succeeded</span>"
            case "failed": "<span class=\"badge bad\">failed</span>"
            case "skipped": "<span class=\"badge warn\">skipped</span>"
            default: "<span class=\"badge idle\">\(step.phase)</span>"
            }
            return """
                <tr><td class="mono">\(step.action)</td><td>\(badge)\(step.retries > 0 ? HTML(" <span class=\"hint\">\(step.retries) retr\(step.retries == 1 ? "y" : "ies")</span>") : .empty)</td>
                <td>\(step.started.map { HTML("\(Format.time($0))") } ?? "—")</td><td class="num">\(took)</td>
                <td>\(HTML.join(step.details.map { "<div>\($0)</div>" }))</td></tr>
                """
        }
        let journalTable: HTML = steps.isEmpty ? "<p class=\"empty\">No steps of your projects ran.</p>" : """
            <table><thead><tr><th scope="col">Step</th><th scope="col">Result</th><th scope="col">Started</th><th scope="col" class="num">Took</th>
            <th scope="col">Detail</th></tr></thead><tbody>\(stepRows)</tbody></table>
            """
        let took: HTML = run.finishedAt.map { HTML(" · took \(Format.duration($0.timeIntervalSince(run.startedAt)))") } ?? .empty
        return layout(title: "Run #\(Int(run.id))", section: .runs, chrome: chrome, content: """
            <h1>Run #\(Int(run.id)) \(resultBadge(run.result))</h1>
            <p class="sub">\(run.kind) of <span class="mono">\(Format.shortCommit(run.commit))</span> · started \(time(run.startedAt, now: now))\(took)</p>
            \(run.summary.map { HTML("<p><strong>\($0)</strong></p>") } ?? .empty)\(run.detail.map { HTML("<p class=\"muted\">\($0)</p>") } ?? .empty)
            <h2>Plan</h2>\(planText)
            <h2>Journal</h2>\(journalTable)
            """)
    }

    // MARK: - Drift

    public static func drift(_ view: DashboardView, chrome: Chrome) -> HTML {
        let now = view.input.now
        guard let report = view.drift else {
            return layout(title: "Drift", section: .drift, chrome: chrome, content: "<h1>Drift</h1><p class=\"empty\">No drift check has run yet.</p>")
        }
        let items = report.items.map { item -> HTML in
            let name = item.project.map { "\($0)/\(item.name)" } ?? item.name
            let fields: HTML = item.fields.isEmpty ? .empty : """
                <table class="fields"><thead><tr><th scope="col">Field</th><th scope="col">Expected (commit)</th><th scope="col">Found (host)</th></tr></thead>
                <tbody>\(item.fields.map { f -> HTML in
                    f.sensitive ? "<tr><td>\(f.field)</td><td colspan=\"2\" class=\"muted\">(sensitive value changed)</td></tr>"
                        : "<tr><td>\(f.field)</td><td class=\"mono\">\(f.expected ?? "(none)")</td><td class=\"mono\">\(f.actual ?? "(none)")</td></tr>"
                })</tbody></table>
                """
            return """
                <div class="card"><p>\(driftBadge(item.type)) \(item.kind.lowercased()) <strong>\(name)</strong>\(item.host.map { HTML(" on \($0)") } ?? .empty)\
                \(item.source.map { HTML(" <span class=\"hint mono\">\($0.file):\($0.line)</span>") } ?? .empty)</p>
                <p class="muted">first seen \(item.firstSeen.map { time($0, now: now) } ?? "—")\(item.detail.map { HTML(" · \($0)") } ?? .empty)</p>
                \(fields)</div>
                """
        }
        let status: HTML = report.items.isEmpty
            ? "<p class=\"empty\"><span class=\"badge ok\">in sync</span> The hosts match the commit.</p>"
            : "<div class=\"grid\">\(items)</div>"
        return layout(title: "Drift", section: .drift, chrome: chrome, content: """
            <h1>Drift \(report.items.isEmpty ? HTML("<span class=\"badge ok\">in sync</span>") : HTML("<span class=\"badge bad\">\(report.items.count) open</span>"))</h1>
            <p class="sub">Against commit <span class="mono">\(Format.shortCommit(report.commit))</span>, checked \(time(report.checkedAt, now: now)).</p>
            \(status)
            """)
    }

    // MARK: - Plan preview

    /// What `/plan?rev=` found, already limited to the projects the user manages.
    public enum PlanPreview: Sendable {
        case planned(Plan)
        case invalid(commit: String?, diagnostics: [Diagnostic])
        case unavailable(String)
    }

    public static func planPreview(revision: String?, result: PlanPreview?, chrome: Chrome) -> HTML {
        let body: HTML = switch result {
        case nil: "<p class=\"hint\">Plans a branch, tag or commit against the hosts of the applied commit, without applying it: what <code>GET /api/v1/plan?rev=</code> returns, for the projects you manage.</p>"
        case let .planned(plan)?: "<pre class=\"plan\">\(PlanRenderer.text(plan))</pre>"
        case let .invalid(commit, diagnostics)?: """
            <p class="error">\(Format.shortCommit(commit)) does not validate; nothing was planned.</p>
            <pre class="plan">\(diagnostics.map(\.description).joined(separator: "\n"))</pre>
            """
        case let .unavailable(message)?: "<p class=\"error\">\(message)</p>"
        }
        return layout(title: "Plan preview", section: .plan, chrome: chrome, content: """
            <h1>Plan preview</h1>
            <form method="get" action="/plan" class="row">
            <div><label for="rev">Branch, tag or commit</label><input id="rev" name="rev" type="text" value="\(revision ?? "")" placeholder="main" spellcheck="false"></div>
            <button type="submit">Plan</button>
            </form>
            \(body)
            """)
    }

    // MARK: - Topology and errors

    public static func topology(_ view: DashboardView, project: String?, chrome: Chrome) -> HTML {
        let filters = HTML.join((["all"] + view.projects.map(\.name)).map { name in
            let selected = (project ?? "all") == name
            let href = name == "all" ? "/topology" : "/topology?project=\(HTML.pathComponent(name))"
            return "<a class=\"button\" href=\"\(href)\"\(selected ? HTML(" aria-current=\"page\"") : .empty)>\(name)</a>"
        }, separator: " ")
        let svgHref = project.map { "/topology.svg?project=\(HTML.pathComponent($0))" } ?? "/topology.svg"
        return layout(title: "Topology", section: .topology, chrome: chrome, wide: true, content: """
            <h1>Topology</h1>
            <p class="sub">Networks as lanes, instances wired to them with their addresses, grouped by host. <a href="\(svgHref)">Open the SVG</a>.</p>
            <p>\(filters)</p>
            <div class="legend"><span><span class="badge ok">running</span></span><span><span class="badge idle">stopped</span></span>
            <span><span class="badge warn">drifted</span></span><span><span class="badge bad">missing or unreachable</span></span></div>
            <div class="topology">\(Topology.svg(view, project: project))</div>
            """)
    }

    public static func message(title: String, _ text: String, chrome: Chrome) -> HTML {
        layout(title: title, section: .overview, chrome: chrome, content: "<h1>\(title)</h1><p class=\"empty\">\(text)</p>")
    }
}
