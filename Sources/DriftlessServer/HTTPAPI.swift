import DriftlessCore
import DriftlessEngine
import DriftlessStore
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Prometheus

/// The HTTP side of `driftless serve`: health, metrics, webhooks, the JSON API under `/api/v1/` and the
/// dashboard (`DashboardRoutes`).
///
/// `/healthz`, `/readyz` and `/metrics` are open (bind to localhost or put them behind your proxy);
/// webhooks are authenticated by their signature; everything under `/api/v1/` needs a bearer token of a
/// `User` of the applied commit, and shows only the projects that user may see: every answer is filtered
/// through the grant's views (`AccessPolicy.Grant.visible`), its counts computed after filtering.
public struct HTTPAPI: Sendable {
    /// The largest webhook body read; larger deliveries are refused (413) before any parsing.
    public static let webhookBodyLimit = 1 << 20

    let daemon: Daemon
    let registry: PrometheusCollectorRegistry
    let webhookSecret: [UInt8]?
    let deliveries = DeliveryLog(capacity: 1024)
    let logger: Logger
    let dashboard: DashboardRoutes

    public init(daemon: Daemon, registry: PrometheusCollectorRegistry, webhookSecret: [UInt8]?, logger: Logger) {
        self.daemon = daemon
        self.registry = registry
        self.webhookSecret = webhookSecret
        self.logger = logger
        dashboard = DashboardRoutes(daemon: daemon)
    }

    public func router() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.get("/healthz") { _, _ in Self.text("ok\n") }
        router.get("/readyz") { _, _ in
            daemon.isReady ? Self.text("ready\n") : Self.text("starting\n", status: .serviceUnavailable)
        }
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
        router.post("/hooks/github") { request, _ in try await webhook(request, kind: .github) }
        router.post("/hooks/gitlab") { request, _ in try await webhook(request, kind: .gitlab) }

