import Foundation

/// A W3C WebDriver client for Debian's `chromedriver` driving headless `chromium`, over plain HTTP
/// (curl, as the other end-to-end tests talk to the daemon): enough to fill a form, click, read the
/// page and take screenshots.
final class WebDriver {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    let driver: Spawned
    let port: Int
    let scratch: String
    private(set) var session = ""

    static let chromedriver = "/usr/bin/chromedriver"
    static let chromium = "/usr/bin/chromium"
    static var available: Bool { FileManager.default.isExecutableFile(atPath: chromedriver) && FileManager.default.isExecutableFile(atPath: chromium) }

    /// Starts chromedriver on a free port and opens a headless browser session.
    init(scratch: String, width: Int = 1360, height: Int = 900) throws {
        self.scratch = scratch
        port = try freePort()
        driver = try spawn([Self.chromedriver, "--port=\(port)", "--allowed-ips=127.0.0.1"])
        guard waitUntilTrue(timeout: 15, { (try? Self.request("GET", "http://127.0.0.1:\(self.port)/status", scratch: scratch)) != nil }) else {
            driver.kill()
            throw Failure(description: "chromedriver did not start: \(driver.wait().stderr)")
        }
        let capabilities: [String: Any] = ["capabilities": ["alwaysMatch": [
            "browserName": "chrome",
            "goog:chromeOptions": ["binary": Self.chromium,
                                   "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                                            "--window-size=\(width),\(height)", "--user-data-dir=\(scratch)/chromium-profile"]],
        ]]]
        let created = try call("POST", "/session", capabilities)
        guard let id = (created as? [String: Any])?["sessionId"] as? String else { throw Failure(description: "no session: \(String(describing: created))") }
        session = id
    }

    func quit() {
        _ = try? call("DELETE", "/session/\(session)", nil)
        driver.kill(SIGTERM)
        _ = driver.wait()
    }

    func open(_ url: String) throws { _ = try call("POST", "/session/\(session)/url", ["url": url]) }

    func element(_ css: String) throws -> String {
        let found = try call("POST", "/session/\(session)/element", ["using": "css selector", "value": css])
        guard let id = (found as? [String: Any])?["element-6066-11e4-a52e-4f735466cecf"] as? String else {
            throw Failure(description: "no element \(css)")
        }
        return id
    }

    func type(_ css: String, _ text: String) throws {
        let id = try element(css)
        _ = try call("POST", "/session/\(session)/element/\(id)/clear", [:])
        _ = try call("POST", "/session/\(session)/element/\(id)/value", ["text": text])
    }

    func click(_ css: String) throws { _ = try call("POST", "/session/\(session)/element/\(try element(css))/click", [:]) }

    /// Runs `script` in the page and returns its result.
    func run(_ script: String) throws -> Any? { try call("POST", "/session/\(session)/execute/sync", ["script": script, "args": []]) }

    /// `document.body.innerText`, or "" while the page loads.
    var text: String { ((try? run("return document.body ? document.body.innerText : ''")) as? String) ?? "" }

    func deleteCookies() throws { _ = try call("DELETE", "/session/\(session)/cookie", nil) }

    /// A PNG of the viewport, written to `path`.
    func screenshot(to path: String) throws {
        guard let base64 = try call("GET", "/session/\(session)/screenshot", nil) as? String, let data = Data(base64Encoded: base64) else {
            throw Failure(description: "no screenshot")
        }
        try data.write(to: URL(fileURLWithPath: path))
    }

    /// Resizes the window (for a full-page screenshot of a tall page).
    func resize(width: Int, height: Int) throws {
        _ = try call("POST", "/session/\(session)/window/rect", ["width": width, "height": height])
    }

    func call(_ method: String, _ path: String, _ body: Any?) throws -> Any? {
        let data = try Self.request(method, "http://127.0.0.1:\(port)\(path)", body: body, scratch: scratch)
        let object = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) as? [String: Any]
        if let value = object?["value"] as? [String: Any], let error = value["error"] as? String {
            throw Failure(description: "\(method) \(path): \(error): \(value["message"] as? String ?? "")")
        }
        return object?["value"] ?? nil
    }

    static func request(_ method: String, _ url: String, body: Any? = nil, scratch: String) throws -> Data {
        let out = scratch + "/wd-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: out) }
        var arguments = ["curl", "-s", "-f", "-o", out, "-X", method, "--max-time", "60", "-H", "Content-Type: application/json"]
        if let body {
            let file = scratch + "/wd-body-\(UUID().uuidString)"
            defer { try? FileManager.default.removeItem(atPath: file) }
            try JSONSerialization.data(withJSONObject: body).write(to: URL(fileURLWithPath: file))
            arguments += ["--data-binary", "@" + file]
            let result = try spawn(arguments + [url]).wait()
            guard result.status == 0 || result.status == 22 else { throw Failure(description: "curl \(url): \(result.status)") }
            return (try? Data(contentsOf: URL(fileURLWithPath: out))) ?? Data("{}".utf8)
        }
        let result = try spawn(arguments + [url]).wait()
        guard result.status == 0 || result.status == 22 else { throw Failure(description: "curl \(url): \(result.status)") }
        return (try? Data(contentsOf: URL(fileURLWithPath: out))) ?? Data("{}".utf8)
    }
}

/// A TCP port nothing listens on now (bound to 0, read back, closed).
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw WebDriver.Failure(description: "socket: \(errno)") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
    guard bound == 0 else { throw WebDriver.Failure(description: "bind: \(errno)") }
    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
    return Int(UInt16(bigEndian: address.sin_port))
}
