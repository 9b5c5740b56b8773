import DriftlessCore
import DriftlessDashboard
import DriftlessEngine
import DriftlessStore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import ServiceLifecycle

/// The dashboard of `driftless serve`: server-rendered pages on the API's listener, for the API's tokens,
/// showing what the API would show (each page is drawn from a `DashboardView`, filtered by the grant).
///
/// Sign-in trades a token for a session cookie (`SessionStore`); pages also take `Authorization: Bearer`.
/// Cookies are `HttpOnly`, `SameSite=Strict`, `Path=/`, expire with the session, and are `Secure` with
/// `--secure-cookies` or behind a proxy that sends `X-Forwarded-Proto: https`. The two POST forms are
/// guarded against cross-site requests three ways: the cookie is never sent cross-site (SameSite=Strict),
/// a request whose `Origin` is not this host or whose `Sec-Fetch-Site` is `cross-site` is refused, and
/// sign-out must carry its session's form token. Every response forbids framing, inline scripts and
/// styles, and anything from another origin (Content-Security-Policy).
struct DashboardRoutes: Sendable {
    static let sessionCookie = "driftless_session"
    static let themeCookie = "driftless_theme"
    /// The largest sign-in or sign-out form read.
    static let formLimit = 8 * 1024
    /// At most this many live event streams; more get 503 (each holds a connection).
    static let streamLimit = 256

    static let contentSecurityPolicy = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
        + "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

    let daemon: Daemon
    let sessions: SessionStore

    init(daemon: Daemon, sessions: SessionStore = SessionStore()) {
        self.daemon = daemon
        self.sessions = sessions
    }

    /// Who is asking: a grant, and the session when it came with a cookie.
    struct Viewer: Sendable {
        var grant: AccessPolicy.Grant
        var session: SessionStore.Session?
        var cookie: String?
    }

    /// A bearer token was given and is not valid: 401, whatever else the request carries.
    struct BadBearer: Error {}

    func register(on router: Router<BasicRequestContext>) {
        router.get("/static/dashboard.css") { _, _ in
            Self.asset(Assets.fullStylesheet, type: "text/css; charset=utf-8")
        }
        router.get("/static/dashboard.js") { _, _ in
            Self.asset(Assets.script, type: "text/javascript; charset=utf-8")
        }
        router.get("/") { request, _ in
            try await page(request) { viewer, chrome in
                Pages.overview(DashboardView(grant: viewer.grant, input: try await input(viewer.grant, runs: 8)), chrome: chrome)
            } signedOut: {
                Self.html(Pages.signIn(theme: Self.theme(request)))
            }
        }
        router.post("/login") { request, _ in try await login(request) }
        router.post("/logout") { request, _ in try await logout(request) }
        router.get("/theme") { request, _ in
            let theme = request.uri.queryParameters.get("set").flatMap { Pages.Theme(rawValue: String($0)) } ?? .auto
            let back = Self.safeBack(request.uri.queryParameters.get("back").map { String($0) })
            var response = Self.redirect(back)
            response.headers[.setCookie] = "\(Self.themeCookie)=\(theme.rawValue); Path=/; Max-Age=31536000; HttpOnly; SameSite=Strict"
            return response
        }
        router.get("/projects/:name") { request, context in
            let name = context.parameters.get("name") ?? ""
            return try await page(request) { viewer, chrome in
                let view = DashboardView(grant: viewer.grant, input: try await input(viewer.grant, runs: 0))
                // An unknown project and one the user has no role in look the same.
                if let page = Pages.project(view, name: name, chrome: chrome) { return (page, .ok) }
                return (Pages.message(title: "No such project", "There is no project \(name) that you have a role in.", chrome: chrome), .notFound)
            }
        }
        router.get("/runs") { request, _ in
            try await page(request) { viewer, chrome in
                Pages.runs(try runs(grant: viewer.grant, limit: 50), now: Date(), chrome: chrome)
            }
        }
        router.get("/runs/:id") { request, context in
            let id = context.parameters.get("id", as: Int64.self)
            return try await page(request) { viewer, chrome in
                let store = daemon.store
                guard let id, let found = try store.runRecord(id) else {
                    return (Pages.message(title: "No such run", "There is no run with this number.", chrome: chrome), .notFound)
                }
                let grant = viewer.grant
                let plan = found.planJSON.flatMap { try? PlanRenderer.decode($0) }
                    .map { grant.visible($0, diagnosticProjects: found.diagnosticProjects) }
                let journal = try store.journalEntries(run: id).filter { grant.canSee(project: $0.project) }
                    .map { DashboardInput.JournalLine(action: $0.action, phase: $0.phase.rawValue, detail: $0.detail, at: $0.at) }
                let run = try HTTPAPI.documents([found], grant: grant, store: store).map(Self.run)[0]
                return (Pages.run(run, plan: plan, journal: journal, now: Date(), chrome: chrome), .ok)
            }
        }
        router.get("/drift") { request, _ in
            try await page(request) { viewer, chrome in
                Pages.drift(DashboardView(grant: viewer.grant, input: try await input(viewer.grant, runs: 0)), chrome: chrome)
            }
        }
        router.get("/topology") { request, _ in
            let project = request.uri.queryParameters.get("project").map { String($0) }
            return try await page(request) { viewer, chrome in
                Pages.topology(DashboardView(grant: viewer.grant, input: try await input(viewer.grant, runs: 0)), project: project, chrome: chrome)
            }
        }
        router.get("/topology.svg") { request, _ in
            let project = request.uri.queryParameters.get("project").map { String($0) }
            guard let viewer = try? await self.viewer(request) else { return Self.html(Pages.signIn(error: "Sign in first."), status: .unauthorized) }
            let svg = Topology.svg(DashboardView(grant: viewer.grant, input: try await input(viewer.grant, runs: 0)), project: project, standalone: true)
            return Response(status: .ok, headers: [
                .contentType: "image/svg+xml; charset=utf-8", .cacheControl: "no-store", .xContentTypeOptions: "nosniff",
                .contentSecurityPolicy: "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
            ], body: .init(byteBuffer: ByteBuffer(string: svg.markup)))
        }
        router.get("/plan") { request, _ in
            let revision = request.uri.queryParameters.get("rev").map { String($0) }.flatMap { $0.isEmpty ? nil : $0 }
            return try await page(request) { viewer, chrome in
                guard viewer.grant.managesAnything else {
                    return (Pages.message(title: "Plan preview", "Planning needs the admin role in a project.", chrome: chrome), .forbidden)
                }
                guard let revision else { return (Pages.planPreview(revision: nil, result: nil, chrome: chrome), .ok) }
                return (Pages.planPreview(revision: revision, result: await preview(revision, grant: viewer.grant), chrome: chrome), .ok)
            }
        }
        router.get("/events") { request, _ in try await events(request) }
    }

