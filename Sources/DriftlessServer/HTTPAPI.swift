import DriftlessCore
import DriftlessEngine
import DriftlessStore
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Prometheus

/// The HTTP side of `driftless serve`: health, metrics, webhooks and the JSON API under `/api/v1/`.
///
/// `/healthz`, `/readyz` and `/metrics` are open (bind to localhost or put them behind your proxy);
/// webhooks are authenticated by their signature; everything under `/api/v1/` needs a bearer token of a
/// `User` of the applied commit, and shows only the projects that user may see.
public struct HTTPAPI: Sendable {
    /// The largest webhook body read; larger deliveries are refused (413) before any parsing.
    public static let webhookBodyLimit = 1 << 20

    let daemon: Daemon
    let registry: PrometheusCollectorRegistry
    let webhookSecret: [UInt8]?
    let deliveries = DeliveryLog(capacity: 1024)
    let logger: Logger

    public init(daemon: Daemon, registry: PrometheusCollectorRegistry, webhookSecret: [UInt8]?, logger: Logger) {
        self.daemon = daemon
        self.registry = registry
        self.webhookSecret = webhookSecret
        self.logger = logger
    }

    public func router() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.get("/healthz") { _, _ in Self.text("ok\n") }
        router.get("/readyz") { _, _ in
            await daemon.isReady ? Self.text("ready\n") : Self.text("starting\n", status: .serviceUnavailable)
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
            _ = try await authorize(request)
            let limit = request.uri.queryParameters.get("limit", as: Int.self) ?? 50
            return try Self.json(try await daemon.store.history(limit: min(max(limit, 1), 500)).map(RunDocument.init))
        }
        api.get("runs/:id") { request, context in
            let grant = try await authorize(request)
            guard let id = context.parameters.get("id", as: Int64.self), let found = try await daemon.store.run(id) else {
                return Self.problem(.notFound, "no such run")
            }
            var plan: Plan?
            if let json = found.planJSON { plan = Self.visiblePlan(json, grant: grant) }
            let journal = try await daemon.store.journalEntries(run: id).filter { Self.visible(step: $0.action, grant: grant) }
            return try Self.json(RunDetail(run: RunDocument(found.run), plan: plan.map(PlanDocument.init), journal: journal))
        }
        api.get("drift") { request, _ in
            let grant = try await authorize(request)
            guard var report = try await daemon.store.latestDrift() else { return Self.problem(.notFound, "no drift check yet") }
            report.items = report.items.filter { grant.canSee(project: $0.project) }
            if request.uri.queryParameters.get("format") == "markdown" { return Self.text(report.renderMarkdown()) }
            return try Self.json(report)
        }
        api.get("plan") { request, _ in
            let grant = try await authorize(request)
            guard grant.managesAnything else {
                return Self.problem(.forbidden, "planning needs the admin role in a project")
            }
            var plan = try await daemon.plan(revision: request.uri.queryParameters.get("rev"))
            plan.actions = plan.actions.filter { action in action.id.project.map(grant.canManage(project:)) ?? grant.cloudAdmin }
            if request.uri.queryParameters.get("format") == "markdown" { return Self.text(PlanRenderer.markdown(plan)) }
            return Response(status: .ok, headers: [.contentType: "application/json"],
                            body: .init(byteBuffer: ByteBuffer(string: try PlanRenderer.json(plan))))
        }
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
        guard !token.isEmpty, let grant = await daemon.grant(forToken: token) else { throw Unauthorized() }
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
        let drift = try await daemon.store.latestDrift()
        let state = await daemon.appliedCommit?.state
        let projects = (state?.projects.map(\.name) ?? []).filter { grant.canSee(project: $0) }.sorted()
        return StatusDocument(
            ready: await daemon.isReady, user: grant.user, cloudAdmin: grant.cloudAdmin,
            lastApplied: try await daemon.store.lastAppliedRun().map(RunDocument.init), projects: projects,
            driftItems: drift.map { $0.items.filter { grant.canSee(project: $0.project) }.count }, checkedAt: drift?.checkedAt)
    }

    struct RunDocument: Encodable {
        var id: Int64
        var kind: String
        var commit: String?
        var startedAt: Date
        var finishedAt: Date?
        var result: String?
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

    /// A stored plan with only the actions `grant` may see.
    static func visiblePlan(_ json: String, grant: AccessPolicy.Grant) -> Plan? {
        guard var plan = try? PlanRenderer.decode(json) else { return nil }
        plan.actions = plan.actions.filter { grant.canSee(project: $0.id.project) }
        return plan
    }

    /// Journal steps are named `kind project/name@host`; cloud-wide ones (images, ports) are for admins.
    static func visible(step: String, grant: AccessPolicy.Grant) -> Bool {
        if grant.cloudAdmin { return true }
        let parts = step.split(separator: " ")
        guard parts.count > 1, let slash = parts[1].firstIndex(of: "/") else { return false }
        return grant.canSee(project: String(parts[1][..<slash]))
    }

    static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return Response(status: status, headers: [.contentType: "application/json"],
                        body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
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
