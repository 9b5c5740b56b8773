import Foundation

/// An OVSDB client failure, naming the method, the endpoint and the server's own words.
///
/// Codes are a `RawRepresentable` struct so codes added later stay
/// representable. `isTransient` tells a caller whether retrying later can
/// help (connection trouble) or a person must act (a rejected transaction).
public struct OVSDBError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// The endpoint string could not be parsed or is not supported.
        public static let invalidEndpoint = Code(rawValue: "invalid endpoint")
        /// Connecting to the server failed.
        public static let connectionFailed = Code(rawValue: "connection failed")
        /// No connection is up (the client is connecting or backing off).
        public static let notConnected = Code(rawValue: "not connected")
        /// The connection dropped while the request was outstanding.
        public static let connectionLost = Code(rawValue: "connection lost")
        /// The server did not answer within the request timeout.
        public static let timeout = Code(rawValue: "timeout")
        /// The server answered the JSON-RPC request with an error.
        public static let rpcError = Code(rawValue: "rpc error")
        /// An operation of a transaction (or its commit) failed; see `operationIndex`.
        public static let operationFailed = Code(rawValue: "operation failed")
        /// A value did not fit the schema, before anything was sent.
        public static let invalidData = Code(rawValue: "invalid data")
        /// The server sent something that is not valid OVSDB JSON-RPC.
        public static let protocolError = Code(rawValue: "protocol error")
        /// The monitor cache is not in sync with the server (disconnected or resynchronizing).
        public static let notSynchronized = Code(rawValue: "not synchronized")
        /// The client was closed.
        public static let closed = Code(rawValue: "closed")
    }

    /// What kind of failure this is.
    public var code: Code
    /// The JSON-RPC method involved (`transact`, `monitor`, ...), when there was one.
    public var method: String?
    /// The server endpoint, as `unix:PATH` or `tcp:HOST:PORT`.
    public var endpoint: String
    /// Our own explanation.
    public var message: String
    /// The server's `error` string (e.g. `constraint violation`), when it sent one.
    public var serverError: String?
    /// The server's `details` string, when it sent one.
    public var details: String?
    /// For `operationFailed`: the index of the failed operation; equal to the
    /// operation count when the commit itself failed.
    public var operationIndex: Int?
    /// For `operationFailed`: the failed operation's name (`insert`, ..., or `commit`).
    public var operationName: String?

    /// Creates an error.
    public init(
        code: Code, method: String? = nil, endpoint: String, message: String, serverError: String? = nil,
        details: String? = nil, operationIndex: Int? = nil, operationName: String? = nil
    ) {
        self.code = code
        self.method = method
        self.endpoint = endpoint
        self.message = message
        self.serverError = serverError
        self.details = details
        self.operationIndex = operationIndex
        self.operationName = operationName
    }

    /// Whether the same request may succeed later without anyone changing it.
    public var isTransient: Bool {
        switch code {
        case .connectionFailed, .notConnected, .connectionLost, .timeout, .notSynchronized:
            return true
        default:
            return false
        }
    }

    public var description: String {
        var text = "OVSDB \(code)"
        if let method { text += " in \(method)" }
        text += " (\(endpoint))"
        if let operationIndex {
            text += ", operation \(operationIndex)"
            if let operationName { text += " (\(operationName))" }
        }
        text += ": \(message)"
        if let serverError { text += "; server error: \(serverError)" }
        if let details { text += "; details: \(details)" }
        return text
    }
}
