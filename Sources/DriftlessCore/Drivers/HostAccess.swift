/// How the controller proves who it is to remote hosts, and checks who they are: the operator's
/// credentials, given on the command line (`--pki`, `--ssh-key`, `--ssh-known-hosts`), never by a
/// repository. A Host manifest names only the transport and the address (`qemu+tls://h/system`,
/// `ssl:h:6640`); these files are added when the connection is opened.
public struct HostAccess: Sendable, Equatable {
    /// A directory in libvirt's `pkipath` layout: `cacert.pem` (the CA the hosts' certificates chain to),
    /// `clientcert.pem` and `clientkey.pem` (the controller's). Used by `qemu+tls` and by OVSDB `ssl:`.
    public var pkiDirectory: String?
    /// The private key `qemu+ssh` logs in with.
    public var sshKey: String?
    /// The known_hosts file the hosts' SSH keys are checked against (`qemu+ssh` then runs over libvirt's
    /// libssh transport, which reads it; OpenSSH's client reads only the user's own).
    public var sshKnownHosts: String?

    public init(pkiDirectory: String? = nil, sshKey: String? = nil, sshKnownHosts: String? = nil) {
        self.pkiDirectory = pkiDirectory
        self.sshKey = sshKey
        self.sshKnownHosts = sshKnownHosts
    }

    /// No credentials: local sockets, and remote hosts through the controller user's defaults.
    public static let none = HostAccess()

    /// Why a path given for one of these is unusable: it must be absolute and plain (it goes into a
    /// libvirt URI, where `&`, `;`, `%` or spaces would be read as more parameters).
    public static func problem(withPath path: String) -> String? {
        guard path.hasPrefix("/") else { return "\(path) is not an absolute path" }
        let allowed: (Unicode.Scalar) -> Bool = {
            ($0 >= "a" && $0 <= "z") || ($0 >= "A" && $0 <= "Z") || ($0 >= "0" && $0 <= "9") || "/._-+".unicodeScalars.contains($0)
        }
        if let bad = path.unicodeScalars.first(where: { !allowed($0) }) {
            return "\(TextEscaping.quoted(path)) contains \(TextEscaping.describe(bad)); use a path of letters, digits and / . _ - +"
        }
        return nil
    }
}
