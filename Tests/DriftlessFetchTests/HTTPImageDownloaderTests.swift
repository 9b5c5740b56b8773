import Crypto
import DriftlessCore
@testable import DriftlessFetch
import DriftlessProcess
import Foundation
import XCTest

/// The image downloader against a local Python server: what it refuses, where it stops, and that no
/// message carries a URL's credentials.
final class HTTPImageDownloaderTests: XCTestCase {
    var root = ""
    var server: TestImageServer!
    var imageDigest = ""
    let image = Data((0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7) })

    /// The test's seam: 127.0.0.1 and ::1 (where the server is) are allowed, every other address is judged
    /// by the standard rules, so 127.0.0.2 or 169.254.169.254 stay forbidden.
    static let loopbackOnly = AddressPolicy(refusesLocalNames: false) { address in
        ["127.0.0.1", "::1"].contains(address.description) ? nil : ImageURLPolicy.forbiddenReason(address)
    }

    override func setUp() async throws {
        root = NSTemporaryDirectory() + "dlt-http-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try image.write(to: URL(fileURLWithPath: root + "/image.bin"))
        imageDigest = StableHash.hex(SHA256.hash(data: image))
        server = try await TestImageServer(root: root)
    }

    override func tearDownWithError() throws {
        server = nil
        try? FileManager.default.removeItem(atPath: root)
    }

    func downloader(maxBytes: Int64 = 1 << 30, idle: Duration = .seconds(10),
                    addresses: AddressPolicy = HTTPImageDownloaderTests.loopbackOnly) -> HTTPImageDownloader {
        HTTPImageDownloader(configuration: .init(maxBytes: maxBytes, connectTimeout: .seconds(5), idleTimeout: idle,
                                                 maxRedirects: 5, addresses: addresses))
    }

    /// Downloads into a fresh file; returns the result or the error, and how many bytes reached the file.
    func fetch(_ url: String, _ downloader: HTTPImageDownloader? = nil) async -> (Result<HTTPImageDownloader.Download, ImageSourceError>, Int) {
        let path = root + "/out-\(UUID().uuidString.prefix(6))"
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        defer {
            close(fd)
            unlink(path)
        }
        let result: Result<HTTPImageDownloader.Download, ImageSourceError>
        do {
            result = .success(try await (downloader ?? self.downloader()).download(url, to: fd))
        } catch let error as ImageSourceError {
            result = .failure(error)
        } catch {
            XCTFail("not an ImageSourceError: \(error)")
            result = .failure(.transfer(url: url, reason: "\(error)"))
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? -1
        return (result, size)
    }

    func failure(_ url: String, _ downloader: HTTPImageDownloader? = nil, file: StaticString = #filePath, line: UInt = #line)
        async -> (ImageSourceError?, Int) {
        let (result, size) = await fetch(url, downloader)
        switch result {
        case let .success(download):
            XCTFail("\(url) downloaded \(download.bytes) bytes", file: file, line: line)
            return (nil, size)
        case let .failure(error):
            return (error, size)
        }
    }

    // MARK: - What works

    func testAGoodImageDownloadsAndItsDigestChecks() async throws {
        let (result, size) = await fetch(server.base + "/files/image.bin")
        let download = try result.get()
        XCTAssertEqual(download.sha256, imageDigest)
        XCTAssertEqual(download.bytes, Int64(image.count))
        XCTAssertEqual(size, image.count)
        let redirected = try await fetch(server.base + "/redirect/good").0.get()
        XCTAssertEqual(redirected.sha256, imageDigest)
        XCTAssertEqual(redirected.url, server.base + "/files/image.bin")
    }

    // MARK: - Redirects

    func testRedirectsToForbiddenAddressesAreRefusedBeforeConnecting() async {
        let cases: [(String, String)] = [
            ("/redirect/loopback2", "it redirects to http://127.0.0.2:\(server.port)/files/image.bin, and it points at 127.0.0.2, a loopback address"),
            ("/redirect/metadata", "it redirects to http://169.254.169.254/latest/meta-data/, and it points at 169.254.169.254, a link-local address"),
            ("/redirect/mapped", "an IPv4-mapped form of 127.0.0.2, a loopback address"),
            ("/redirect/unresolvable", "no-such-host.invalid does not resolve"),
            ("/redirect/loop", "more than 5 redirects"),
            ("/redirect/with-credentials", "it redirects to a URL with credentials (http://127.0.0.1:\(server.port)/files/image.bin)"),
        ]
        for (path, expected) in cases {
            let (error, size) = await failure(server.base + path)
            XCTAssertTrue(error?.description.contains(expected) == true, "\(path): \(String(describing: error))")
            XCTAssertEqual(error?.failureKind, .terminal, path)
            XCTAssertEqual(size, 0, "\(path): nothing is written")
        }
    }

    /// The standard policy refuses the loopback server itself, and a failed lookup refuses.
    func testTheStandardPolicyRefusesLoopbackAndUnresolvableNames() async {
        let standard = downloader(addresses: .standard)
        for (url, expected) in [
            (server.base + "/files/image.bin", "it points at 127.0.0.1, a loopback address"),
            ("http://[0::1]:\(server.port)/files/image.bin", "it points at [::1], a loopback address"),
            ("http://[::ffff:7f00:1]:\(server.port)/x", "an IPv4-mapped form of 127.0.0.1"),
            ("http://[::127.0.0.1]:\(server.port)/x", "an IPv4-compatible form of 127.0.0.1"),
            ("http://localhost:\(server.port)/x", "a loopback or metadata address"),
            ("http://no-such-host.invalid/x", "cannot resolve no-such-host.invalid"),
            ("ftp://mirror.example.com/x", "image URLs must use http or https"),
        ] {
            let (error, _) = await failure(url, standard)
            XCTAssertTrue(error?.description.contains(expected) == true, "\(url): \(String(describing: error))")
        }
    }

    func testCredentialsGoOnlyToTheirOriginAndNeverIntoMessages() async throws {
        let withCredentials = "http://user:s3cret@127.0.0.1:\(server.port)"
        let same = try await fetch(withCredentials + "/auth/same-origin").0.get()
        XCTAssertEqual(same.url, server.base + "/auth/check")
        // Same origin: the server saw the credentials again after the redirect (it answers by length).
        XCTAssertEqual(same.bytes, Int64("with-credentials".utf8.count))
        // localhost is another origin, though it is the same server: no credentials there.
        let other = try await fetch(withCredentials + "/auth/other-origin").0.get()
        XCTAssertEqual(other.bytes, Int64("without-credentials".utf8.count))

        for path in ["/status/404", "/status/503", "/redirect/loopback2", "/redirect/loop", "/files/missing?token=t0ken"] {
            let (error, _) = await failure(withCredentials + path + (path.contains("?") ? "" : "?sig=t0ken"))
            let text = error?.description ?? ""
            XCTAssertFalse(text.contains("s3cret") || text.contains("user") || text.contains("t0ken"), text)
            XCTAssertTrue(text.contains("http://127.0.0.1:\(server.port)"), text)
        }
        let (refused, _) = await failure("http://user:s3cret@169.254.169.254/latest?x=t0ken", downloader(addresses: .standard))
        XCTAssertEqual(refused?.description,
                       "refusing to fetch http://169.254.169.254/latest?…: it points at 169.254.169.254, a link-local address "
                       + "(the metadata service lives at 169.254.169.254)")
    }

    // MARK: - Size

    func testAContentLengthAboveTheCapIsRefusedBeforeReading() async {
        let (error, size) = await failure(server.base + "/big/declared", downloader(maxBytes: 1 << 20))
        XCTAssertEqual(error, .tooLarge(source: server.base + "/big/declared", limit: 1 << 20, declared: 10 << 30))
        XCTAssertEqual(size, 0)
    }

    func testABodyThatGrowsPastTheCapIsCutThere() async {
        for path in ["/big/chunked", "/big/until-close"] {
            let started = ContinuousClock.now
            let (error, size) = await failure(server.base + path, downloader(maxBytes: 1 << 20))
            XCTAssertEqual(error, .tooLarge(source: server.base + path, limit: 1 << 20, declared: nil), path)
            XCTAssertLessThanOrEqual(size, 1 << 20, "\(path): never more than the cap on disk")
            XCTAssertLessThan(ContinuousClock.now - started, .seconds(10), "\(path): stopped at the cap, not at the end")
        }
    }

    /// A body larger than memory would like streams to disk: peak memory grows far less than the body.
    func testALargeBodyStreamsToDiskWithoutBuffering() async throws {
        let before = peakResidentKiB()
        let size = 256 << 20
        let (result, written) = await fetch(server.base + "/stream?size=\(size)")
        let download = try result.get()
        XCTAssertEqual(download.bytes, Int64(size))
        XCTAssertEqual(written, size)
        let grown = peakResidentKiB() - before
        XCTAssertLessThan(grown, 64 << 10, "peak RSS grew by \(grown) KiB for a 256 MiB body")
    }

    // MARK: - Time

    func testASlowServerTimesOut() async {
        for path in ["/slow/body", "/slow/head"] {
            let started = ContinuousClock.now
            let (error, _) = await failure(server.base + path, downloader(idle: .milliseconds(500)))
            XCTAssertEqual(error, .timedOut(url: server.base + path, reason: "no data for 0.5 s"), path)
            XCTAssertEqual(error?.failureKind, .transient)
            XCTAssertLessThan(ContinuousClock.now - started, .seconds(4), path)
        }
    }

    /// A listener whose accept queue is full drops new SYNs, so a connect to it never completes.
    func testAnUnansweredConnectTimesOut() async throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) == 0 && getsockname(listener, $0, &length) == 0 }
        }
        XCTAssertTrue(bound)
        XCTAssertEqual(listen(listener, 0), 0)
        // Fill the queue (backlog 0 holds one) with connections nobody accepts.
        var fillers: [Int32] = []
        defer { fillers.forEach { close($0) } }
        for _ in 0..<3 {
            let filler = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            _ = fcntl(filler, F_SETFL, O_NONBLOCK)
            _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(filler, $0, length) } }
            fillers.append(filler)
        }
        usleep(100_000)
        let port = Int(UInt16(bigEndian: address.sin_port))
        let quick = HTTPImageDownloader(configuration: .init(connectTimeout: .seconds(1), addresses: Self.loopbackOnly))
        let started = ContinuousClock.now
        let (error, _) = await failure("http://127.0.0.1:\(port)/x", quick)
        XCTAssertEqual(error, .timedOut(url: "http://127.0.0.1:\(port)/x", reason: "no connection within 1 s"))
        XCTAssertEqual(error?.failureKind, .transient)
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(4))
    }

    func testARefusedConnectionIsATransientFailure() async {
        let (error, _) = await failure("http://127.0.0.1:1/x")
        XCTAssertEqual(error, .connectFailed(url: "http://127.0.0.1:1/x", reason: "127.0.0.1: Connection refused"))
        XCTAssertEqual(error?.failureKind, .transient)
    }

    func testHTTPErrorsNameTheStatus() async {
        let (error, _) = await failure(server.base + "/status/404")
        XCTAssertEqual(error?.description, "fetching \(server.base)/status/404 failed with HTTP 404")
        XCTAssertEqual(error?.failureKind, .terminal)
    }

    // MARK: - TLS

    /// https verifies the certificate against the system's trust store: a self-signed server is refused.
    func testASelfSignedServerIsRefused() async throws {
        let cert = root + "/cert.pem", key = root + "/key.pem"
        let made = try await ChildProcess.run("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
                                                          "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                                                          "-keyout", key, "-out", cert, "-days", "1"])
        guard made.succeeded else {
            // openssl is installed by scripts/install-deps.sh: without a certificate the test fails, never skips.
            struct NoCertificate: Error, CustomStringConvertible { var description: String }
            throw NoCertificate(description: "openssl could not make a certificate: \(made.stderr)")
        }
        let tlsRoot = root + "/tls"
        try FileManager.default.createDirectory(atPath: tlsRoot, withIntermediateDirectories: true)
        try image.write(to: URL(fileURLWithPath: tlsRoot + "/image.bin"))
        let tlsServer = try await TestImageServer(root: tlsRoot, tls: (cert, key))
        for url in ["https://127.0.0.1:\(tlsServer.port)/files/image.bin", "https://localhost:\(tlsServer.port)/files/image.bin"] {
            let (error, size) = await failure(url)
            XCTAssertTrue(error?.description.contains("TLS failed") == true, "\(url): \(String(describing: error))")
            XCTAssertEqual(error?.failureKind, .terminal)
            XCTAssertEqual(size, 0)
        }
        _ = tlsServer
    }

    func testHTTPSNeverRedirectsToHTTP() throws {
        let secure = try ImageURL("https://mirror.example.com/a.img")
        let next = try secure.resolving(location: "http://mirror.example.com/a.img")
        XCTAssertFalse(next.secure)
        // The download loop refuses that hop; the URL logic keeps credentials to the origin only.
        let withUser = try ImageURL("https://u:p@mirror.example.com/a.img")
        XCTAssertEqual(try withUser.resolving(location: "/b.img").credentials, "u:p")
        XCTAssertNil(try withUser.resolving(location: "https://cdn.example.com/b.img").credentials)
        XCTAssertNil(try withUser.resolving(location: "http://mirror.example.com/b.img").credentials)
        XCTAssertEqual(withUser.display, "https://mirror.example.com/a.img")
    }
}

/// The process's peak resident set, in KiB.
func peakResidentKiB() -> Int {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return usage.ru_maxrss
}
