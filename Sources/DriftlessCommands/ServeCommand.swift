import ArgumentParser
import DriftlessEngine
import DriftlessServer
import DriftlessStore
import Foundation
import Hummingbird
import Logging
import Metrics
import Prometheus
import ServiceLifecycle

/// `driftless serve`: the GitOps daemon.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Watch a repository and keep the hosts converged: reconcile on push, report drift, serve an API.",
        discussion: """
            Fetches the repository every --interval (or when a signed webhook arrives) and applies each new \
            commit once, under the same safety rules as `driftless apply`. A head that does not descend from \
            the last applied commit (a force-push) is refused unless --accept-history-rewrite. Libvirt domain \
            events and Open vSwitch port changes trigger a drift check within a second; a full check also \
            runs every --drift-interval. --heal converges drift.

            HTTP: /healthz, /readyz, /metrics (Prometheus), /hooks/github, /hooks/gitlab, and the JSON API \
            under /api/v1/ (status, runs, runs/ID, drift, plan?rev=REV) for bearer tokens made with \
            `driftless token create`, and a read-only dashboard at / (sign in with such a token). One daemon \
            per state directory. SIGTERM finishes the step in flight and exits; the VMs keep running.
            """
    )

    @Option(name: .long, help: ArgumentHelp("The git repository of manifests: a local path or a URL.", valueName: "path-or-url"))
    var repo: String

    @Option(name: .long, help: ArgumentHelp("The branch to follow (default: the remote's default branch, or HEAD).", valueName: "branch"))
    var branch: String?

    @Option(name: .long, help: ArgumentHelp("The manifests' directory inside the repository.", valueName: "subdir"))
    var path: String = ""

    @Option(name: .long, help: ArgumentHelp("How often to fetch: 30s, 1m, 1h (1s to 24h).", valueName: "duration"))
    var interval: String = "1m"

    @Option(name: .long, help: ArgumentHelp("How often to run a full drift check (1s to 7d).", valueName: "duration"))
    var driftInterval: String = "10m"

    @Flag(name: .long, help: "Converge drift when it is found.")
    var heal = false

    @Option(name: .long, help: ArgumentHelp("Address to listen on.", valueName: "host:port"))
    var listen: String = "127.0.0.1:8080"

    @Option(name: .long, help: ArgumentHelp(
        "A file holding the webhook secret (also $DRIFTLESS_WEBHOOK_SECRET_FILE); never give the secret itself on the command line.",
        valueName: "path"))
    var webhookSecretFile: String?

    @Flag(name: .long, help: "Apply a head that does not descend from the last applied commit (a force-push).")
    var acceptHistoryRewrite = false

    @Flag(name: .long, help: "Allow plans that replace instances or destroy volume data.")
    var allowReplace = false

    @Flag(name: .long, help: "Allow an empty commit or a plan deleting more than half of the managed objects.")
    var allowMassDelete = false

    @Flag(name: .long, help: "Allow plans that move instances to other hosts (they restart there).")
    var allowMove = false

    @Option(name: .long, help: ArgumentHelp("How many steps run at once (1 to 64).", valueName: "n"))
    var parallel: Int = 4

    @Option(name: .long, help: ArgumentHelp("POST failed runs and new drift to this URL.", valueName: "url"))
    var notifyURL: String?

    @Option(name: .long, help: "Notification body: json, or slack ({\"text\": …}).")
    var notifyFormat: String = "json"

    @Flag(name: .long, help: "Mark dashboard session cookies Secure (the daemon is reached over TLS, through a proxy).")
    var secureCookies = false

    @Option(name: .long, help: "Log format: plain or json.")
    var logFormat: String = "plain"

    @OptionGroup var stateOptions: StateOptions

    @OptionGroup var imageOptions: ImageDirectoryOptions

    @OptionGroup var hostAccess: HostAccessOptions

    @OptionGroup var git: GitCredentialOptions

    /// The range of `--interval`: at least a second between fetches, at least one a day.
    static let intervalRange: ClosedRange<Duration> = .seconds(1) ... .seconds(86_400)
    /// The range of `--drift-interval`: events find most drift at once; the periodic check at least weekly.
    static let driftIntervalRange: ClosedRange<Duration> = .seconds(1) ... .seconds(7 * 86_400)

    var pollInterval: Duration {
        get throws { try DurationFlag.parse(interval, flag: "--interval", range: Self.intervalRange) }
    }

    var driftCheckInterval: Duration {
        get throws { try DurationFlag.parse(driftInterval, flag: "--drift-interval", range: Self.driftIntervalRange) }
    }

    func validate() throws {
        _ = try pollInterval
        _ = try driftCheckInterval
        guard (1...64).contains(parallel) else { throw ValidationError("--parallel takes a number between 1 and 64") }
        guard ["plain", "json"].contains(logFormat) else { throw ValidationError("--log-format is plain or json") }
        guard ServeConfiguration.NotifyFormat(rawValue: notifyFormat) != nil else { throw ValidationError("--notify-format is json or slack") }
        guard listen.split(separator: ":").count == 2, Int(listen.split(separator: ":")[1]) != nil else {
            throw ValidationError("--listen is HOST:PORT, e.g. 127.0.0.1:8080")
        }
    }

    func run() async throws {
        Daemon.limitMallocArenas()
        let format = logFormat
        let level = ProcessInfo.processInfo.environment["DRIFTLESS_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
        LoggingSystem.bootstrap { label in
            var handler: any LogHandler = format == "json" ? JSONLogHandler(label: label) : StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "driftless")
        try await reportingErrors {
            let secretPath = webhookSecretFile ?? ProcessInfo.processInfo.environment["DRIFTLESS_WEBHOOK_SECRET_FILE"]
            var secret: [UInt8]?
            if let secretPath {
                guard let data = FileManager.default.contents(atPath: secretPath) else {
                    throw ValidationError("cannot read the webhook secret file \(secretPath)")
                }
                let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                guard !text.isEmpty else { throw ValidationError("the webhook secret file \(secretPath) is empty") }
                secret = Array(text.utf8)
            }
            let parts = listen.split(separator: ":")
            var configuration = ServeConfiguration(
                repository: repo, branch: branch, path: path, stateDirectory: stateOptions.directory,
                pollInterval: try pollInterval, driftInterval: try driftCheckInterval, heal: heal,
                listenHost: String(parts[0]), listenPort: Int(parts[1]) ?? 8080, webhookSecret: secret,
                acceptHistoryRewrite: acceptHistoryRewrite, allowReplace: allowReplace, allowMassDelete: allowMassDelete, allowMove: allowMove,
                parallelism: parallel, notifyURL: notifyURL.flatMap(URL.init(string:)),
                notifyFormat: ServeConfiguration.NotifyFormat(rawValue: notifyFormat) ?? .json,
                imageDirectories: imageOptions.directories)

            configuration.gitCredentials = git.credentials
            configuration.hostAccess = hostAccess.access
            configuration.secureCookies = secureCookies

            // One daemon (or apply) per state directory, for the daemon's whole life.
            let lock = try StateLock(stateDirectory: configuration.stateDirectory, command: "driftless serve --repo \(Reconciler.displayLocation(repo))")
            defer { lock.release() }
            let registry = PrometheusCollectorRegistry()
            let daemon = try Daemon(configuration: configuration, logger: logger, registry: registry)
            let api = HTTPAPI(daemon: daemon, registry: registry, webhookSecret: secret, logger: logger)
            let app = Application(
                router: api.router(),
                configuration: .init(address: .hostname(configuration.listenHost, port: configuration.listenPort),
                                     serverName: "driftless"),
                services: [DaemonService(daemon: daemon)],
                onServerRunning: { channel in
                    logger.info("listening", metadata: ["address": "\(channel.localAddress.map { "\($0)" } ?? "?")"])
                },
                logger: logger)
            try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
        }
    }
}

/// The daemon's loop as a service of the application: on SIGTERM it finishes the step in flight, then
/// returns (the HTTP server stops beside it).
struct DaemonService: Service {
    let daemon: Daemon

    func run() async throws {
        try await withGracefulShutdownHandler {
            await daemon.run()
        } onGracefulShutdown: {
            Task { await daemon.stop() }
        }
    }
}
