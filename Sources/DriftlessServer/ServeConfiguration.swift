import DriftlessCore
import DriftlessGit
import Foundation

/// How `driftless serve` runs.
public struct ServeConfiguration: Sendable {
    public enum NotifyFormat: String, Sendable, CaseIterable {
        /// A JSON document (event, run or drift report).
        case json
        /// Slack's incoming-webhook form: `{"text": "…"}`.
        case slack
    }

    public var repository: String
    public var branch: String?
    public var path: String
    public var stateDirectory: String
    /// How often the remote is fetched.
    public var pollInterval: Duration
    /// How often a full drift check runs (events trigger one sooner).
    public var driftInterval: Duration
    public var heal: Bool
    public var listenHost: String
    public var listenPort: Int
    /// The shared webhook secret (read from a file, never from the command line).
    public var webhookSecret: [UInt8]?
    /// Apply a new head that does not descend from the last applied commit.
    public var acceptHistoryRewrite: Bool
    public var allowReplace: Bool
    public var allowMassDelete: Bool
    /// Plans that move instances to other hosts are applied (`--allow-move`).
    public var allowMove: Bool
    public var parallelism: Int
    public var notifyURL: URL?
    public var notifyFormat: NotifyFormat
    /// Wait after an event before checking drift, so a burst of events is one check.
    public var eventDebounce: Duration
    /// How long a fetch, or reading and validating a commit, may take before the loop gives up on it (the
    /// work goes on in the background; the next fetch waits for it).
    public var sourceTimeout: Duration = .seconds(300)
    /// How the remote is authenticated (token file, ssh key, known_hosts).
    public var gitCredentials = GitCredentials.none.withEnvironment()
    /// Mark dashboard cookies `Secure` (the daemon is reached over TLS through a proxy); they are also
    /// marked so for a request with `X-Forwarded-Proto: https`.
    public var secureCookies = false
    /// The operator's image directories (`--image-dir`): where Images' `source.path` files may be.
    public var imageDirectories: [String]
    /// The operator's credentials for remote hosts (`--pki`, `--ssh-key`, `--ssh-known-hosts`).
    public var hostAccess = HostAccess.none

    public init(repository: String, branch: String? = nil, path: String = "", stateDirectory: String,
                pollInterval: Duration = .seconds(60), driftInterval: Duration = .seconds(600), heal: Bool = false,
                listenHost: String = "127.0.0.1", listenPort: Int = 8080, webhookSecret: [UInt8]? = nil,
                acceptHistoryRewrite: Bool = false, allowReplace: Bool = false, allowMassDelete: Bool = false, allowMove: Bool = false,
                parallelism: Int = 4, notifyURL: URL? = nil, notifyFormat: NotifyFormat = .json,
                eventDebounce: Duration = .milliseconds(150), imageDirectories: [String] = ["/var/lib/driftless/images"]) {
        self.repository = repository
        self.branch = branch
        self.path = path
        self.stateDirectory = stateDirectory
        self.pollInterval = pollInterval
        self.driftInterval = driftInterval
        self.heal = heal
        self.listenHost = listenHost
        self.listenPort = listenPort
        self.webhookSecret = webhookSecret
        self.acceptHistoryRewrite = acceptHistoryRewrite
        self.allowReplace = allowReplace
        self.allowMassDelete = allowMassDelete
        self.allowMove = allowMove
        self.parallelism = parallelism
        self.notifyURL = notifyURL
        self.notifyFormat = notifyFormat
        self.eventDebounce = eventDebounce
        self.imageDirectories = imageDirectories
    }
}
