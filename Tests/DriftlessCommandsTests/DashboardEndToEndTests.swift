import Foundation
import XCTest

/// The dashboard of a real `driftless serve` (real libvirtd/QEMU and Open vSwitch), seen by curl and by
/// headless Chromium over WebDriver: sign-in and its cookie, CSRF guards, per-project visibility, the
/// topology, and drift appearing without a reload after an out-of-band `virsh destroy`.
///
/// `DRIFTLESS_SCREENSHOTS=DIR` keeps the screenshots (overview, project, topology; light and dark) there.
final class DashboardEndToEndTests: XCTestCase {
    var world: EndToEndWorld!
    var server: Spawned?
    var port = 0

    override func setUpWithError() throws {
        let environment = ProcessInfo.processInfo.environment
        if environment["DRIFTLESS_SKIP_LIBVIRT_TESTS"] == "1" || environment["DRIFTLESS_SKIP_OVS_TESTS"] == "1" {
            throw XCTSkip("DRIFTLESS_SKIP_LIBVIRT_TESTS or DRIFTLESS_SKIP_OVS_TESTS is set")
        }
        world = try EndToEndWorld()
    }

    override func tearDown() {
        if let server {
            server.kill(SIGKILL)
            let output = server.wait()
            if (testRun?.totalFailureCount ?? 0) > 0 { print("--- serve log\n\(output.stderr)") }
        }
        world?.destroy()
    }

    /// bob: member of the world's project; carol: reader of the other project, which has one instance.
    func manifests() -> [String] {
        ["""
        apiVersion: driftless.dev/v1
        kind: Project
        metadata: {name: \(world.otherProject)}
        spec: {description: Another tenant.}
        """, """
        apiVersion: driftless.dev/v1
        kind: Network
        metadata: {name: back, project: \(world.otherProject)}
        spec: {cidr: 10.78.0.0/24, vlan: 78}
        """, """
        apiVersion: driftless.dev/v1
        kind: Instance
        metadata: {name: hidden-db, project: \(world.otherProject)}
        spec: {image: tiny, vcpus: 1, memory: 64MiB, rootDisk: 128MiB, networks: [{network: back}]}
        """, """
        apiVersion: driftless.dev/v1
        kind: User
        metadata: {name: alice}
        spec: {admin: true}
        """, """
        apiVersion: driftless.dev/v1
        kind: User
        metadata: {name: bob}
        spec: {roles: [{project: \(world.project), role: member}]}
        """, """
        apiVersion: driftless.dev/v1
        kind: User
        metadata: {name: carol}
        spec: {roles: [{project: \(world.otherProject), role: reader}]}
        """]
    }

    struct HTTPResult {
        var status: Int
        var headers: String
        var body: String
    }

    func http(_ method: String, _ path: String, headers: [String: String] = [:], form: String? = nil) throws -> HTTPResult {
        let bodyFile = world.root + "/response-\(UUID().uuidString)", headerFile = bodyFile + ".h"
        defer { try? FileManager.default.removeItem(atPath: bodyFile); try? FileManager.default.removeItem(atPath: headerFile) }
        var arguments = ["curl", "-s", "-o", bodyFile, "-D", headerFile, "-w", "%{http_code}", "-X", method, "--max-time", "30"]
        for (name, value) in headers { arguments += ["-H", "\(name): \(value)"] }
        if let form { arguments += ["--data-raw", form] }
        let output = try spawn(arguments + ["http://127.0.0.1:\(port)\(path)"]).wait()
        return HTTPResult(status: Int(output.stdout) ?? 0, headers: (try? String(contentsOfFile: headerFile, encoding: .utf8)) ?? "",
                          body: (try? String(contentsOfFile: bodyFile, encoding: .utf8)) ?? "")
    }

