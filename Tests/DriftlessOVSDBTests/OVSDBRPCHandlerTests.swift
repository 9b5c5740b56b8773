import Foundation
import NIOCore
import NIOEmbedded
import XCTest

@testable import DriftlessOVSDB

/// The JSON-RPC handler in-process on swift-nio's `NIOAsyncTestingChannel`: no socket, no sleeps; time
/// moves only when the test advances it.
final class OVSDBRPCHandlerTests: XCTestCase {
    func makeChannel() async throws -> (NIOAsyncTestingChannel, AsyncStream<OVSDBConnectionEvent>) {
        let (events, continuation) = AsyncStream.makeStream(of: OVSDBConnectionEvent.self)
        let channel = NIOAsyncTestingChannel()
        try await channel.eventLoop.submit {
            try channel.pipeline.syncOperations.addHandler(OVSDBRPCHandler(endpoint: "unix:/test.sock", events: continuation))
        }.get()
        return (channel, events)
    }

    func request(_ channel: NIOAsyncTestingChannel, id: Int, method: String, timeout: TimeAmount) -> OVSDBOutboundRequest {
        OVSDBOutboundRequest(id: id, method: method, payload: ByteBuffer(string: #"{"method":"\#(method)","params":[],"id":\#(id)}"#),
                             promise: channel.eventLoop.makePromise(of: JSONValue.self), timeout: timeout, routeThroughEvents: false)
    }

    /// The server's echo is answered with its own params and id, at once.
    func testAnswersTheServersEcho() async throws {
        let (channel, _) = try await makeChannel()
        try await channel.writeInbound(ByteBuffer(string: #"{"method":"echo","params":["ping",1],"id":"e7"}"#))
        let read = try await channel.readOutbound(as: ByteBuffer.self)
        let reply = try XCTUnwrap(read)
        let json = try JSONValue(parsing: Data(reply.readableBytesView))
        XCTAssertEqual(json, ["result": ["ping", 1], "error": nil, "id": "e7"])
    }

    /// A probe the client sends is answered: the reply completes its promise with the echoed params.
    func testAnEchoProbeIsCorrelatedWithItsReply() async throws {
        let (channel, _) = try await makeChannel()
        let probe = request(channel, id: 3, method: "echo", timeout: .seconds(5))
        try await channel.writeOutbound(probe)
        let read = try await channel.readOutbound(as: ByteBuffer.self)
        let sent = try XCTUnwrap(read)
        XCTAssertTrue(String(buffer: sent).contains(#""method":"echo""#))
        try await channel.writeInbound(ByteBuffer(string: #"{"result":["driftless-probe"],"error":null,"id":3}"#))
        let result = try await probe.promise.futureResult.get()
        XCTAssertEqual(result, ["driftless-probe"])
    }

    /// An unanswered probe times out exactly when its time has passed, not before.
    func testAnUnansweredProbeTimesOutWhenTimeIsAdvanced() async throws {
        let (channel, _) = try await makeChannel()
        let probe = request(channel, id: 4, method: "echo", timeout: .seconds(5))
        try await channel.writeOutbound(probe)
        _ = try await channel.readOutbound(as: ByteBuffer.self)
        let outcome = ResultBox()
        probe.promise.futureResult.whenComplete { outcome.set($0) }
        await channel.testingEventLoop.advanceTime(by: .milliseconds(4_999))
        XCTAssertNil(outcome.value, "still waiting before its timeout")
        await channel.testingEventLoop.advanceTime(by: .milliseconds(1))
        guard case let .failure(error as OVSDBError) = outcome.value else { return XCTFail("\(String(describing: outcome.value))") }
        XCTAssertEqual(error.code, .timeout)
        XCTAssertEqual(error.method, "echo")
        XCTAssertTrue(error.isTransient)
        // A late reply is dropped, not delivered to anyone.
        try await channel.writeInbound(ByteBuffer(string: #"{"result":[],"error":null,"id":4}"#))
    }

    /// Closing fails what is in flight and ends the event stream with the reason.
    func testClosingFailsWhatIsInFlight() async throws {
        let (channel, events) = try await makeChannel()
        let pending = request(channel, id: 5, method: "transact", timeout: .seconds(60))
        try await channel.writeOutbound(pending)
        _ = try await channel.readOutbound(as: ByteBuffer.self)
        try await channel.close()
        do {
            _ = try await pending.promise.futureResult.get()
            XCTFail("a request in flight must fail when the connection closes")
        } catch let error as OVSDBError {
            XCTAssertEqual(error.code, .connectionLost)
        }
        var last: OVSDBConnectionEvent?
        for await event in events { last = event }
        guard case .closed = last else { return XCTFail("the stream ends with .closed, got \(String(describing: last))") }
    }
}

final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Result<JSONValue, any Error>?

    var value: Result<JSONValue, any Error>? { lock.withLock { stored } }
    func set(_ result: Result<JSONValue, any Error>) { lock.withLock { stored = result } }
}
