import Crypto
@testable import DriftlessGit
import DriftlessProcess
import Foundation
import Testing

/// Starts a test server in the background, output discarded (never a pipe: Foundation's Process hung
/// these tests with a long-running child); it is stopped with SIGKILL, since it inherits a signal mask
/// that may block SIGTERM.
func startDaemon(_ arguments: [String]) async throws -> ChildProcess.Background {
    do {
        return try await ChildProcess.startChecked(arguments[0], Array(arguments.dropFirst()))
    } catch {
        throw TestRepository.CommandFailed(command: arguments[0], output: "cannot start: \(error)")
    }
}

@Suite("Git credentials", .serialized)
struct GitCredentialTests {
    // MARK: - Remote URLs and known_hosts

    @Test(arguments: [
        ("https://alice:s3cret@git.example.com/cloud.git", "https://git.example.com/cloud.git", "alice", "s3cret"),
        ("https://tok%40en@git.example.com/c.git", "https://git.example.com/c.git", "tok@en", nil),
        ("ssh://git@git.example.com:2222/c.git", "ssh://git@git.example.com:2222/c.git", "git", nil),
        ("ssh://git:pw@h/c.git", "ssh://git@h/c.git", "git", "pw"),
        ("https://git.example.com/c.git", "https://git.example.com/c.git", nil, nil),
        ("git@github.com:org/repo.git", "git@github.com:org/repo.git", nil, nil),
    ] as [(String, String, String?, String?)])
    func storedURLsCarryNoSecret(_ url: String, _ stored: String, _ user: String?, _ password: String?) {
        let remote = RemoteURL(url)
        #expect(remote.stored == stored)
        #expect(remote.inlineUser == user)
        #expect(remote.inlinePassword == password)
    }

    @Test func sshPortIsReadForKnownHosts() {
        #expect(RemoteURL("ssh://git@127.0.0.1:2222/r.git").sshPort == 2222)
        #expect(RemoteURL("ssh://git@h/r.git").sshPort == nil)
    }

    @Test func knownHostsVerdicts() async throws {
        let key = Data("ssh-ed25519-key-blob".utf8), other = Data("another-key".utf8)
        let salt = Data("0123456789abcdef0123".utf8)
        let hash = Data(HMAC<Insecure.SHA1>.authenticationCode(for: Data("hashed.example".utf8), using: SymmetricKey(data: salt)))
        let text = """
            # comment
            plain.example,alias.example ssh-ed25519 \(key.base64EncodedString())
            [127.0.0.1]:2222 ssh-ed25519 \(key.base64EncodedString())
            |1|\(salt.base64EncodedString())|\(hash.base64EncodedString()) ssh-ed25519 \(key.base64EncodedString())
            @revoked bad.example ssh-ed25519 \(key.base64EncodedString())
            changed.example ssh-ed25519 \(other.base64EncodedString())
            """
        let hosts = KnownHosts(text)
        #expect(hosts.verdict(host: "plain.example", port: nil, key: key) == .match)
        #expect(hosts.verdict(host: "alias.example", port: 22, key: key) == .match)
        #expect(hosts.verdict(host: "127.0.0.1", port: 2222, key: key) == .match)
        #expect(hosts.verdict(host: "hashed.example", port: nil, key: key) == .match)
        #expect(hosts.verdict(host: "bad.example", port: nil, key: key) == .revoked)
        #expect(hosts.verdict(host: "changed.example", port: nil, key: key) == .mismatch)
        #expect(hosts.verdict(host: "stranger.example", port: nil, key: key) == .unknown)
        #expect(hosts.verdict(host: "127.0.0.1", port: 2223, key: key) == .unknown)
    }

    // MARK: - A real authenticated fetch

    /// A bare repository served over smart HTTP with Basic auth by `git http-backend`.
    final class AuthenticatedServer {
        let root = NSTemporaryDirectory() + "driftless-githttp-\(UUID().uuidString)"
        let token = "tok-\(UUID().uuidString)"
        var daemon: ChildProcess.Background?
        var port = 0
        var url: String { "http://127.0.0.1:\(port)/cloud.git" }
        var authLog: String { (try? String(contentsOfFile: root + "/port.auth", encoding: .utf8)) ?? "" }

