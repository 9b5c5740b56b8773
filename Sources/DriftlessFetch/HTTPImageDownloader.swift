import Crypto
import DriftlessCore
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
#if canImport(Glibc)
import Glibc
#endif

/// Downloads an image over HTTP/1.1 (TLS through NIOSSL for https) into a file descriptor, hashing as the
/// bytes arrive, so that nothing in a manifest can steer it.
///
/// - The host is resolved once; every address is checked with the `AddressPolicy`, and the connection goes
///   to a checked address, never to a name (no DNS rebinding between check and use). The `Host` header
///   and TLS SNI still carry the name, and the certificate is verified against the system's trust store.
/// - Redirects (301, 302, 303, 307, 308) are followed at most `maxRedirects` times, each target resolved
///   and checked again like the first; https → http is refused. Credentials from the URL are sent as
///   Basic auth to the original origin only, never across a redirect to another one.
/// - A Content-Length above `maxBytes` is refused before the body is read; a body that grows past it
///   aborts the transfer. Bytes go to disk as they arrive (NIO's back-pressure bounds what is buffered).
/// - No connection within `connectTimeout`, or no byte for `idleTimeout`, ends the download.
/// - Every URL in an error is a display URL: no user information, no query string.
public struct HTTPImageDownloader: Sendable {
    public struct Configuration: Sendable {
        /// The largest image accepted, in bytes.
        public var maxBytes: Int64
        public var connectTimeout: Duration
        /// How long the server may send nothing, once connected.
        public var idleTimeout: Duration
        public var maxRedirects: Int
        public var addresses: AddressPolicy

        public static let defaultMaxBytes: Int64 = 64 << 30

        public init(maxBytes: Int64 = Self.defaultMaxBytes, connectTimeout: Duration = .seconds(10),
                    idleTimeout: Duration = .seconds(30), maxRedirects: Int = 5, addresses: AddressPolicy = .standard) {
            self.maxBytes = maxBytes
            self.connectTimeout = connectTimeout
            self.idleTimeout = idleTimeout
            self.maxRedirects = maxRedirects
            self.addresses = addresses
        }
    }

    /// What a finished download wrote.
    public struct Download: Sendable, Equatable {
        public var sha256: String
        public var bytes: Int64
        /// The display URL the body came from (after redirects).
        public var url: String
    }

    public var configuration: Configuration

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// Downloads `text` and writes its body to `descriptor` (from its current offset).
    public func download(_ text: String, to descriptor: Int32) async throws -> Download {
        var url = try ImageURL(text)
        var addresses = try await AddressResolver.resolve(url, policy: configuration.addresses)
        var hops = 0
        while true {
            switch try await fetch(url, from: addresses, to: descriptor) {
            case let .body(download):
                return download
            case let .redirect(location):
                hops += 1
                guard hops <= configuration.maxRedirects else {
                    throw ImageSourceError.urlRefused(url: url.display, reason: "more than \(configuration.maxRedirects) redirects")
                }
                let next = try url.resolving(location: location)
                if url.secure && !next.secure {
                    throw ImageSourceError.urlRefused(url: url.display, reason: "it redirects from https to http (\(next.display))")
                }
                // The target is resolved and checked like the first URL, before any connection to it.
                do {
                    addresses = try await AddressResolver.resolve(next, policy: configuration.addresses)
                } catch let error as ImageSourceError {
                    throw Self.redirected(from: url, error)
                }
                url = next
            }
        }
    }

    /// An error about a redirect target, told from the URL that redirected.
    static func redirected(from url: ImageURL, _ error: ImageSourceError) -> ImageSourceError {
        switch error {
        case let .urlRefused(target, reason):
            .urlRefused(url: url.display, reason: "it redirects to \(target), and \(reason)")
        case let .unresolvable(target, host, reason, transient):
            .urlRefused(url: url.display, reason: "it redirects to \(target), and \(host) does not resolve (\(reason))"
                        + (transient ? "; try again later" : ""))
        default:
            error
        }
    }

    enum Outcome {
        case body(Download)
        case redirect(String)
    }

    /// One request: connect to one of the checked addresses, in order, and read the response.
    func fetch(_ url: ImageURL, from addresses: [AddressResolver.Checked], to descriptor: Int32) async throws -> Outcome {
        var failures: [String] = []
        var timedOut = true
        for checked in addresses {
            let channel: NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>
            do {
                channel = try await connect(url, to: checked.socketAddress)
            } catch let error as ImageSourceError {
                throw error
            } catch {
                if case ChannelError.connectTimeout = error {} else { timedOut = false }
                failures.append("\(checked.address.bracketed): \(Self.describe(error))")
                continue
            }
            return try await exchange(url, on: channel, to: descriptor)
        }
        if timedOut && !failures.isEmpty {
            throw ImageSourceError.timedOut(url: url.display, reason: "no connection within \(Self.seconds(configuration.connectTimeout))")
        }
        throw ImageSourceError.connectFailed(url: url.display, reason: failures.joined(separator: "; "))
    }

