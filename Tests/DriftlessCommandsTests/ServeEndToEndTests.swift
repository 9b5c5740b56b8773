import Crypto
import Foundation
import XCTest

/// `driftless serve` over real sockets against real libvirtd/QEMU and Open vSwitch: webhooks, tokens and
/// roles on every endpoint, a push reconciled, a force-push refused, drift seen through events, restarts
/// of libvirtd and ovsdb-server while serving, SIGTERM mid-apply.
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

    func startServer(_ extra: [String] = [], driftInterval: String = "1h") throws {
        port = Int.random(in: 20000..<40000)
        server = try spawn([DriftlessBinary.url.path, "serve", "--repo", world.repo, "--state", world.state, "--image-dir", world.root,
                            "--listen", "127.0.0.1:\(port)", "--interval", "1h", "--drift-interval", driftInterval,
                            "--webhook-secret-file", world.root + "/secret"] + extra)
        XCTAssertTrue(waitUntilTrue(timeout: 30) { (try? self.http("GET", "/readyz").status) == 200 }, "serve never became ready")
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
        XCTAssertEqual(try http("POST", "/hooks/gitlab", headers: ["X-Gitlab-Token": secret, "X-Gitlab-Event-UUID": UUID().uuidString],
                                body: body).status, 202)
        Thread.sleep(forTimeInterval: 2)
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

    func testDriftSeenThroughEventsAlsoAfterDaemonRestarts() throws {
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
        XCTAssertEqual(try sh("virsh", "-c", EndToEndWorld.libvirtURI, "destroy", "\(world.project).a").status, 0)
        XCTAssertTrue(waitUntilTrue(timeout: 3) { driftFields().contains("power") }, "virsh destroy seen within 3 s: \(driftFields())")

        // ovs-vsctl del-port: an OVSDB monitor update.
        let port = try XCTUnwrap(world.ports().first)
        XCTAssertEqual(try sh("ovs-vsctl", "del-port", world.bridge, port.name).status, 0)
        XCTAssertTrue(waitUntilTrue(timeout: 3) { driftFields().contains { $0.hasSuffix(".port") } }, "del-port seen within 3 s: \(driftFields())")

        // libvirtd restarted while serving: events are registered again.
        let root = DriftlessBinary.repositoryRoot
        XCTAssertEqual(try sh(root + "/scripts/stop-libvirt.sh").status, 0)
        XCTAssertEqual(try sh(root + "/scripts/start-libvirt.sh").status, 0)
        XCTAssertEqual(try sh("virsh", "-c", EndToEndWorld.libvirtURI, "start", "\(world.project).a").status, 0)
        XCTAssertTrue(waitUntilTrue(timeout: 10) { !driftFields().contains("power") }, "the start after a libvirtd restart is seen: \(driftFields())")

        // virsh setmem sends no libvirt event: the periodic check finds it (every 2 s in this test).
        XCTAssertEqual(try sh("virsh", "-c", EndToEndWorld.libvirtURI, "setmem", "\(world.project).b", "48M", "--config").status, 0)
        XCTAssertTrue(waitUntilTrue(timeout: 10) { driftFields().contains("memory") }, "virsh setmem seen: \(driftFields())")

        // One daemon per state directory: anything else that would apply is refused, naming the holder.
        let heal = try world.driftless("drift", "--heal")
        XCTAssertEqual(heal.status, 1)
        XCTAssertTrue(heal.stderr.contains("driftless serve"), heal.stderr)

        // ovsdb-server restarted while serving: the monitor resyncs; a new del-port is seen.
        XCTAssertEqual(try sh(root + "/scripts/stop-ovs.sh").status, 0)
        XCTAssertEqual(try sh(root + "/scripts/start-ovs.sh").status, 0)
        XCTAssertTrue(waitUntilTrue(timeout: 15) { !driftFields().contains { $0.hasSuffix(".port") } },
                      "after the restart every port is there: \(driftFields())")
        let other = try XCTUnwrap(world.ports().first)
        XCTAssertEqual(try sh("ovs-vsctl", "del-port", world.bridge, other.name).status, 0)
        XCTAssertTrue(waitUntilTrue(timeout: 15) { driftFields().contains { $0.hasSuffix(".port") } },
                      "a del-port after an ovsdb-server restart is seen: \(driftFields())")
    }

    /// A tiny HTTP receiver for notifications: appends each POST body as one line to a file.
    func startReceiver() throws -> (url: String, file: String, process: Spawned) {
        let file = world.root + "/notifications.jsonl"
        let receiverPort = Int.random(in: 40000..<50000)
        let script = """
            import http.server, sys
            class H(http.server.BaseHTTPRequestHandler):
                def do_POST(self):
                    body = self.rfile.read(int(self.headers.get('Content-Length', 0)))
                    open(sys.argv[2], 'ab').write(body.replace(b'\\n', b' ') + b'\\n')
                    self.send_response(200); self.end_headers()
                def log_message(self, *args): pass
            http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()
            """
        try script.write(toFile: world.root + "/receiver.py", atomically: true, encoding: .utf8)
        let process = try spawn(["python3", world.root + "/receiver.py", String(receiverPort), file])
        return ("http://127.0.0.1:\(receiverPort)/hook", file, process)
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
}
