import CLibGit2
import Crypto
import Foundation

/// How Driftless authenticates to a git remote. Secrets live in files the operator names (or in memory,
/// when a URL on the command line carried them) and reach libgit2 only through its credential callback:
/// never in the remote URL written to the cache's git config, never in a message.
public struct GitCredentials: Sendable, Equatable {
    /// A file holding an https token (a GitHub or GitLab access token); its first line is used.
    public var tokenFile: String?
    /// The user name sent with the token (GitHub accepts any; GitLab wants `oauth2`).
    public var username: String?
    /// The private key for ssh remotes.
    public var sshKeyFile: String?
    /// The known_hosts file ssh host keys are checked against (default `~/.ssh/known_hosts`); a host
    /// that is not in it is refused, never trusted on first use.
    public var knownHostsFile: String?

    public init(tokenFile: String? = nil, username: String? = nil, sshKeyFile: String? = nil, knownHostsFile: String? = nil) {
        self.tokenFile = tokenFile
        self.username = username
        self.sshKeyFile = sshKeyFile
        self.knownHostsFile = knownHostsFile
    }

    public static let none = GitCredentials()

    /// Reads unset fields from `DRIFTLESS_GIT_TOKEN_FILE`, `DRIFTLESS_GIT_USER`, `DRIFTLESS_GIT_SSH_KEY`
    /// and `DRIFTLESS_GIT_KNOWN_HOSTS`.
    public func withEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> GitCredentials {
        func env(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        var result = self
        result.tokenFile = tokenFile ?? env("DRIFTLESS_GIT_TOKEN_FILE")
        result.username = username ?? env("DRIFTLESS_GIT_USER")
        result.sshKeyFile = sshKeyFile ?? env("DRIFTLESS_GIT_SSH_KEY")
        result.knownHostsFile = knownHostsFile ?? env("DRIFTLESS_GIT_KNOWN_HOSTS")
        return result
    }
}

/// A remote URL split into what may be stored (the URL without a password) and what may not.
struct RemoteURL {
    /// The URL libgit2 is given and the cache's config holds: no password, no https user information.
    var stored: String
    /// `user` and `password` from the URL, kept in memory for the credential callback only.
    var inlineUser: String?
    var inlinePassword: String?
    /// The port of an `ssh://host:port/` URL, for the `[host]:port` form of known_hosts.
    var sshPort: Int?

    init(_ url: String) {
        stored = url
        if url.lowercased().hasPrefix("ssh://") {
            let authority = url.dropFirst(6).prefix { $0 != "/" }
            let hostPort = authority.split(separator: "@").last ?? authority
            if !hostPort.hasPrefix("["), let colon = hostPort.lastIndex(of: ":") {
                sshPort = Int(hostPort[hostPort.index(after: colon)...])
            } else if let close = hostPort.lastIndex(of: "]"), hostPort[close...].hasPrefix("]:") {
                sshPort = Int(hostPort[hostPort.index(close, offsetBy: 2)...])
            }
        }
        guard let schemeEnd = url.range(of: "://") else { return }  // scp-like `git@host:path` has no password
        let scheme = url[..<schemeEnd.lowerBound].lowercased()
        let rest = url[schemeEnd.upperBound...]
        let authority = rest.prefix { $0 != "/" }
        guard let at = authority.lastIndex(of: "@") else { return }
        let userInfo = authority[..<at]
        let afterAt = rest[rest.index(after: at)...]
        let parts = userInfo.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        let user = String(parts[0]).removingPercentEncoding ?? String(parts[0])
        let password = parts.count == 2 ? (String(parts[1]).removingPercentEncoding ?? String(parts[1])) : nil
        if scheme == "http" || scheme == "https" {
            // Both parts go to the callback; the stored URL carries neither.
            inlineUser = user.isEmpty ? nil : user
            inlinePassword = password
            stored = String(url[..<schemeEnd.upperBound]) + afterAt
        } else {
            // ssh://user@host: the user is a login name, not a secret; a password is dropped.
            inlineUser = user.isEmpty ? nil : user
            inlinePassword = password
            stored = String(url[..<schemeEnd.upperBound]) + (user.isEmpty ? "" : parts[0] + "@") + afterAt
        }
    }
}

/// What the libgit2 callbacks of one fetch read, passed to them as their payload.
final class CredentialContext {
    let credentials: GitCredentials
    let inlineUser: String?
    let inlinePassword: String?
    let sshPort: Int?
    /// How many times libgit2 asked: it asks again after a rejected credential, so the second time fails.
    var attempts = 0
    /// Why the callbacks refused, to replace libgit2's generic message.
    var failure: String?