    func connect(_ url: ImageURL, to address: SocketAddress) async throws -> NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart> {
        let tls: NIOSSLContext? = url.secure ? try Self.tlsContext(url) : nil
        let serverName = url.literalAddress == nil ? url.host : nil
        let idle = TimeAmount.nanoseconds(Self.nanoseconds(configuration.idleTimeout))
        return try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.nanoseconds(Self.nanoseconds(configuration.connectTimeout)))
            .channelOption(.socketOption(.so_keepalive), value: 1)
            .connect(to: address) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    if let tls {
                        // SNI and hostname verification use the name; with a literal address, the address.
                        try pipeline.addHandler(NIOSSLClientHandler(context: tls, serverHostname: serverName))
                    }
                    try pipeline.addHandler(IdleStateHandler(readTimeout: idle))
                    try pipeline.addHandler(IdleTimeoutHandler())
                    try pipeline.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(
                        wrappingChannelSynchronously: channel,
                        configuration: .init(backPressureStrategy: .init(lowWatermark: 2, highWatermark: 8)))
                }
            }
    }

    /// Sends the request and reads the response: a redirect's target, or the body into `descriptor`.
    func exchange(_ url: ImageURL, on channel: NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>,
                  to descriptor: Int32) async throws -> Outcome {
        let limit = configuration.maxBytes
        do {
            return try await channel.executeThenClose { inbound, outbound in
                var headers = HTTPHeaders()
                headers.add(name: "Host", value: url.hostHeader)
                headers.add(name: "User-Agent", value: "driftless")
                headers.add(name: "Accept", value: "*/*")
                headers.add(name: "Accept-Encoding", value: "identity")
                headers.add(name: "Connection", value: "close")
                if let credentials = url.credentials {
                    headers.add(name: "Authorization", value: "Basic " + Data(credentials.utf8).base64EncodedString())
                }
                var parts = inbound.makeAsyncIterator()
                do {
                    try await outbound.write(.head(HTTPRequestHead(version: .http1_1, method: .GET, uri: url.target, headers: headers)))
                    try await outbound.write(.end(nil))
                } catch {
                    // A failed TLS handshake fails the writes too; the inbound side says why.
                    while try await parts.next() != nil {}
                    throw error
                }
                guard case let .head(response)? = try await parts.next() else {
                    throw ImageSourceError.transfer(url: url.display, reason: "the server closed the connection without a response")
                }
                let status = Int(response.status.code)
                if [301, 302, 303, 307, 308].contains(status) {
                    guard let location = response.headers.first(name: "Location"), !location.isEmpty else {
                        throw ImageSourceError.transfer(url: url.display, reason: "HTTP \(status) without a Location")
                    }
                    return .redirect(location)
                }
                guard status == 200 else { throw ImageSourceError.httpStatus(url: url.display, status: status) }
                if let declared = response.headers.first(name: "Content-Length").flatMap({ Int64($0) }), declared > limit {
                    throw ImageSourceError.tooLarge(source: url.display, limit: limit, declared: declared)
                }
                var hasher = SHA256()
                var written: Int64 = 0
                while let part = try await parts.next() {
                    switch part {
                    case .head:
                        throw ImageSourceError.transfer(url: url.display, reason: "a second response head")
                    case let .body(buffer):
                        guard written + Int64(buffer.readableBytes) <= limit else {
                            throw ImageSourceError.tooLarge(source: url.display, limit: limit, declared: nil)
                        }
                        try buffer.withUnsafeReadableBytes { bytes in
                            hasher.update(bufferPointer: bytes)
                            try Self.writeAll(bytes, to: descriptor, url: url)
                        }
                        written += Int64(buffer.readableBytes)
                    case .end:
                        return .body(Download(sha256: StableHash.hex(hasher.finalize()), bytes: written, url: url.display))
                    }
                }
                throw ImageSourceError.transfer(url: url.display, reason: "the connection ended before the body did")
            }
        } catch let error as ImageSourceError {
            throw error
        } catch is IdleTimeout {
            throw ImageSourceError.timedOut(url: url.display, reason: "no data for \(Self.seconds(configuration.idleTimeout))")
        } catch {
            if Self.isTLSError(error) {
                throw ImageSourceError.urlRefused(url: url.display, reason: "TLS failed: \(Self.describe(error))")
            }
            throw ImageSourceError.transfer(url: url.display, reason: Self.describe(error))
        }
    }

    static func writeAll(_ bytes: UnsafeRawBufferPointer, to descriptor: Int32, url: ImageURL) throws {
        guard var base = bytes.baseAddress else { return }
        var remaining = bytes.count
        while remaining > 0 {
            let n = write(descriptor, base, remaining)
            if n < 0 {
                if errno == EINTR { continue }
                throw ImageSourceError.transfer(url: url.display, reason: "cannot write the staged file: \(String(cString: strerror(errno)))")
            }
            remaining -= n
            base += n
        }
    }

    // MARK: - TLS

    /// One client context, with the system's trust roots, made on first use.
    static let sharedTLS: Result<NIOSSLContext, any Error> = Result {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        configuration.certificateVerification = .fullVerification
        return try NIOSSLContext(configuration: configuration)
    }

    static func tlsContext(_ url: ImageURL) throws -> NIOSSLContext {
        do {
            return try sharedTLS.get()
        } catch {
            throw ImageSourceError.transfer(url: url.display, reason: "TLS is not available: \(describe(error))")
        }
    }

    static func isTLSError(_ error: any Error) -> Bool {
        error is NIOSSLError || error is NIOSSLExtraError || error is BoringSSLError
    }

    // MARK: - Small helpers

    static func describe(_ error: any Error) -> String {
        if let error = error as? IOError { return String(cString: strerror(error.errnoCode)) }
        if case ChannelError.connectTimeout = error { return "connection timed out" }
        return String(describing: error)
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        duration.inNanoseconds
    }

    static func seconds(_ duration: Duration) -> String {
        let value = Double(nanoseconds(duration)) / 1e9
        return value == value.rounded() ? "\(Int(value)) s" : String(format: "%.1f s", value)
    }
}

/// Thrown into the channel when the server sent nothing for the idle timeout.
struct IdleTimeout: Error {}

/// Turns `IdleStateHandler`'s read-idle event into an error that ends the download, and closes.
final class IdleTimeoutHandler: ChannelInboundHandler {
    typealias InboundIn = NIOAny

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read {
            context.fireErrorCaught(IdleTimeout())
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}
