import DriftlessCore

/// Why an image source was not read. Every URL in it is already a display URL (no user information,
/// no query string), so its description may go anywhere: the journal, the log, the API.
public enum ImageSourceError: DriverError, Equatable {
    /// A `path:` source the operator's directories do not allow, or a file that is not a plain file.
    case pathRefused(path: String, reason: String)
    /// A `path:` source that is allowed but cannot be opened or read.
    case pathUnreadable(path: String, reason: String)
    /// A URL, address or redirect that policy forbids.
    case urlRefused(url: String, reason: String)
    /// The host name did not resolve; `transient` for a temporary DNS failure.
    case unresolvable(url: String, host: String, reason: String, transient: Bool)
    /// No connection could be made to any checked address.
    case connectFailed(url: String, reason: String)
    case timedOut(url: String, reason: String)
    case httpStatus(url: String, status: Int)
    /// The source is larger than the limit (`declared`: what Content-Length said, when it said it).
    case tooLarge(source: String, limit: Int64, declared: Int64?)
    /// The server broke HTTP, TLS failed, or the download ended early.
    case transfer(url: String, reason: String)

    public var failureKind: FailureKind {
        switch self {
        case .connectFailed, .timedOut: .transient
        case let .unresolvable(_, _, _, transient): transient ? .transient : .terminal
        case let .httpStatus(_, status): status >= 500 || status == 429 || status == 408 ? .transient : .terminal
        case .transfer: .transient
        case .pathRefused, .pathUnreadable, .urlRefused, .tooLarge: .terminal
        }
    }

    public var description: String {
        switch self {
        case let .pathRefused(path, reason): "refusing to read image path \(path): \(reason)"
        case let .pathUnreadable(path, reason): "cannot read image path \(path): \(reason)"
        case let .urlRefused(url, reason): "refusing to fetch \(url): \(reason)"
        case let .unresolvable(url, host, reason, _): "refusing to fetch \(url): cannot resolve \(host) (\(reason))"
        case let .connectFailed(url, reason): "cannot connect to fetch \(url): \(reason)"
        case let .timedOut(url, reason): "fetching \(url) timed out: \(reason)"
        case let .httpStatus(url, status): "fetching \(url) failed with HTTP \(status)"
        case let .tooLarge(source, limit, declared?):
            "refusing \(source): its size (\(declared) bytes) is above the limit of \(limit) bytes; nothing was read"
        case let .tooLarge(source, limit, nil):
            "refusing \(source): it is larger than the limit of \(limit) bytes; the transfer was stopped there"
        case let .transfer(url, reason): "fetching \(url) failed: \(reason)"
        }
    }
}