    init(credentials: GitCredentials, remote: RemoteURL) {
        self.credentials = credentials
        inlineUser = remote.inlineUser
        inlinePassword = remote.inlinePassword
        sshPort = remote.sshPort
    }

    /// The secrets to scrub from any message: the inline password and the token.
    var secrets: [String] {
        var values: [String] = []
        if let inlinePassword, !inlinePassword.isEmpty { values.append(inlinePassword) }
        if let token = try? readToken() { values.append(token) }
        return values
    }

    func readToken() throws -> String? {
        guard let file = credentials.tokenFile else { return nil }
        guard let data = FileManager.default.contents(atPath: file) else {
            throw GitSourceError.credentials("cannot read the token file \(file)")
        }
        let line = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
        let token = line.trimmingCharacters(in: .whitespaces)
        guard !token.isEmpty else { throw GitSourceError.credentials("the token file \(file) is empty") }
        return token
    }

    /// Fills `out` for libgit2; returns 0, or a negative code to stop with `failure` set.
    func acquire(_ out: UnsafeMutablePointer<UnsafeMutablePointer<git_credential>?>?, userFromURL: String?, allowed: UInt32) -> Int32 {
        attempts += 1
        if attempts > 1 {
            failure = "authentication failed: the remote refused the credentials"
            return GIT_EAUTH.rawValue
        }
        if allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT.rawValue != 0 {
            let password: String?
            do { password = try inlinePassword ?? readToken() } catch {
                failure = "\(error)"
                return GIT_EUSER.rawValue
            }
            guard let password else {
                failure = "the remote asks for credentials: pass --git-token-file FILE (or $DRIFTLESS_GIT_TOKEN_FILE)"
                return GIT_EAUTH.rawValue
            }
            let user = inlineUser ?? credentials.username ?? "x-access-token"
            return git_credential_userpass_plaintext_new(out, user, password)
        }
        if allowed & GIT_CREDENTIAL_SSH_KEY.rawValue != 0 {
            guard let key = credentials.sshKeyFile else {
                failure = "the ssh remote needs a key: pass --git-ssh-key FILE (or $DRIFTLESS_GIT_SSH_KEY)"
                return GIT_EAUTH.rawValue
            }
            guard FileManager.default.isReadableFile(atPath: key) else {
                failure = "cannot read the ssh key \(key)"
                return GIT_EUSER.rawValue
            }
            return git_credential_ssh_key_new(out, userFromURL ?? inlineUser ?? "git", nil, key, nil)
        }
        if allowed & GIT_CREDENTIAL_USERNAME.rawValue != 0 {
            return git_credential_username_new(out, userFromURL ?? inlineUser ?? "git")
        }
        failure = "the remote asks for a kind of credential Driftless does not provide"
        return GIT_EAUTH.rawValue
    }

