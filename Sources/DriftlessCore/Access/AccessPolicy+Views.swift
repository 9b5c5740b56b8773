/// What a grant may see of plans, diagnostics and drift reports: every answer of the HTTP API passes
/// through one of these, so the rules live in one place (and are tested without a server).
///
/// - An object, action or drift item is seen by the users with a role in its project; cloud-wide ones
///   (hosts, public images) by cloud admins only.
/// - A diagnostic belongs to the project of the document it is in (`ProjectScope`): users who see that
///   project see it whole; others never see it. A cloud-wide diagnostic (no location, a Host or User
///   document, a file that does not parse) is whole for cloud admins; other users get only how many
///   there are of each severity, so a plan that will fail still says so.
/// - Counts and summaries (a plan's header and summary, drift item counts) are computed after
///   filtering, over what the grant sees.
extension AccessPolicy.Grant {
    /// Whether the grant sees a diagnostic of `project` whole (nil: cloud-wide).
    public func seesDiagnostic(of project: String?) -> Bool {
        cloudAdmin || (project.map { roles[$0] != nil } ?? false)
    }

    /// `diagnostics` as the grant may see them. `projects` gives each one's project, in order (nil, or
    /// an entry missing: cloud-wide). `managedOnly` limits them to the projects the grant manages (the
    /// plan endpoint shows only those projects' actions).
    public func visible(_ diagnostics: [Diagnostic], projects: [String?]?, managedOnly: Bool = false) -> [Diagnostic] {
        if cloudAdmin { return diagnostics }
        var shown: [Diagnostic] = []
        var hidden: [Diagnostic.Severity: Int] = [:]
        for (index, diagnostic) in diagnostics.enumerated() {
            let project = (projects.flatMap { index < $0.count ? $0[index] : nil }) ?? nil
            if let project {
                if managedOnly ? canManage(project: project) : canSee(project: project) { shown.append(diagnostic) }
            } else {
                hidden[diagnostic.severity, default: 0] += 1
            }
        }
        for severity in [Diagnostic.Severity.error, .warning] {
            guard let count = hidden[severity] else { continue }
            shown.append(Diagnostic(severity, at: nil, Self.cloudWideSummary(count: count, severity: severity)))
        }
        return shown
    }

    /// What a user who is not a cloud admin reads in place of cloud-wide diagnostics.
    public static func cloudWideSummary(count: Int, severity: Diagnostic.Severity) -> String {
        "\(count) cloud-wide \(severity.rawValue)\(count == 1 ? "" : "s") (hosts, users, public images or files that "
            + "do not parse); the details are visible to cloud admins"
    }

    /// A plan with only what the grant sees: the actions of its projects (of the projects it manages with
    /// `managedOnly`), and their diagnostics. The summary and header follow from the actions kept.
    public func visible(_ plan: Plan, diagnosticProjects: [String?]?, managedOnly: Bool = false) -> Plan {
        var visible = plan
        visible.actions = plan.actions.filter { action in
            guard let project = ProjectScope.project(of: action.id) else { return cloudAdmin }
            return managedOnly ? canManage(project: project) : canSee(project: project)
        }
        visible.diagnostics = self.visible(plan.diagnostics, projects: diagnosticProjects, managedOnly: managedOnly)
        return visible
    }

    /// A drift report with only the items of the grant's projects (unreachable hosts are cloud-wide).
    public func visible(_ report: DriftReport) -> DriftReport {
        var visible = report
        visible.items = report.items.filter { canSee(project: $0.project) }
        return visible
    }
}
