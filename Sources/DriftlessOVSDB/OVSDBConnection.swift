import Foundation
import NIOCore
import NIOPosix
import NIOSSL

/// One live JSON-RPC connection to an OVSDB server; no reconnects (that is `OVSDBClient`'s job).
///
/// Messages that must stay in wire order (notifications, monitor replies,
/// the close) arrive on `events`; other replies complete their futures
/// directly on the event loop.
final class OVSDBConnection: Sendable {
    let channel: any Channel
    let endpoint: OVSDBEndpoint
    let events: AsyncStream<OVSDBConnectionEvent>

    private init(channel: any Channel, endpoint: OVSDBEndpoint, events: AsyncStream<OVSDBConnectionEvent>) {
        self.channel = channel
        self.endpoint = endpoint
        self.events = events
    }

    /// Connects to `endpoint`, failing with `connectionFailed` after `timeout`.
    static func connect(
        to endpoint: OVSDBEndpoint, group: any EventLoopGroup, timeout: TimeAmount, maximumFrameSize: Int,
        tls: OVSDBTLSFiles? = nil
    ) async throws -> OVSDBConnection {
        let (stream, continuation) = AsyncStream<OVSDBConnectionEvent>.makeStream()
        let endpointText = endpoint.description
        // ssl: wraps the socket in TLS with the controller's certificate; the server's is checked against
        // the operator's CA and the endpoint's host (an address is checked against the certificate's).
        var tlsContext: NIOSSLContext?
        var serverHostname: String?
        if case let .ssl(host, _) = endpoint {
            guard let tls else {
                continuation.finish()
                throw OVSDBError(code: .connectionFailed, endpoint: endpointText,
                                 message: "ssl: needs the controller's TLS key, certificate and CA: pass --pki DIR")
            }
            do {
                tlsContext = try tls.context()
            } catch {
                continuation.finish()
                throw OVSDBError(code: .connectionFailed, endpoint: endpointText, message: "cannot load the TLS files: \(error)")
            }
            let isAddress = host.contains(":") || host.split(separator: ".").allSatisfy { UInt8($0) != nil }
            serverHostname = isAddress ? nil : host
        }
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(timeout)
            .channelInitializer { [tlsContext, serverHostname] channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tlsContext {
                        try channel.pipeline.syncOperations.addHandler(
                            try NIOSSLClientHandler(context: tlsContext, serverHostname: serverHostname))
                    }
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(JSONFrameDecoder(maximumFrameSize: maximumFrameSize)))
                    try channel.pipeline.syncOperations.addHandler(
                        OVSDBRPCHandler(endpoint: endpointText, events: continuation))
                }
            }
        let channel: any Channel
        do {
            switch endpoint {
            case .unix(let path):
                channel = try await bootstrap.connect(unixDomainSocketPath: path).get()
            case .tcp(let host, let port), .ssl(let host, let port):
                channel = try await bootstrap.connect(host: host, port: port).get()
            }
        } catch {
            continuation.finish()
            throw OVSDBError(code: .connectionFailed, endpoint: endpointText, message: "\(error)")
        }
        return OVSDBConnection(channel: channel, endpoint: endpoint, events: stream)
    }

    /// Sends a request and waits for its `result`.
    func call(
        id: Int, method: String, params: [JSONValue], timeout: TimeAmount, routeThroughEvents: Bool = false
    ) async throws -> JSONValue {
        let request: JSONValue = ["method": .string(method), "params": .array(params), "id": .integer(Int64(id))]
        let data: Data
        do {
            data = try request.serialized()
        } catch {
            throw OVSDBError(
                code: .invalidData, method: method, endpoint: endpoint.description, message: "\(error)")
        }
        var buffer = channel.allocator.buffer(capacity: data.count)
        buffer.writeBytes(data)
        let promise = channel.eventLoop.makePromise(of: JSONValue.self)
        let outbound = OVSDBOutboundRequest(
            id: id, method: method, payload: buffer, promise: promise, timeout: timeout,
            routeThroughEvents: routeThroughEvents)
        let endpointText = endpoint.description
        channel.writeAndFlush(outbound).whenFailure { error in
            promise.fail(
                OVSDBError(code: .connectionLost, method: method, endpoint: endpointText, message: "\(error)"))
        }
        return try await promise.futureResult.get()
    }

    /// Closes the channel; the event stream then ends with `.closed`.
    func close() {
        channel.close(promise: nil)
    }

    /// Waits until the channel is closed, by either side.
    func waitUntilClosed() async {
        try? await channel.closeFuture.get()
    }
}
