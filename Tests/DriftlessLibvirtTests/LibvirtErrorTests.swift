import Foundation
import DriftlessLibvirt
import XCTest

final class LibvirtErrorTests: XCTestCase {
    func testCodesCarryLibvirtNumbers() {
        // Numbers from virterror.h; a renumbering would break persisted decisions.
        let table: [(LibvirtError.Code, Int32)] = [
            (.internalError, 1), (.noSupport, 3), (.noConnect, 5), (.operationFailed, 9),
            (.xmlError, 27), (.systemError, 38), (.rpc, 39), (.noDomain, 42), (.authFailed, 45),
            (.noStoragePool, 49), (.noStorageVol, 50), (.operationInvalid, 55),
            (.operationTimeout, 68), (.noDomainMetadata, 80), (.storageVolExists, 90),
        ]
        for (code, number) in table {
            XCTAssertEqual(code.rawValue, number, "\(code)")
        }
        XCTAssertEqual(LibvirtError.ErrorDomain.rpc.rawValue, 7)
        XCTAssertEqual(LibvirtError.ErrorDomain.remote.rawValue, 13)
    }

    func testUnknownCodesStayRepresentable() {
        let code = LibvirtError.Code(rawValue: 9_999)
        XCTAssertEqual(code.rawValue, 9_999)
        XCTAssertNotEqual(code, .noDomain)
        let error = LibvirtError(code: code, message: "future", function: "virFuture")
        XCTAssertFalse(error.isNotFound)
        XCTAssertFalse(error.isConnectionLost)
    }

    func testClassificationUsesCodeAndDomainNotMessage() {
        struct Row {
            var code: LibvirtError.Code
            var domain: LibvirtError.ErrorDomain
            var closed = false
            var message = ""
            var notFound: Bool
            var lost: Bool
        }
        let rows: [Row] = [
            Row(code: .noDomain, domain: .qemu, notFound: true, lost: false),
            Row(code: .noStoragePool, domain: .storage, notFound: true, lost: false),
            Row(code: .noStorageVol, domain: .storage, notFound: true, lost: false),
            Row(code: .systemError, domain: .rpc, notFound: false, lost: true),
            Row(code: .internalError, domain: .rpc, message: "client socket is closed", notFound: false, lost: true),
            Row(code: .internalError, domain: .remote, notFound: false, lost: true),
            Row(code: .rpc, domain: .none, notFound: false, lost: true),
            Row(code: .noConnect, domain: .none, notFound: false, lost: true),
            // A message that sounds like a lost connection does not make it one.
            Row(code: .internalError, domain: .qemu, message: "client socket is closed", notFound: false, lost: false),
            Row(code: .systemError, domain: .storage, message: "No such file", notFound: false, lost: false),
            // Once the close callback fired, any failure means the host is gone.
            Row(code: .operationFailed, domain: .qemu, closed: true, notFound: false, lost: true),
            Row(code: .operationInvalid, domain: .qemu, notFound: false, lost: false),
            Row(code: .authFailed, domain: .remote, notFound: false, lost: false),
        ]
        for row in rows {
            let error = LibvirtError(
                code: row.code, domain: row.domain, message: row.message, function: "virX",
                uri: "qemu:///system", connectionClosed: row.closed
            )
            XCTAssertEqual(error.isNotFound, row.notFound, "\(error)")
            XCTAssertEqual(error.isConnectionLost, row.lost, "\(error)")
        }
    }

    func testLostConnectionDescriptionSaysUnreachableAndNamesHost() {
        let error = LibvirtError(
            code: .systemError, domain: .rpc, message: "Cannot recv data", function: "virConnectListAllDomains",
            uri: "qemu+ssh://node-1/system"
        )
        XCTAssertTrue(error.description.contains("unreachable"), error.description)
        XCTAssertTrue(error.description.contains("qemu+ssh://node-1/system"), error.description)
        XCTAssertTrue(error.description.contains("virConnectListAllDomains"), error.description)
    }

    func testURIRedactionRemovesCredentials() {
        let table: [(String, String)] = [
            ("test:///default", "test:///default"),
            ("qemu:///system", "qemu:///system"),
            ("qemu+ssh://root@node-1/system", "qemu+ssh://node-1/system"),
            ("qemu+tcp://alice:s3cret@10.0.0.5:16509/system", "qemu+tcp://10.0.0.5:16509/system"),
            ("qemu+ssh://u:p%40ss@node/system?keyfile=/k&no_verify=1", "qemu+ssh://node/system?keyfile=/k&no_verify=1"),
            ("qemu+tls://node/system?password=hunter2", "qemu+tls://node/system?password=REDACTED"),
        ]
        for (input, expected) in table {
            XCTAssertEqual(redactLibvirtURI(input), expected, input)
        }
    }

    func testOpeningAnUnreachableHostIsConnectionLostWithRedactedURI() throws {
        // Port 1 on loopback refuses connections; no daemon is needed for this.
        let uri = "qemu+tcp://alice@127.0.0.1:1/system"
        guard let error = assertLibvirtError(try LibvirtConnection(uri: uri)) else { return }
        XCTAssertTrue(error.isConnectionLost, "\(error) code=\(error.code) domain=\(error.domain.rawValue)")
        XCTAssertFalse(error.isNotFound)
        XCTAssertEqual(error.function, "virConnectOpen")
        XCTAssertEqual(error.uri, "qemu+tcp://127.0.0.1:1/system")
        XCTAssertTrue(error.description.contains("unreachable"), error.description)
    }

    /// A URI outside the allowlist is refused before libvirt sees it: an `ext` transport never runs its
    /// command (no marker file appears), and a password never reaches a message.
    func testURIsOutsideTheAllowlistAreNeverOpened() throws {
        let marker = NSTemporaryDirectory() + "dl-ext-marker-\(UUID().uuidString)"
        let script = NSTemporaryDirectory() + "dl-ext-\(UUID().uuidString).sh"
        try "#!/bin/sh\ntouch \(marker)\n".write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        defer { unlink(script); unlink(marker) }
        for uri in ["qemu+ext:///system?command=\(script)", "test+ext:///default?command=\(script)",
                    "qemu+ssh://h/system?command=\(script)", "qemu+ssh://h/system?netcat=\(script)&no_verify=1",
                    "qemu+tcp://alice:s3cret@127.0.0.1:1/system"] {
            guard let error = assertLibvirtError(try LibvirtConnection(uri: uri)) else { continue }
            XCTAssertEqual(error.code, .invalidArgument, uri)
            XCTAssertTrue(error.message.contains("outside the allowlist"), error.message)
            XCTAssertFalse(error.description.contains("s3cret"), error.description)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: marker), "an ext transport ran its command")
    }
}
