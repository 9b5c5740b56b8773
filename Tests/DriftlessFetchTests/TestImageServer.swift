import DriftlessProcess
import Foundation
import XCTest

/// A small HTTP server in Python on 127.0.0.1, with one path per hostile behaviour. Started per test
/// (output discarded, never a pipe), killed when released.
final class TestImageServer {
    let root: String
    let process: ChildProcess.Background
    let port: Int
    var base: String { "http://127.0.0.1:\(port)" }

    static let script = #"""
    import base64, os, socket, sys, time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    ROOT, PORT_FILE = sys.argv[1], sys.argv[2]
    CERT = sys.argv[3] if len(sys.argv) > 4 else None
    KEY = sys.argv[4] if len(sys.argv) > 4 else None

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def send(self, status, body=b"", headers=()):
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)

        def redirect(self, location, status=302):
            self.send(status, b"", [("Location", location)])

        def do_GET(self):
            path = self.path.split("?")[0]
            port = self.server.server_address[1]
            if path.startswith("/files/"):
                with open(os.path.join(ROOT, path[len("/files/"):]), "rb") as f:
                    self.send(200, f.read())
            elif path == "/redirect/good":
                self.redirect("/files/image.bin")
            elif path == "/redirect/loopback2":
                self.redirect("http://127.0.0.2:%d/files/image.bin" % port)
            elif path == "/redirect/metadata":
                self.redirect("http://169.254.169.254/latest/meta-data/")
            elif path == "/redirect/mapped":
                self.redirect("http://[::ffff:7f00:2]:%d/files/image.bin" % port)
            elif path == "/redirect/unresolvable":
                self.redirect("http://no-such-host.invalid/files/image.bin")
            elif path == "/redirect/loop":
                self.redirect("/redirect/loop", 307)
            elif path == "/redirect/with-credentials":
                self.redirect("http://someone:pw@127.0.0.1:%d/files/image.bin" % port)
            elif path == "/auth/same-origin":
                if self.headers.get("Authorization") != "Basic " + base64.b64encode(b"user:s3cret").decode():
                    self.send(401)
                else:
                    self.redirect("/auth/check")
            elif path == "/auth/check":
                if self.headers.get("Authorization"):
                    self.send(200, b"with-credentials")
                else:
                    self.send(200, b"without-credentials")
            elif path == "/auth/other-origin":
                self.redirect("http://localhost:%d/auth/check" % port)
            elif path == "/big/declared":
                self.send_response(200)
                self.send_header("Content-Length", str(10 << 30))
                self.end_headers()
                try:
                    self.wfile.write(b"x" * (1 << 20))
                except OSError:
                    pass
            elif path == "/big/chunked":
                self.send_response(200)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                chunk = b"y" * 65536
                try:
                    for _ in range(1024):
                        self.wfile.write(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
                    self.wfile.write(b"0\r\n\r\n")
                except OSError:
                    pass
            elif path == "/big/until-close":
                self.send_response(200)
                self.send_header("Connection", "close")
                self.end_headers()
                try:
                    for _ in range(1024):
                        self.wfile.write(b"z" * 65536)
                except OSError:
                    pass
                self.close_connection = True
            elif path == "/stream":
                query = self.path.split("?")[1] if "?" in self.path else ""
                size = int(dict(p.split("=") for p in query.split("&") if "=" in p).get("size", 256 << 20))
                self.send_response(200)
                self.send_header("Content-Length", str(size))
                self.end_headers()
                block = bytes(range(256)) * 4096
                sent = 0
                while sent < size:
                    n = min(len(block), size - sent)
                    self.wfile.write(block[:n])
                    sent += n
            elif path == "/slow/body":
                self.send_response(200)
                self.send_header("Content-Length", "100")
                self.end_headers()
                self.wfile.write(b"a" * 10)
                self.wfile.flush()
                time.sleep(5)
            elif path == "/slow/head":
                time.sleep(5)
                self.send(200, b"late")
            elif path.startswith("/status/"):
                self.send(int(path[len("/status/"):]), b"nope")
            else:
                self.send(404, b"not found")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if CERT:
        import ssl
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(CERT, KEY)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    with open(PORT_FILE + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(PORT_FILE + ".tmp", PORT_FILE)
    server.serve_forever()
    """#

    init(root: String, tls: (cert: String, key: String)? = nil) async throws {
        self.root = root
        let scriptPath = root + "/server.py"
        try Self.script.write(toFile: scriptPath, atomically: true, encoding: .utf8)
        let portFile = root + "/port"
        var arguments = [scriptPath, root, portFile]
        if let tls { arguments += [tls.cert, tls.key] }
        process = try await ChildProcess.startChecked("python3", arguments)
        var found: Int?
        for _ in 0..<200 where found == nil {
            if let text = try? String(contentsOfFile: portFile, encoding: .utf8), let value = Int(text) { found = value }
            else { try await Task.sleep(for: .milliseconds(25)) }
        }
        guard let found else {
            await process.stop()
            // python3 is installed by scripts/install-deps.sh: a server that does not start fails the test.
            struct NotStarted: Error, CustomStringConvertible { var description: String }
            throw NotStarted(description: "the Python test server did not start within 5 s")
        }
        port = found
    }

    deinit {
        process.kill()
    }
}
