import DriftlessCore
@testable import DriftlessLibvirt
import DriftlessTesting
import Foundation
import XCTest

/// Remote libvirt as the controller reaches a real host: over TLS with the operator's certificates
/// (pkipath), over SSH with the operator's key and known_hosts, against a test bed host's own libvirtd.
/// The credentials come from the operator (`HostAccess`), never from the URI a repository gives.
final class RemoteTransportTests: XCTestCase {
    let access = HostAccess(pkiDirectory: TestBedHost.pkiDirectory, sshKey: TestBedHost.sshKey,
                            sshKnownHosts: TestBedHost.sshKnownHosts)

    // MARK: - What libvirt is given

    func testTheOperatorsFilesAreAddedAfterThePolicyCheck() throws {
        XCTAssertEqual(try LibvirtConnection.uri("qemu+tls://10.0.0.5/system", with: HostAccess(pkiDirectory: "/etc/driftless/pki")),
                       "qemu+tls://10.0.0.5/system?pkipath=/etc/driftless/pki")
        XCTAssertEqual(try LibvirtConnection.uri("qemu+ssh://root@h1/system", with: HostAccess(sshKey: "/k", sshKnownHosts: "/kh")),
                       "qemu+libssh://root@h1/system?keyfile=/k&known_hosts=/kh",
                       "with a known_hosts file, ssh runs over libssh, which checks the host key against it")
        XCTAssertEqual(try LibvirtConnection.uri("qemu+ssh://root@h1/system", with: HostAccess(sshKey: "/k")),
                       "qemu+ssh://root@h1/system?keyfile=/k")
        XCTAssertEqual(try LibvirtConnection.uri("qemu:///system", with: access), "qemu:///system", "a local URI takes nothing")
        XCTAssertEqual(try LibvirtConnection.uri("qemu+tcp://h1/system", with: access), "qemu+tcp://h1/system")
    }

    func testARepositoryCannotNameTheFilesAndTheOperatorsMustBePlainPaths() {
        XCTAssertThrowsError(try LibvirtConnection.uri("qemu+tls://h1/system?pkipath=/tmp/evil", with: .none)) { error in
            XCTAssertTrue("\(error)".contains("the operator sets it, not the repository"), "\(error)")
        }
        XCTAssertThrowsError(try LibvirtConnection.uri("qemu+tls://h1/system", with: HostAccess(pkiDirectory: "/a&no_verify=1"))) { error in
            XCTAssertTrue("\(error)".contains("contains"), "\(error)")
        }
        XCTAssertThrowsError(try LibvirtConnection.uri("qemu+ssh://h1/system", with: HostAccess(sshKey: "relative/key")))
    }

    // MARK: - On a test bed host

    func testTLSWithTheOperatorsCertificates() async throws {
        let host = try TestBedHost.require("tb1")
        let uri = "qemu+tls://\(host.address)/system"
        let connection = try LibvirtConnection(uri: uri, access: access)
        XCTAssertNoThrow(try connection.ping())
        XCTAssertEqual(try connection.hostname(), try LibvirtConnection(uri: host.libvirtURI).hostname(),
                       "the TLS connection reaches the same daemon as the host's socket")
        _ = try connection.listAllDomains()
        XCTAssertEqual(connection.redactedURI, uri, "errors and logs name the Host's URI, not the files")
    }

    func testTLSWithoutTheControllersCertificateIsRefused() throws {
        let host = try TestBedHost.require("tb1")
        // A CA directory without the controller's certificate: the server accepts only its own CA's clients.
        let directory = NSTemporaryDirectory() + "dl-pki-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.copyItem(atPath: TestBedHost.pkiDirectory + "/cacert.pem", toPath: directory + "/cacert.pem")
        XCTAssertThrowsError(try LibvirtConnection(uri: "qemu+tls://\(host.address)/system", access: HostAccess(pkiDirectory: directory))) {
            error in
            XCTAssertTrue("\(error)".contains("virConnectOpen"), "\(error)")
        }
    }

    func testSSHWithTheOperatorsKeyAndKnownHosts() async throws {
        let host = try TestBedHost.require("tb1")
        let connection = try await LibvirtConnection.open(uri: "qemu+ssh://root@\(host.address)/system", host: host.name, access: access)
        XCTAssertNoThrow(try connection.ping())
        _ = try connection.listAllDomains()
    }

    func testSSHToAHostWhoseKeyIsNotKnownIsRefused() async throws {
        let host = try TestBedHost.require("tb1")
        let empty = NSTemporaryDirectory() + "dl-known-hosts-\(UUID().uuidString)"
        try Data().write(to: URL(fileURLWithPath: empty))
        defer { try? FileManager.default.removeItem(atPath: empty) }
        do {
            _ = try await LibvirtConnection.open(uri: "qemu+ssh://root@\(host.address)/system", host: host.name,
                                                 access: HostAccess(sshKey: TestBedHost.sshKey, sshKnownHosts: empty))
            XCTFail("connected to a host whose key is in no known_hosts")
        } catch {
            XCTAssertTrue("\(error)".contains("host key") || "\(error)".contains("not accepted"), "\(error)")
        }
    }
}