    /// Checks an ssh host key against known_hosts; https certificates are left to libgit2 (it refuses
    /// one that does not verify).
    func checkCertificate(_ cert: UnsafeMutablePointer<git_cert>?, valid: Int32, host: String) -> Int32 {
        guard let cert else { return GIT_ECERTIFICATE.rawValue }
        guard cert.pointee.cert_type == GIT_CERT_HOSTKEY_LIBSSH2 else {
            return valid != 0 ? 0 : GIT_PASSTHROUGH.rawValue
        }
        let hostkey = UnsafeMutableRawPointer(cert).assumingMemoryBound(to: git_cert_hostkey.self).pointee
        guard hostkey.type.rawValue & GIT_CERT_SSH_RAW.rawValue != 0, let raw = hostkey.hostkey else {
            failure = "the ssh server's host key could not be read"
            return GIT_ECERTIFICATE.rawValue
        }
        let key = Data(bytes: raw, count: hostkey.hostkey_len)
        let file = credentials.knownHostsFile
            ?? (ProcessInfo.processInfo.environment["HOME"].map { $0 + "/.ssh/known_hosts" } ?? "/root/.ssh/known_hosts")
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
            failure = "cannot verify the ssh host \(host): no known_hosts file at \(file) (pass --git-known-hosts FILE)"
            return GIT_ECERTIFICATE.rawValue
        }
        switch KnownHosts(text).verdict(host: host, port: sshPort, key: key) {
        case .match: return 0
        case .revoked:
            failure = "the ssh host key of \(host) is marked revoked in \(file)"
        case .mismatch:
            failure = "the ssh host key of \(host) does not match \(file): refusing (a changed key may mean an attack)"
        case .unknown:
            failure = "the ssh host \(host) is not in \(file); add its key (ssh-keyscan) after checking it"
        }
        return GIT_ECERTIFICATE.rawValue
    }
}

/// An OpenSSH known_hosts file: plain and hashed (`|1|salt|hash`) host patterns, `[host]:port`, and
/// `@revoked` markers. Wildcards and `@cert-authority` lines are not matched (they never accept a key).
struct KnownHosts {
    struct Entry {
        var marker: String?
        var patterns: [String]
        var key: Data
    }

    enum Verdict: Equatable {
        case match
        case mismatch
        case revoked
        case unknown
    }

    var entries: [Entry] = []

    init(_ text: String) {
        for line in text.split(whereSeparator: \.isNewline) {
            var fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard let first = fields.first, !first.hasPrefix("#") else { continue }
            var marker: String?
            if first.hasPrefix("@") {
                marker = first
                fields.removeFirst()
            }
            guard fields.count >= 3, let key = Data(base64Encoded: fields[2]) else { continue }
            entries.append(Entry(marker: marker, patterns: fields[0].split(separator: ",").map(String.init), key: key))
        }
    }

    func verdict(host: String, port: Int?, key: Data) -> Verdict {
        let name = port.map { $0 == 22 ? host : "[\(host)]:\($0)" } ?? host
        let candidates = Set([name, host])
        var sawHost = false
        for entry in entries where entry.patterns.contains(where: { Self.matches($0, candidates) }) {
            if entry.marker == "@revoked" {
                if entry.key == key { return .revoked }
                continue
            }
            guard entry.marker == nil else { continue }
            if entry.key == key { return .match }
            sawHost = true
        }
        return sawHost ? .mismatch : .unknown
    }

    static func matches(_ pattern: String, _ names: Set<String>) -> Bool {
        if pattern.hasPrefix("|1|") {
            let parts = pattern.dropFirst(3).split(separator: "|", omittingEmptySubsequences: false)
            guard parts.count == 2, let salt = Data(base64Encoded: String(parts[0])),
                  let expected = Data(base64Encoded: String(parts[1]))
            else { return false }
            let key = SymmetricKey(data: salt)
            return names.contains { name in
                Data(HMAC<Insecure.SHA1>.authenticationCode(for: Data(name.utf8), using: key)) == expected
            }
        }
        return names.contains(pattern)
    }
}

/// The C callbacks: each finds its `CredentialContext` in the payload.
let credentialCallback: git_credential_acquire_cb = { out, _, userFromURL, allowed, payload in
    guard let payload else { return GIT_EAUTH.rawValue }
    let context = Unmanaged<CredentialContext>.fromOpaque(payload).takeUnretainedValue()
    return context.acquire(out, userFromURL: userFromURL.map { String(cString: $0) }, allowed: allowed)
}

let certificateCallback: git_transport_certificate_check_cb = { cert, valid, host, payload in
    guard let payload else { return GIT_ECERTIFICATE.rawValue }
    let context = Unmanaged<CredentialContext>.fromOpaque(payload).takeUnretainedValue()
    return context.checkCertificate(cert, valid: valid, host: host.map { String(cString: $0) } ?? "")
}
