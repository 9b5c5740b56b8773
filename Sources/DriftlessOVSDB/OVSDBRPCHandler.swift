import Foundation
import NIOCore

/// A JSON-RPC 1.0 request on its way to the server, with the promise its reply completes.
struct OVSDBOutboundRequest: Sendable {
    /// The request id, unique on this connection.
    var id: Int
    /// The method, for error messages.
    var method: String
    /// The serialized request.
    var payload: ByteBuffer
    /// Completed with `result`, or failed with an `OVSDBError`.
    var promise: EventLoopPromise<JSONValue>
    /// How long to wait for the reply.
    var timeout: TimeAmount
    /// Deliver the reply through the ordered event stream (monitor replies
    /// must reach the cache before the `update` notifications that follow).
    var routeThroughEvents: Bool
}

/// Something that arrived on a connection, delivered in wire order.
enum OVSDBConnectionEvent: Sendable {
    /// A server-to-client notification such as `update`.
    case notification(method: String, params: JSONValue)
    /// The reply to a request sent with `routeThroughEvents`; the consumer completes `promise`.
    case routedReply(id: Int, result: Result<JSONValue, OVSDBError>, promise: EventLoopPromise<JSONValue>)
    /// The connection closed; nothing follows.
    case closed(reason: String)
}

/// The channel handler speaking JSON-RPC 1.0: correlates replies, answers echo, times out requests.
///
/// All state is confined to the channel's event loop.
final class OVSDBRPCHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = Never
    typealias OutboundIn = OVSDBOutboundRequest
    typealias OutboundOut = ByteBuffer

    private struct Pending {
        var method: String
        var promise: EventLoopPromise<JSONValue>
        var timeout: Scheduled<Void>?
        var routeThroughEvents: Bool
    }

    private let endpoint: String
    private let events: AsyncStream<OVSDBConnectionEvent>.Continuation
    private var pending: [Int: Pending] = [:]
    private var closedReason: String?

    init(endpoint: String, events: AsyncStream<OVSDBConnectionEvent>.Continuation) {
        self.endpoint = endpoint
        self.events = events
    }

    // MARK: Outbound

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        if let closedReason {
            let error = OVSDBError(
                code: .connectionLost, method: request.method, endpoint: endpoint, message: closedReason)
            request.promise.fail(error)
            promise?.fail(error)
            return
        }
        let id = request.id
        let timeoutAmount = request.timeout
        let method = request.method
        let scheduled = context.eventLoop.assumeIsolated().scheduleTask(in: timeoutAmount) { [self] in
            guard let entry = pending.removeValue(forKey: id) else { return }
            entry.promise.fail(
                OVSDBError(
                    code: .timeout, method: method, endpoint: endpoint,
                    message: "no reply within \(Self.describe(timeoutAmount))"))
        }
        pending[id] = Pending(
            method: request.method, promise: request.promise, timeout: scheduled,
            routeThroughEvents: request.routeThroughEvents)
        context.writeAndFlush(wrapOutboundOut(request.payload), promise: promise)
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        let message: JSONValue
        do {
            message = try JSONValue(parsing: Data(frame.readableBytesView))
        } catch {
            fail(context: context, reason: "unparseable message from server: \(error)")
            return
        }
        guard case .object(let members) = message else {
            fail(context: context, reason: "server sent a non-object message \(message.jsonText.prefix(200))")
            return
        }
        let id = members["id"] ?? .null
        if let method = members["method"]?.stringValue {
            let params = members["params"] ?? .array([])
            if id.isNull {
                events.yield(.notification(method: method, params: params))
            } else {
                answerRequest(context: context, method: method, params: params, id: id)
            }
            return
        }
        guard let key = id.integerValue.map({ Int($0) }), let entry = pending.removeValue(forKey: key) else {
            // A reply to a request that already timed out, or not ours: drop it.
            return
        }
        entry.timeout?.cancel()
        let result: Result<JSONValue, OVSDBError>
        if let error = members["error"], !error.isNull {
            result = .failure(Self.rpcError(error, method: entry.method, endpoint: endpoint))
        } else {
            result = .success(members["result"] ?? .null)
        }
        if entry.routeThroughEvents {
            events.yield(.routedReply(id: key, result: result, promise: entry.promise))
        } else {
            entry.promise.completeWith(result.mapError { $0 as any Error })
        }
    }

    /// Answers a request the server sent us; only `echo` is defined for clients.
    private func answerRequest(context: ChannelHandlerContext, method: String, params: JSONValue, id: JSONValue) {
        let reply: JSONValue
        if method == "echo" {
            reply = ["result": params, "error": nil, "id": id]
        } else {
            reply = ["result": nil, "error": .string("unknown method \(method)"), "id": id]
        }
        guard let data = try? reply.serialized() else { return }
        var buffer = context.channel.allocator.buffer(capacity: data.count)
        buffer.writeBytes(data)
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        shutDown(reason: "the server closed the connection")
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(context: context, reason: "\(error)")
    }

    private func fail(context: ChannelHandlerContext, reason: String) {
        shutDown(reason: reason)
        context.close(promise: nil)
    }

    /// Fails every outstanding request and ends the event stream, once.
    private func shutDown(reason: String) {
        guard closedReason == nil else { return }
        closedReason = reason
        let outstanding = pending
        pending.removeAll()
        for (_, entry) in outstanding {
            entry.timeout?.cancel()
            entry.promise.fail(
                OVSDBError(code: .connectionLost, method: entry.method, endpoint: endpoint, message: reason))
        }
        events.yield(.closed(reason: reason))
        events.finish()
    }

    private static func rpcError(_ error: JSONValue, method: String, endpoint: String) -> OVSDBError {
        if case .object(let members) = error {
            return OVSDBError(
                code: .rpcError, method: method, endpoint: endpoint,
                message: "the server refused the request",
                serverError: members["error"]?.stringValue ?? error.jsonText,
                details: members["details"]?.stringValue)
        }
        return OVSDBError(
            code: .rpcError, method: method, endpoint: endpoint, message: "the server refused the request",
            serverError: error.stringValue ?? error.jsonText)
    }

    static func describe(_ amount: TimeAmount) -> String {
        let milliseconds = amount.nanoseconds / 1_000_000
        return milliseconds % 1000 == 0 ? "\(milliseconds / 1000)s" : "\(milliseconds)ms"
    }
}