        init() async throws {
            let work = try await TestRepository()
            try work.write("p.yaml", TestRepository.project("from-http"))
            _ = try await work.commit("one")
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
            _ = try await TestRepository.run(["git", "clone", "-q", "--bare", work.path, root + "/cloud.git"], in: root)
            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/git_http_auth_server.py")
            daemon = try await startDaemon(["python3", script.path, root, "x-access-token", token, root + "/port"])
            let deadline = Date().addingTimeInterval(10)
            while Date() < deadline {
                if let text = try? String(contentsOfFile: root + "/port", encoding: .utf8), let value = Int(text) {
                    port = value
                    return
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            throw TestRepository.CommandFailed(command: "git_http_auth_server.py", output: "did not start")
        }

        deinit {
            daemon?.kill()
            try? FileManager.default.removeItem(atPath: root)
        }
    }

    func cacheConfigs(_ cache: String) -> String {
        let enumerator = FileManager.default.enumerator(atPath: cache)
        var text = ""
        while let path = enumerator?.nextObject() as? String {
            guard path.hasSuffix("config") else { continue }
            text += (try? String(contentsOfFile: cache + "/" + path, encoding: .utf8)) ?? ""
        }
        return text
    }

    @Test func aTokenFileAuthenticatesAndIsNeverStored() async throws {
        let server = try await AuthenticatedServer()
        let cache = server.root + "/cache"
        let tokenFile = server.root + "/token"
        try "\(server.token)\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let repository = try GitRepository.fetch(url: server.url, cacheRoot: cache, credentials: GitCredentials(tokenFile: tokenFile))
        let snapshot = try repository.readManifests(at: nil)
        #expect(snapshot.files.map(\.path) == ["p.yaml"])
        let config = cacheConfigs(cache)
        #expect(config.contains("url = \(server.url)"), "\(config)")
        #expect(!config.contains(server.token))
        // A second fetch into the same cache works too (the remote is updated, not duplicated).
        _ = try GitRepository.fetch(url: server.url, cacheRoot: cache, credentials: GitCredentials(tokenFile: tokenFile))
    }

    @Test func aTokenInTheURLIsUsedInMemoryOnly() async throws {
        let server = try await AuthenticatedServer()
        let cache = server.root + "/cache"
        let url = server.url.replacingOccurrences(of: "http://", with: "http://x-access-token:\(server.token)@")
        _ = try GitRepository.fetch(url: url, cacheRoot: cache)
        let config = cacheConfigs(cache)
        #expect(!config.contains(server.token), "\(config)")
        #expect(config.contains("url = \(server.url)"), "\(config)")
    }

    @Test func aWrongOrMissingTokenFailsWithoutShowingIt() async throws {
        let server = try await AuthenticatedServer()
        let tokenFile = server.root + "/wrong"
        let wrong = "wrong-\(UUID().uuidString)"
        try wrong.write(toFile: tokenFile, atomically: true, encoding: .utf8)
        do {
            _ = try GitRepository.fetch(url: server.url, cacheRoot: server.root + "/c1", credentials: GitCredentials(tokenFile: tokenFile))
            Issue.record("a wrong token was accepted")
        } catch {
            #expect("\(error)".contains("authentication failed"), "\(error)")
            #expect(!"\(error)".contains(wrong))
        }
        #expect(server.authLog.split(separator: "\n").filter { $0.hasPrefix("Basic") }.count == 1, "one try, not a loop")
        do {
            _ = try GitRepository.fetch(url: server.url, cacheRoot: server.root + "/c2")
            Issue.record("no credentials were accepted")
        } catch {
            #expect("\(error)".contains("--git-token-file"), "\(error)")
        }
    }

    // MARK: - A real ssh remote

    /// sshd on 127.0.0.1 with an ECDSA host key, serving a bare repository to one client key.
    final class SSHServer {
        let root = NSTemporaryDirectory() + "driftless-gitssh-\(UUID().uuidString)"
        let port = 21000 + Int.random(in: 0..<20000)
        var daemon: ChildProcess.Background?
        var url: String { "ssh://root@127.0.0.1:\(port)\(root)/cloud.git" }
        var clientKey: String { root + "/client_key" }

        init() async throws {
            try FileManager.default.createDirectory(atPath: root + "/run", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: "/run/sshd", withIntermediateDirectories: true)
            for (name, format) in [("host_key", "PEM"), ("client_key", "PEM")] {
                _ = try await TestRepository.run(["ssh-keygen", "-q", "-t", "ecdsa", "-b", "256", "-m", format, "-N", "", "-f", root + "/" + name], in: root)
            }
            try FileManager.default.copyItem(atPath: root + "/client_key.pub", toPath: root + "/authorized_keys")
            try """
                Port \(port)
                ListenAddress 127.0.0.1
                HostKey \(root)/host_key
                AuthorizedKeysFile \(root)/authorized_keys
                PasswordAuthentication no
                KbdInteractiveAuthentication no
                UsePAM no
                StrictModes no
                PermitRootLogin prohibit-password
                PidFile \(root)/run/sshd.pid
                """.write(toFile: root + "/sshd_config", atomically: true, encoding: .utf8)
            let work = try await TestRepository()
            try work.write("p.yaml", TestRepository.project("from-ssh"))
            _ = try await work.commit("one")
            _ = try await TestRepository.run(["git", "clone", "-q", "--bare", work.path, root + "/cloud.git"], in: root)
            daemon = try await startDaemon(["/usr/sbin/sshd", "-D", "-e", "-f", root + "/sshd_config"])
            let deadline = Date().addingTimeInterval(10)
            while Date() < deadline {
                if FileManager.default.fileExists(atPath: root + "/run/sshd.pid") { return }
                try await Task.sleep(for: .milliseconds(50))
            }
            throw TestRepository.CommandFailed(command: "sshd", output: "did not start")
        }

        /// A known_hosts file holding `line`.
        func knownHosts(_ line: String) throws -> String {
            let path = root + "/known_hosts-\(UUID().uuidString)"
            try line.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }

        /// `[127.0.0.1]:PORT TYPE KEY` for the server's real host key.
        func hostKeyLine() throws -> String {
            let key = try String(contentsOfFile: root + "/host_key.pub", encoding: .utf8).split(separator: " ").prefix(2).joined(separator: " ")
            return "[127.0.0.1]:\(port) \(key)\n"
        }

        deinit {
            daemon?.kill()
            try? FileManager.default.removeItem(atPath: root)
        }
    }

    @Test func anSSHKeyAuthenticatesAgainstAKnownHost() async throws {
        let server = try await SSHServer()
        let credentials = GitCredentials(sshKeyFile: server.clientKey, knownHostsFile: try server.knownHosts(try server.hostKeyLine()))
        let repository = try GitRepository.fetch(url: server.url, cacheRoot: server.root + "/cache", credentials: credentials)
        #expect(try repository.readManifests(at: nil).files.map(\.path) == ["p.yaml"])
    }

    @Test func anUnknownOrChangedHostKeyIsRefused() async throws {
        let server = try await SSHServer()
        let unknown = GitCredentials(sshKeyFile: server.clientKey, knownHostsFile: try server.knownHosts(""))
        #expect { try GitRepository.fetch(url: server.url, cacheRoot: server.root + "/c1", credentials: unknown) } throws: {
            "\($0)".contains("the ssh host 127.0.0.1 is not in")
        }
        let otherKey = try String(contentsOfFile: server.clientKey + ".pub", encoding: .utf8).split(separator: " ").prefix(2).joined(separator: " ")
        let changed = GitCredentials(sshKeyFile: server.clientKey,
                                     knownHostsFile: try server.knownHosts("[127.0.0.1]:\(server.port) \(otherKey)\n"))
        #expect { try GitRepository.fetch(url: server.url, cacheRoot: server.root + "/c2", credentials: changed) } throws: {
            "\($0)".contains("does not match")
        }
        let noKey = GitCredentials(knownHostsFile: try server.knownHosts(try server.hostKeyLine()))
        #expect { try GitRepository.fetch(url: server.url, cacheRoot: server.root + "/c3", credentials: noKey) } throws: {
            "\($0)".contains("--git-ssh-key")
        }
    }
}
