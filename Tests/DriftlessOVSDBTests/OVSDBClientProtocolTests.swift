import Foundation
import XCTest

@testable import DriftlessOVSDB

/// Client behaviour against a scripted peer: echo both ways, timeouts, framing on a socket, state.
final class OVSDBClientProtocolTests: XCTestCase {
    private var server: FakeOVSDBServer?
    private var client: OVSDBClient?

    override func tearDown() async throws {
        await client?.close()
        server?.stop()
    }

    /// Answers list_dbs (split into three writes) and echo; ignores everything else.
    private static func script(_ text: String) -> [String] {
        guard let message = try? JSONValue(parsing: text), let method = message["method"]?.stringValue,
            let id = message["id"]
        else { return [] }
        switch method {
        case "list_dbs":
            return [#"{"id":\#(id.jsonText),"res"#, #"ult":["Open_vSwitch","\"{odd}\""],"#, #""error":null}"#]
        case "echo":
            return [#"{"id":\#(id.jsonText),"result":\#(message["params"]?.jsonText ?? "[]"),"error":null}"#]
        default:
            return []
        }
    }

    private func start(
        configuration: OVSDBClient.Configuration = OVSDBClient.Configuration(echoInterval: nil)
    ) async throws -> (FakeOVSDBServer, OVSDBClient) {
        let server = try FakeOVSDBServer(respond: Self.script)
        let client = OVSDBClient(endpoint: .unix(path: server.path), configuration: configuration)
        self.server = server
        self.client = client
        try await client.connect(timeout: .seconds(5))
        return (server, client)
    }

    func testRepliesSplitAcrossWritesAreReassembled() async throws {
        let (_, client) = try await start()
        let names = try await client.listDatabases()
        XCTAssertEqual(names, ["Open_vSwitch", #""{odd}""#])
    }

    func testAnswersTheServersEchoWithTheSameParamsAndID() async throws {
        let (server, _) = try await start()
        _ = try await eventually { server.hasClient ? true : nil }
        server.send(#"{"method":"echo","params":["ping",{"n":1}],"id":"echo-7"}"#)
        let reply = try await eventually { server.messages.first { $0.contains("echo-7") } }
        let parsed = try JSONValue(parsing: reply)
        XCTAssertEqual(parsed["id"], "echo-7")
        XCTAssertEqual(parsed["result"], .array(["ping", ["n": 1]]))
        XCTAssertEqual(parsed["error"], .null)
    }

    /// The probe loop against a real socket; the handler's part (correlation, timeouts) is tested without
    /// one in `OVSDBRPCHandlerTests`. A probe waits as long as its interval for a reply, so the interval is
    /// long enough that a loaded machine answers in time: a 100 ms interval timed out under a full suite
    /// run, reconnected and never reached two probes in 5 s.
    func testSendsItsOwnEchoProbes() async throws {
        let (server, client) = try await start(
            configuration: OVSDBClient.Configuration(echoInterval: .milliseconds(500)))
        _ = try await eventually(timeout: .seconds(30)) {
            server.messages.filter { $0.contains(#""method":"echo""#) }.count >= 2 ? true : nil
        }
        let state = await client.state
        XCTAssertEqual(state, .connected, "answered probes keep the connection up")
    }

    func testRequestTimeoutNamesMethodAndEndpoint() async throws {
        let (server, client) = try await start()
        let started = ContinuousClock.now
        do {
            _ = try await client.call("get_schema", params: ["Open_vSwitch"], timeout: .milliseconds(300))
            XCTFail("expected a timeout")
        } catch let error as OVSDBError {
            XCTAssertEqual(error.code, .timeout)
            XCTAssertEqual(error.method, "get_schema")
            XCTAssertEqual(error.endpoint, "unix:\(server.path)")
            XCTAssertTrue(error.description.contains("get_schema"), error.description)
            XCTAssertTrue(error.isTransient)
        }
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(3))
        // The connection is still usable afterwards.
        let names = try await client.listDatabases()
        XCTAssertEqual(names.count, 2)
    }

    func testReportsDisconnectedAndRefusesTheCacheWhenTheServerGoesAway() async throws {
        let (server, client) = try await start(
            configuration: OVSDBClient.Configuration(
                echoInterval: nil, reconnectInitialDelay: .seconds(30), reconnectMaximumDelay: .seconds(30)))
        let events = await client.events()
        _ = try await eventually { server.hasClient ? true : nil }
        server.disconnectClient()
        var sawDisconnected = false
        for await event in events {
            if case .stateChanged(.disconnected) = event {
                sawDisconnected = true
                break
            }
        }
        XCTAssertTrue(sawDisconnected)
        do {
            _ = try await client.cacheSnapshot()
            XCTFail("a disconnected client must not hand out its cache")
        } catch let error as OVSDBError {
            XCTAssertEqual(error.code, .notSynchronized)
        }
        do {
            _ = try await client.listDatabases()
            XCTFail("requests must fail while disconnected")
        } catch let error as OVSDBError {
            XCTAssertEqual(error.code, .notConnected)
            XCTAssertEqual(error.method, "list_dbs")
        }
    }

    func testConnectToMissingSocketFailsClearly() async throws {
        let client = OVSDBClient(
            endpoint: .unix(path: "/nonexistent/dlt.sock"),
            configuration: OVSDBClient.Configuration(echoInterval: nil))
        self.client = client
        do {
            try await client.connect(timeout: .milliseconds(500))
            XCTFail("expected a connection failure")
        } catch let error as OVSDBError {
            XCTAssertEqual(error.code, .connectionFailed)
            XCTAssertTrue(error.description.contains("/nonexistent/dlt.sock"), error.description)
        }
    }
}

/// Polls `probe` until it returns a value, failing after `timeout`.
func eventually<T>(
    timeout: Duration = .seconds(5), file: StaticString = #filePath, line: UInt = #line,
    _ probe: () async throws -> T?
) async throws -> T {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if let value = try await probe() { return value }
        try await Task.sleep(for: .milliseconds(20))
    }
    XCTFail("condition not met within \(timeout)", file: file, line: line)
    throw CancellationError()
}