    // MARK: - Who is asking

    /// The viewer of a request: a valid bearer token, else a live session cookie whose token still exists
    /// and whose user the applied commit still enables. Nil: not signed in.
    func viewer(_ request: Request) async throws -> Viewer? {
        if let header = request.headers[.authorization] {
            guard header.hasPrefix("Bearer ") else { throw BadBearer() }
            let token = String(header.dropFirst("Bearer ".count)).trimmingCharacters(in: .whitespaces)
            guard !token.isEmpty, let grant = daemon.grant(forToken: token) else { throw BadBearer() }
            return Viewer(grant: grant)
        }
        guard let cookie = request.cookies[Self.sessionCookie]?.value, !cookie.isEmpty,
              let session = sessions.session(cookie: cookie)
        else { return nil }
        guard (try? daemon.store.tokenUser(id: session.tokenID)) == session.user,
              let grant = daemon.grant(forUser: session.user)
        else {
            sessions.close(cookie: cookie)
            return nil
        }
        return Viewer(grant: grant, session: session, cookie: cookie)
    }

    /// A page for a signed-in viewer; signed out: `signedOut` (the sign-in form) or a redirect to it; a bad
    /// bearer token: 401.
    func page(_ request: Request, render: (Viewer, Pages.Chrome) async throws -> HTML,
              signedOut: (() -> Response)? = nil) async throws -> Response {
        try await page(request, render: { (try await render($0, $1), .ok) }, signedOut: signedOut)
    }

    /// A page with a status of its own (404 for a project the viewer does not see, 403…).
    func page(_ request: Request, render: (Viewer, Pages.Chrome) async throws -> (HTML, HTTPResponse.Status),
              signedOut: (() -> Response)? = nil) async throws -> Response {
        let found: Viewer?
        do {
            found = try await self.viewer(request)
        } catch is BadBearer {
            var response = Self.html(Pages.signIn(error: "That bearer token is not valid."), status: .unauthorized)
            response.headers[.wwwAuthenticate] = "Bearer realm=\"driftless\""
            return response
        }
        guard let viewer = found else { return signedOut?() ?? Self.redirect("/") }
        let path = request.uri.path + (request.uri.query.map { "?\($0)" } ?? "")
        let chrome = Pages.Chrome(user: viewer.grant.user, cloudAdmin: viewer.grant.cloudAdmin, canPlan: viewer.grant.managesAnything,
                                  csrf: viewer.session?.csrf, theme: Self.theme(request), path: path)
        let (html, status) = try await render(viewer, chrome)
        return Self.html(html, status: status)
    }