    func token(_ user: String) throws -> String {
        let output = try world.driftless("token", "create", "--user", user)
        XCTAssertEqual(output.status, 0, output.stderr)
        return output.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Starts serve on port 0 and reads the port it got from its log.
    func startServer() throws {
        let spawned = try spawn([DriftlessBinary.url.path, "serve", "--repo", world.repo, "--state", world.state, "--image-dir", world.root,
                                 "--listen", "127.0.0.1:0", "--interval", "1h", "--drift-interval", "1h"])
        server = spawned
        var found = 0
        XCTAssertTrue(waitUntilTrue(timeout: 30) {
            let log = (try? String(contentsOfFile: spawned.errFile, encoding: .utf8)) ?? ""
            guard let line = log.split(separator: "\n").first(where: { $0.contains("listening") }),
                  let match = line.firstMatch(of: /127\.0\.0\.1:(\d+)/), let number = Int(match.1) else { return false }
            found = number
            return true
        }, "serve never said where it listens")
        port = found
        XCTAssertTrue(waitUntilTrue(timeout: 30) { (try? self.http("GET", "/readyz").status) == 200 })
    }

    func cookie(in headers: String) -> String? {
        headers.split(separator: "\r\n").first { $0.lowercased().hasPrefix("set-cookie: driftless_session=") }.map(String.init)
    }

    func testSignInTopologyLiveDriftAndProjectIsolation() throws {
        try XCTSkipUnless(WebDriver.available || ProcessInfo.processInfo.environment["CI"] != nil,
                          "chromium and chromium-driver are not installed (scripts/install-deps.sh installs them)")
        try world.writeManifests(instances: [.init(name: "web-1"), .init(name: "web-2")], extra: manifests())
        let commit = try world.commit("two web servers and another tenant's database")
        try startServer()
        XCTAssertTrue(waitUntilTrue(timeout: 120) {
            (try? self.world.driftless("history", "--format", "json", "--limit", "1").stdout.contains("\"succeeded\"")) ?? false
        }, "the commit \(commit) is applied")
        let alice = try token("alice"), bob = try token("bob"), carol = try token("carol")
        XCTAssertTrue(waitUntilTrue(timeout: 30) {
            ((try? self.http("GET", "/", headers: ["Authorization": "Bearer \(alice)"]))?.body ?? "").contains("in sync")
        }, "the first drift check after the apply is drawn")

        // Over plain HTTP: the form, a wrong token, cross-site requests, the cookie's attributes.
        let form = try http("GET", "/")
        XCTAssertEqual(form.status, 200)
        XCTAssertTrue(form.body.contains("name=\"token\""), form.body)
        XCTAssertTrue(form.headers.lowercased().contains("content-security-policy: default-src 'none'"), form.headers)
        XCTAssertEqual(try http("POST", "/login", form: "token=dl_wrong").status, 401)
        XCTAssertEqual(try http("GET", "/drift", headers: ["Authorization": "Bearer dl_wrong"]).status, 401)
        XCTAssertEqual(try http("GET", "/drift").status, 303, "signed out: back to the form")
        XCTAssertEqual(try http("POST", "/login", headers: ["Origin": "http://evil.example"], form: "token=\(bob)").status, 403)
        XCTAssertEqual(try http("POST", "/login", headers: ["Sec-Fetch-Site": "cross-site"], form: "token=\(bob)").status, 403)
        let signedIn = try http("POST", "/login", headers: ["Origin": "http://127.0.0.1:\(port)"], form: "token=\(bob)")
        XCTAssertEqual(signedIn.status, 303)
        let setCookie = try XCTUnwrap(cookie(in: signedIn.headers), signedIn.headers)
        for attribute in ["HttpOnly", "SameSite=Strict", "Max-Age=43200", "Path=/"] { XCTAssertTrue(setCookie.contains(attribute), setCookie) }
        XCTAssertFalse(setCookie.contains("Secure"), "plain HTTP: not Secure")
        XCTAssertTrue(try XCTUnwrap(cookie(in: try http("POST", "/login", headers: ["X-Forwarded-Proto": "https"], form: "token=\(bob)").headers))
            .contains("Secure"), "behind a TLS proxy: Secure")
        let session = String(try XCTUnwrap(setCookie.firstMatch(of: /driftless_session=([^;]+)/)?.1))
        let page = try http("GET", "/projects/\(world.project)", headers: ["Cookie": "driftless_session=\(session)"])
        XCTAssertEqual(page.status, 200)
        XCTAssertTrue(page.body.contains("web-1") && page.body.contains("web-2"), page.body)
        XCTAssertTrue(try http("GET", "/", headers: ["Cookie": "driftless_session=\(session)"]).body.contains("href=\"/runs/1\""),
                      "the overview lists the latest runs")

        // Project isolation on every page, for a cookie and for a bearer token.
        XCTAssertEqual(try http("GET", "/projects/\(world.otherProject)", headers: ["Cookie": "driftless_session=\(session)"]).status, 404)
        for path in ["/", "/drift", "/topology", "/topology.svg", "/runs/1", "/projects/\(world.project)"] {
            let asBob = try http("GET", path, headers: ["Authorization": "Bearer \(bob)"])
            XCTAssertEqual(asBob.status, 200, path)
            XCTAssertFalse(asBob.body.contains("hidden-db") || asBob.body.contains(world.otherProject), "bob sees the other project on \(path)")
            let asCarol = try http("GET", path == "/projects/\(world.project)" ? "/projects/\(world.otherProject)" : path,
                                   headers: ["Authorization": "Bearer \(carol)"])
            XCTAssertFalse(asCarol.body.contains("web-1") || asCarol.body.contains("\(world.project)<") || asCarol.body.contains("/projects/\(world.project)"),
                           "carol sees bob's project on \(path)")
        }
        XCTAssertTrue(try http("GET", "/topology.svg", headers: ["Authorization": "Bearer \(carol)"]).body.contains("hidden-db"))

        // Sign-out needs the session's form token.
        XCTAssertEqual(try http("POST", "/logout", headers: ["Cookie": "driftless_session=\(session)"], form: "csrf=guess").status, 403)
        let csrf = String(try XCTUnwrap(page.body.firstMatch(of: /name="csrf" value="([^"]+)"/)?.1))
        XCTAssertEqual(try http("POST", "/logout", headers: ["Cookie": "driftless_session=\(session)"], form: "csrf=\(csrf)").status, 303)
        XCTAssertEqual(try http("GET", "/drift", headers: ["Cookie": "driftless_session=\(session)"]).status, 303, "the session is over")

        // In a browser.
        let browser = try WebDriver(scratch: world.root)
        defer { browser.quit() }
        let base = "http://127.0.0.1:\(port)"
        try browser.open(base + "/")
        try browser.type("#token", "dl_not-a-token")
        try browser.click("button[type=submit]")
        XCTAssertTrue(waitUntilTrue(timeout: 10) { browser.text.contains("not valid") }, "a wrong token is refused: \(browser.text)")
        try browser.type("#token", bob)
        try browser.click("button[type=submit]")
        XCTAssertTrue(waitUntilTrue(timeout: 10) { browser.text.contains("Overview") }, browser.text)
        XCTAssertFalse(browser.text.contains("hidden-db"))
        let shots = ProcessInfo.processInfo.environment["DRIFTLESS_SCREENSHOTS"] ?? world.root
        try browser.screenshot(to: shots + "/dashboard-overview.png")
        try browser.open(base + "/topology")
        XCTAssertTrue(waitUntilTrue(timeout: 10) {
            ((try? browser.run("var s = document.querySelector('svg'); return s ? s.textContent : ''")) as? String ?? "").contains("web-2")
        }, "the topology draws the instances")
        try browser.screenshot(to: shots + "/dashboard-topology.png")

        // Live: the drift badge appears within 2 s of a virsh destroy, without a reload.
        try browser.open(base + "/projects/\(world.project)")
        XCTAssertTrue(waitUntilTrue(timeout: 10) { browser.text.contains("web-1") }, browser.text)
        XCTAssertTrue(waitUntilTrue(timeout: 10) {
            ((try? browser.run("return document.getElementById('live').textContent")) as? String) == "live"
        }, "the event stream is open")
        _ = try browser.run("window.notReloaded = true")
        XCTAssertEqual(try sh("virsh", "-c", EndToEndWorld.libvirtURI, "destroy", "\(world.project).web-1").status, 0)
        let destroyed = Date()
        XCTAssertTrue(waitUntilTrue(timeout: 2) {
            ((try? browser.run("var r = document.getElementById('instance-web-1'); return r ? r.textContent : ''")) as? String ?? "")
                .contains("drifted: power")
        }, "the drift badge appears within 2 s: \(browser.text)")
        let seen = Date().timeIntervalSince(destroyed)
        XCTAssertEqual(try browser.run("return window.notReloaded === true") as? Bool, true, "the page was not reloaded")
        try browser.screenshot(to: shots + "/dashboard-project.png")
        print("dashboard: drift badge \(String(format: "%.2f", seen)) s after virsh destroy returned")

        // Dark theme (a cookie, no JavaScript needed).
        try browser.open(base + "/theme?set=dark&back=/")
        XCTAssertTrue(waitUntilTrue(timeout: 10) { browser.text.contains("drifted") }, browser.text)
        try browser.screenshot(to: shots + "/dashboard-overview-dark.png")
        try browser.open(base + "/topology")
        XCTAssertTrue(waitUntilTrue(timeout: 10) { browser.text.contains("Topology") })
        try browser.screenshot(to: shots + "/dashboard-topology-dark.png")

        // carol, in the same browser after signing out, sees only her project.
        try browser.open(base + "/")
        try browser.click("form[action='/logout'] button")
        XCTAssertTrue(waitUntilTrue(timeout: 10) { browser.text.contains("Sign in") }, browser.text)
        try browser.type("#token", carol)
        try browser.click("button[type=submit]")
        XCTAssertTrue(waitUntilTrue(timeout: 10) { browser.text.contains("Overview") })
        XCTAssertFalse(browser.text.contains("web-1"), "carol sees no instance of bob's project")
        try browser.open(base + "/projects/\(world.project)")
        XCTAssertTrue(waitUntilTrue(timeout: 10) { browser.text.contains("No such project") }, browser.text)
        try browser.open(base + "/projects/\(world.otherProject)")
        XCTAssertTrue(waitUntilTrue(timeout: 10) { browser.text.contains("hidden-db") }, browser.text)

        // A cloud admin also sees the hosts (light theme again, for the docs' screenshots).
        try browser.open(base + "/theme?set=light&back=/")
        try browser.click("form[action='/logout'] button")
        XCTAssertTrue(waitUntilTrue(timeout: 10) { browser.text.contains("Sign in") }, browser.text)
        try browser.type("#token", alice)
        try browser.click("button[type=submit]")
        XCTAssertTrue(waitUntilTrue(timeout: 10) { browser.text.contains("reachable") },
                      "the overview of a cloud admin has the hosts: \(browser.text)")
        try browser.screenshot(to: shots + "/dashboard-overview-admin.png")
        try browser.open(base + "/topology")
        XCTAssertTrue(waitUntilTrue(timeout: 10) {
            ((try? browser.run("var s = document.querySelector('svg'); return s ? s.textContent : ''")) as? String ?? "").contains("hidden-db")
        }, "a cloud admin's topology has every project")
        try browser.screenshot(to: shots + "/dashboard-topology-admin.png")

        // SIGTERM with the page's event stream open: the stream ends, the daemon exits 0 at once.
        XCTAssertTrue(waitUntilTrue(timeout: 10) {
            ((try? browser.run("return document.getElementById('live').textContent")) as? String) == "live"
        })
        let running = try XCTUnwrap(server)
        running.kill(SIGTERM)
        let exited = waitUntilTrue(timeout: 10) { running.hasExited }
        XCTAssertTrue(exited, "serve exits on SIGTERM while a browser listens")
        guard exited else { return }
        server = nil
        XCTAssertEqual(running.wait().status, 0)
    }
}
