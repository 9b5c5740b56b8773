import DriftlessCore
import DriftlessOVSDB
import DriftlessProcess
import DriftlessTesting
import Foundation
import XCTest

/// OVSDB as the controller reaches a real host's ovsdb-server: `ssl:` with the operator's client
/// certificate (swift-nio-ssl) and `tcp:`, against a test bed host, checked from outside with ovs-vsctl.
final class RemoteOVSDBTests: XCTestCase {
    var drivers: [OVSNetworkDriver] = []
    var bridge = "dlt-rem-\(OVS.randomTag())"

    override func tearDown() async throws {
        for driver in drivers { await driver.close() }
        if let host = try? TestBedHost.require("tb1") {
            _ = try? OVS.vsctl("--db=\(host.ovsdbEndpoint)", "--if-exists", "del-br", bridge)
        }
    }

    func target(_ endpoint: String) -> HostTarget {
        HostTarget(name: "tb1", libvirtURI: "test:///default", ovsdbEndpoint: endpoint, bridge: bridge, datapath: .netdev,
                   storagePool: PoolSpec(name: "unused", path: "/nonexistent"), imagePool: PoolSpec(name: "unused", path: "/nonexistent"))
    }

    func driver(_ endpoint: String, tls: OVSDBTLSFiles?) throws -> OVSNetworkDriver {
        let driver = try OVSNetworkDriver(host: target(endpoint), configuration: OVSDBClient.Configuration(
            connectTimeout: .seconds(3), reconnectMaximumDelay: .seconds(1), tls: tls))
        drivers.append(driver)
        return driver
    }

    func testSSLWithTheOperatorsCertificateDrivesTheHost() async throws {
        let host = try TestBedHost.require("tb1")
        let driver = try driver("ssl:\(host.address):6640", tls: OVSDBTLSFiles(pkiDirectory: TestBedHost.pkiDirectory))
        try await driver.connect(timeout: .seconds(10))
        try await driver.ensureBridge()
        XCTAssertEqual(try OVS.vsctl("--db=\(host.ovsdbEndpoint)", "br-exists", bridge), "", "the bridge exists on tb1")
        let port = DesiredPort(identity: NICIdentity(owner: NICOwner(project: "p", instance: "vm", network: "net", ordinal: 0)),
                               vlan: 100, mtu: nil)
        try await driver.apply(PortChangeSet(ensure: [port]))
        XCTAssertEqual(try OVS.vsctl("--db=\(host.ovsdbEndpoint)", "list-ports", bridge), port.identity.deviceName)
        let observed = try await driver.observePorts().value ?? []
        XCTAssertEqual(observed.map(\.name), [port.identity.deviceName])
    }

    func testTCPReachesTheSameDatabase() async throws {
        let host = try TestBedHost.require("tb1")
        let driver = try driver("tcp:\(host.address):6641", tls: nil)
        try await driver.connect(timeout: .seconds(10))
        try await driver.ensureBridge()
        XCTAssertEqual(try OVS.vsctl("--db=\(host.ovsdbEndpoint)", "br-exists", bridge), "")
    }

    func testSSLWithoutTheOperatorsFilesSaysWhatIsMissing() async throws {
        let host = try TestBedHost.require("tb1")
        let driver = try driver("ssl:\(host.address):6640", tls: nil)
        do {
            try await driver.connect(timeout: .seconds(3))
            XCTFail("connected over ssl: without a certificate")
        } catch {
            XCTAssertTrue("\(error)".contains("--pki"), "\(error)")
        }
    }

    func testAServerWhoseCertificateIsNotFromTheOperatorsCAIsRefused() async throws {
        let host = try TestBedHost.require("tb1")
        let directory = NSTemporaryDirectory() + "dl-ca-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let made = try ChildProcess.runBlocking("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                                                           "-subj", "/CN=another CA", "-days", "1",
                                                           "-keyout", directory + "/ca.key", "-out", directory + "/cacert.pem"])
        XCTAssertTrue(made.succeeded, made.stderr)
        let tls = OVSDBTLSFiles(privateKey: TestBedHost.pkiDirectory + "/clientkey.pem",
                                certificate: TestBedHost.pkiDirectory + "/clientcert.pem", caCertificate: directory + "/cacert.pem")
        let driver = try driver("ssl:\(host.address):6640", tls: tls)
        do {
            try await driver.connect(timeout: .seconds(3))
            XCTFail("trusted a server certificate the operator's CA did not sign")
        } catch {
            XCTAssertFalse("\(error)".isEmpty)
        }
    }
}