    // MARK: - Sign-in and sign-out

    func login(_ request: Request) async throws -> Response {
        guard Self.sameOrigin(request) else { return Self.html(Pages.signIn(error: "Cross-site sign-in refused."), status: .forbidden) }
        guard let form = try await Self.form(request) else {
            return Self.html(Pages.signIn(error: "The form was too large."), status: .contentTooLarge)
        }
        let token = (form["token"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        guard !token.isEmpty, let grant = daemon.grant(forToken: token) else {
            return Self.html(Pages.signIn(error: "That token is not valid, or its user is unknown or disabled in the applied commit.",
                                          theme: Self.theme(request)), status: .unauthorized)
        }
        let (cookie, _) = sessions.open(user: grant.user, tokenID: Store.tokenID(token))
        var response = Self.redirect("/")
        response.headers[.setCookie] = Self.sessionCookieHeader(cookie, maxAge: Int(sessions.lifetime), request: request,
                                                                secure: daemon.configuration.secureCookies)
        return response
    }

    func logout(_ request: Request) async throws -> Response {
        guard Self.sameOrigin(request) else { return Self.html(Pages.signIn(error: "Cross-site sign-out refused."), status: .forbidden) }
        let form = try await Self.form(request) ?? [:]
        if let cookie = request.cookies[Self.sessionCookie]?.value, let session = sessions.session(cookie: cookie) {
            guard WebhookSignature.constantTimeEqual(Array((form["csrf"] ?? "").utf8), Array(session.csrf.utf8)) else {
                return Self.html(Pages.signIn(error: "The sign-out form is stale; sign out again from a fresh page."), status: .forbidden)
            }
            sessions.close(cookie: cookie)
        }
        var response = Self.redirect("/")
        response.headers[.setCookie] = Self.sessionCookieHeader("", maxAge: 0, request: request, secure: daemon.configuration.secureCookies)
        return response
    }

    static func sessionCookieHeader(_ value: String, maxAge: Int, request: Request, secure: Bool) -> String {
        let behindTLS = secure || request.headers[HTTPField.Name("X-Forwarded-Proto")!]?.lowercased() == "https"
        return "\(sessionCookie)=\(value); Path=/; Max-Age=\(maxAge); HttpOnly; SameSite=Strict" + (behindTLS ? "; Secure" : "")
    }

    /// False for a request a browser marks as cross-site: `Sec-Fetch-Site: cross-site`, or an `Origin`
    /// (also `null`) that is not this host. A request with neither header (curl, a script) is not a
    /// browser's cross-site request.
    static func sameOrigin(_ request: Request) -> Bool {
        if request.headers[HTTPField.Name("Sec-Fetch-Site")!] == "cross-site" { return false }
        guard let origin = request.headers[HTTPField.Name("Origin")!] else { return true }
        guard let host = request.head.authority ?? request.headers[HTTPField.Name("Host")!] else { return false }
        return origin == "http://\(host)" || origin == "https://\(host)"
    }

    /// The fields of an `application/x-www-form-urlencoded` body of at most `formLimit` bytes (nil: larger).
    static func form(_ request: Request) async throws -> [String: String]? {
        var body: [UInt8] = []
        for try await buffer in request.body {
            guard body.count + buffer.readableBytes <= formLimit else { return nil }
            body += buffer.readableBytesView
        }
        var fields: [String: String] = [:]
        for pair in String(decoding: body, as: UTF8.self).split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ text: Substring) -> String {
                text.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? ""
            }
            guard let key = parts.first else { continue }
            fields[decode(key)] = parts.count > 1 ? decode(parts[1]) : ""
        }
        return fields
    }

    // MARK: - What pages are drawn from

    /// What a page of `grant` is drawn from, with its `limit` latest runs as the API shows them.
    func input(_ grant: AccessPolicy.Grant, runs limit: Int) async throws -> DashboardInput {
        let applied = daemon.appliedCommit
        let observation = await daemon.observation
        let store = daemon.store
        return DashboardInput(
            repository: applied?.repository, commit: applied.map { commit in
                DashboardInput.Commit(id: commit.commit, summary: commit.summary?.summary ?? "", author: commit.summary?.author ?? "",
                                      date: commit.summary?.date)
            },
            state: applied?.state, hosts: observation?.hosts ?? [], observedAt: observation?.at,
            allocations: (try? store.loadAllocations()) ?? [], drift: try store.latestDrift(),
            runs: limit > 0 ? try runs(grant: grant, limit: limit) : [], now: Date())
    }

