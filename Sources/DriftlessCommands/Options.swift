import ArgumentParser
import DriftlessCore
import DriftlessGit
import Foundation

/// `--state DIR`: where Driftless keeps its store and fetch caches.
struct StateOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "State directory: the store and the fetch cache of remote repositories.",
        discussion: "Defaults to $DRIFTLESS_STATE, else /var/lib/driftless.",
        valueName: "dir"))
    var state: String?

    /// The state directory: the flag, else `DRIFTLESS_STATE`, else `/var/lib/driftless`.
    var directory: String {
        if let state { return state }
        if let env = ProcessInfo.processInfo.environment["DRIFTLESS_STATE"], !env.isEmpty { return env }
        return "/var/lib/driftless"
    }

    /// Where fetched remotes are cached.
    var repositoryCache: String { (directory as NSString).appendingPathComponent("repos") }
}

/// `--format text|json`.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text
    case json
}

/// Writes to standard output and error, and knows whether they are terminals.
enum Terminal {
    static var stdoutIsTerminal: Bool { isatty(STDOUT_FILENO) == 1 }

    /// Colour only on a terminal, and never when `NO_COLOR` is set.
    static var useColor: Bool {
        stdoutIsTerminal && ProcessInfo.processInfo.environment["NO_COLOR"] == nil
    }

    /// Colour on standard error (progress, diagnostics) only when it is a terminal.
    static var stderrUseColor: Bool {
        isatty(STDERR_FILENO) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil
    }

    static func write(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    static func writeError(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}

/// `--git-token-file`, `--git-user`, `--git-ssh-key`, `--git-known-hosts`: how remotes are authenticated.
/// Secrets stay in files; they reach libgit2 through its credential callback, never a URL on disk.
struct GitCredentialOptions: ParsableArguments {
    @Option(name: .customLong("git-token-file"), help: ArgumentHelp(
        "A file holding an https access token for the remote (also $DRIFTLESS_GIT_TOKEN_FILE).", valueName: "file"))
    var tokenFile: String?

    @Option(name: .customLong("git-user"), help: ArgumentHelp(
        "The user name sent with the token (default x-access-token; GitLab wants oauth2; also $DRIFTLESS_GIT_USER).",
        valueName: "name"))
    var username: String?

    @Option(name: .customLong("git-ssh-key"), help: ArgumentHelp(
        "The private key for an ssh remote (also $DRIFTLESS_GIT_SSH_KEY).", valueName: "file"))
    var sshKey: String?

    @Option(name: .customLong("git-known-hosts"), help: ArgumentHelp(
        "The known_hosts file an ssh remote's host key must be in (default ~/.ssh/known_hosts; also $DRIFTLESS_GIT_KNOWN_HOSTS).",
        valueName: "file"))
    var knownHosts: String?

    var credentials: GitCredentials {
        GitCredentials(tokenFile: tokenFile, username: username, sshKeyFile: sshKey, knownHostsFile: knownHosts).withEnvironment()
    }
}

/// Duration flags (`--interval 30s`): a number with a unit (`ms`, `s`, `m`, `h`, `d`), within a range the
/// flag names, so that `1e300s` is a usage error rather than an overflow.
enum DurationFlag {
    static let units: [(suffix: String, milliseconds: Double)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)]

    /// `text` as a duration, or a usage error naming `flag` and `range`.
    static func parse(_ text: String, flag: String, range: ClosedRange<Duration>) throws -> Duration {
        let expected = "\(flag) takes a duration between \(describe(range.lowerBound)) and \(describe(range.upperBound)), such as 30s, 5m or 1h"
        for unit in units.sorted(by: { $0.suffix.count > $1.suffix.count }) where text.hasSuffix(unit.suffix) {
            let number = text.dropLast(unit.suffix.count)
            guard !number.isEmpty, number.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }), let value = Double(number) else { break }
            let milliseconds = value * unit.milliseconds
            guard milliseconds.isFinite, milliseconds >= Double(range.lowerBound.milliseconds),
                  milliseconds <= Double(range.upperBound.milliseconds)
            else {
                throw ValidationError("\(expected); \"\(text)\" is out of range")
            }
            return .milliseconds(Int64(milliseconds.rounded()))
        }
        throw ValidationError("\(expected); \"\(text)\" is not a duration")
    }

    /// `1s`, `500ms`, `24h`, `7d`: the largest unit that divides the duration (days only beyond one).
    static func describe(_ duration: Duration) -> String {
        let milliseconds = duration.milliseconds
        for unit in units.reversed() where milliseconds >= Int64(unit.milliseconds) && milliseconds % Int64(unit.milliseconds) == 0 {
            if unit.suffix == "d" && milliseconds <= Int64(unit.milliseconds) { continue }
            return "\(milliseconds / Int64(unit.milliseconds))\(unit.suffix)"
        }
        return "\(milliseconds)ms"
    }
}

