import Crypto
import DriftlessTesting
import Foundation
import XCTest

/// `driftless serve` over real sockets against real libvirtd/QEMU and Open vSwitch: webhooks, tokens and
/// roles on every endpoint, a push reconciled, a force-push refused, drift seen through events, restarts
/// of libvirtd and ovsdb-server while serving (on a host of the test bed), SIGTERM mid-apply.
final class ServeEndToEndTests: XCTestCase {
    var world: EndToEndWorld!
    var server: Spawned?
    var port = 0
    let secret = "webhook-secret-\(UUID().uuidString)"

    override func setUpWithError() throws {
        if ProcessInfo.processInfo.environment["DRIFTLESS_SKIP_LIBVIRT_TESTS"] == "1"
            || ProcessInfo.processInfo.environment["DRIFTLESS_SKIP_OVS_TESTS"] == "1"
        {
            throw XCTSkip("DRIFTLESS_SKIP_LIBVIRT_TESTS or DRIFTLESS_SKIP_OVS_TESTS is set")
        }
        world = try EndToEndWorld()
        try secret.write(toFile: world.root + "/secret", atomically: true, encoding: .utf8)
    }

    override func tearDown() {
        if let server {
            server.kill(SIGKILL)
            let output = server.wait()
            if (testRun?.totalFailureCount ?? 0) > 0 { print("--- serve log\n\(output.stderr)") }
        }
        world?.destroy()
    }

    /// alice: cloud admin; bob: member of the project; carol: reader of another project; dave: disabled.
    func users(bobEnabled: Bool = true) -> [String] {
        ["""
        apiVersion: driftless.dev/v1
        kind: Project
        metadata: {name: other\(world.id)}
        """, """
        apiVersion: driftless.dev/v1
        kind: User
        metadata: {name: alice}
        spec: {admin: true}
        """, """
        apiVersion: driftless.dev/v1
        kind: User
        metadata: {name: bob}
        spec:
          enabled: \(bobEnabled)
          roles: [{project: \(world.project), role: member}]
        """, """
        apiVersion: driftless.dev/v1
        kind: User
        metadata: {name: carol}
        spec:
          roles: [{project: other\(world.id), role: reader}]
        """, """
        apiVersion: driftless.dev/v1
        kind: User
        metadata: {name: erin}
        spec:
          roles: [{project: \(world.project), role: admin}]
        """]
    }

    /// Starts `driftless serve` on port 0 and reads the port it was given from its "listening" log line.
    func startServer(_ extra: [String] = [], driftInterval: String = "1h", repo: String? = nil) throws {
        server = try spawn([DriftlessBinary.url.path, "serve", "--repo", repo ?? world.repo, "--state", world.state, "--image-dir", world.root,
                            "--listen", "127.0.0.1:0", "--interval", "1h", "--drift-interval", driftInterval,
                            "--webhook-secret-file", world.root + "/secret"] + extra
                            + (world.testBedHost == nil ? [] : ["--pki", TestBedHost.pkiDirectory]),
                           environment: ["DRIFTLESS_LOG_LEVEL": "debug"])
        XCTAssertTrue(waitUntilTrue(timeout: 30) { Self.listeningPort(in: self.serverLog()) != nil }, "serve never listened: \(serverLog())")
        port = Self.listeningPort(in: serverLog()) ?? 0
        XCTAssertTrue(waitUntilTrue(timeout: 30) { (try? self.http("GET", "/readyz").status) == 200 }, "serve never became ready")
    }

    /// The port of the daemon's `listening` log line (`address=[IPv4]127.0.0.1/127.0.0.1:PORT`).
    static func listeningPort(in log: String) -> Int? {
        guard let line = log.split(separator: "\n").first(where: { $0.contains("listening") }),
              let colon = line.range(of: "127.0.0.1:", options: .backwards) else { return nil }
        return Int(line[colon.upperBound...].prefix { $0.isNumber })
    }

    /// How many polls found nothing new so far (a debug line of the daemon).
    func quietPolls() -> Int {
        serverLog().components(separatedBy: "poll: nothing new").count - 1
    }

    /// SIGTERM, and the daemon's log.
    @discardableResult
    func stopServer() throws -> String {
        let running = try XCTUnwrap(server)
        running.kill(SIGTERM)
        let output = running.wait()
        server = nil
        XCTAssertEqual(output.status, 0, output.stderr)
        return output.stderr
    }

    /// What the daemon logged so far.
    func serverLog() -> String {
        server.flatMap { try? String(contentsOfFile: $0.errFile, encoding: .utf8) } ?? ""
    }

    struct HTTPResult {
        var status: Int
        var body: String
        var json: Any? { try? JSONSerialization.jsonObject(with: Data(body.utf8)) }
    }

    /// One request with curl (a real socket, as any client).
    func http(_ method: String, _ path: String, token: String? = nil, headers: [String: String] = [:], body: Data? = nil) throws -> HTTPResult {
        let bodyFile = world.root + "/response-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: bodyFile) }
        var arguments = ["curl", "-s", "-o", bodyFile, "-w", "%{http_code}", "-X", method, "--max-time", "30"]
        if let token { arguments += ["-H", "Authorization: Bearer \(token)"] }
        for (name, value) in headers { arguments += ["-H", "\(name): \(value)"] }
        if let body {
            let requestFile = world.root + "/request-\(UUID().uuidString)"
            try body.write(to: URL(fileURLWithPath: requestFile))
            arguments += ["--data-binary", "@" + requestFile, "-H", "Content-Type: application/json"]
        }
        let output = try spawn(arguments + ["http://127.0.0.1:\(port)\(path)"]).wait()
        return HTTPResult(status: Int(output.stdout) ?? 0, body: (try? String(contentsOfFile: bodyFile, encoding: .utf8)) ?? "")
    }