    /// The latest runs as the API shows them to `grant`.
    func runs(grant: AccessPolicy.Grant, limit: Int) throws -> [DashboardInput.Run] {
        let store = daemon.store
        return try HTTPAPI.documents(try store.runRecords(limit: limit), grant: grant, store: store).map(Self.run)
    }

    static func run(_ document: HTTPAPI.RunDocument) -> DashboardInput.Run {
        DashboardInput.Run(id: document.id, kind: document.kind.rawValue, commit: document.commit, startedAt: document.startedAt,
                           finishedAt: document.finishedAt, result: document.result?.rawValue, summary: document.summary,
                           detail: document.detail)
    }

    /// What `/api/v1/plan?rev=` answers, as a page shows it: only the projects the user manages.
    func preview(_ revision: String, grant: AccessPolicy.Grant) async -> Pages.PlanPreview {
        do {
            switch try await daemon.plan(revision: revision) {
            case let .planned(plan, projects):
                return .planned(grant.visible(plan, diagnosticProjects: projects, managedOnly: true))
            case let .invalid(report, projects):
                return .invalid(commit: report.source.commit,
                                diagnostics: grant.visible(report.diagnostics.map(HTTPAPI.diagnostic), projects: projects, managedOnly: true))
            }
        } catch {
            return .unavailable("\(error)")
        }
    }

    // MARK: - Live updates

    /// `GET /events`: server-sent events, `drift` when the drift the viewer sees changed and `run` when a
    /// run finished; no data (the page fetches itself again). The stream ends when the session does, and
    /// at the start of a graceful shutdown: the HTTP server is shut down before the daemon's loop (the
    /// service group stops services in reverse order) and waits for open responses, so a stream that
    /// waited for the daemon would hold SIGTERM up.
    func events(_ request: Request) async throws -> Response {
        guard let first = try? await self.viewer(request) else { return HTTPAPI.problem(.unauthorized, "sign in first") }
        guard daemon.changes.subscriberCount < Self.streamLimit else { return HTTPAPI.problem(.serviceUnavailable, "too many event streams") }
        let changes = daemon.changes.subscribe()
        let routes = self
        let initial = try visibleDrift(first.grant)
        return Response(status: .ok, headers: [
            .contentType: "text/event-stream", .cacheControl: "no-store", HTTPField.Name("X-Accel-Buffering")!: "no",
        ], body: ResponseBody { writer in
            var seen = initial
            try await writer.write(ByteBuffer(string: "retry: 2000\n: connected\n\n"))
            try await withGracefulShutdownHandler {
                for await change in changes {
                    if change == .heartbeat {
                        try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                        continue
                    }
                    // The session may have ended (expired, signed out, token revoked, user disabled).
                    guard let viewer = try? await routes.viewer(request) else { break }
                    if change == .drift {
                        let now = try routes.visibleDrift(viewer.grant)
                        guard now != seen else { continue }
                        seen = now
                    }
                    try await writer.write(ByteBuffer(string: "event: \(change.rawValue)\ndata: {}\n\n"))
                }
            } onGracefulShutdown: {
                routes.daemon.changes.finish()
            }
            try await writer.finish(nil)
        })
    }

    /// What the viewer sees of the latest drift report, as a comparable value.
    func visibleDrift(_ grant: AccessPolicy.Grant) throws -> [String] {
        let report = try daemon.store.latestDrift().map { grant.visible($0) }
        return (report?.items.map(\.key) ?? []).sorted()
    }

    // MARK: - Responses

    static func html(_ html: HTML, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: securityHeaders(type: "text/html; charset=utf-8"),
                 body: .init(byteBuffer: ByteBuffer(string: html.markup)))
    }

    static func asset(_ text: String, type: String) -> Response {
        var headers = securityHeaders(type: type)
        headers[.cacheControl] = "public, max-age=300"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func securityHeaders(type: String) -> HTTPFields {
        [.contentType: type, .cacheControl: "no-store", .contentSecurityPolicy: contentSecurityPolicy, .xContentTypeOptions: "nosniff",
         HTTPField.Name("X-Frame-Options")!: "DENY", HTTPField.Name("Referrer-Policy")!: "same-origin"]
    }

    static func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location, .cacheControl: "no-store"])
    }

    static func theme(_ request: Request) -> Pages.Theme {
        request.cookies[themeCookie].flatMap { Pages.Theme(rawValue: $0.value) } ?? .auto
    }

    /// A path on this server to come back to: starts with one `/`, no scheme, no host, no control characters.
    static func safeBack(_ path: String?) -> String {
        guard let path, path.hasPrefix("/"), !path.hasPrefix("//"), !path.hasPrefix("/\\"),
              !path.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F || $0 == "\\" })
        else { return "/" }
        return path
    }
}