extension Duration {
    /// The whole milliseconds of the duration.
    var milliseconds: Int64 { inMilliseconds }
}

/// `--image-dir DIR` (repeatable): the directories Images' `source.path` files may be read from.
struct ImageDirectoryOptions: ParsableArguments {
    @Option(name: .customLong("image-dir"), help: ArgumentHelp(
        "A directory that Images' source.path files may be in (repeatable).",
        discussion: """
            The operator, not the repository, decides which files can become images: a path source must be a \
            regular file under one of these directories, reached without symbolic links, outside the state \
            directory. Defaults to $DRIFTLESS_IMAGE_DIRS (colon-separated), else /var/lib/driftless/images.
            """,
        valueName: "dir"))
    var imageDirs: [String] = []

    /// The flags, else `DRIFTLESS_IMAGE_DIRS`, else the default directory.
    var directories: [String] {
        ImagePathPolicy.directories(flags: imageDirs, environment: ProcessInfo.processInfo.environment,
                                    currentDirectory: FileManager.default.currentDirectoryPath)
    }

    /// The policy for a state directory.
    func policy(stateDirectory: String) -> ImagePathPolicy {
        ImagePathPolicy(directories: directories, stateDirectory: stateDirectory)
    }
}

/// `--pki`, `--ssh-key`, `--ssh-known-hosts`: the operator's credentials for remote hosts, which a
/// repository can never name (a Host says only `qemu+tls://h/system` or `ssl:h:6640`).
struct HostAccessOptions: ParsableArguments {
    @Option(name: .customLong("pki"), help: ArgumentHelp(
        "A directory with cacert.pem, clientcert.pem and clientkey.pem (libvirt's pkipath layout): the CA the hosts' certificates chain to and the controller's certificate, for qemu+tls and OVSDB ssl:.",
        valueName: "dir"))
    var pkiDirectory: String?

    @Option(name: .customLong("ssh-key"), help: ArgumentHelp("The private key qemu+ssh logs in with.", valueName: "file"))
    var sshKey: String?

    @Option(name: .customLong("ssh-known-hosts"), help: ArgumentHelp(
        "The known_hosts file the hosts' SSH keys are checked against (qemu+ssh then uses libvirt's libssh transport, which reads it).",
        valueName: "file"))
    var sshKnownHosts: String?

    func validate() throws {
        for (flag, path) in [("--pki", pkiDirectory), ("--ssh-key", sshKey), ("--ssh-known-hosts", sshKnownHosts)] {
            guard let path else { continue }
            if let problem = HostAccess.problem(withPath: path) { throw ValidationError("\(flag): \(problem)") }
            guard FileManager.default.fileExists(atPath: path) else { throw ValidationError("\(flag): \(path) does not exist") }
        }
        if let pkiDirectory {
            for file in ["cacert.pem", "clientcert.pem", "clientkey.pem"]
            where !FileManager.default.fileExists(atPath: pkiDirectory + "/" + file) {
                throw ValidationError("--pki: \(pkiDirectory) has no \(file) (it needs cacert.pem, clientcert.pem and clientkey.pem)")
            }
        }
    }

    var access: HostAccess {
        HostAccess(pkiDirectory: pkiDirectory, sshKey: sshKey, sshKnownHosts: sshKnownHosts)
    }
}