    func token(_ user: String) throws -> String {
        let output = try world.driftless("token", "create", "--user", user)
        XCTAssertEqual(output.status, 0, output.stderr)
        return output.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func latestRun() throws -> [String: Any]? {
        let history = try world.driftless("history", "--format", "json", "--limit", "1")
        return (try JSONSerialization.jsonObject(with: Data(history.stdout.utf8)) as? [[String: Any]])?.first
    }

    func waitForApply(of commit: String, timeout: TimeInterval = 90) -> Bool {
        waitUntilTrue(timeout: timeout) {
            guard let run = try? self.latestRun() else { return false }
            return run["commit"] as? String == commit && run["kind"] as? String == "apply" && run["result"] != nil
        }
    }

    func githubSignature(_ body: Data) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Data(secret.utf8)))
        return "sha256=" + mac.map { String(format: "%02x", $0) }.joined()
    }

    // MARK: - Tests

    func testWebhooksAuthRolesPushAndForcePush() throws {
        try world.writeManifests(instances: [.init(name: "a")], extra: users())
        let first = try world.commit("a")
        try startServer()
        XCTAssertTrue(waitForApply(of: first), "the first commit is applied at start")
        XCTAssertEqual(world.domainState("a"), "running")
        let alice = try token("alice"), bob = try token("bob"), carol = try token("carol"), erin = try token("erin")

        // Open endpoints.
        XCTAssertEqual(try http("GET", "/healthz").status, 200)
        let metrics = try http("GET", "/metrics")
        XCTAssertEqual(metrics.status, 200)
        XCTAssertTrue(metrics.body.contains("driftless_runs_total"), metrics.body)
        XCTAssertTrue(metrics.body.contains("driftless_last_applied_commit_info"), metrics.body)
        XCTAssertTrue(metrics.body.contains("driftless_host_reachable"), metrics.body)

        // Every API endpoint: 401 without a token or with a bad one.
        for path in ["/api/v1/status", "/api/v1/runs", "/api/v1/runs/1", "/api/v1/drift", "/api/v1/plan"] {
            XCTAssertEqual(try http("GET", path).status, 401, path)
            XCTAssertEqual(try http("GET", path, token: "dl_not-a-token").status, 401, path)
            XCTAssertEqual(try http("GET", path, token: alice).status, 200, "\(path) for a cloud admin")
        }
        // Roles: plan needs a project admin; readers and members get 403.
        XCTAssertEqual(try http("GET", "/api/v1/plan", token: bob).status, 403)
        XCTAssertEqual(try http("GET", "/api/v1/plan", token: carol).status, 403)
        XCTAssertEqual(try http("GET", "/api/v1/plan", token: erin).status, 200)
        // What a token sees: bob sees his project, carol (another project) not; cloud-wide steps are admins'.
        let bobStatus = try XCTUnwrap(try http("GET", "/api/v1/status", token: bob).json as? [String: Any])
        XCTAssertEqual(bobStatus["projects"] as? [String], [world.project])
        let carolStatus = try XCTUnwrap(try http("GET", "/api/v1/status", token: carol).json as? [String: Any])
        XCTAssertEqual(carolStatus["projects"] as? [String], ["other\(world.id)"])
        let carolRun = try XCTUnwrap(try http("GET", "/api/v1/runs/1", token: carol).json as? [String: Any])
        XCTAssertEqual(((carolRun["plan"] as? [String: Any])?["actions"] as? [Any])?.count, 0, "carol sees no action of another project")
        let bobRun = try XCTUnwrap(try http("GET", "/api/v1/runs/1", token: bob).json as? [String: Any])
        let bobActions = try XCTUnwrap((bobRun["plan"] as? [String: Any])?["actions"] as? [[String: Any]])
        XCTAssertEqual(bobActions.map { $0["name"] as? String }, ["a"], "bob sees his instance, not the cloud-wide image")

        // Webhooks: missing, bad, oversized, valid, replayed.
        let body = Data(#"{"ref":"refs/heads/main"}"#.utf8)
        XCTAssertEqual(try http("POST", "/hooks/github", body: body).status, 401, "no signature")
        XCTAssertEqual(try http("POST", "/hooks/github", headers: ["X-Hub-Signature-256": "sha256=" + String(repeating: "0", count: 64)],
                                body: body).status, 401, "bad signature")
        let big = Data(repeating: UInt8(ascii: "a"), count: (1 << 20) + 1)
        XCTAssertEqual(try http("POST", "/hooks/github", headers: ["X-Hub-Signature-256": githubSignature(big)], body: big).status, 413)
        XCTAssertEqual(try http("POST", "/hooks/gitlab", headers: ["X-Gitlab-Token": "wrong"], body: body).status, 401)

        // A push: a new commit, announced by a signed webhook, is applied.
        try world.writeManifests(instances: [.init(name: "a", memory: "96MiB")], extra: users())
        let second = try world.commit("a: 96MiB")
        let delivery = UUID().uuidString
        let signed = ["X-Hub-Signature-256": githubSignature(body), "X-GitHub-Delivery": delivery]
        XCTAssertEqual(try http("POST", "/hooks/github", headers: signed, body: body).status, 202)
        XCTAssertTrue(waitForApply(of: second), "the pushed commit is applied")
        XCTAssertEqual(world.maxMemoryKiB("a"), 96 * 1024)
        XCTAssertEqual(try latestRun()?["result"] as? String, "succeeded")
        let runsBefore = try XCTUnwrap(try http("GET", "/api/v1/runs", token: alice).json as? [Any]).count
        let replay = try http("POST", "/hooks/github", headers: signed, body: body)
        XCTAssertEqual(replay.status, 200)
        XCTAssertTrue(replay.body.contains("duplicate"), replay.body)
        let quiet = quietPolls()
        XCTAssertEqual(try http("POST", "/hooks/gitlab", headers: ["X-Gitlab-Token": secret, "X-Gitlab-Event-UUID": UUID().uuidString],
                                body: body).status, 202)
        // The poll that push asked for has run and found nothing new: an event, not a guessed sleep.
        XCTAssertTrue(waitUntilTrue(timeout: 30) { self.quietPolls() > quiet }, "the push's poll never ran: \(serverLog())")
        XCTAssertEqual(try XCTUnwrap(try http("GET", "/api/v1/runs", token: alice).json as? [Any]).count, runsBefore,
                       "a replay and a push with nothing new do no work")

        // Disabling a user in git removes its access at the next reconcile.
        try world.writeManifests(instances: [.init(name: "a", memory: "96MiB")], extra: users(bobEnabled: false))
        let third = try world.commit("bob disabled")
        XCTAssertEqual(try http("POST", "/hooks/gitlab", headers: ["X-Gitlab-Token": secret, "X-Gitlab-Event-UUID": UUID().uuidString],
                                body: body).status, 202)
        XCTAssertTrue(waitForApply(of: third))
        XCTAssertEqual(try http("GET", "/api/v1/status", token: bob).status, 401)

        // A force-push (history rewrite) is refused and reported; nothing changes.
        try world.git("reset", "-q", "--hard", first)
        try world.writeManifests(instances: [.init(name: "a", memory: "80MiB")], extra: users())
        let rewritten = try world.commit("rewritten history")
        XCTAssertEqual(try http("POST", "/hooks/github", headers: ["X-Hub-Signature-256": githubSignature(Data("{}".utf8)),
                                                                   "X-GitHub-Delivery": UUID().uuidString], body: Data("{}".utf8)).status, 202)
        XCTAssertTrue(waitUntilTrue(timeout: 30) { (try? self.latestRun())?["result"] as? String == "refused" })
        let refused = try XCTUnwrap(try latestRun())
        XCTAssertEqual(refused["commit"] as? String, rewritten)
        XCTAssertTrue((refused["detail"] as? String ?? "").contains("history rewrite"), "\(refused)")
        XCTAssertEqual(world.maxMemoryKiB("a"), 96 * 1024, "the rewritten head was not applied")
    }

    /// On test bed host tb2, whose libvirtd and ovsdb-server only this test restarts (the machine's serve
    /// other tests at the same time), reached over TLS and SSL as a remote host is.
    func testDriftSeenThroughEventsAlsoAfterDaemonRestarts() throws {
        let host = try TestBedHost.require("tb2")
        world.destroy()
        world = try EndToEndWorld(on: host)
        try secret.write(toFile: world.root + "/secret", atomically: true, encoding: .utf8)
        // tearDown removes the world from tb2: its daemons must be back by then, and for whoever runs next.
        defer {
            XCTAssertNoThrow(try host.start("libvirtd"))
            XCTAssertNoThrow(try host.start("ovsdb-server"))
        }
        try world.writeManifests(instances: [.init(name: "a"), .init(name: "b")], extra: users())
        let first = try world.commit("a and b")
        try startServer(driftInterval: "2s")
        XCTAssertTrue(waitForApply(of: first))
        let alice = try token("alice")
        func driftFields() -> [String] {
            guard let report = (try? http("GET", "/api/v1/drift", token: alice))?.json as? [String: Any],
                  let items = report["items"] as? [[String: Any]] else { return [] }
            return items.flatMap { ($0["fields"] as? [[String: Any]] ?? []).compactMap { $0["field"] as? String } }
        }
        XCTAssertTrue(waitUntilTrue(timeout: 20) { (try? self.http("GET", "/api/v1/drift", token: alice).status) == 200 })

        // virsh destroy: a lifecycle event.
        XCTAssertEqual(try sh("virsh", "-c", world.libvirtURI, "destroy", "\(world.project).a").status, 0)
        XCTAssertTrue(waitUntilTrue(timeout: 3) { driftFields().contains("power") }, "virsh destroy seen within 3 s: \(driftFields())")

        // ovs-vsctl del-port: an OVSDB monitor update.
        let port = try XCTUnwrap(world.ports().first)
        XCTAssertEqual(try sh(world.ovsVsctl + ["del-port", world.bridge, port.name]).status, 0)
        XCTAssertTrue(waitUntilTrue(timeout: 3) { driftFields().contains { $0.hasSuffix(".port") } }, "del-port seen within 3 s: \(driftFields())")

        // virsh setmem sends no libvirt event: the periodic check finds it (every 2 s in this test).
        XCTAssertEqual(try sh("virsh", "-c", world.libvirtURI, "setmem", "\(world.project).b", "48M", "--config").status, 0)
        XCTAssertTrue(waitUntilTrue(timeout: 10) { driftFields().contains("memory") }, "virsh setmem seen: \(driftFields())")

        // One daemon per state directory: anything else that would apply is refused, naming the holder.
        let heal = try world.driftless("drift", "--heal")
        XCTAssertEqual(heal.status, 1)
        XCTAssertTrue(heal.stderr.contains("driftless serve"), heal.stderr)

        // libvirtd restarted while serving: events are registered again.
        try host.stop("libvirtd")
        try host.start("libvirtd")
        XCTAssertEqual(try sh("virsh", "-c", world.libvirtURI, "start", "\(world.project).a").status, 0)
        XCTAssertTrue(waitUntilTrue(timeout: 10) { !driftFields().contains("power") }, "the start after a libvirtd restart is seen: \(driftFields())")

        // ovsdb-server restarted while serving: the monitor resyncs; a new del-port is seen.
        try host.stop("ovsdb-server")
        try host.start("ovsdb-server")
        XCTAssertTrue(waitUntilTrue(timeout: 15) { !driftFields().contains { $0.hasSuffix(".port") } },
                      "after the restart every port is there: \(driftFields())")
        let other = try XCTUnwrap(world.ports().first)
        XCTAssertEqual(try sh(world.ovsVsctl + ["del-port", world.bridge, other.name]).status, 0)
        XCTAssertTrue(waitUntilTrue(timeout: 15) { driftFields().contains { $0.hasSuffix(".port") } },
                      "a del-port after an ovsdb-server restart is seen: \(driftFields())")
    }

    /// A tiny HTTP receiver for notifications: appends each POST body as one line to a file.
    func startReceiver() throws -> (url: String, file: String, process: Spawned) {
        let file = world.root + "/notifications.jsonl"
        let portFile = world.root + "/receiver.port"
        // Bound to port 0; the port it got is written to a file and read back.
        let script = """
            import http.server, sys
            class H(http.server.BaseHTTPRequestHandler):
                def do_POST(self):
                    body = self.rfile.read(int(self.headers.get('Content-Length', 0)))
                    open(sys.argv[1], 'ab').write(body.replace(b'\\n', b' ') + b'\\n')
                    self.send_response(200); self.end_headers()
                def log_message(self, *args): pass
            server = http.server.HTTPServer(('127.0.0.1', 0), H)
            open(sys.argv[2] + '.tmp', 'w').write(str(server.server_address[1]))
            import os; os.rename(sys.argv[2] + '.tmp', sys.argv[2])
            server.serve_forever()
            """
        try script.write(toFile: world.root + "/receiver.py", atomically: true, encoding: .utf8)
        let process = try spawn(["python3", world.root + "/receiver.py", file, portFile])
        XCTAssertTrue(waitUntilTrue(timeout: 10) { FileManager.default.fileExists(atPath: portFile) }, "the receiver listens")
        let port = (try? String(contentsOfFile: portFile, encoding: .utf8)) ?? "0"
        return ("http://127.0.0.1:\(port)/hook", file, process)
    }

    func testHealConvergesDriftAndSIGTERMFinishesTheStepInFlight() throws {
        try world.writeManifests(instances: [.init(name: "a")], extra: users())
        let first = try world.commit("a")
        let receiver = try startReceiver()
        defer { receiver.process.kill(); _ = receiver.process.wait() }
        try startServer(["--heal", "--notify-url", receiver.url, "--notify-format", "slack"])
        XCTAssertTrue(waitForApply(of: first))
        XCTAssertEqual(try sh("virsh", "-c", EndToEndWorld.libvirtURI, "destroy", "\(world.project).a").status, 0)
        XCTAssertTrue(waitUntilTrue(timeout: 20) { self.world.domainState("a") == "running" }, "--heal starts it again")
        XCTAssertTrue(waitUntilTrue(timeout: 10) {
            ((try? String(contentsOfFile: receiver.file, encoding: .utf8)) ?? "").contains("power: expected running, found stopped")
        }, "new drift is notified")
        let notification = try String(contentsOfFile: receiver.file, encoding: .utf8).split(separator: "\n").first.map(String.init) ?? ""
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(notification.utf8)) as? [String: Any], notification)
        XCTAssertEqual(Array(object.keys), ["text"], "the Slack form is {\"text\": …}")

        // SIGTERM while an apply runs: the daemon finishes the step in flight, leaves no step open, exits 0.
        try world.writeManifests(instances: [.init(name: "a"), .init(name: "b"), .init(name: "c")], extra: users())
        let second = try world.commit("b and c")
        let before = world.startedSteps()
        XCTAssertEqual(try http("POST", "/hooks/gitlab", headers: ["X-Gitlab-Token": secret, "X-Gitlab-Event-UUID": UUID().uuidString],
                                body: Data("{}".utf8)).status, 202)
        XCTAssertTrue(waitUntilTrue(timeout: 60) { self.world.startedSteps() > before }, "the apply started")
        let running = try XCTUnwrap(server)
        running.kill(SIGTERM)
        let output = running.wait()
        server = nil
        XCTAssertEqual(output.status, 0, output.stderr)
        XCTAssertTrue(output.stderr.contains("driftless serve stopped"), output.stderr)
        let history = try world.driftless("history", "--format", "json", "--limit", "1")
        let run = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(history.stdout.utf8)) as? [[String: Any]])?.first)
        XCTAssertEqual(run["commit"] as? String, second)
        XCTAssertNotNil(run["result"], "the run was finished and recorded, not left open: \(run)")
        XCTAssertEqual(world.domainState("a"), "running", "stopping the daemon never stops a VM")

        // Restarted, it converges what the interrupted run left.
        try startServer()
        XCTAssertTrue(waitUntilTrue(timeout: 90) { self.world.domains().count == 3 && (try? self.latestRun())?["result"] as? String == "succeeded" })
    }

    // MARK: - Hardening: restarts, an unreachable remote, plans of branches, bad heads, authorization

    func driftFields(_ token: String) -> [String] {
        guard let report = (try? http("GET", "/api/v1/drift", token: token))?.json as? [String: Any],
              let items = report["items"] as? [[String: Any]] else { return [] }
        return items.flatMap { ($0["fields"] as? [[String: Any]] ?? []).compactMap { $0["field"] as? String } }
    }

    func gitlabPush() throws {
        XCTAssertEqual(try http("POST", "/hooks/gitlab", headers: ["X-Gitlab-Token": secret, "X-Gitlab-Event-UUID": UUID().uuidString],
                                body: Data("{}".utf8)).status, 202)
    }

    /// A restart with nothing new watches the hosts at once; a remote that is down at start leaves the
    /// daemon its commit and its tokens; once the remote is back with its branch force-pushed, the push is
    /// refused (the ancestor check reads the store), recorded and shown, and the hosts are left alone.
    func testARestartWatchesTheHostsAtOnceAndAForcePushAfterAnUnreachableRemoteIsRefused() throws {
        let remote = "file://" + world.repo
        try world.writeManifests(instances: [.init(name: "a")], extra: users())
        let first = try world.commit("a")
        try startServer(repo: remote)
        XCTAssertTrue(waitForApply(of: first), "the first commit is applied at start")
        let alice = try token("alice"), carol = try token("carol")
        try stopServer()

        // Restarted with nothing new to apply: the hosts are observed and their events subscribed at once.
        let started = Date()
        try startServer(repo: remote)
        XCTAssertEqual(try sh("virsh", "-c", EndToEndWorld.libvirtURI, "destroy", "\(world.project).a").status, 0)
        let destroyed = Date()
        XCTAssertTrue(waitUntilTrue(timeout: 2) { self.driftFields(alice).contains("power") },
                      "a virsh destroy after a restart is in the drift report within 2 s: \(driftFields(alice))")
        print(String(format: "drift after a restart: seen %.2f s after the destroy, %.2f s after the start",
                     Date().timeIntervalSince(destroyed), Date().timeIntervalSince(started)))
        XCTAssertEqual(try sh("virsh", "-c", EndToEndWorld.libvirtURI, "start", "\(world.project).a").status, 0)
        XCTAssertTrue(waitUntilTrue(timeout: 10) { !self.driftFields(alice).contains("power") })
        try stopServer()

        // The remote is gone at start: the fetch cache and the store still give the commit and the tokens.
        let away = world.root + "/repo.away"
        try FileManager.default.moveItem(atPath: world.repo, toPath: away)
        try startServer(repo: remote)
        XCTAssertTrue(waitUntilTrue(timeout: 15) { self.serverLog().contains("poll failed") }, "the remote is unreachable: \(serverLog())")
        let status = try http("GET", "/api/v1/status", token: alice)
        XCTAssertEqual(status.status, 200, "tokens work while the remote is down: \(status.body)")
        XCTAssertEqual(((status.json as? [String: Any])?["lastApplied"] as? [String: Any])?["commit"] as? String, first)
        XCTAssertEqual(try http("GET", "/api/v1/status", token: carol).status, 200)
        XCTAssertEqual(try http("GET", "/api/v1/status", token: "dl_not-a-token").status, 401)
        XCTAssertTrue(waitUntilTrue(timeout: 10) { (try? self.http("GET", "/api/v1/drift", token: alice).status) == 200 },
                      "drift is checked while the remote is down")

        // The remote is back, its branch force-pushed: refused and recorded; the daemon serves on.
        try FileManager.default.moveItem(atPath: away, toPath: world.repo)
        try world.writeManifests(instances: [.init(name: "a", memory: "80MiB")], extra: users())
        try world.git("add", "-A")
        try world.git("commit", "-q", "--amend", "-m", "rewritten history")
        let rewritten = try world.git("rev-parse", "HEAD")
        try gitlabPush()
        XCTAssertTrue(waitUntilTrue(timeout: 30) { (try? self.latestRun())?["commit"] as? String == rewritten }, "the force-push is recorded")
        let refused = try XCTUnwrap(try latestRun())
        XCTAssertEqual(refused["result"] as? String, "refused", "\(refused)")
        XCTAssertTrue((refused["detail"] as? String ?? "").contains("history rewrite"), "\(refused)")
        for user in [alice, carol] {
            let runs = try XCTUnwrap(try http("GET", "/api/v1/runs?limit=1", token: user).json as? [[String: Any]])
            XCTAssertEqual(runs.first?["result"] as? String, "refused")
            XCTAssertTrue((runs.first?["detail"] as? String ?? "").contains("history rewrite"),
                          "a history rewrite names only commits, so every user reads why: \(runs)")
        }
        XCTAssertTrue(serverLog().contains("commit refused"), serverLog())
        XCTAssertEqual(world.maxMemoryKiB("a"), 64 * 1024, "the rewritten head was not applied")
        XCTAssertEqual(world.domainState("a"), "running")
        XCTAssertEqual(try http("GET", "/api/v1/status", token: alice).status, 200, "still serving")
    }

    /// Listeners on loopback that record every connection: where a branch's hosts would be reached.
    func startConnectionRecorder(count: Int) throws -> (ports: [Int], connections: () -> [String], process: Spawned) {
        let file = world.root + "/connections"
        let script = """
            import socket, sys, threading
            out, count = sys.argv[1], int(sys.argv[2])
            socks = []
            for _ in range(count):
                s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(('127.0.0.1', 0)); s.listen(16); socks.append(s)
            def serve(s):
                while True:
                    c, _ = s.accept()
                    with open(out, 'a') as f: f.write('%d\\n' % s.getsockname()[1])
                    c.close()
            for s in socks: threading.Thread(target=serve, args=(s,), daemon=True).start()
            with open(out + '.ports', 'w') as f: f.write(' '.join(str(s.getsockname()[1]) for s in socks))
            threading.Event().wait()
            """
        try script.write(toFile: world.root + "/recorder.py", atomically: true, encoding: .utf8)
        let process = try spawn(["python3", world.root + "/recorder.py", file, String(count)])
        var ports: [Int] = []
        XCTAssertTrue(waitUntilTrue(timeout: 10) {
            ports = ((try? String(contentsOfFile: file + ".ports", encoding: .utf8)) ?? "").split(separator: " ").compactMap { Int($0) }
            return ports.count == count
        }, "the recorder listens")
        let connections = { ((try? String(contentsOfFile: file, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init) }
        return (ports, connections, process)
    }

    func hostDocument(_ name: String, libvirt: String, ovsdb: String) -> String {
        """
        apiVersion: driftless.dev/v1
        kind: Host
        metadata: {name: \(name)}
        spec:
          libvirt: \(libvirt)
          ovsdb: \(ovsdb)
          bridge: br-x\(world.id)
          datapath: netdev
          storagePool: {name: dle2e-\(world.id)-\(name)-vols, path: \(world.root)/pools/\(name)-vols}
          imagePool: {name: dle2e-\(world.id)-\(name)-imgs, path: \(world.root)/pools/\(name)-imgs}
        """
    }

    /// Planning a branch never connects to a host it adds, nor to an existing host whose endpoint it
    /// changes; both are shown as not observed. A bad head is refused and recorded while the daemon keeps
    /// serving, and the next good head is applied.
    func testPlansOfABranchNeverConnectToItsNewHostsAndABadHeadIsRefusedWhileServing() throws {
        try world.writeManifests(instances: [.init(name: "a")], extra: users())
        let first = try world.commit("a")
        try startServer()
        XCTAssertTrue(waitForApply(of: first))
        let alice = try token("alice"), erin = try token("erin"), carol = try token("carol")
        let recorder = try startConnectionRecorder(count: 3)
        defer { recorder.process.kill(); _ = recorder.process.wait() }
        let (libvirtPort, ovsdbPort, movedPort) = (recorder.ports[0], recorder.ports[1], recorder.ports[2])

        // One branch adds a host; another moves the existing host's OVSDB and libvirt endpoints.
        try world.git("checkout", "-q", "-b", "new-host")
        try world.writeManifests(instances: [.init(name: "a")], extra: users() + [
            hostDocument("evil", libvirt: "qemu+tcp://127.0.0.1:\(libvirtPort)/system", ovsdb: "tcp:127.0.0.1:\(ovsdbPort)"),
        ])
        try world.commit("a new host")
        try world.git("checkout", "-q", "main")
        try world.git("checkout", "-q", "-b", "moved-host")
        let manifests = try String(contentsOfFile: world.repo + "/cloud.yaml", encoding: .utf8)
        try manifests.replacingOccurrences(of: "ovsdb: unix:/var/run/openvswitch/db.sock", with: "ovsdb: tcp:127.0.0.1:\(movedPort)")
            .replacingOccurrences(of: "libvirt: \(EndToEndWorld.libvirtURI)", with: "libvirt: qemu+tcp://127.0.0.1:\(movedPort)/system")
            .write(toFile: world.repo + "/cloud.yaml", atomically: true, encoding: .utf8)
        try world.commit("the local host elsewhere")
        try world.git("checkout", "-q", "main")

        for (revision, host) in [("new-host", "evil"), ("moved-host", "local")] {
            for format in ["", "&format=markdown"] {
                let admin = try http("GET", "/api/v1/plan?rev=\(revision)\(format)", token: alice)
                XCTAssertEqual(admin.status, 200, admin.body)
                XCTAssertTrue(admin.body.contains("host \(host) could not be read (not observed (new host)"), admin.body)
                let projectAdmin = try http("GET", "/api/v1/plan?rev=\(revision)\(format)", token: erin)
                XCTAssertEqual(projectAdmin.status, 200, projectAdmin.body)
                XCTAssertTrue(projectAdmin.body.contains("1 cloud-wide warning"), "a host is cloud-wide: \(projectAdmin.body)")
                XCTAssertFalse(projectAdmin.body.contains("could not be read"), projectAdmin.body)
            }
        }
        // Plans run in the daemon's queue and answer when done: any connection would have been made by now.
        XCTAssertEqual(recorder.connections(), [], "nothing connected to the hosts of a branch")

        // The daemon still watches its own hosts.
        XCTAssertEqual(try sh("virsh", "-c", EndToEndWorld.libvirtURI, "destroy", "\(world.project).a").status, 0)
        XCTAssertTrue(waitUntilTrue(timeout: 3) { self.driftFields(alice).contains("power") }, "\(driftFields(alice))")
        XCTAssertEqual(try sh("virsh", "-c", EndToEndWorld.libvirtURI, "start", "\(world.project).a").status, 0)

        // A bad head (a wrong unit, a file that does not parse) is refused and recorded; serving goes on.
        try world.writeManifests(instances: [.init(name: "a", memory: "2GB")], extra: users())
        try "kind: [unclosed\n".write(toFile: world.repo + "/junk.yaml", atomically: true, encoding: .utf8)
        let bad = try world.commit("a bad head")
        try gitlabPush()
        XCTAssertTrue(waitUntilTrue(timeout: 30) { (try? self.latestRun())?["commit"] as? String == bad }, "the bad head is recorded")
        let refused = try XCTUnwrap(try latestRun())
        XCTAssertEqual(refused["result"] as? String, "refused", "\(refused)")
        let runs = try XCTUnwrap(try http("GET", "/api/v1/runs?limit=1", token: alice).json as? [[String: Any]])
        XCTAssertTrue((runs.first?["detail"] as? String ?? "").contains("does not use a binary unit"), "\(runs)")
        let carolRuns = try XCTUnwrap(try http("GET", "/api/v1/runs?limit=1", token: carol).json as? [[String: Any]])
        XCTAssertEqual(carolRuns.first?["detail"] as? String, "the details are visible to cloud admins", "\(carolRuns)")
        XCTAssertEqual(try http("GET", "/healthz").status, 200)
        XCTAssertEqual(try http("GET", "/api/v1/status", token: alice).status, 200)
        XCTAssertEqual(world.maxMemoryKiB("a"), 64 * 1024)

        // The next good head is applied.
        try FileManager.default.removeItem(atPath: world.repo + "/junk.yaml")
        try world.writeManifests(instances: [.init(name: "a", memory: "96MiB")], extra: users())
        let fixed = try world.commit("fixed")
        try gitlabPush()
        XCTAssertTrue(waitForApply(of: fixed))
        XCTAssertEqual(try latestRun()?["result"] as? String, "succeeded")
        XCTAssertEqual(world.maxMemoryKiB("a"), 96 * 1024)
    }

    /// The second project's documents, in their own file: a network and an instance `x`, and `frank`, its
    /// admin.
    func otherProjectFile(memory: String = "64MiB", extra: [String] = []) throws {
        let docs = ["""
            apiVersion: driftless.dev/v1
            kind: Network
            metadata: {name: net, project: \(world.otherProject)}
            spec: {cidr: 10.78.0.0/24, vlan: 78}
            """, """
            apiVersion: driftless.dev/v1
            kind: Instance
            metadata: {name: x, project: \(world.otherProject)}
            spec: {image: tiny, vcpus: 1, memory: \(memory), rootDisk: 128MiB, networks: [{network: net}]}
            """, """
            apiVersion: driftless.dev/v1
            kind: User
            metadata: {name: frank}
            spec:
              roles: [{project: \(world.otherProject), role: admin}]
            """] + extra
        try (docs.joined(separator: "\n---\n") + "\n").write(toFile: world.repo + "/other.yaml", atomically: true, encoding: .utf8)
    }

    /// An instance pinned to the local host whose domain name an unmanaged domain already has: a plan error
    /// in that instance's document.
    func collidingInstance(_ name: String, project: String) throws -> String {
        let xml = "<domain type='qemu'><name>\(project).\(name)</name><memory unit='MiB'>32</memory><os><type arch='x86_64'>hvm</type></os></domain>"
        try xml.write(toFile: world.root + "/\(project)-\(name).xml", atomically: true, encoding: .utf8)
        let defined = try sh("virsh", "-c", EndToEndWorld.libvirtURI, "define", world.root + "/\(project)-\(name).xml")
        XCTAssertEqual(defined.status, 0, defined.stderr)
        return """
            apiVersion: driftless.dev/v1
            kind: Instance
            metadata: {name: \(name), project: \(project)}
            spec: {image: tiny, vcpus: 1, memory: 64MiB, rootDisk: 128MiB, host: local, networks: [{network: net}]}
            """
    }

    /// Every API answer for users of one project shows nothing of another project: runs, run details with
    /// their plans and journals, status, drift (JSON and Markdown), plans of a branch and of an invalid
    /// branch with their diagnostics; cloud-wide steps and diagnostics are whole only for a cloud admin.
    func testEveryAnswerShowsAUserOnlyTheProjectsItHasARoleIn() throws {
        let (mine, theirs) = (world.project, world.otherProject)
        try world.writeManifests(instances: [.init(name: "a")], extra: users())
        try otherProjectFile()
        let first = try world.commit("a in one project, x in another")
        try startServer()
        XCTAssertTrue(waitForApply(of: first))
        XCTAssertEqual(try latestRun()?["result"] as? String, "succeeded")
        let runID = try XCTUnwrap(try latestRun()?["id"] as? Int)
        let alice = try token("alice"), bob = try token("bob"), carol = try token("carol"), erin = try token("erin"),
            frank = try token("frank")

        // Drift in both projects.
        for domain in ["\(mine).a", "\(theirs).x"] {
            XCTAssertEqual(try sh("virsh", "-c", EndToEndWorld.libvirtURI, "destroy", domain).status, 0)
        }
        XCTAssertTrue(waitUntilTrue(timeout: 5) { self.driftFields(alice).filter { $0 == "power" }.count == 2 }, "\(driftFields(alice))")

        // A branch changing both projects, each with a plan error, and adding a host (a cloud-wide warning).
        try world.git("checkout", "-q", "-b", "review")
        try world.writeManifests(instances: [.init(name: "a", memory: "80MiB")],
                                 extra: users() + [try collidingInstance("z", project: mine),
                                                   hostDocument("node-2", libvirt: "qemu+tcp://127.0.0.1:1/system", ovsdb: "tcp:127.0.0.1:1")])
        try otherProjectFile(memory: "72MiB", extra: [try collidingInstance("y", project: theirs)])
        try world.commit("review")
        // A branch that does not validate: an error in each project's document, and a file that does not parse.
        try world.git("checkout", "-q", "main")
        try world.git("checkout", "-q", "-b", "broken")
        try world.writeManifests(instances: [.init(name: "a", memory: "2GB")], extra: users())
        try otherProjectFile(memory: "3GB")
        try "kind: [unclosed\n".write(toFile: world.repo + "/junk.yaml", atomically: true, encoding: .utf8)
        try world.commit("broken")
        try world.git("checkout", "-q", "main")

        struct Row {
            var path: String
            var user: String
            var token: String
            var status: Int
            var shows: [String]
            var hides: [String]
        }
        let image = "import-image tiny@local"
        let rows: [Row] = [
            // status: projects, and the drift count of what the user sees
            Row(path: "/api/v1/status", user: "alice", token: alice, status: 200, shows: [mine, theirs, "\"driftItems\" : 2"], hides: []),
            Row(path: "/api/v1/status", user: "bob", token: bob, status: 200, shows: [mine, "\"driftItems\" : 1", "1 to create"], hides: [theirs]),
            Row(path: "/api/v1/status", user: "carol", token: carol, status: 200, shows: [theirs, "\"driftItems\" : 1", "1 to create"], hides: [mine]),
            // runs: summaries and step counts over the user's projects
            Row(path: "/api/v1/runs", user: "alice", token: alice, status: 200, shows: ["3 to create", "succeeded, 0 failed"], hides: []),
            Row(path: "/api/v1/runs", user: "bob", token: bob, status: 200,
                shows: ["1 to create", "1 succeeded, 0 failed, 0 skipped (steps of your projects)"], hides: [theirs, "3 to create"]),
            Row(path: "/api/v1/runs", user: "carol", token: carol, status: 200,
                shows: ["1 to create", "1 succeeded, 0 failed, 0 skipped (steps of your projects)"], hides: [mine, "3 to create"]),
            // a run: its plan's actions and its journal
            Row(path: "/api/v1/runs/\(runID)", user: "alice", token: alice, status: 200, shows: [mine, theirs, image], hides: []),
            Row(path: "/api/v1/runs/\(runID)", user: "bob", token: bob, status: 200, shows: ["create-instance \(mine)/a@local"],
                hides: [theirs, image]),
            Row(path: "/api/v1/runs/\(runID)", user: "carol", token: carol, status: 200, shows: ["create-instance \(theirs)/x@local"],
                hides: [mine, image]),
            // drift
            Row(path: "/api/v1/drift", user: "alice", token: alice, status: 200, shows: [mine, theirs], hides: []),
            Row(path: "/api/v1/drift", user: "bob", token: bob, status: 200, shows: [mine], hides: [theirs]),
            Row(path: "/api/v1/drift", user: "carol", token: carol, status: 200, shows: [theirs], hides: [mine]),
            Row(path: "/api/v1/drift?format=markdown", user: "bob", token: bob, status: 200, shows: ["1 drift item", mine], hides: [theirs]),
            Row(path: "/api/v1/drift?format=markdown", user: "carol", token: carol, status: 200, shows: ["1 drift item", theirs], hides: [mine]),
            // a branch's plan: actions and diagnostics of the projects the user manages
            Row(path: "/api/v1/plan?rev=review", user: "alice", token: alice, status: 200,
                shows: ["\(mine).z", "\(theirs).y", "80MiB", "72MiB", "host node-2 could not be read"], hides: []),
            Row(path: "/api/v1/plan?rev=review", user: "erin", token: erin, status: 200,
                shows: ["\(mine).z", "80MiB", "1 cloud-wide warning"], hides: [theirs, "72MiB", "node-2"]),
            Row(path: "/api/v1/plan?rev=review&format=markdown", user: "erin", token: erin, status: 200,
                shows: ["\(mine).z", "80MiB", "1 cloud-wide warning"], hides: [theirs, "72MiB", "node-2"]),
            Row(path: "/api/v1/plan?rev=review", user: "frank", token: frank, status: 200,
                shows: ["\(theirs).y", "72MiB", "1 cloud-wide warning"], hides: [mine, "80MiB", "node-2"]),
            Row(path: "/api/v1/plan?rev=review", user: "bob", token: bob, status: 403, shows: [], hides: [theirs]),
            Row(path: "/api/v1/plan?rev=review", user: "carol", token: carol, status: 403, shows: [], hides: [mine]),
            // a branch that does not validate: each project's errors, the unparsable file cloud-wide
            Row(path: "/api/v1/plan?rev=broken", user: "alice", token: alice, status: 422,
                shows: ["2GB", "3GB", "junk.yaml"], hides: []),
            Row(path: "/api/v1/plan?rev=broken", user: "erin", token: erin, status: 422,
                shows: ["2GB", "1 cloud-wide error"], hides: ["3GB", "junk.yaml", "other.yaml"]),
            Row(path: "/api/v1/plan?rev=broken&format=markdown", user: "frank", token: frank, status: 422,
                shows: ["3GB", "1 cloud-wide error"], hides: ["2GB", "junk.yaml", "cloud.yaml"]),
        ]
        for row in rows {
            let answer = try http("GET", row.path, token: row.token)
            XCTAssertEqual(answer.status, row.status, "\(row.user) \(row.path): \(answer.body)")
            for text in row.shows {
                XCTAssertTrue(answer.body.contains(text), "\(row.user) \(row.path) shows \(text): \(answer.body)")
            }
            for text in row.hides {
                XCTAssertFalse(answer.body.contains(text), "\(row.user) \(row.path) hides \(text): \(answer.body)")
            }
        }
        XCTAssertEqual(world.domains(of: theirs), ["\(theirs).x", "\(theirs).y"], "plans changed nothing")
    }
}