        let api = router.group("api/v1")
        api.get("status") { request, _ in
            let grant = try await authorize(request)
            return try await Self.json(status(for: grant))
        }
        api.get("runs") { request, _ in
            let grant = try await authorize(request)
            let limit = request.uri.queryParameters.get("limit", as: Int.self) ?? 50
            let store = daemon.store
            return try Self.json(try Self.documents(try store.runRecords(limit: min(max(limit, 1), 500)), grant: grant, store: store))
        }
        api.get("runs/:id") { request, context in
            let grant = try await authorize(request)
            let store = daemon.store
            guard let id = context.parameters.get("id", as: Int64.self), let found = try store.runRecord(id) else {
                return Self.problem(.notFound, "no such run")
            }
            let plan = found.planJSON.flatMap { try? PlanRenderer.decode($0) }
                .map { grant.visible($0, diagnosticProjects: found.diagnosticProjects) }
            let journal = try store.journalEntries(run: id).filter { grant.canSee(project: $0.project) }
            return try Self.json(RunDetail(run: try Self.documents([found], grant: grant, store: store)[0],
                                           plan: plan.map(PlanDocument.init), journal: journal))
        }
        api.get("drift") { request, _ in
            let grant = try await authorize(request)
            guard let report = try daemon.store.latestDrift() else { return Self.problem(.notFound, "no drift check yet") }
            let visible = grant.visible(report)
            if request.uri.queryParameters.get("format") == "markdown" { return Self.text(visible.renderMarkdown()) }
            return try Self.json(visible)
        }
        api.get("plan") { request, _ in
            let grant = try await authorize(request)
            guard grant.managesAnything else {
                return Self.problem(.forbidden, "planning needs the admin role in a project")
            }
            let markdown = request.uri.queryParameters.get("format") == "markdown"
            let planned: Daemon.RevisionPlan
            do {
                planned = try await daemon.plan(revision: request.uri.queryParameters.get("rev"))
            } catch let error as Daemon.PlanUnavailable {
                return Self.problem(error.reason == .nothingApplied ? .conflict : .serviceUnavailable, error.description)
            } catch let error as EngineError {
                return Self.problem(.notFound, "\(error)")
            }
            switch planned {
            case let .planned(plan, projects):
                // Only the projects the user manages: their actions and their diagnostics.
                let visible = grant.visible(plan, diagnosticProjects: projects, managedOnly: true)
                if markdown { return Self.text(PlanRenderer.markdown(visible)) }
                return Response(status: .ok, headers: [.contentType: "application/json"],
                                body: .init(byteBuffer: ByteBuffer(string: try PlanRenderer.json(visible))))
            case let .invalid(report, projects):
                let diagnostics = grant.visible(report.diagnostics.map(Self.diagnostic), projects: projects, managedOnly: true)
                let document = InvalidRevision(commit: report.source.commit, diagnostics: diagnostics)
                if markdown { return Self.text(document.markdown, status: .unprocessableContent) }
                return try Self.json(document, status: .unprocessableContent)
            }
        }
        dashboard.register(on: router)
        return router
    }

    // MARK: - Auth

    struct Unauthorized: HTTPResponseError {
        var status: HTTPResponse.Status { .unauthorized }
        var headers: HTTPFields { [.wwwAuthenticate: "Bearer realm=\"driftless\""] }
        func response(from request: Request, context: some RequestContext) throws -> Response {
            var response = HTTPAPI.problem(.unauthorized, "a valid bearer token of an enabled user is needed")
            response.headers[.wwwAuthenticate] = "Bearer realm=\"driftless\""
            return response
        }
    }

    func authorize(_ request: Request) async throws -> AccessPolicy.Grant {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else { throw Unauthorized() }
        let token = String(header.dropFirst("Bearer ".count)).trimmingCharacters(in: .whitespaces)
        guard !token.isEmpty, let grant = daemon.grant(forToken: token) else { throw Unauthorized() }
        return grant
    }

    // MARK: - Webhooks

    enum WebhookKind: String { case github, gitlab }

    func webhook(_ request: Request, kind: WebhookKind) async throws -> Response {
        guard let secret = webhookSecret else {
            return Self.problem(.notFound, "webhooks are off: start serve with --webhook-secret-file")
        }
        // Read at most the limit, then verify the signature on the raw bytes; nothing is parsed before.
        var body: [UInt8] = []
        for try await buffer in request.body {
            guard body.count + buffer.readableBytes <= Self.webhookBodyLimit else {
                return Self.problem(.contentTooLarge, "the body exceeds \(Self.webhookBodyLimit) bytes")
            }
            body += buffer.readableBytesView
        }
        let valid: Bool
        let delivery: String?
        switch kind {
        case .github:
            valid = WebhookSignature.verifyGitHub(body: body, header: request.headers[HTTPField.Name("X-Hub-Signature-256")!], secret: secret)
            delivery = request.headers[HTTPField.Name("X-GitHub-Delivery")!]
        case .gitlab:
            valid = WebhookSignature.verifyGitLab(header: request.headers[HTTPField.Name("X-Gitlab-Token")!], secret: secret)
            delivery = request.headers[HTTPField.Name("X-Gitlab-Event-UUID")!] ?? request.headers[HTTPField.Name("Idempotency-Key")!]
        }
        guard valid else {
            logger.warning("webhook with a missing or bad signature", metadata: ["hook": "\(kind.rawValue)"])
            return Self.problem(.unauthorized, "missing or bad signature")
        }
        // A replayed delivery (same id, or the same signed body) does no extra work.
        let identity = delivery ?? StableHash.sha256Hex(bytes: body)
        guard deliveries.insert("\(kind.rawValue):\(identity)") else {
            return Self.text("duplicate delivery ignored\n", status: .ok)
        }
        daemon.requestPoll(reason: "\(kind.rawValue) webhook")
        return Self.text("fetch scheduled\n", status: .accepted)
    }

    // MARK: - Documents

    struct StatusDocument: Encodable {
        var ready: Bool
        var user: String
        var cloudAdmin: Bool
        var lastApplied: RunDocument?
        var projects: [String]
        var driftItems: Int?
        var checkedAt: Date?
    }

    func status(for grant: AccessPolicy.Grant) async throws -> StatusDocument {
        let store = daemon.store
        let drift = try store.latestDrift()
        let state = daemon.appliedCommit?.state
        let projects = (state?.projects.map(\.name) ?? []).filter { grant.canSee(project: $0) }.sorted()
        let last = try store.lastAppliedRun().flatMap { try store.runRecord($0.id) }
        return StatusDocument(
            ready: daemon.isReady, user: grant.user, cloudAdmin: grant.cloudAdmin,
            lastApplied: try last.map { try Self.documents([$0], grant: grant, store: store)[0] }, projects: projects,
            driftItems: drift.map { grant.visible($0).items.count }, checkedAt: drift?.checkedAt)
    }

    struct RunDocument: Encodable {
        var id: Int64
        var kind: Store.RunKind
        var commit: String?
        var startedAt: Date
        var finishedAt: Date?
        var result: Store.RunResult?
        var summary: String?
        var detail: String?

        init(_ run: Store.Run) {
            id = run.id
            kind = run.kind
            commit = run.commit
            startedAt = run.startedAt
            finishedAt = run.finishedAt
            result = run.result
            summary = run.summary
            detail = run.detail
        }
    }

    struct RunDetail: Encodable {
        var run: RunDocument
        var plan: PlanDocument?
        var journal: [Store.JournalEntry]
    }

    /// A revision that does not validate, as the plan endpoint answers it (422).
    struct InvalidRevision: Encodable {
        var error = "the revision does not validate; nothing was planned"
        var commit: String?
        var diagnostics: [Diagnostic]

        var markdown: String {
            (["### Driftless plan: the revision does not validate", ""] + diagnostics.map { "- :x: `\($0.description.replacingOccurrences(of: "`", with: "'"))`" })
                .joined(separator: "\n") + "\n"
        }
    }

    static func diagnostic(_ entry: ValidationReport.Entry) -> Diagnostic {
        Diagnostic(entry.severity, at: entry.file.map { SourceLocation(file: $0, line: entry.line ?? 1, column: entry.column ?? 1) },
                   field: entry.field, entry.message, hint: entry.hint)
    }

    /// Runs as `grant` may see them. A cloud admin sees each run whole. Every other user sees each run's
    /// id, kind, commit, times and result (a run is of the whole cloud), with the summary recomputed
    /// over the plan actions of the user's projects, and as detail: the reason when it names no project
    /// (a history rewrite), else the counts of the user's projects' steps for runs that reached the
    /// hosts, else only that the details are for cloud admins.
    static func documents(_ records: [Store.RunRecord], grant: AccessPolicy.Grant, store: Store) throws -> [RunDocument] {
        if grant.cloudAdmin { return records.map { RunDocument($0.run) } }
        let counts = try store.stepCounts(runs: records.filter { $0.planJSON != nil }.map(\.run.id), projects: Set(grant.roles.keys))
        return records.map { record in
            var document = RunDocument(record.run)
            document.summary = record.planJSON.flatMap { try? PlanRenderer.decode($0) }
                .map { grant.visible($0, diagnosticProjects: record.diagnosticProjects).header }
            if let shared = record.publicDetail {
                document.detail = shared
            } else if record.planJSON != nil, record.run.detail != nil {
                let c = counts[record.run.id] ?? Store.StepCounts()
                document.detail = "\(c.succeeded) succeeded, \(c.failed) failed, \(c.skipped) skipped (steps of your projects)"
            } else if record.run.detail != nil {
                document.detail = "the details are visible to cloud admins"
            }
            return document
        }
    }

    static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        Response(status: status, headers: [.contentType: "application/json"],
                 body: .init(byteBuffer: ByteBuffer(bytes: try DocumentJSON.data(value))))
    }

    static func text(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func problem(_ status: HTTPResponse.Status, _ message: String) -> Response {
        let body = (try? JSONSerialization.data(withJSONObject: ["error": message], options: [.sortedKeys])) ?? Data()
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}

/// The ids of recent webhook deliveries, to do no extra work for a replay.
final class DeliveryLog: @unchecked Sendable {
    private let lock = NSLock()
    private var order: [String] = []
    private var seen: Set<String> = []
    let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    /// Records `id`; false when it was seen already.
    func insert(_ id: String) -> Bool {
        lock.withLock {
            guard seen.insert(id).inserted else { return false }
            order.append(id)
            if order.count > capacity { seen.remove(order.removeFirst()) }
            return true
        }
    }
}
